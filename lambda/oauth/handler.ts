import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import serverless from 'serverless-http';
import { dynamodb, dynamodbFor, readSecretString, requiredEnv } from '../adapters/aws-clients';
import { systemResolver } from '../adapters/dns-resolver';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createOAuthRuntime, type OAuthRuntime } from '../adapters/oauth-runtime';
import { EnvelopeCipher, type DataKeyProvider } from '../core/envelope';
import type { PlexEventPublisher } from '../core/events/model';
import { apiGatewayBaseUrl, checkedBaseUrl } from '../core/gateway/public-url';
import { RegistryService } from '../core/registry-service';
import { parseCookieKeys } from './cookie-keys';
import { IDENTITY_PROVIDER_ENV, IDENTITY_PROVIDER_SECRET_ENV, parseClientSecret, parseIdentityProviderEnv } from './identity-provider-env';

/**
 * The OAuth authorization server Lambda (`/oauth/{proxy+}` and
 * `/.well-known/oauth-authorization-server` on the region's REST API): oidc-provider and the
 * consent page (createOAuthRuntime, the same composition as `plexmcp serve`), a Node listener run
 * by serverless-http. The issuer is the base URL API Gateway says the request came to, so the
 * metadata a client reads names the URL it used (the custom domain, `<region>.<domain>`, or the
 * execute-api URL with its stage), or PLEXMCP_PUBLIC_BASE_URL when set.
 *
 * Nothing of a request or answer body is logged (they carry codes, tokens, client secrets and
 * admin keys): only the method, the resource, the status and the error's class.
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-oauth' });

const registryTable = requiredEnv('PLEXMCP_REGISTRY_TABLE');
const oauthTable = requiredEnv('PLEXMCP_OAUTH_TABLE');
const auditTable = requiredEnv('PLEXMCP_AUDIT_TABLE');
const cookieSecretArn = requiredEnv('PLEXMCP_OAUTH_COOKIE_SECRET_ARN');
// Codes are single-use and refresh tokens rotate with reuse detection: both are conditional
// writes, which a global table decides within one region only. So every region's authorization
// server writes the OAuth table in one region (PLEXMCP_OAUTH_REGION, the primary's), as the
// admin API writes the audit log; the gateways read their own region's replica.
const oauthDynamodb = dynamodbFor(process.env.PLEXMCP_OAUTH_REGION || undefined);
const auditDynamodb = dynamodbFor(process.env.PLEXMCP_AUDIT_REGION || undefined);
const cookieKeysMaxAgeMs = wholeSeconds('PLEXMCP_OAUTH_COOKIE_KEYS_MAX_AGE_SECONDS', 300) * 1000;
// The org's identity provider on the consent page (OAuthServerProps.identityProvider), checked
// here so that a broken configuration fails the function's init, naming the variable.
const identityProvider = parseIdentityProviderEnv(process.env[IDENTITY_PROVIDER_ENV], process.env[IDENTITY_PROVIDER_SECRET_ENV]);

// grant.created / grant.revoked on the region's bus (none when PLEXMCP_EVENT_BUS_NAME is unset),
// bounded like the admin API's so that a slow EventBridge cannot hold a consent.
const eventBusName = process.env.PLEXMCP_EVENT_BUS_NAME || undefined;
const events: PlexEventPublisher | undefined = eventBusName
  ? new EventBridgePublisher(new EventBridgeClient({ requestHandler: { requestTimeout: 3_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } }), eventBusName)
  : undefined;

/**
 * The authorization server never encrypts or decrypts an upstream credential (it creates keys,
 * lists MCP servers and reads keys), so its function has no right on the credentials key; a code
 * path that tried would fail here, loudly, rather than with an IAM refusal.
 */
const NO_DATA_KEYS: DataKeyProvider = {
  name: 'kms',
  generateDataKey: () => Promise.reject(new Error('the OAuth function encrypts no upstream credential')),
  decryptDataKey: () => Promise.reject(new Error('the OAuth function decrypts no upstream credential')),
};
const registryStore = new DynamoDbRegistryStore(dynamodb, registryTable);
const registryService = new RegistryService({
  store: registryStore,
  cipher: new EnvelopeCipher(NO_DATA_KEYS),
  urlPolicy: { allowLoopback: false, resolve: systemResolver },
});

const requestOf = (req: IncomingMessage) => (req as IncomingMessage & { requestContext?: APIGatewayProxyEvent['requestContext'] }).requestContext;

/** What the runtime is built from that lives in Secrets Manager. */
interface RuntimeSecrets {
  /** Signing keys of the cookies and consent forms, newest first. */
  readonly cookieKeys: readonly string[];
  /** The identity provider's client secret (a confidential client). */
  readonly clientSecret?: string;
}

function buildRuntime(secrets: RuntimeSecrets): OAuthRuntime {
  return createOAuthRuntime({
    dynamodb: oauthDynamodb,
    oauthTable,
    registry: { service: registryService, store: registryStore },
    auditTable,
    auditDynamodb,
    events,
    cookieKeys: secrets.cookieKeys,
    // In AWS, client metadata documents and redirect URIs follow the public rules only.
    allowLoopback: false,
    // API Gateway's view of the caller (after the proxies it trusts), never a client-sent header.
    sourceIp: (req) => requestOf(req)?.identity?.sourceIp ?? 'unknown',
    requestId: (req) => requestOf(req)?.requestId ?? crypto.randomUUID(),
    warn: (message, fields) => logger.warn(message, fields),
    ...(identityProvider
      ? { identityProvider: { ...identityProvider.provider, ...(secrets.clientSecret !== undefined ? { clientSecret: secrets.clientSecret } : {}) } }
      : {}),
  });
}

/** A secret that could not be read or holds no usable value, with what to log when the current value stays. */
class UnreadSecret extends Error {
  constructor(
    readonly warning: string,
    cause: unknown,
  ) {
    super(warning, { cause });
    // What the logs say of the failure: the class of the underlying error, never its message.
    this.name = cause instanceof Error ? cause.name : 'Error';
  }
}

async function readOne<T>(secretArn: string, parse: (value: string) => T, warning: string): Promise<T> {
  try {
    return parse(await readSecretString(secretArn));
  } catch (error) {
    throw new UnreadSecret(warning, error);
  }
}

/** The cookie keys and, for a confidential client, the identity provider's client secret, read together. */
async function readSecrets(): Promise<RuntimeSecrets> {
  const clientSecretArn = identityProvider?.clientSecretArn;
  const [cookieKeys, clientSecret] = await Promise.all([
    readOne(cookieSecretArn, parseCookieKeys, 'oauth cookie keys not re-read; the current ones stay in use'),
    clientSecretArn === undefined
      ? undefined
      : readOne(clientSecretArn, parseClientSecret, 'oauth identity provider client secret not re-read; the current one stays in use'),
  ]);
  return { cookieKeys, ...(clientSecret !== undefined ? { clientSecret } : {}) };
}

/**
 * The runtime over the current cookie keys (and identity provider client secret). The secrets are
 * read again once `cookieKeysMaxAgeMs` has passed, and a changed value makes a new runtime (new
 * providers; all state is in the table), so a rotation (a new cookie key put first, the old one
 * kept after it until the cookies and consent forms it signed have expired; a new client secret)
 * reaches every warm instance within the bound. A failed re-read keeps the runtime it has (the
 * next request tries again); a failed first read fails the request.
 */
let current: { readonly fingerprint: string; readonly runtime: OAuthRuntime; readonly readAt: number } | undefined;
let reading: Promise<OAuthRuntime> | undefined;

function runtimeNow(): Promise<OAuthRuntime> {
  const now = Date.now();
  if (current !== undefined && now - current.readAt < cookieKeysMaxAgeMs) return Promise.resolve(current.runtime);
  reading ??= readSecrets()
    .then((secrets) => {
      // Only compared: a digest, so that no further copy of the secrets stays in memory.
      const fingerprint = createHash('sha256').update(JSON.stringify([secrets.cookieKeys, secrets.clientSecret ?? null])).digest('base64url');
      const runtime = current?.fingerprint === fingerprint ? current.runtime : buildRuntime(secrets);
      current = { fingerprint, runtime, readAt: now };
      return runtime;
    })
    .catch((error: unknown) => {
      if (current === undefined) throw error;
      const unread = error instanceof UnreadSecret ? error : new UnreadSecret('oauth secrets not re-read; the current ones stay in use', error);
      logger.warn(unread.warning, { error: unread.name });
      return current.runtime;
    })
    .finally(() => {
      reading = undefined;
    });
  return reading;
}

/**
 * This deployment's public base URL for a request (what the gateway Lambda computes too, so that
 * the issuer in a token is the one the gateway expects): PLEXMCP_PUBLIC_BASE_URL when set, else
 * `https://<domainName>`, plus `/<stage>` on the default execute-api host name.
 */
function issuerOf(event: APIGatewayProxyEvent): string | undefined {
  const configured = process.env.PLEXMCP_PUBLIC_BASE_URL;
  if (configured) return checkedBaseUrl(configured.replace(/\/+$/, ''));
  return apiGatewayBaseUrl(event.requestContext?.domainName, event.requestContext?.stage);
}

/**
 * What oidc-provider sees of the request: the path below the issuer (API Gateway's `path` has
 * no stage on execute-api, but a custom domain's base path mapping is part of it), the issuer's
 * host as `Host`, and `originalUrl` with the issuer's path in front, from which oidc-provider
 * takes the mount path of the URLs it writes (its discovery document, redirects).
 */
function presentAtIssuer(req: IncomingMessage, issuer: string): void {
  const { host, pathname: issuerPath } = new URL(issuer);
  const mount = issuerPath === '/' ? '' : issuerPath;
  const url = req.url ?? '/';
  const below = mount !== '' && (url === mount || url.startsWith(`${mount}/`) || url.startsWith(`${mount}?`)) ? url.slice(mount.length) || '/' : url;
  req.url = below.startsWith('/') ? below : `/${below}`;
  (req as IncomingMessage & { originalUrl?: string }).originalUrl = `${mount}${req.url}`;
  req.headers.host = host;
}

function failed(res: ServerResponse, status: number, code: string, message: string, requestId: string): void {
  res.statusCode = status;
  res.setHeader('content-type', 'application/json');
  res.setHeader('cache-control', 'no-store');
  res.setHeader('x-request-id', requestId);
  res.end(JSON.stringify({ error: code, error_description: message, requestId }));
}

const listener = (req: IncomingMessage, res: ServerResponse): void => {
  const requestContext = requestOf(req);
  const requestId = requestContext?.requestId ?? crypto.randomUUID();
  const event = (req as IncomingMessage & { apiGateway?: { event: APIGatewayProxyEvent } }).apiGateway?.event;
  const issuer = event ? issuerOf(event) : undefined;
  if (issuer === undefined) return failed(res, 421, 'misdirected_request', 'This request did not come through the deployment’s API', requestId);
  runtimeNow()
    .then((runtime) => {
      presentAtIssuer(req, issuer);
      runtime.listenerFor(issuer)(req, res);
    })
    .catch((error: unknown) => {
      logger.error('oauth request failed', { requestId, error: (error as Error).name });
      if (!res.headersSent) failed(res, 500, 'server_error', 'Something went wrong', requestId);
      else res.destroy();
    });
};

// Every answer is text (HTML pages, JSON, the consent stylesheet): nothing is base64-encoded.
const proxy = serverless(listener, { binary: false, requestId: 'x-request-id' });

export async function handler(event: APIGatewayProxyEvent, context: Context): Promise<APIGatewayProxyResult> {
  logger.addContext(context);
  const started = Date.now();
  try {
    const result = (await proxy(event, context)) as APIGatewayProxyResult;
    const fields = { requestId: event.requestContext?.requestId, method: event.httpMethod, resource: event.resource, status: result.statusCode, durationMs: Date.now() - started };
    if (result.statusCode >= 500) logger.error('oauth request', fields);
    else logger.info('oauth request', fields);
    return result;
  } catch (error) {
    const requestId = event.requestContext?.requestId ?? '';
    logger.error('oauth request failed', { requestId, method: event.httpMethod, resource: event.resource, error: (error as Error).name });
    return {
      statusCode: 500,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId },
      body: JSON.stringify({ error: 'server_error', error_description: 'Something went wrong', requestId }),
    };
  }
}

/** Whole seconds from the environment; `fallback` when unset. */
function wholeSeconds(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  if (!/^\d+$/.test(value)) throw new Error(`environment variable ${name} must be whole seconds`);
  return Number(value);
}
