import { randomUUID } from 'node:crypto';
import { OpenAPIHono } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { AlertService } from '../alert-service';
import type { RollupReader } from '../analytics/model';
import { looksLikeApiKey } from '../api-keys';
import { AuditBusyError, type AuditJournal } from '../audit/journal';
import { ApiError, forbidden, unauthorized } from '../errors';
import type { PlexEventPublisher } from '../events/model';
import type { HealthStore } from '../health/store';
import type { WebhookService } from '../webhooks/endpoints';
import type { ApiKey } from '../model';
import { originAllowed } from '../origin-policy';
import { PlanLimitError, type RegistryService } from '../registry-service';
import { actorOf, auditTrail, RefusalAudit } from './audit-trail';
import { ADMIN_MAX_BODY_BYTES, type AdminEnv, type Principal } from './openapi';
import type { OperatorCredential } from './operator-credential';
import { alertRoutes } from './routes/alerts';
import { type AuditDigestSource, auditRoutes } from './routes/audit';
import { type GrantSource, grantRoutes } from './routes/grants';
import { identityRoutes } from './routes/identity';
import { keyRoutes } from './routes/keys';
import { mcpRoutes } from './routes/mcps';
import { orgRoutes } from './routes/orgs';
import { usageRoutes } from './routes/usage';
import { webhookRoutes } from './routes/webhooks';

export { ADMIN_MAX_BODY_BYTES, type AdminEnv, type Principal } from './openapi';
export const ADMIN_BASE_PATH = '/admin/v1';

/** One line per admin request: what was asked and how it ended, never bodies or credentials. */
export interface AdminRequestLog {
  readonly requestId: string;
  readonly method: string;
  readonly route: string;
  readonly status: number;
  readonly durationMs: number;
  readonly principal?: 'operator' | 'key';
  readonly keyId?: string;
  readonly errorCode?: string;
}

export interface AdminAppDeps {
  readonly service: RegistryService;
  readonly authenticateKey: (presented: string) => Promise<ApiKey>;
  readonly operator: OperatorCredential;
  /** Endpoint health and discovered tools, as the health checker stored them. */
  readonly health: HealthStore;
  /** Org alert subscriptions. */
  readonly alerts: AlertService;
  /** The audit log every change is recorded in (and refused requests, in the system chain). */
  readonly audit: AuditJournal;
  /** Webhook endpoints and deliveries; without them the webhook routes answer 501 `webhooks_unavailable`. */
  readonly webhooks?: WebhookService;
  /**
   * The org's OAuth grants (lambda/core/oauth/grants.ts), or a lookup of them for a host that
   * builds the OAuth runtime after the admin app (it needs the admin's registry). Without them the
   * grant routes answer 501 `oauth_unavailable`, and a grant's backing key is revoked as a key.
   */
  readonly grants?: GrantSource;
  /** The signed digests the audit routes serve; without them those routes answer 501 `digests_unavailable`. */
  readonly auditDigests?: AuditDigestSource;
  /** Where admin changes are announced (`mcp.created`, `key.revoked`, …). @default none */
  readonly events?: PlexEventPublisher;
  /** A mutating route that answers without recording an audit entry fails with 500 instead of a log line (tests). @default false */
  readonly strictAudit?: boolean;
  /** The analytics rollups the usage routes read; without them those routes answer 501 `usage_unavailable`. */
  readonly usage?: RollupReader;
  /**
   * For a host that buffers whole answers (the admin Lambda: 6 MB): the usage export is built in
   * memory up to this many bytes, and 413 `export_too_large` beyond. @default none: it streams
   */
  readonly maxExportBytes?: number;
  /** Epoch ms: what usage ranges such as `-24h` count from, and audit entry times. @default Date.now */
  readonly now?: () => number;
  /**
   * Browser origins (`https://admin.example.com`) allowed to call the API, with CORS. A request
   * with any other `Origin` gets 403 `origin_not_allowed` (DNS rebinding, cross-site requests);
   * requests without one (the CLI, SDKs, curl) are not affected. @default none
   */
  readonly allowedOrigins?: readonly string[];
  /**
   * The origin this deployment serves the web console from, for a request (`https://<the domain
   * API Gateway was called on>` in AWS; `http://<loopback Host>` locally): the console's own calls
   * carry it as their `Origin` (browsers send one on every POST, PATCH and DELETE) and it is
   * admitted like an allowed origin, without CORS (same origin). It must come from what the host
   * verified, never from a client header alone. @default none
   */
  readonly ownOrigin?: (c: Context) => string | undefined;
  /** Request id for a request; API Gateway's id in AWS. @default a random UUID */
  readonly requestId?: (c: Context) => string;
  /** The caller's address, for audit entries (API Gateway's source IP in AWS, the socket's locally). @default 'unknown' */
  readonly sourceIp?: (c: Context) => string;
  readonly log?: (record: AdminRequestLog) => void;
  /** What goes wrong beside an answer (an audit refusal or event not written). @default a JSON line on stderr */
  readonly warn?: (message: string, fields: Record<string, unknown>) => void;
}

/** Refusals the system chain records (guard and authentication codes). */
const AUDITED_REFUSALS = new Set(['invalid_credentials', 'invalid_api_key', 'forbidden_org', 'admin_role_required', 'operator_required', 'origin_not_allowed']);

/**
 * The admin API: one Hono app served by the admin Lambda and by `plexmcp serve`, its routes in
 * one module per resource (routes/*.ts). Routes and their OpenAPI document come from the same zod
 * schemas that validate requests.
 */
export function createAdminApp(deps: AdminAppDeps) {
  const now = deps.now ?? Date.now;
  const warn = deps.warn ?? ((message, fields) => console.error(JSON.stringify({ level: 'warn', msg: message, ...fields })));
  const refusals = new RefusalAudit({ journal: deps.audit, now, warn });
  const base = new OpenAPIHono<AdminEnv>().basePath(ADMIN_BASE_PATH);

  base.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator token, or an API key (`pmcp_…`) with the admin role of the organisation.',
  });

  base.use('*', requestContext(deps, refusals));
  base.use('*', originCheck(deps.allowedOrigins ?? [], deps.ownOrigin));
  if ((deps.allowedOrigins ?? []).length > 0) base.use('*', corsFor(deps.allowedOrigins!));
  base.use('*', bodyLimit({ maxSize: ADMIN_MAX_BODY_BYTES, onError: () => { throw new ApiError(413, 'body_too_large', `Request bodies are limited to ${ADMIN_MAX_BODY_BYTES} bytes`); } }));
  base.use('*', authenticate(deps));
  base.use('*', auditTrail({ journal: deps.audit, events: deps.events, now, strict: deps.strictAudit, warn }));

  base.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'PlexMCP admin API',
      version: '1.0.0',
      description: 'Manage organisations, MCP servers, API keys and OAuth grants; read endpoint health and discovered tools; subscribe to alerts; read usage analytics and the audit log.',
    },
  });

  const app = base
    .route('/', identityRoutes())
    .route('/', orgRoutes(deps.service))
    .route('/', mcpRoutes(deps.service, deps.health, now))
    .route('/', keyRoutes(deps.service, deps.grants))
    .route('/', grantRoutes(deps.grants))
    .route('/', alertRoutes(deps.alerts))
    .route('/', usageRoutes({ reader: deps.usage, now, maxExportBytes: deps.maxExportBytes }))
    .route('/', webhookRoutes(deps.webhooks))
    .route('/', auditRoutes(deps.audit, deps.auditDigests));

  app.notFound(() => {
    throw new ApiError(404, 'not_found', 'No such route');
  });
  app.onError((error, c) => {
    const response = errorResponse(c, error);
    const code = c.get('errorCode') as string | undefined;
    if (code && AUDITED_REFUSALS.has(code)) {
      // Recorded before answering, so a refusal is in the log by the time the caller sees it.
      return refusals.refused(code, c.get('sourceIp') ?? 'unknown', actorOf(c.get('principal') as Principal | undefined), c.get('requestId') ?? '').then(() => response);
    }
    return response;
  });
  return app;
}

/** The admin app's type, for the typed client (hono/client `hc<AdminApp>`). */
export type AdminApp = ReturnType<typeof createAdminApp>;

function requestContext(deps: AdminAppDeps, refusals: RefusalAudit): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = deps.requestId?.(c) ?? randomUUID();
    c.set('requestId', requestId);
    c.set('sourceIp', deps.sourceIp?.(c) || 'unknown');
    await next();
    // Bursts of refusals whose window has passed are written on the next request (no timers in Lambda).
    await refusals.flush();
    c.header('X-Request-Id', requestId);
    c.header('Cache-Control', c.res.headers.get('Cache-Control') ?? 'no-store');
    const principal = c.get('principal') as Principal | undefined;
    deps.log?.({
      requestId,
      method: c.req.method,
      route: c.req.routePath,
      status: c.res.status,
      durationMs: Math.round(performance.now() - started),
      principal: principal?.kind,
      keyId: principal?.kind === 'key' ? principal.key.keyId : undefined,
      errorCode: c.get('errorCode') as string | undefined,
    });
  };
}

function authenticate(deps: AdminAppDeps): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    if (c.req.method === 'GET' && c.req.path === `${ADMIN_BASE_PATH}/openapi.json`) return next();
    const header = c.req.header('authorization') ?? '';
    const match = /^Bearer ([\x21-\x7e]{1,512})$/i.exec(header);
    if (!match) throw unauthorized();
    const token = match[1]!;
    if (looksLikeApiKey(token)) {
      c.set('principal', { kind: 'key', key: await deps.authenticateKey(token) });
    } else if (await deps.operator.matches(token)) {
      c.set('principal', { kind: 'operator' });
    } else {
      throw unauthorized();
    }
    return next();
  };
}

/**
 * Answers 403 `origin_not_allowed` for a request whose `Origin` is present and not allowed (the
 * MCP transport's DNS-rebinding rule, applied to the admin API too). First, before credentials.
 */
function originCheck(allowedOrigins: readonly string[], ownOrigin: AdminAppDeps['ownOrigin']): MiddlewareHandler<AdminEnv> {
  return async (c, next) => {
    const origin = c.req.header('origin') ?? null;
    const own = origin === null ? undefined : ownOrigin?.(c);
    if (!originAllowed(origin, own === undefined ? allowedOrigins : [...allowedOrigins, own])) {
      throw forbidden('origin_not_allowed', 'Requests from this Origin are not allowed; the operator lists the allowed origins');
    }
    await next();
  };
}

/** CORS for the allowed origins, so a browser UI there can call the API (bearer tokens, no cookies). */
function corsFor(allowedOrigins: readonly string[]): MiddlewareHandler<AdminEnv> {
  return cors({
    origin: (origin) => (origin && originAllowed(origin, allowedOrigins) ? origin : null),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
    exposeHeaders: ['X-Request-Id'],
    maxAge: 600,
  });
}

const HTTP_EXCEPTION_CODES: Record<number, string> = {
  400: 'malformed_json',
  413: 'body_too_large',
  415: 'unsupported_media_type',
};

function errorResponse(c: Context<AdminEnv>, error: Error): Response {
  let apiError: ApiError;
  if (error instanceof ApiError) {
    apiError = error;
  } else if (error instanceof HTTPException && HTTP_EXCEPTION_CODES[error.status]) {
    const messages: Record<string, string> = {
      malformed_json: 'The request body is not valid JSON',
      body_too_large: `Request bodies are limited to ${ADMIN_MAX_BODY_BYTES} bytes`,
      unsupported_media_type: 'Send the request body as application/json',
    };
    const code = HTTP_EXCEPTION_CODES[error.status]!;
    apiError = new ApiError(error.status, code, messages[code]!);
  } else if (error instanceof AuditBusyError) {
    // The change was not made (the lock was never taken): the client retries.
    c.header('Retry-After', '1');
    apiError = new ApiError(503, 'audit_busy', 'Another change of this organisation is still being recorded; retry');
  } else {
    apiError = new ApiError(500, 'internal_error', 'Something went wrong; quote the request id when reporting it');
    console.error(JSON.stringify({ level: 'error', msg: 'admin request failed', requestId: c.get('requestId'), error: error.name }));
  }
  const status = apiError.status as 400;
  if (apiError.status === 401) c.header('WWW-Authenticate', 'Bearer realm="plexmcp-admin"');
  c.set('errorCode', apiError.code);
  const limit = apiError instanceof PlanLimitError ? { name: apiError.limit, value: apiError.value } : undefined;
  return c.json(
    { error: { code: apiError.code, message: apiError.message, requestId: c.get('requestId') ?? '', details: apiError.details, limit } },
    status,
  );
}
