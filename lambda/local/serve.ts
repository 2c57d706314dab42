import { existsSync, mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join, resolve } from 'node:path';
import { createServer, type RequestListener, type Server } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { Hono, type Context } from 'hono';
import { LocalKeyFileProvider } from '../adapters/local-key-file';
import { DynamoDbRegistryStore, ensureRegistryTable } from '../adapters/dynamodb-registry-store';
import { systemResolver } from '../adapters/dns-resolver';
import { EnvelopeCipher } from '../core/envelope';
import { limitFromPlan } from '../core/webhooks/endpoints';
import { alertOnDisabledEndpoints, createLocalWebhooks } from './webhook-worker';
import { ADMIN_BASE_PATH } from '../core/admin/app';
import { CONSOLE_BASE_PATH, consoleRoutes } from '../core/console/console-app';
import { loadConsoleAssets } from '../adapters/console-assets';
import { createAdminRuntime } from '../adapters/admin-runtime';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../core/registry-table';
import { RegistryService } from '../core/registry-service';
import { localDynamoDbClient, startEmbeddedDynamoDb } from './dynamodb-engine';
import { ensureCountersTable } from '../adapters/dynamodb-counters';
import { ensureAuditTable } from '../adapters/dynamodb-audit-store';
import { DEFAULT_AUDIT_TABLE_NAME } from '../core/audit/table';
import { DEFAULT_DIGEST_INTERVAL_MS, DigestProducer, type DigestRunReport, listAllOrgIds } from '../core/audit/digest-producer';
import { DynamoDbAuditDigests } from '../adapters/dynamodb-audit-digests';
import { LOCAL_DIGEST_KEY_FILE, loadOrCreateDigestSigner } from '../adapters/local-digest-key';
import { createGatewayRuntime } from '../adapters/gateway-runtime';
import { DEFAULT_COUNTERS_TABLE_NAME } from '../core/registry-table';
import { getConnInfo } from '@hono/node-server/conninfo';
import { randomBytes, randomUUID } from 'node:crypto';
import { loadOrCreateOperatorToken, loadOrCreateSecretFile } from './operator-token';
import { createOAuthRuntime } from '../adapters/oauth-runtime';
import { isAuthorizationServerPath } from '../core/oauth/routes';
import type { ConsentIdentityProvider } from '../core/oauth/external-sign-in';
import { isLoopbackHost } from '../core/origin-policy';
import { startDemo, type Demo } from './demo';
import { InProcessEventBus } from './event-bus';
import { createHealthRuntime } from '../adapters/health-runtime';
import type { CycleReport } from '../core/health/checker';
import type { HealthEvent } from '../core/health/model';
import type { StoredMcpServer } from '../core/model';
import { LocalAlertDelivery } from '../adapters/sns-alerts';
import { hostNotAllowedAnswer, isLoopbackAddress, loopbackHostGuard } from './host-check';
import { gatewayFront, NodeRequestHeaders } from './gateway-front';
import { DISCARD_USAGE, type EndpointStatuses } from '../core/gateway/gateway';
import { OtlpUsageMetrics } from '../core/analytics/otlp-metrics';
import { fromWebRequest, toWebResponse } from '../core/gateway/exchange';
import { DEFAULT_ANALYTICS_TABLE_NAME, DynamoDbRollups, ensureAnalyticsTable } from '../adapters/dynamodb-rollups';
import { LocalAnalytics } from '../core/analytics/local-aggregator';
import type { UsageRecord } from '../core/gateway/usage';
import { ensureOAuthTable } from '../adapters/dynamodb-oauth-store';
import { DEFAULT_OAUTH_TABLE_NAME } from '../core/oauth/table';
import { PROTECTED_RESOURCE_WELL_KNOWN, protectedResourceAnswer } from '../core/gateway/protected-resource';
import { checkedBaseUrl, hostBaseUrl } from '../core/gateway/public-url';
import type { RequestHeaders } from '../core/gateway/exchange';

export interface ServeOptions {
  /** @default 8787 */
  readonly port?: number;
  /** Loopback by default: the local gateway is for this machine. @default '127.0.0.1' */
  readonly host?: string;
  /** Where the database, local key file, operator token and demo.json live. */
  readonly dataDir: string;
  /** Start server-everything and register it as MCP `everything` of a demo org. @default false */
  readonly demo?: boolean;
  /** Human-readable progress lines. @default console.log */
  readonly log?: (line: string) => void;
  /** Structured request log records (admin requests and gateway usage records). @default none */
  readonly logRequest?: (record: object) => void;
  /**
   * Use a running DynamoDB-compatible engine (e.g. DynamoDB Local, or one shared by several
   * gateway processes) instead of the embedded one.
   * @default - the embedded engine, persisted under `dataDir`
   */
  readonly dynamodbEndpoint?: string;
  /** Verified-key cache lifetime of the gateway: how long a revoked key may keep working. @default 60_000 */
  readonly keyCacheTtlMs?: number;
  /** How long the admin API trusts the operator token it read: the bound on a rotation taking effect. @default 60_000 */
  readonly operatorTokenMaxAgeMs?: number;
  /** Registry cache lifetime of the gateway. @default 30_000 */
  readonly registryCacheTtlMs?: number;
  /** How often every endpoint is health-checked; 0 turns the health monitor off. @default 60_000 */
  readonly healthIntervalMs?: number;
  /** Health probe deadline per endpoint. @default 10_000 */
  readonly probeTimeoutMs?: number;
  /**
   * Browser origins (`http://localhost:3000`) allowed to call the gateway and the admin API; a
   * request with any other `Origin` is refused (DNS rebinding). Agents send no `Origin`.
   * @default none
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * An OTLP/HTTP metrics URL (e.g. `http://127.0.0.1:4318/v1/metrics`): the gateway's operational
   * metrics, derived from its usage records, are exported there (otlp-metrics.ts).
   * @default none
   */
  readonly otlpEndpoint?: string;
  /** How often the OTLP metrics are exported. @default 15_000 */
  readonly otlpExportIntervalMs?: number;
  /**
   * Usage analytics (rollups in the embedded store, the usage API). Off only to measure what it
   * costs (`npm run bench`): without it the usage API has nothing to show.
   * @default true
   */
  readonly analytics?: boolean;
  /** The webhook retry delays (ms); tests shorten them. @default the Standard Webhooks schedule (docs/webhooks.md) */
  readonly webhookRetrySchedule?: readonly number[];
  /** How often the webhook worker looks for due deliveries. @default the worker's */
  readonly webhookPollIntervalMs?: number;
  /**
   * The region this server stands for (`/healthz`, usage records, health states): two servers
   * over one store with two names are two regions (the local multi-region drill). @default 'local'
   */
  readonly region?: string;
  /** How often the audit digests are made and signed; 0 turns the timer off (runAuditDigests still works). @default daily */
  readonly auditDigestIntervalMs?: number;
  /**
   * The built web console (scripts/build-console.cjs), served at `/console/`.
   * @default `console/` beside the running bundle (`dist/console`, which `npm start` builds), else the repository's `dist/console`
   */
  readonly consoleDir?: string;
  /** Extra CA certificates (PEM) trusted when fetching OAuth client metadata documents (tests on loopback https). @default none */
  readonly oauthMetadataCa?: string;
  /**
   * An OpenID Provider org admins may sign in with on the OAuth consent page, beside their keys
   * (its client's redirect URI: `<baseUrl>/oauth/signin/callback`).
   * @default none - org admin keys only
   */
  readonly identityProvider?: ConsentIdentityProvider;
}

export interface LocalGateway {
  readonly adminUrl: string;
  readonly baseUrl: string;
  /** The web console (`<baseUrl>/console/`). */
  readonly consoleUrl: string;
  /** Health and tool-change events (the local stand-in for the EventBridge bus). */
  readonly events: InProcessEventBus;
  /** Runs one health-check cycle now (also what the timer does). */
  runHealthCycle(): Promise<CycleReport>;
  /** With `demo`: the demo's upstream, to stop and start it. */
  readonly demo?: Pick<Demo, 'stopUpstream' | 'startUpstream'>;
  readonly operatorToken: string;
  readonly service: RegistryService;
  /** Makes the audit digests now (also what the timer does). */
  runAuditDigests(): Promise<DigestRunReport>;
  /** Writes the usage recorded so far to the rollups now (also done every 5 s and on close). */
  flushAnalytics(): Promise<void>;
  close(): Promise<void>;
}

/** The key that signs the authorization server's cookies and consent forms, in the data dir. */
export const OAUTH_COOKIE_KEY_FILE = 'oauth-cookie.key';

/** The webhook tables in the embedded store. */
export const LOCAL_WEBHOOK_ENDPOINTS_TABLE = 'plexmcp-webhook-endpoints';
export const LOCAL_WEBHOOK_DELIVERIES_TABLE = 'plexmcp-webhook-deliveries';

/**
 * `plexmcp serve`: the gateway (`/mcp/{slug}`) and the admin API on one port, loopback by
 * default, backed by an embedded DynamoDB-compatible engine under `dataDir`. Bound to loopback,
 * it answers only requests whose `Host` is a loopback name (see host-check.ts).
 */
export async function serve(options: ServeOptions): Promise<LocalGateway> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dataDir = resolve(options.dataDir);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });

  const engine = options.dynamodbEndpoint ? externalEngine(options.dynamodbEndpoint) : await startEmbeddedDynamoDb(join(dataDir, 'dynamodb'));
  const cleanups: (() => Promise<void>)[] = [() => engine.close()];
  const closeAll = async () => {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  };
  try {
    await ensureRegistryTable(engine.client, DEFAULT_REGISTRY_TABLE_NAME);
    await ensureCountersTable(engine.client, DEFAULT_COUNTERS_TABLE_NAME);
    await ensureAnalyticsTable(engine.client, DEFAULT_ANALYTICS_TABLE_NAME);
    await ensureAuditTable(engine.client, DEFAULT_AUDIT_TABLE_NAME);
    await ensureOAuthTable(engine.client, DEFAULT_OAUTH_TABLE_NAME);
    // Usage analytics in-process: every usage record is aggregated here and flushed to the
    // rollups every 5 s and on close (a crash loses at most the records since the last flush).
    // Closed after the server and gateway (cleanups run in reverse), before the engine.
    const rollups = new DynamoDbRollups(engine.client, DEFAULT_ANALYTICS_TABLE_NAME);
    const analytics = options.analytics === false ? undefined : new LocalAnalytics(rollups);
    if (analytics) cleanups.push(() => analytics.close());
    const otlp = options.otlpEndpoint === undefined ? undefined : new OtlpUsageMetrics({ url: options.otlpEndpoint, exportIntervalMs: options.otlpExportIntervalMs });
    // A collector that is down must not hold the shutdown: its last export is given up on.
    if (otlp) cleanups.push(() => otlp.close().catch(() => undefined));
    const dataKeys = LocalKeyFileProvider.fromFile(join(dataDir, 'master.key'));
    // The admin API, wired as in the admin Lambda (admin-runtime.ts). The operator token is read
    // from the file again after the bound, so a rotated token (the file rewritten) takes effect;
    // the file is created below, before the server listens.
    const operatorTokenPath = join(dataDir, 'operator-token');
    // Admin changes, health, quota, audit and webhook events all go on this bus.
    const events = new InProcessEventBus();
    // Audit digests: signed with a P-256 key kept in the data dir (its public half is served by
    // the digest routes), made every auditDigestIntervalMs for every org and the system chain.
    const digestSigner = loadOrCreateDigestSigner(join(dataDir, LOCAL_DIGEST_KEY_FILE));
    // Webhooks: endpoints and pending deliveries in the embedded store (a restart loses none),
    // delivered by a worker that takes every event of the bus. Stopped before the engine.
    const registryStore = new DynamoDbRegistryStore(engine.client, DEFAULT_REGISTRY_TABLE_NAME);
    const webhooks = await createLocalWebhooks({
      client: engine.client,
      endpointsTable: LOCAL_WEBHOOK_ENDPOINTS_TABLE,
      deliveriesTable: LOCAL_WEBHOOK_DELIVERIES_TABLE,
      cipher: new EnvelopeCipher(dataKeys),
      urlPolicy: { allowLoopback: true, resolve: systemResolver },
      limitFor: limitFromPlan((orgId) => registryStore.getOrg(orgId)),
      bus: events,
      schedule: options.webhookRetrySchedule,
      pollIntervalMs: options.webhookPollIntervalMs,
    });
    cleanups.push(() => webhooks.close());
    // Whether the server is bound to loopback (the Host guard's switch). Until the bound address is
    // known the guard is on: fail closed.
    let boundToLoopback = true;
    const { app: admin, service, store, alerts, audit } = createAdminRuntime({
      dynamodb: engine.client,
      registryTable: DEFAULT_REGISTRY_TABLE_NAME,
      auditTable: DEFAULT_AUDIT_TABLE_NAME,
      digestPublicKeyPem: async () => digestSigner.publicKeyPem,
      events,
      webhooks: webhooks.service,
      // The OAuth runtime below is built from this runtime's registry: looked up per request.
      grants: () => oauth.grants,
      dataKeys,
      allowLoopback: true,
      sourceIp: (c) => getConnInfo(c).remote.address ?? '',
      readOperatorToken: async () => (await readFile(operatorTokenPath, 'utf8')).trim(),
      operatorTokenMaxAgeMs: options.operatorTokenMaxAgeMs,
      // Locally, alerts are logged (and kept in memory), never emailed.
      alertDelivery: new LocalAlertDelivery(log),
      usage: rollups,
      allowedOrigins: options.allowedOrigins,
      // The console's own origin: this server under the loopback name the browser used (the host
      // guard has checked it). Bound elsewhere, a Host header proves nothing (DNS rebinding), so
      // the console's origin must be listed in allowedOrigins.
      ownOrigin: (c) => (boundToLoopback ? `http://${c.req.header('host') ?? ''}` : undefined),
      log: options.logRequest,
    });
    // The OAuth authorization server (the same origin as the gateway): its cookies and consent
    // forms are signed with a key kept in the data dir.
    const oauth = createOAuthRuntime({
      dynamodb: engine.client,
      oauthTable: DEFAULT_OAUTH_TABLE_NAME,
      registry: { service, store },
      auditTable: DEFAULT_AUDIT_TABLE_NAME,
      events,
      cookieKeys: [loadOrCreateSecretFile(join(dataDir, OAUTH_COOKIE_KEY_FILE), () => randomBytes(32).toString('base64url')).token],
      allowLoopback: true,
      metadataCa: options.oauthMetadataCa,
      identityProvider: options.identityProvider,
      sourceIp: (req) => req.socket.remoteAddress ?? '',
      requestId: () => randomUUID(),
    });
    // A webhook endpoint that delivery disabled is emailed (logged, locally) to the org's alert
    // subscribers; health events are dispatched by the health monitor itself, not from the bus.
    const stopDisabledAlerts = alertOnDisabledEndpoints(events, alerts, (record) => log(JSON.stringify(record)));
    cleanups.push(async () => void stopDisabledAlerts());
    const digests = new DigestProducer({
      listOrgIds: () => listAllOrgIds(store),
      head: (orgId) => audit.head(orgId),
      store: new DynamoDbAuditDigests(engine.client, DEFAULT_AUDIT_TABLE_NAME),
      signer: digestSigner,
      publisher: events,
      onError: (error) => log(`audit digest run failed: ${(error as Error).name}`),
    });
    if ((options.auditDigestIntervalMs ?? DEFAULT_DIGEST_INTERVAL_MS) > 0) {
      digests.start(options.auditDigestIntervalMs ?? DEFAULT_DIGEST_INTERVAL_MS);
      cleanups.push(() => digests.stop());
    }
    // Health monitor: the checker's in-memory states are the gateway's view, with no delay.
    const health = createHealthRuntime({
      dynamodb: engine.client,
      registryTable: DEFAULT_REGISTRY_TABLE_NAME,
      dataKeys,
      events,
      allowLoopback: true,
      region: options.region ?? 'local',
      probeTimeoutMs: options.probeTimeoutMs,
      alert: async (batch) => void (await alerts.dispatch(batch)),
    });
    cleanups.push(() => health.close());
    events.subscribe((event) => log(describeEvent(event)));
    // A live view of the checker's states per MCP record, made once (not a Map per request).
    const statusViews = new WeakMap<StoredMcpServer, Promise<EndpointStatuses>>();
    const localStatuses = (mcp: StoredMcpServer) => {
      let view = statusViews.get(mcp);
      if (!view) statusViews.set(mcp, (view = Promise.resolve({ get: (endpointId: string) => health.checker.stateOf(mcp.orgId, mcp.slug, endpointId)?.status })));
      return view;
    };

    // The public base URL of a request (OAuth resource URIs, challenges, token issuers): the
    // loopback name the client used (the Host guard has checked it), or the bound address when
    // not bound to loopback (a Host header proves nothing then).
    const bound: { baseUrl?: string } = {}; // known once listening
    const publicBaseUrl = (headers: RequestHeaders) => (boundToLoopback ? hostBaseUrl(headers.get('host')) : checkedBaseUrl(bound.baseUrl));
    const gateway = await createGatewayRuntime({
      dynamodb: engine.client,
      registryTable: DEFAULT_REGISTRY_TABLE_NAME,
      countersTable: DEFAULT_COUNTERS_TABLE_NAME,
      dataKeys,
      allowLoopback: true,
      region: options.region ?? 'local',
      usage: usageSink([analytics && ((r: UsageRecord) => analytics.record(r)), otlp && ((r: UsageRecord) => otlp.record(r)), options.logRequest]),
      keyCacheTtlMs: options.keyCacheTtlMs,
      registryCacheTtlMs: options.registryCacheTtlMs,
      endpointStatuses: localStatuses,
      allowedOrigins: options.allowedOrigins,
      // org.quota.threshold at 80 % and 100 % of the monthly quota, from the quota flushes.
      events,
      // OAuth access tokens, by hash, from the authorization server's table.
      accessTokens: oauth.store,
      publicBaseUrl,
    });
    cleanups.push(() => gateway.close());
    // A recovery seen by the monitor ends the gateway's own cool-down for that endpoint at once.
    events.subscribe((event) => {
      if (event.type === 'mcp.endpoint.status.changed' && event.to !== 'unhealthy') gateway.endpointRecovered(event.endpointId);
    });
    const operator = loadOrCreateOperatorToken(operatorTokenPath);

    const root = new Hono();
    root.use('*', loopbackHostGuard(() => boundToLoopback));
    // Whether this server can serve (store readable and writable, keys usable): 200 or 503.
    root.get('/healthz', async () => toWebResponse(await gateway.healthz(randomUUID())));
    // Plain /mcp/{slug} requests never reach Hono (gateway-front.ts); the others get the same core here.
    root.all('/mcp/:slug', async (c) =>
      toWebResponse(await gateway.handle(fromWebRequest(c.req.raw), { slug: c.req.param('slug'), sourceIp: getConnInfo(c).remote.address ?? '', requestId: randomUUID() })),
    );
    // OAuth protected resource metadata (RFC 9728), root form and per MCP (core/gateway/protected-resource.ts).
    const protectedResource = (c: Context) =>
      toWebResponse(protectedResourceAnswer(c.req.method, c.req.path, publicBaseUrl(c.req.raw.headers), randomUUID()));
    root.all(PROTECTED_RESOURCE_WELL_KNOWN, protectedResource);
    root.all(`${PROTECTED_RESOURCE_WELL_KNOWN}/*`, protectedResource);
    root.route('/', consoleRoutes(loadConsoleAssets(options.consoleDir ?? defaultConsoleDir())));
    root.route('/', admin);
    const honoListener = getRequestListener(root.fetch);
    const listener = gatewayFront({
      gateway: gateway.handle,
      // Hono's listener answers its own failures (500) and never rejects. The authorization
      // server's paths go to oidc-provider (a Node listener of its own), after the same Host check.
      fallback: (req, res) => {
        if (!isAuthorizationServerPath(req.url ?? '')) return void honoListener(req, res);
        const host = req.headers.host ?? null;
        const issuer = publicBaseUrl(new NodeRequestHeaders(req));
        if ((boundToLoopback && !isLoopbackHost(host)) || issuer === undefined) {
          const answer = hostNotAllowedAnswer(randomUUID(), false);
          res.writeHead(answer.status, answer.headers).end(answer.body);
          return;
        }
        oauth.listenerFor(issuer)(req, res);
      },
      loopbackOnly: () => boundToLoopback,
    });

    const server = await listen(listener, options.port ?? 8787, options.host ?? '127.0.0.1');
    cleanups.push(() => new Promise<void>((done) => server.close(() => done())));
    const address = server.address() as AddressInfo;
    boundToLoopback = isLoopbackAddress(address.address);
    const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
    const baseUrl = `http://${host}:${address.port}`;
    bound.baseUrl = baseUrl;
    const adminUrl = `${baseUrl}${ADMIN_BASE_PATH}`;
    const consoleUrl = `${baseUrl}${CONSOLE_BASE_PATH}/`;

    log(`PlexMCP gateway listening on ${baseUrl}/mcp/{slug}, admin API on ${adminUrl} (data in ${dataDir})`);
    log(`Web console: ${consoleUrl} (sign in with an org admin key or the operator token)`);
    if (operator.created) {
      log(`First run: operator token (also saved to ${operatorTokenPath}, mode 0600):`);
      log(`  ${operator.token}`);
    } else {
      log(`Operator token: ${operatorTokenPath}`);
    }

    let demo: Demo | undefined;
    if (options.demo) {
      demo = await startDemo({ service, store, baseUrl, adminUrl, dataDir, log });
      cleanups.push(demo.close);
    }
    const runHealthCycle = () => health.checker.runCycle();
    const intervalMs = options.healthIntervalMs ?? 60_000;
    if (intervalMs > 0) {
      const timer = startHealthTimer(runHealthCycle, intervalMs);
      cleanups.push(timer.stop);
    }
    const flushAnalytics = async () => analytics?.flush();
    return { adminUrl, baseUrl, consoleUrl, operatorToken: operator.token, service, events, runHealthCycle, runAuditDigests: () => digests.run(), demo, flushAnalytics, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * Where each usage record goes: the analytics (also without `logRequest`, --log-requests), the
 * OTLP metrics, the log. With none of them the gateway builds no records at all.
 */
function usageSink(sinks: readonly (((record: UsageRecord) => void) | undefined)[]): (record: UsageRecord) => void {
  const active = sinks.filter((sink) => sink !== undefined);
  if (active.length === 0) return DISCARD_USAGE;
  if (active.length === 1) return active[0]!;
  return (record) => {
    for (const sink of active) sink(record);
  };
}

/**
 * Runs a cycle at once and then every `intervalMs`, never two at a time (a slow cycle delays the
 * next one). `stop` waits for a running cycle.
 */
function startHealthTimer(run: () => Promise<unknown>, intervalMs: number): { stop(): Promise<void> } {
  let stopped = false;
  let current: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const tick = () => {
    current = run()
      .catch(() => undefined)
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, 0);
  return {
    stop: async () => {
      stopped = true;
      clearTimeout(timer);
      await current;
    },
  };
}

function describeEvent(event: HealthEvent): string {
  if (event.type === 'mcp.endpoint.status.changed') {
    return `health: ${event.mcp} endpoint ${event.endpointId} ${event.from} -> ${event.to}${event.errorClass ? ` (${event.errorClass})` : ''}`;
  }
  return `health: ${event.mcp} tools changed (+${event.added.length} -${event.removed.length} ~${event.changed.length})`;
}

function listen(listener: RequestListener, port: number, hostname: string): Promise<Server> {
  return new Promise((resolveServer, reject) => {
    const server = createServer(listener);
    server.once('error', reject);
    server.listen(port, hostname, () => resolveServer(server));
  });
}

/**
 * The console build beside the running code: `dist/console` next to `dist/plexmcp.cjs` (npm
 * start), or the repository's `dist/console` when running from source (tsx).
 */
function defaultConsoleDir(): string {
  const beside = join(__dirname, 'console');
  return existsSync(join(beside, 'index.html')) ? beside : join(__dirname, '..', '..', 'dist', 'console');
}

/** A running DynamoDB-compatible engine elsewhere: closing only lets go of the client's sockets. */
function externalEngine(endpoint: string) {
  const client = localDynamoDbClient(endpoint);
  return { client, close: async () => client.destroy() };
}
