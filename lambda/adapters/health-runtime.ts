import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import { credentialHeaders } from '../core/gateway/credentials';
import { HealthChecker, type HealthCheckerDeps } from '../core/health/checker';
import type { EventPublisher } from '../core/health/model';
import { cachedSecretRevealer } from '../core/upstream-secrets';
import { DynamoDbHealthStore } from './dynamodb-health-store';
import { createMcpProbe } from './mcp-probe';

export interface HealthRuntimeOptions {
  readonly dynamodb: DynamoDBClient;
  readonly registryTable: string;
  readonly dataKeys: DataKeyProvider;
  readonly events: EventPublisher;
  /** Local mode: loopback upstreams allowed. */
  readonly allowLoopback: boolean;
  readonly region: string;
  /** Whole-probe deadline per endpoint. @default 10_000 */
  readonly probeTimeoutMs?: number;
  readonly concurrency?: number;
  readonly hysteresis?: HealthCheckerDeps['hysteresis'];
  readonly onState?: HealthCheckerDeps['onState'];
  readonly alert?: HealthCheckerDeps['alert'];
}

/**
 * The health checker wired to its adapters: the same composition runs in the scheduled Lambda
 * and in `plexmcp serve`'s timer. Created once per process; its in-memory states carry the
 * hysteresis counters from one cycle to the next.
 */
export function createHealthRuntime(options: HealthRuntimeOptions): { checker: HealthChecker; close(): Promise<void> } {
  const revealSecret = cachedSecretRevealer(new EnvelopeCipher(options.dataKeys));
  const prober = createMcpProbe({ allowLoopback: options.allowLoopback, timeoutMs: options.probeTimeoutMs });
  const checker = new HealthChecker({
    store: new DynamoDbHealthStore(options.dynamodb, options.registryTable),
    probe: async (mcp, endpoint) =>
      prober.probe({
        url: endpoint.url,
        headers: credentialHeaders(mcp.upstreamAuth, await revealSecret(mcp)),
        connectTimeoutMs: mcp.timeouts.connectMs,
      }),
    events: options.events,
    region: options.region,
    concurrency: options.concurrency,
    hysteresis: options.hysteresis,
    onState: options.onState,
    alert: options.alert,
  });
  return { checker, close: () => prober.close() };
}
