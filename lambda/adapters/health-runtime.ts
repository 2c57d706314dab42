import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import { credentialHeaders } from '../core/gateway/credentials';
import { HealthChecker, type HealthCheckerDeps } from '../core/health/checker';
import type { PlexEventPublisher } from '../core/events/model';
import { KeyExpiryScan } from '../core/events/key-expiry';
import type { ApiKey } from '../core/model';
import { REGISTRY_TABLE } from '../core/registry-table';
import { cachedSecretRevealer } from '../core/upstream-secrets';
import { DynamoDbOnceMarks } from './dynamodb-counters';
import { DynamoDbHealthStore } from './dynamodb-health-store';
import { DynamoDbRegistryStore } from './dynamodb-registry-store';
import { createMcpProbe } from './mcp-probe';

export interface HealthRuntimeOptions {
  readonly dynamodb: DynamoDBClient;
  readonly registryTable: string;
  readonly dataKeys: DataKeyProvider;
  /** The bus: health events, and `key.expiring` from the key-expiry scan. */
  readonly events: PlexEventPublisher;
  /** Local mode: loopback upstreams allowed. */
  readonly allowLoopback: boolean;
  readonly region: string;
  /** Whole-probe deadline per endpoint. @default 10_000 */
  readonly probeTimeoutMs?: number;
  readonly concurrency?: number;
  readonly hysteresis?: HealthCheckerDeps['hysteresis'];
  readonly onState?: HealthCheckerDeps['onState'];
  readonly alert?: HealthCheckerDeps['alert'];
  /**
   * Whether shard 0's cycles also run the hourly key-expiry scan (`key.expiring`, once per key
   * through a marker in the registry table). A global table's conditional writes only decide
   * within one region, so exactly one region may scan: the construct sets it for the primary.
   * @default process.env.PLEXMCP_KEY_EXPIRY_SCAN !== 'off'
   */
  readonly keyExpiryScan?: boolean;
  /** Clock of the key-expiry scan. @default the system clock */
  readonly now?: () => Date;
}

/** The registry item of a once-marker: its own `NOTICE#` partition (the health function may write only those and `HEALTH#`). */
export const noticeItemKey = (id: string) => ({ [REGISTRY_TABLE.partitionKey]: { S: `NOTICE#${id}` }, [REGISTRY_TABLE.sortKey]: { S: '#NOTICE' } });

/** Page size of the key listing (one Query per org, plus one per 100 orgs, once an hour). */
const LIST_PAGE = 100;

/**
 * The health checker wired to its adapters: the same composition runs in the scheduled Lambda
 * and in `plexmcp serve`'s timer. Created once per process; its in-memory states carry the
 * hysteresis counters from one cycle to the next.
 */
export function createHealthRuntime(options: HealthRuntimeOptions): { checker: HealthChecker; keyExpiry?: KeyExpiryScan; close(): Promise<void> } {
  const revealSecret = cachedSecretRevealer(new EnvelopeCipher(options.dataKeys));
  const prober = createMcpProbe({ allowLoopback: options.allowLoopback, timeoutMs: options.probeTimeoutMs });
  const scanKeys = options.keyExpiryScan ?? process.env.PLEXMCP_KEY_EXPIRY_SCAN !== 'off';
  const registry = new DynamoDbRegistryStore(options.dynamodb, options.registryTable);
  const keyExpiry = scanKeys
    ? new KeyExpiryScan({
        keys: () => everyKey(registry),
        marks: new DynamoDbOnceMarks(options.dynamodb, options.registryTable, noticeItemKey, () => (options.now?.() ?? new Date()).getTime()),
        events: options.events,
        now: options.now,
      })
    : undefined;
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
    alongside: () => keyExpiry?.runIfDue(),
  });
  return { checker, keyExpiry, close: () => prober.close() };
}

/** Every key of every org: the orgs' listing, then each org's keys (no index spans all keys). */
async function* everyKey(registry: DynamoDbRegistryStore): AsyncIterable<ApiKey> {
  let orgCursor: string | undefined;
  do {
    const orgs = await registry.listOrgs({ limit: LIST_PAGE, cursor: orgCursor });
    for (const org of orgs.items) {
      let keyCursor: string | undefined;
      do {
        const keys = await registry.listKeys(org.orgId, { limit: LIST_PAGE, cursor: keyCursor });
        yield* keys.items;
        keyCursor = keys.nextCursor;
      } while (keyCursor);
    }
    orgCursor = orgs.nextCursor;
  } while (orgCursor);
}
