import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiKeyAuthenticator, VerifiedKeyCache } from '../core/api-keys';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import { cachedSecretRevealer } from '../core/upstream-secrets';
import { createGateway, type GatewayDeps, type GatewayRequestInfo } from '../core/gateway/gateway';
import { StoredHealthView } from '../core/health/health-view';
import { DynamoDbHealthStore } from './dynamodb-health-store';
import { PerMinuteLimiter, QuotaMeter } from '../core/gateway/limits';
import { PassiveHealth } from '../core/gateway/passive-health';
import { RegistryCache } from '../core/gateway/registry-cache';
import { loadSessionKey } from '../core/gateway/session-key';
import { SessionSealer } from '../core/gateway/sessions';
import type { UsageRecord } from '../core/gateway/usage';
import { PLAN_LIMITS } from '../core/plans';
import { SignedDynamoDbCounters } from './signed-dynamodb-counters';
import { DynamoDbRegistryStore } from './dynamodb-registry-store';
import { UndiciUpstreamClient } from './undici-upstream';

export interface GatewayRuntimeOptions {
  readonly dynamodb: DynamoDBClient;
  readonly registryTable: string;
  readonly countersTable: string;
  readonly dataKeys: DataKeyProvider;
  /** Local mode: loopback upstreams allowed. */
  readonly allowLoopback: boolean;
  readonly region: string;
  /** Where usage records go. @default one JSON line on stdout */
  readonly usage?: (record: UsageRecord) => void;
  /** Verified-key cache lifetime: the bound on how long a revoked key keeps working. @default 60_000 */
  readonly keyCacheTtlMs?: number;
  /** Registry record cache lifetime. @default 30_000 */
  readonly registryCacheTtlMs?: number;
  /**
   * Endpoint statuses from the health monitor.
   * @default the stored statuses of this region, cached for 15 s
   */
  readonly endpointStatuses?: GatewayDeps['endpointStatuses'];
}

export interface GatewayRuntime {
  readonly handle: (request: Request, info: GatewayRequestInfo) => Promise<Response>;
  /** Waits for deferred work (quota flushes, lastUsedAt writes); Lambda calls it after each response. */
  drain(): Promise<void>;
  /** The health monitor saw the endpoint recover: end its passive cool-down now. */
  endpointRecovered(endpointId: string): void;
  close(): Promise<void>;
}

/**
 * The data plane wired to its adapters: the same composition serves `plexmcp serve` and the
 * gateway Lambda. Everything here is created once per process and reused across requests.
 */
export async function createGatewayRuntime(options: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const store = new DynamoDbRegistryStore(options.dynamodb, options.registryTable);
  // The per-request counter write is the hot path's one store round trip: the light client.
  const counters = await SignedDynamoDbCounters.fromClient(options.dynamodb, options.countersTable);
  const cipher = new EnvelopeCipher(options.dataKeys);
  const pending = new Set<Promise<unknown>>();
  const background = (work: Promise<unknown>) => {
    const tracked = work.catch(() => undefined).finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  const keys = new ApiKeyAuthenticator(store, {
    cache: new VerifiedKeyCache({ ttlMs: options.keyCacheTtlMs ?? 60_000 }),
    defer: background,
  });
  const revealSecret = cachedSecretRevealer(cipher);
  const upstream = new UndiciUpstreamClient({ allowLoopback: options.allowLoopback });
  const quota = new QuotaMeter(counters);
  const passiveHealth = new PassiveHealth();
  const healthView = new StoredHealthView(new DynamoDbHealthStore(options.dynamodb, options.registryTable), options.region);
  const handle = createGateway({
    authenticate: (presented) => keys.authenticate(presented),
    registry: new RegistryCache(store, { ttlMs: options.registryCacheTtlMs }),
    revealSecret,
    limiter: new PerMinuteLimiter(counters),
    quota,
    upstream,
    sessions: new SessionSealer(await loadSessionKey(store, options.dataKeys)),
    passiveHealth,
    endpointStatuses: options.endpointStatuses ?? ((mcp) => healthView.statuses(mcp)),
    plans: PLAN_LIMITS,
    usage: options.usage ?? ((record) => console.log(JSON.stringify(record))),
    background,
    region: options.region,
  });
  const drain = async () => {
    while (pending.size > 0) await Promise.all([...pending]);
  };
  return {
    handle,
    drain,
    endpointRecovered: (endpointId) => passiveHealth.markUp(endpointId),
    close: async () => {
      await quota.flush().catch(() => undefined);
      await drain();
      await Promise.all([upstream.close(), counters.close()]);
    },
  };
}
