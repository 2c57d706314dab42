import { randomUUID } from 'node:crypto';
import { createRoute, OpenAPIHono, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import { cors } from 'hono/cors';
import { HTTPException } from 'hono/http-exception';
import type { AlertService } from '../alert-service';
import { looksLikeApiKey } from '../api-keys';
import { ApiError, forbidden, unauthorized } from '../errors';
import type { HealthStore } from '../health/store';
import type { ApiKey, Org } from '../model';
import { originAllowed } from '../origin-policy';
import { effectivePlan, PLAN_LIMITS } from '../plans';
import { PlanLimitError, type RegistryService } from '../registry-service';
import type { RollupReader } from '../analytics/model';
import type { OperatorCredential } from './operator-credential';
import {
  AlertIdSchema,
  AlertListSchema,
  AlertSubscriptionSchema,
  ApiKeySchema,
  CreateAlertSchema,
  CreatedKeySchema,
  CreateKeySchema,
  CreateMcpSchema,
  CreateOrgSchema,
  ErrorSchema,
  HealthQuerySchema,
  KeyIdSchema,
  McpHealthSchema,
  McpServerSchema,
  McpToolsSchema,
  OrgDetailSchema,
  OrgIdSchema,
  OrgSchema,
  pageOf,
  PageQuerySchema,
  PlansSchema,
  SlugSchema,
  UpdateMcpSchema,
  UpdateOrgSchema,
  WhoAmISchema,
} from './schemas';
import { registerUsageRoutes } from './usage-routes';

export const ADMIN_BASE_PATH = '/admin/v1';
/** Largest request body the admin API reads. */
export const ADMIN_MAX_BODY_BYTES = 64 * 1024;

export type Principal = { readonly kind: 'operator' } | { readonly kind: 'key'; readonly key: ApiKey };

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
  /** The analytics rollups the usage routes read; without them those routes answer 501 `usage_unavailable`. */
  readonly usage?: RollupReader;
  /**
   * For a host that buffers whole answers (the admin Lambda: 6 MB): the usage export is built in
   * memory up to this many bytes, and 413 `export_too_large` beyond. @default none: it streams
   */
  readonly maxExportBytes?: number;
  /** Epoch ms: what usage ranges such as `-24h` count from. @default Date.now */
  readonly now?: () => number;
  /**
   * Browser origins (`https://admin.example.com`) allowed to call the API, with CORS. A request
   * with any other `Origin` gets 403 `origin_not_allowed` (DNS rebinding, cross-site requests);
   * requests without one (the CLI, SDKs, curl) are not affected. @default none
   */
  readonly allowedOrigins?: readonly string[];
  /** Request id for a request; API Gateway's id in AWS. @default a random UUID */
  readonly requestId?: (c: Context) => string;
  readonly log?: (record: AdminRequestLog) => void;
}

type Env = { Variables: { requestId: string; principal: Principal; errorCode: string } };
/** The app's context variables, for route modules (usage-routes.ts). */
export type AdminEnv = Env;

const bearer = { security: [{ bearer: [] }] };
const json = <T extends z.ZodType>(schema: T, description: string) => ({
  content: { 'application/json': { schema } },
  description,
});
const errors = {
  400: json(ErrorSchema, 'Invalid request; `details` lists the offending fields'),
  401: json(ErrorSchema, 'Missing or invalid credentials'),
  403: json(ErrorSchema, 'The credential may not do this (checked before the body is validated), or a foreign `Origin` (`origin_not_allowed`)'),
  404: json(ErrorSchema, 'Not found'),
  409: json(ErrorSchema, 'Conflict'),
  413: json(ErrorSchema, `Body larger than ${ADMIN_MAX_BODY_BYTES} bytes`),
};
const alertsUnavailable = { 501: json(ErrorSchema, 'Alerts are not configured in this deployment (`alerts_unavailable`)') };
const idempotencyHeader = z.object({
  'idempotency-key': z
    .string()
    .regex(/^[\x21-\x7e]{1,128}$/, 'must be 1-128 visible ASCII characters')
    .optional()
    .openapi({ description: 'Retries with the same key and body return the first result instead of creating twice.' }),
});
const orgParams = z.object({ orgId: OrgIdSchema.openapi({ param: { name: 'orgId', in: 'path' } }) });
const mcpParams = orgParams.extend({ slug: SlugSchema.openapi({ param: { name: 'slug', in: 'path' } }) });
const alertParams = orgParams.extend({ subscriptionId: AlertIdSchema.openapi({ param: { name: 'subscriptionId', in: 'path' } }) });
const keyParams = orgParams.extend({ keyId: KeyIdSchema.openapi({ param: { name: 'keyId', in: 'path' } }) });
const body = <T extends z.ZodType>(schema: T) => ({ content: { 'application/json': { schema } }, required: true });

/**
 * The admin API: one Hono app served by the admin Lambda and by `plexmcp serve`. Routes and
 * their OpenAPI document come from the same zod schemas that validate requests.
 */
export function createAdminApp(deps: AdminAppDeps): OpenAPIHono<Env> {
  const { service, health, alerts } = deps;
  const app = new OpenAPIHono<Env>({
    defaultHook: (result) => {
      if (!result.success) {
        throw new ApiError(
          400,
          'validation_failed',
          'Request validation failed',
          result.error.issues.map((issue) => ({ path: issue.path.join('.') || '(body)', message: issue.message })),
        );
      }
    },
  }).basePath(ADMIN_BASE_PATH);

  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', {
    type: 'http',
    scheme: 'bearer',
    description: 'The operator token, or an API key (`pmcp_…`) with the admin role of the organisation.',
  });

  app.use('*', requestContext(deps));
  app.use('*', originCheck(deps.allowedOrigins ?? []));
  if ((deps.allowedOrigins ?? []).length > 0) app.use('*', corsFor(deps.allowedOrigins!));
  app.use('*', bodyLimit({ maxSize: ADMIN_MAX_BODY_BYTES, onError: () => { throw new ApiError(413, 'body_too_large', `Request bodies are limited to ${ADMIN_MAX_BODY_BYTES} bytes`); } }));
  app.use('*', authenticate(deps));

  app.doc31('/openapi.json', {
    openapi: '3.1.0',
    info: {
      title: 'PlexMCP admin API',
      version: '1.0.0',
      description: 'Manage organisations, MCP servers and API keys; read endpoint health and discovered tools; subscribe to alerts; read usage analytics.',
    },
  });

  // ---- identity and plans ----

  app.openapi(
    createRoute({ method: 'get', path: '/whoami', ...bearer, responses: { 200: json(WhoAmISchema, 'The caller'), 401: errors[401] } }),
    (c) => {
      const p = c.get('principal');
      return c.json(
        p.kind === 'operator'
          ? ({ principal: 'operator' } as const)
          : ({ principal: 'key', orgId: p.key.orgId, keyId: p.key.keyId, role: p.key.role } as const),
        200,
      );
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/plans', ...bearer, responses: { 200: json(PlansSchema, 'Plan limits'), 401: errors[401] } }),
    (c) => c.json({ items: Object.entries(PLAN_LIMITS).map(([plan, limits]) => ({ ...limits, plan: plan as keyof typeof PLAN_LIMITS })) }, 200),
  );

  // ---- organisations (operator) ----

  app.openapi(
    createRoute({
      method: 'post', path: '/orgs', ...bearer, middleware: [operatorOnly],
      request: { headers: idempotencyHeader, body: body(CreateOrgSchema) },
      responses: { 201: json(OrgSchema, 'Created'), 200: json(OrgSchema, 'Idempotent replay'), ...errors },
    }),
    async (c) => {
      const result = await service.createOrg(c.req.valid('json'), c.req.valid('header')['idempotency-key']);
      return c.json(orgView(result.item), result.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs', ...bearer, middleware: [operatorOnly], request: { query: PageQuerySchema },
      responses: { 200: json(pageOf(OrgSchema, 'OrgPage'), 'Organisations'), ...errors },
    }),
    async (c) => {
      const page = await service.listOrgs(c.req.valid('query'));
      return c.json({ ...page, items: page.items.map(orgView) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}', ...bearer, middleware: [orgAdmin], request: { params: orgParams },
      responses: { 200: json(OrgDetailSchema, 'The organisation, its limits and what counts against them'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      const org = await service.getOrg(orgId);
      return c.json({ ...orgView(org), usage: await service.getUsage(orgId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch', path: '/orgs/{orgId}', ...bearer, middleware: [orgUpdate], request: { params: orgParams, body: body(UpdateOrgSchema) },
      responses: { 200: json(OrgSchema, 'Updated'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      return c.json(orgView(await service.updateOrg(orgId, c.req.valid('json'))), 200);
    },
  );

  // ---- MCP servers (org admin) ----

  app.openapi(
    createRoute({
      method: 'post', path: '/orgs/{orgId}/mcps', ...bearer, middleware: [orgAdmin],
      request: { params: orgParams, headers: idempotencyHeader, body: body(CreateMcpSchema) },
      responses: { 201: json(McpServerSchema, 'Created'), 200: json(McpServerSchema, 'Idempotent replay'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      const result = await service.createMcp(orgId, c.req.valid('json'), c.req.valid('header')['idempotency-key']);
      return c.json(result.item, result.created ? 201 : 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/mcps', ...bearer, middleware: [orgAdmin], request: { params: orgParams, query: PageQuerySchema },
      responses: { 200: json(pageOf(McpServerSchema, 'McpServerPage'), 'MCP servers'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      return c.json(await service.listMcps(orgId, c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, middleware: [orgAdmin], request: { params: mcpParams }, responses: { 200: json(McpServerSchema, 'The MCP server'), ...errors } }),
    async (c) => {
      const { orgId, slug } = c.req.valid('param');
      return c.json(await service.getMcp(orgId, slug), 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'patch', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, middleware: [orgAdmin], request: { params: mcpParams, body: body(UpdateMcpSchema) },
      responses: { 200: json(McpServerSchema, 'Updated'), ...errors },
    }),
    async (c) => {
      const { orgId, slug } = c.req.valid('param');
      return c.json(await service.updateMcp(orgId, slug, c.req.valid('json')), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'delete', path: '/orgs/{orgId}/mcps/{slug}', ...bearer, middleware: [orgAdmin], request: { params: mcpParams }, responses: { 204: { description: 'Deleted' }, ...errors } }),
    async (c) => {
      const { orgId, slug } = c.req.valid('param');
      await service.deleteMcp(orgId, slug);
      return c.body(null, 204);
    },
  );

  // ---- health and discovered tools (org admin) ----

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/mcps/{slug}/health', ...bearer, middleware: [orgAdmin], request: { params: mcpParams, query: HealthQuerySchema },
      responses: { 200: json(McpHealthSchema, 'Endpoint states (empty before the first check) and recent status changes'), ...errors },
    }),
    async (c) => {
      const { orgId, slug } = c.req.valid('param');
      const mcp = await service.getMcp(orgId, slug);
      const view = await health.getMcpHealth(orgId, slug, c.req.valid('query').history);
      // States of endpoints no longer configured (removed, or an earlier MCP of the same slug) are not shown.
      const current = new Set(mcp.endpoints.map((e) => e.id));
      return c.json({ endpoints: view.endpoints.filter((e) => current.has(e.endpointId)), history: view.history }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/mcps/{slug}/tools', ...bearer, middleware: [orgAdmin], request: { params: mcpParams },
      responses: { 200: json(McpToolsSchema, 'What the MCP server last said it offers'), ...errors },
    }),
    async (c) => {
      const { orgId, slug } = c.req.valid('param');
      await service.getMcp(orgId, slug);
      const metadata = await health.getMetadata(orgId, slug);
      if (!metadata) throw new ApiError(404, 'not_discovered', 'The tools of this MCP server have not been discovered yet; the health checker reads them on its next run');
      return c.json(metadata, 200);
    },
  );

  // ---- alert subscriptions (org admin) ----

  app.openapi(
    createRoute({
      method: 'post', path: '/orgs/{orgId}/alerts', ...bearer, middleware: [orgAdmin], request: { params: orgParams, body: body(CreateAlertSchema) },
      responses: {
        201: json(AlertSubscriptionSchema, 'Subscribed; in AWS the recipient must confirm from the email SNS sends'),
        ...errors,
        403: json(ErrorSchema, 'The credential may not do this, or the plan has no alerts (`plan_required`)'),
        409: json(ErrorSchema, 'The address is already subscribed, or the org has the most subscriptions allowed (`too_many_subscriptions`)'),
        ...alertsUnavailable,
      },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      return c.json(await alerts.create(orgId, c.req.valid('json')), 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/alerts', ...bearer, middleware: [orgAdmin], request: { params: orgParams },
      responses: { 200: json(AlertListSchema, 'Alert subscriptions, oldest first'), ...errors, ...alertsUnavailable },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      return c.json({ items: await alerts.list(orgId) }, 200);
    },
  );

  app.openapi(
    createRoute({
      method: 'delete', path: '/orgs/{orgId}/alerts/{subscriptionId}', ...bearer, middleware: [orgAdmin], request: { params: alertParams },
      responses: { 204: { description: 'Unsubscribed and deleted' }, ...errors, ...alertsUnavailable },
    }),
    async (c) => {
      const { orgId, subscriptionId } = c.req.valid('param');
      await alerts.remove(orgId, subscriptionId);
      return c.body(null, 204);
    },
  );

  // ---- usage analytics (org admin; the fleet: operator) ----

  registerUsageRoutes(app, { reader: deps.usage, now: deps.now ?? Date.now, orgAdmin, operatorOnly, maxExportBytes: deps.maxExportBytes });

  // ---- API keys (org admin) ----

  app.openapi(
    createRoute({
      method: 'post', path: '/orgs/{orgId}/keys', ...bearer, middleware: [orgAdmin],
      request: { params: orgParams, headers: idempotencyHeader, body: body(CreateKeySchema) },
      responses: { 201: json(CreatedKeySchema, 'Created; the secret is shown only here'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      const actor = c.get('principal').kind === 'operator' ? 'operator' : 'org-admin';
      const created = await service.createKey(orgId, c.req.valid('json'), c.req.valid('header')['idempotency-key'], actor);
      c.header('Cache-Control', 'no-store');
      return c.json(created, 201);
    },
  );

  app.openapi(
    createRoute({
      method: 'get', path: '/orgs/{orgId}/keys', ...bearer, middleware: [orgAdmin], request: { params: orgParams, query: PageQuerySchema },
      responses: { 200: json(pageOf(ApiKeySchema, 'ApiKeyPage'), 'API keys (never their secrets)'), ...errors },
    }),
    async (c) => {
      const { orgId } = c.req.valid('param');
      return c.json(await service.listKeys(orgId, c.req.valid('query')), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'get', path: '/orgs/{orgId}/keys/{keyId}', ...bearer, middleware: [orgAdmin], request: { params: keyParams }, responses: { 200: json(ApiKeySchema, 'The key'), ...errors } }),
    async (c) => {
      const { orgId, keyId } = c.req.valid('param');
      return c.json(await service.getKey(orgId, keyId), 200);
    },
  );

  app.openapi(
    createRoute({ method: 'post', path: '/orgs/{orgId}/keys/{keyId}/revoke', ...bearer, middleware: [orgAdmin], request: { params: keyParams }, responses: { 200: json(ApiKeySchema, 'Revoked'), ...errors } }),
    async (c) => {
      const { orgId, keyId } = c.req.valid('param');
      return c.json(await service.revokeKey(orgId, keyId), 200);
    },
  );

  app.notFound(() => {
    throw new ApiError(404, 'not_found', 'No such route');
  });
  app.onError((error, c) => errorResponse(c, error));
  return app;
}

function requestContext(deps: AdminAppDeps): MiddlewareHandler<Env> {
  return async (c, next) => {
    const started = performance.now();
    const requestId = deps.requestId?.(c) ?? randomUUID();
    c.set('requestId', requestId);
    await next();
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

function authenticate(deps: AdminAppDeps): MiddlewareHandler<Env> {
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
function originCheck(allowedOrigins: readonly string[]): MiddlewareHandler<Env> {
  return async (c, next) => {
    if (!originAllowed(c.req.header('origin') ?? null, allowedOrigins)) {
      throw forbidden('origin_not_allowed', 'Requests from this Origin are not allowed; the operator lists the allowed origins');
    }
    await next();
  };
}

/** CORS for the allowed origins, so a browser UI there can call the API (bearer tokens, no cookies). */
function corsFor(allowedOrigins: readonly string[]): MiddlewareHandler<Env> {
  return cors({
    origin: (origin) => (origin && originAllowed(origin, allowedOrigins) ? origin : null),
    allowMethods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowHeaders: ['Authorization', 'Content-Type', 'Idempotency-Key'],
    exposeHeaders: ['X-Request-Id'],
    maxAge: 600,
  });
}

// Route guards. They run as route middleware, before the route's validators: a caller that may
// not use a route gets 403 and learns nothing from validation errors about what it would accept.

const operatorOnly: MiddlewareHandler<Env> = async (c, next) => {
  requireOperator(c.get('principal'));
  await next();
};

const orgAdmin: MiddlewareHandler<Env> = async (c, next) => {
  requireOrgAdmin(c.get('principal'), c.req.param('orgId') ?? '');
  await next();
};

/** Org admins manage their org's name and IP allowlist; the plan and its overrides are the operator's. */
const OPERATOR_ORG_FIELDS = ['plan', 'planOverrides'];
const orgUpdate: MiddlewareHandler<Env> = async (c, next) => {
  const principal = c.get('principal');
  requireOrgAdmin(principal, c.req.param('orgId') ?? '');
  if (principal.kind === 'key' && /^application\/json\b/i.test(c.req.header('content-type') ?? '')) {
    // Hono caches the parsed body, so the validator reads the same one; a malformed body is left
    // for the validator to report.
    const input: unknown = await c.req.json().catch(() => undefined);
    if (input !== null && typeof input === 'object' && OPERATOR_ORG_FIELDS.some((field) => Object.hasOwn(input, field))) {
      requireOperator(principal);
    }
  }
  await next();
};

/** An org as the API shows it: with the limits in force. */
function orgView(org: Org) {
  return { ...org, limits: effectivePlan(org) };
}

function requireOperator(principal: Principal): void {
  if (principal.kind !== 'operator') throw forbidden('operator_required', 'Only the operator may do this');
}

/** The operator, or an admin key of `orgId`. Other orgs' data is never reachable. */
function requireOrgAdmin(principal: Principal, orgId: string): void {
  if (principal.kind === 'operator') return;
  if (principal.key.orgId !== orgId) throw forbidden('forbidden_org', 'This key belongs to another organisation');
  if (principal.key.role !== 'admin') throw forbidden('admin_role_required', 'This needs a key with the admin role');
}

const HTTP_EXCEPTION_CODES: Record<number, string> = {
  400: 'malformed_json',
  413: 'body_too_large',
  415: 'unsupported_media_type',
};

function errorResponse(c: Context<Env>, error: Error): Response {
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
