import type { EndpointHealth, HealthStatus, HealthTransition, ProbeResult } from './model';

export interface HysteresisOptions {
  /** Consecutive failed probes before a healthy or degraded endpoint becomes unhealthy. @default 2 */
  readonly failuresToUnhealthy?: number;
  /** Consecutive good probes before an unhealthy endpoint is used again. @default 2 */
  readonly successesToRecover?: number;
  /** A probe slower than this makes the endpoint degraded. @default 2_000 */
  readonly degradedLatencyMs?: number;
  /** The state is rewritten at least this often even without a change. @default 600_000 */
  readonly heartbeatMs?: number;
}

export const DEFAULT_HYSTERESIS: Required<HysteresisOptions> = {
  failuresToUnhealthy: 2,
  successesToRecover: 2,
  degradedLatencyMs: 2_000,
  heartbeatMs: 600_000,
};

export interface HealthUpdate {
  readonly state: EndpointHealth;
  /** Set when the status changed. */
  readonly transition?: HealthTransition;
  /** Whether the state must be written (a change, the first check, or a heartbeat). */
  readonly write: boolean;
}

/**
 * The next state of an endpoint after one probe. The first probe sets the status directly;
 * after that, `failuresToUnhealthy` failures in a row take it down and `successesToRecover` good
 * probes in a row bring it back, so one lost probe does not flap traffic. Healthy and degraded
 * switch on a single probe (both take traffic).
 */
export function nextHealth(
  previous: EndpointHealth | undefined,
  probe: ProbeResult,
  identity: Pick<EndpointHealth, 'orgId' | 'mcp' | 'endpointId' | 'region'>,
  at: Date,
  options: HysteresisOptions = {},
): HealthUpdate {
  const o = { ...DEFAULT_HYSTERESIS, ...options };
  const observed: HealthStatus = !probe.ok
    ? 'unhealthy'
    : probe.errorClass === 'partial' || probe.latencyMs > o.degradedLatencyMs
      ? 'degraded'
      : 'healthy';
  const failures = observed === 'unhealthy' ? (previous?.consecutiveFailures ?? 0) + 1 : 0;
  const successes = observed === 'unhealthy' ? 0 : (previous?.consecutiveSuccesses ?? 0) + 1;

  let status: HealthStatus;
  if (!previous) status = observed;
  else if (observed === 'unhealthy') status = previous.status === 'unhealthy' || failures >= o.failuresToUnhealthy ? 'unhealthy' : previous.status;
  else status = previous.status === 'unhealthy' && successes < o.successesToRecover ? 'unhealthy' : observed;

  const iso = at.toISOString();
  const changed = previous?.status !== status;
  const heartbeatDue = previous !== undefined && at.getTime() - Date.parse(previous.writtenAt) >= o.heartbeatMs;
  const write = changed || heartbeatDue;
  const state: EndpointHealth = {
    ...identity,
    status,
    consecutiveFailures: failures,
    consecutiveSuccesses: successes,
    lastCheckAt: iso,
    lastChangeAt: changed ? iso : previous!.lastChangeAt,
    latencyMs: probe.ok ? probe.latencyMs : undefined,
    errorClass: probe.errorClass,
    writtenAt: write ? iso : previous!.writtenAt,
  };
  const transition: HealthTransition | undefined = changed
    ? {
        endpointId: identity.endpointId,
        region: identity.region,
        from: previous?.status ?? 'unknown',
        to: status,
        at: iso,
        errorClass: probe.errorClass,
        latencyMs: state.latencyMs,
      }
    : undefined;
  return { state, transition, write };
}
