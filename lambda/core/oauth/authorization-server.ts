/**
 * The gateway as its own OAuth 2.1 authorization server, for MCP clients that speak only the MCP
 * authorization spec (claude.ai and Claude Desktop connectors, ChatGPT, VS Code, Inspector).
 * The protocol engine is oidc-provider (OpenID Certified: authorization code with PKCE, dynamic
 * client registration, client ID metadata documents, resource indicators, RFC 9207 `iss`,
 * revocation, rotating refresh tokens with reuse detection); this module configures it for
 * PlexMCP and adds the consent step (consent.ts), where an org admin approves a client for their
 * org. Served on the gateway's own origin: the issuer is the gateway's base URL.
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { errors, interactionPolicy, Provider, type Adapter, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { ApiKey } from '../model';
import type { RegistrationLimit } from './registration-limit';
import { AUTHORIZATION_SERVER_WELL_KNOWN, mountPath, OAUTH_ROUTES } from './routes';
import { MCP_SCOPES } from './scopes';
import { slugOfResource } from './resource-metadata';

/** Lifetimes, in seconds. */
export const OAUTH_TTL = {
  accessToken: 600,
  authorizationCode: 60,
  refreshToken: 30 * 24 * 3600,
  /** A consent page left open this long must start over. */
  interaction: 600,
  /** Registered clients that are not used for this long are forgotten (a client registers again). */
  idleClient: 30 * 24 * 3600,
} as const;

export interface AuthorizationServerOptions {
  /** The gateway's public base URL (`https://mcp.example.com`, `http://127.0.0.1:8787`). */
  readonly issuer: string;
  /** Persistence of oidc-provider's models (DynamoDbOAuthStore). */
  readonly adapter: (model: string) => Adapter;
  /** Keys that sign the provider's cookies and the consent page's form tokens (newest first). */
  readonly cookieKeys: readonly string[];
  /** The grant's backing key by id (the registry's), for the token endpoint's account check. */
  readonly backingKey: (keyId: string) => Promise<ApiKey | undefined>;
  /**
   * How client metadata documents (CIMD) are fetched: the MCP URL policy's addresses only, no
   * redirects (oidc-provider asks for none), bounded in time and size by oidc-provider.
   */
  readonly fetch?: Configuration['fetch'];
  /** Plain `http` issuer and loopback redirect rules for local mode. @default false */
  readonly development?: boolean;
}

/**
 * Every authorization shows the consent page: the one check the login prompt adds is satisfied
 * only by a login made in this same interaction, so no browser session carries an approval over
 * to another client or org.
 */
function alwaysConsentPolicy() {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(
    new interactionPolicy.Check('plexmcp_approval', 'an org admin approves every authorization', (ctx: KoaContextWithOIDC) =>
      ctx.oidc.result?.login ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT,
    ),
  );
  return policy;
}

export function createProvider(options: AuthorizationServerOptions): Provider {
  const { issuer } = options;
  const rootResource = `${issuer}/mcp`;
  const resourceScope = MCP_SCOPES.join(' ');
  const configuration: Configuration = {
    adapter: options.adapter as unknown as Configuration['adapter'],
    routes: {
      authorization: OAUTH_ROUTES.authorization,
      token: OAUTH_ROUTES.token,
      registration: OAUTH_ROUTES.registration,
      revocation: OAUTH_ROUTES.revocation,
      jwks: OAUTH_ROUTES.jwks,
    },
    // No OpenID scopes: MCP scopes are resource scopes of each MCP server (getResourceServerInfo).
    scopes: [],
    claims: {},
    responseTypes: ['code'],
    clientAuthMethods: ['none'],
    clientDefaults: { grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', id_token_signed_response_alg: 'ES256' },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'] },
    pkce: { required: () => true },
    cookies: { keys: [...options.cookieKeys], long: { signed: true, httpOnly: true, sameSite: 'lax' }, short: { signed: true, httpOnly: true, sameSite: 'lax' } },
    interactions: { url: (_ctx, interaction) => `${mountPath(issuer)}${OAUTH_ROUTES.consent}/${interaction.uid}`, policy: alwaysConsentPolicy() },
    features: {
      devInteractions: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      dPoP: { enabled: false },
      registration: { enabled: true, initialAccessToken: false, issueRegistrationAccessToken: false },
      // A client revokes only its own tokens.
      revocation: { enabled: true, allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId },
      userinfo: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      clientIdMetadataDocument: { enabled: true, ack: 'draft-02' } as never,
      resourceIndicators: {
        enabled: true,
        // A client that names no resource gets none (and so no token for the gateway).
        defaultResource: (_ctx, _client, oneOf) => oneOf ?? undefined!,
        // The refresh grant keeps the resource of the code it came from.
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx, resource) => {
          if (resource !== rootResource && slugOfResource(issuer, resource) === undefined) throw new errors.InvalidTarget('resource must be one of this gateway’s MCP servers: <issuer>/mcp/<slug>');
          return { scope: resourceScope, audience: resource, accessTokenTTL: OAUTH_TTL.accessToken, accessTokenFormat: 'opaque' };
        },
      },
    },
    ttl: {
      AccessToken: OAUTH_TTL.accessToken,
      AuthorizationCode: OAUTH_TTL.authorizationCode,
      RefreshToken: OAUTH_TTL.refreshToken,
      Interaction: OAUTH_TTL.interaction,
      Session: OAUTH_TTL.interaction,
      Grant: OAUTH_TTL.refreshToken,
    },
    rotateRefreshToken: true,
    issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    // The "account" is the grant's backing key: once it is revoked (or gone), no token is issued
    // for it and a refresh fails.
    findAccount: async (_ctx, keyId) => {
      const key = await options.backingKey(keyId);
      if (!key || key.revokedAt || !key.oauth) return undefined;
      return { accountId: keyId, claims: () => ({ sub: keyId }) };
    },
    extraTokenClaims: async (_ctx, token) => {
      if (token.kind !== 'AccessToken') return undefined;
      const key = await options.backingKey((token as unknown as { accountId: string }).accountId);
      return { orgId: key?.orgId ?? '', iss: issuer };
    },
    discovery: {
      scopes_supported: [...MCP_SCOPES],
    },
    // Nothing the provider signs is kept or verified later (no ID tokens, opaque access tokens),
    // so its signing key is made per process rather than stored.
    jwks: { keys: [signingJwk()] },
    ...(options.fetch ? { fetch: options.fetch } : {}),
    renderError: (ctx, out) => {
      ctx.type = 'html';
      ctx.body = errorPage(out.error, out.error_description);
    },
  };
  const provider = new Provider(issuer, configuration);
  // Behind API Gateway and on loopback the provider sees the request as it is; X-Forwarded-*
  // headers are not trusted.
  provider.proxy = false;
  provider.use(publicClientsOnly);
  provider.use(mcpScopes);
  return provider;
}

const LOOPBACK_REDIRECT = /^http:\/\/(?:127\.0\.0\.1|\[::1\]|localhost)(?::\d{1,5})?\//;

function withDefaults(metadata: Record<string, unknown>): Record<string, unknown> {
  const redirects = metadata.redirect_uris;
  const allLoopback = Array.isArray(redirects) && redirects.length > 0 && redirects.every((uri) => typeof uri === 'string' && LOOPBACK_REDIRECT.test(uri));
  // A registration's `scope` is dropped: MCP scopes are resource scopes, granted per MCP server
  // at consent, and oidc-provider refuses any scope that is not one of its (OpenID) scopes.
  const requested = { ...metadata };
  delete requested.scope;
  return { ...requested, token_endpoint_auth_method: 'none', ...(allLoopback && metadata.application_type === undefined ? { application_type: 'native' } : {}) };
}

/** Largest client registration read (oidc-provider's own body limit). */
const MAX_REGISTRATION_BYTES = 56 * 1024;

/**
 * Registration defaults (RFC 7591 lets the server replace requested metadata):
 * - every client is public (PKCE, no secret): a registration asking for a client secret gets
 *   `token_endpoint_auth_method: none`, since oidc-provider would keep a client secret in the
 *   store as it is;
 * - a client whose redirect URIs are all loopback (a CLI, a desktop app) is a native one unless
 *   it says otherwise, so that its redirect matches on any port (OAuth 2.1 §8.4.2): such clients
 *   pick a free port per sign-in.
 */
async function publicClientsOnly(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  if (ctx.method === 'POST' && ctx.path === OAUTH_ROUTES.registration && ctx.is('application/json')) {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req) {
      size += (chunk as Buffer).length;
      if (size > MAX_REGISTRATION_BYTES) ctx.throw(413, 'request entity too large');
      chunks.push(chunk as Buffer);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    // oidc-provider reads a body that was already read from `req.body` (a string is parsed by it).
    (ctx.req as IncomingMessage & { body?: unknown }).body = body !== null && typeof body === 'object' && !Array.isArray(body) ? withDefaults(body as Record<string, unknown>) : text;
  }
  await next();
}

/**
 * MCP scopes where oidc-provider knows only its OpenID scopes: an authorization request naming no
 * MCP scope asks for all of them (the consent page then picks; oidc-provider would otherwise end
 * an approved request with access_denied, "no scope was granted"), and the metadata's
 * `scopes_supported` lists them (oidc-provider's own value, ["openid"], wins over `discovery`).
 */
async function mcpScopes(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  if (ctx.method === 'GET' && ctx.path === OAUTH_ROUTES.authorization) {
    const query = new URLSearchParams(ctx.querystring);
    const requested = (query.get('scope') ?? '').split(' ').filter(Boolean);
    if (!requested.some((s) => (MCP_SCOPES as readonly string[]).includes(s))) {
      query.set('scope', [...requested, ...MCP_SCOPES].join(' '));
      ctx.querystring = query.toString();
    }
  }
  await next();
  if (ctx.path === AUTHORIZATION_SERVER_WELL_KNOWN && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
    (ctx.body as Record<string, unknown>).scopes_supported = [...MCP_SCOPES];
  }
}

function signingJwk() {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: randomUUID() };
}

/** A small page for what cannot be redirected to the client (a bad client or redirect URI). */
export function errorPage(error: string, description?: string): string {
  const escape = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Authorization failed</title><link rel="icon" href="data:,"></head><body><main><h1>Authorization failed</h1><p><code>${escape(error)}</code></p>${description ? `<p>${escape(description)}</p>` : ''}</main></body></html>`;
}

export type NodeListener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * The authorization server's requests: the consent page to `consent`, the rest to oidc-provider.
 * A failure of the consent page is a plain 500 page (its detail only in `onError`).
 */
export function authorizationServerListener(
  provider: Provider,
  consent: { handles: (url: string) => boolean; handle: (req: IncomingMessage, res: ServerResponse) => Promise<void> },
  registrations: { limit: RegistrationLimit; sourceIp: (req: IncomingMessage) => string },
  onError: (error: unknown) => void,
): NodeListener {
  const engine = provider.callback();
  return (req, res) => {
    if (req.method === 'POST' && (req.url ?? '').split('?')[0] === OAUTH_ROUTES.registration) {
      const taken = registrations.limit.take(registrations.sourceIp(req));
      if (!taken.ok) {
        res.writeHead(429, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Retry-After': String(taken.retryAfterSeconds) });
        res.end(JSON.stringify({ error: 'rate_limited', error_description: 'Too many client registrations; retry after the indicated time' }));
        req.resume();
        return;
      }
    }
    if (!consent.handles(req.url ?? '')) return void engine(req, res);
    consent.handle(req, res).catch((error: unknown) => {
      onError(error);
      if (res.headersSent) return void res.destroy();
      res.statusCode = 500;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(errorPage('server_error', 'Something went wrong; start again from the application.'));
    });
  };
}
