/**
 * Phase 5: which endpoints may take this request, in the order to try them. A session goes to the
 * endpoint that created it, and only for the key that created it; otherwise a weighted random
 * order of the usable endpoints (degraded ones at a quarter of their weight).
 */
import type { ApiKey, Endpoint, StoredMcpServer } from '../model';
import { GatewayError } from './errors';
import { weightedOrder, type PassiveHealth } from './passive-health';
import type { SessionSealer } from './sessions';

/** Endpoint status from the scheduled health monitor; `undefined` when it has none yet. */
export type EndpointStatus = 'healthy' | 'degraded' | 'unhealthy' | undefined;

export interface RouteDeps {
  readonly sessions: SessionSealer;
  readonly passiveHealth: PassiveHealth;
  readonly endpointStatuses?: (mcp: StoredMcpServer) => Promise<ReadonlyMap<string, EndpointStatus>>;
  readonly random?: () => number;
  readonly now: () => number;
}

export interface Route {
  readonly candidates: readonly Endpoint[];
  /** The upstream's own session id, when the request belongs to a session. */
  readonly upstreamSessionId?: string;
  readonly inSession: boolean;
}

const NO_STATUSES: ReadonlyMap<string, EndpointStatus> = new Map();

export async function chooseEndpoints(deps: RouteDeps, mcp: StoredMcpServer, key: ApiKey, sealedSession: string | null): Promise<Route> {
  const statuses = (await deps.endpointStatuses?.(mcp)) ?? NO_STATUSES;
  const usable = (endpoint: Endpoint) => deps.passiveHealth.isUp(endpoint.id) && statuses.get(endpoint.id) !== 'unhealthy';
  if (sealedSession) {
    const claims = deps.sessions.open(sealedSession, { orgId: key.orgId, mcp: mcp.slug, keyId: key.keyId }, Math.floor(deps.now() / 1000));
    const endpoint = claims && mcp.endpoints.find((e) => e.id === claims.endpointId);
    if (!claims || !endpoint || !usable(endpoint)) throw new GatewayError('session_not_found');
    return { candidates: [endpoint], upstreamSessionId: claims.upstreamSessionId, inSession: true };
  }
  const weighted = mcp.endpoints
    .filter(usable)
    .map((e) => ({ ...e, weight: statuses.get(e.id) === 'degraded' ? Math.max(1, e.weight / 4) : e.weight }));
  const candidates = weightedOrder(weighted, deps.random);
  if (candidates.length === 0) throw new GatewayError('mcp_unhealthy');
  return { candidates, inSession: false };
}
