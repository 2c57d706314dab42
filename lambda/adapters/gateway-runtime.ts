import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ApiKeyAuthenticator, VerifiedKeyCache, verifySecret } from '../core/api-keys';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import { cachedSecretRevealer } from '../core/upstream-secrets';
import { createGateway, type GatewayDeps } from '../core/gateway/gateway';
import type { Gateway, GatewayAnswer } from '../core/gateway/exchange';
import { StoredHealthView } from '../core/health/health-view';
import { DynamoDbHealthStore } from './dynamodb-health-store';
import { LeasedLimiter, QuotaMeter, type QuotaThresholdsOptions } from '../core/gateway/limits';
import type { PlexEventPublisher } from '../core/events/model';
import { DynamoDbOnceMarks } from './dynamodb-counters';
import { SignedEventBridgePublisher } from './eventbridge-publisher';
import { PassiveHealth } from '../core/gateway/passive-health';
import { RegistryCache } from '../core/gateway/registry-cache';
import { healthAnswer, RegionHealth } from '../core/gateway/region-health';
import { loadSessionKey, sessionKeyChecks } from '../core/gateway/session-key';
import { SessionSealer } from '../core/gateway/sessions';
import { GatewayError } from '../core/gateway/errors';
import { bounded, guardStore } from '../core/gateway/store-guard';
import { StreamSlots } from '../core/gateway/stream-slots';
import { ToolParamHeaders } from '../core/gateway/tool-headers';
import type { UsageRecord } from '../core/gateway/usage';
import { PLAN_LIMITS } from '../core/plans';
import type { StoredMcpServer } from '../core/model';
import { SignedDynamoDbCounters } from './signed-dynamodb-counters';
import { DynamoDbRegistryStore } from './dynamodb-registry-store';
import { UndiciUpstreamClient } from './undici-upstream';
import type { AccessTokenReader } from '../core/oauth/access-tokens';
import { OAuthTokenAuthenticator } from '../core/oauth/token-authenticator';
import type { RequestHeaders } from '../core/gateway/exchange';

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
  /** Browser origins allowed to call the gateway (DNS-rebinding defence). @default none */
  readonly allowedOrigins?: readonly string[];
  /**
   * The OAuth access tokens the gateway accepts (the authorization server's token store, read by
   * token hash). @default none: a bearer value that is not an API key is refused (401 invalid_token)
   */
  readonly accessTokens?: AccessTokenReader;
  /**
   * The public base URL of a request that does not bring one (`GatewayRequestInfo.baseUrl`): the
   * local server's, from the `Host` it has checked. @default none
   */
  readonly publicBaseUrl?: (headers: RequestHeaders) => string | undefined;
  /**
   * Where `org.quota.threshold` events go (local mode: the in-process bus).
   * @default the EventBridge bus `eventBusName`, when there is one; else no threshold events
   */
  readonly events?: PlexEventPublisher;
  /**
   * The EventBridge bus for `org.quota.threshold` when `events` is not given (PutEvents signed
   * with the DynamoDB client's region and credentials, without the EventBridge SDK client).
   * @default process.env.PLEXMCP_EVENT_BUS_NAME (set by the McpGateway construct)
   */
  readonly eventBusName?: string;
}

/**
 * Argon2id verifications of keys not verified yet, at once and waiting. One at a time leaves the
 * other core to requests with verified keys (2 vCPUs here and in Lambda's 1,769 MB); the queue
 * absorbs a burst of new legitimate keys, a flood of made-up keys beyond it gets 503 at once.
 */
const CONCURRENT_VERIFICATIONS = 1;
const QUEUED_VERIFICATIONS = 32;
/** Key reads for keys not verified yet, at once and waiting (verified keys are served from memory). */
const CONCURRENT_KEY_READS = 8;
const QUEUED_KEY_READS = 64;

export interface GatewayRuntime {
  /** The data plane for one request, as the core reads it (exchange.ts): hosts adapt their own objects. */
  readonly handle: Gateway;
  /** Waits for deferred work (quota flushes, lastUsedAt writes); Lambda calls it after each response. */
  drain(): Promise<void>;
  /** The health monitor saw the endpoint recover: end its passive cool-down now. */
  endpointRecovered(endpointId: string): void;
  /** `GET /healthz`: 200 when this region can serve, 503 with the failing components (region-health.ts). */
  healthz(requestId: string): Promise<GatewayAnswer>;
  close(): Promise<void>;
}

/**
 * The data plane wired to its adapters: the same composition serves `plexmcp serve` and the
 * gateway Lambda. Everything here is created once per process and reused across requests.
 */
export async function createGatewayRuntime(options: GatewayRuntimeOptions): Promise<GatewayRuntime> {
  const store = new DynamoDbRegistryStore(options.dynamodb, options.registryTable);
  // The counter writes on the hot path (one per leased block of the per-minute limit): the light client.
  const counters = await SignedDynamoDbCounters.fromClient(options.dynamodb, options.countersTable);
  const cipher = new EnvelopeCipher(options.dataKeys);
  const pending = new Set<Promise<unknown>>();
  const background = (work: Promise<unknown>) => {
    const tracked = work.catch(() => undefined).finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  // Keys not verified yet cost a store read before their Argon2id check: both are bounded, so a
  // flood of made-up keys drives neither the store nor the CPU. The store deadline covers the read,
  // not the queue: waiting for a turn is not a store outage.
  const busy = () => new GatewayError('authentication_busy', { 'Retry-After': '1' });
  const readKey = guardStore((keyId: string) => store.getKey(keyId));
  const getKey = bounded(readKey, CONCURRENT_KEY_READS, QUEUED_KEY_READS, busy);
  const keyCacheTtlMs = options.keyCacheTtlMs ?? 60_000;
  const keys = new ApiKeyAuthenticator({ getKey, touchKey: (keyId, at) => store.touchKey(keyId, at) }, {
    cache: new VerifiedKeyCache({ ttlMs: keyCacheTtlMs }),
    defer: background,
    verify: bounded(verifySecret, CONCURRENT_VERIFICATIONS, QUEUED_VERIFICATIONS, busy),
  });
  // Access tokens: a record read by token hash, then the backing key, both bounded like key reads
  // (a flood of made-up tokens costs bounded store reads, no CPU); verified tokens are trusted no
  // longer than verified keys are, so a revoked grant stops within the same bound.
  const tokenAuthenticator = options.accessTokens
    ? new OAuthTokenAuthenticator({
        tokens: { find: bounded(guardStore((tokenHash: string) => options.accessTokens!.find(tokenHash)), CONCURRENT_KEY_READS, QUEUED_KEY_READS, busy) },
        getKey,
        ttlMs: keyCacheTtlMs,
        touchKey: (keyId, at) => store.touchKey(keyId, at),
        defer: background,
      })
    : undefined;
  // Store deadlines sit under the caches, on misses only: a warm request arms no timer for them.
  const revealSecret = cachedSecretRevealer({ decrypt: guardStore((...args: Parameters<EnvelopeCipher['decrypt']>) => cipher.decrypt(...args)) });
  const upstream = new UndiciUpstreamClient({ allowLoopback: options.allowLoopback });
  const quota = new QuotaMeter(counters, { thresholds: await quotaThresholds(options) });
  const passiveHealth = new PassiveHealth();
  const healthStore = new DynamoDbHealthStore(options.dynamodb, options.registryTable);
  const healthView = new StoredHealthView({ getStates: guardStore((orgId: string, mcp: string, region: string) => healthStore.getStates(orgId, mcp, region)) }, options.region);
  const toolHeaders = new ToolParamHeaders(guardStore((orgId: string, slug: string) => healthStore.getMetadata(orgId, slug)));
  const registry = new RegistryCache(
    { getOrg: guardStore((orgId: string) => store.getOrg(orgId)), getMcp: guardStore((orgId: string, slug: string) => store.getMcp(orgId, slug)) },
    { ttlMs: options.registryCacheTtlMs },
  );
  const statuses = options.endpointStatuses ?? ((mcp: StoredMcpServer) => healthView.statuses(mcp));
  // One conditional write per block of requests, not per request (limits.ts, docs/gateway.md).
  const limiter = new LeasedLimiter(counters);
  const streamSlots = new StreamSlots(counters, background);
  const sessions = new SessionSealer(await loadSessionKey(store, options.dataKeys));
  const regionHealth = new RegionHealth({
    ...sessionKeyChecks(store, options.dataKeys),
    // A write where requests write (a counter of its own, kept for an hour).
    counters: () => counters.add(`healthz#${options.region}`, 1, Math.floor(Date.now() / 1000) + 3_600),
    sessionKey: async () => {
      const probe = { keyId: 'healthz', endpointId: 'healthz', upstreamSessionId: 'healthz', orgId: 'healthz', mcp: 'healthz', issuedAt: Math.floor(Date.now() / 1000) };
      if (!sessions.open(sessions.seal(probe), probe, probe.issuedAt)) throw new Error('session key does not open its own seal');
    },
  });
  const handle = createGateway({
    authenticate: (presented) => keys.authenticate(presented),
    authenticateToken: tokenAuthenticator && ((token, target) => tokenAuthenticator.authenticate(token, target)),
    publicBaseUrl: options.publicBaseUrl,
    registry,
    revealSecret,
    // The counter client bounds its own calls (2 × 1 s at most); the guard maps what else fails.
    limiter: { consume: guardStore((...args: Parameters<LeasedLimiter['consume']>) => limiter.consume(...args), 2_500) },
    quota,
    streamSlots: { take: guardStore((keyId: string, limit: number) => streamSlots.take(keyId, limit), 5_000) },
    upstream,
    sessions,
    passiveHealth,
    // Advisory: a health store that fails or hangs leaves routing to passive health alone.
    endpointStatuses: (mcp) => statuses(mcp).catch(() => new Map()),
    allowedOrigins: options.allowedOrigins,
    toolParamHeaders: (mcp, tool) => toolHeaders.forTool(mcp.orgId, mcp.slug, tool),
    plans: PLAN_LIMITS,
    // Straight to stdout, not console.log: in Lambda's text log format console.log prefixes every
    // line with time, request id and level, and the analytics subscription filter and the S3
    // export (docs/analytics-aws.md) need each usage line to be bare JSON.
    usage: options.usage ?? ((record) => void process.stdout.write(`${JSON.stringify(record)}\n`)),
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
    healthz: async (requestId) => healthAnswer(await regionHealth.report(), options.region, requestId),
    close: async () => {
      await quota.flush().catch(() => undefined);
      await streamSlots.close();
      await drain();
      await Promise.all([upstream.close(), counters.close()]);
    },
  };
}

/**
 * `org.quota.threshold` from the quota flushes: markers in the counters table (one conditional
 * write per org, threshold and month decides who publishes), events to the given publisher or
 * the EventBridge bus. Undefined when there is nowhere to publish.
 */
async function quotaThresholds(options: GatewayRuntimeOptions): Promise<QuotaThresholdsOptions | undefined> {
  const busName = options.eventBusName ?? process.env.PLEXMCP_EVENT_BUS_NAME;
  const events = options.events ?? (busName ? await SignedEventBridgePublisher.fromClient(options.dynamodb, busName) : undefined);
  if (!events) return undefined;
  return {
    marks: new DynamoDbOnceMarks(options.dynamodb, options.countersTable),
    publish: (batch) => events.publish(batch),
    // The error's name only (a message could quote a request); the next flush tries again.
    onError: (error) => console.error(JSON.stringify({ level: 'error', msg: 'gateway: quota threshold event failed', error: (error as Error)?.name ?? 'Error' })),
  };
}
