/**
 * The data plane for one MCP request (ARCHITECTURE.md §2, docs/gateway.md): each phase is a
 * function in a file of its own that returns what the next needs; this file runs them in order
 * and turns any failure into the one error answer. It reads a request and answers through the
 * small interface of exchange.ts, which node:http (the local server) and a web Request (the
 * streaming Lambda) both provide without copies; `createGateway` also wraps it for web
 * Request/Response.
 */
import type { ApiKey, Plan, StoredMcpServer } from '../model';
import type { PlanLimits } from '../plans';
import { admit, costOf, type Admission } from './admit';
import { shapeAnswer } from './answer';
import { authenticateCaller, FailedKeyCache, presentedCredential, type Caller } from './authenticate';
import { authorizeMessages, resolveTarget } from './authorize';
import { GatewayError, StoreUnavailableError } from './errors';
import { type Gateway, type GatewayAnswer, type GatewayRequest, type GatewayRequestInfo, type RequestHeaders } from './exchange';
import { insufficientScopeChallenge, unauthorizedChallenge } from '../oauth/resource-metadata';
import { MCP_SCOPES, missingScopes, scopesNeeded } from '../oauth/scopes';
import type { TokenCaller, TokenTarget } from '../oauth/token-authenticator';
import { jsonRpcCodeForStatus, jsonRpcErrorBody, PARSE_ERROR, type InspectedMessage, type JsonRpcId } from './jsonrpc';
import { HEADER_MISMATCH, type ParamHeader } from './mcp-headers';
import type { PerMinuteLimiter, QuotaMeter } from './limits';
import type { PassiveHealth } from './passive-health';
import { checkMcpHeaders, checkRequestLine, DEFAULT_MAX_BATCH_MESSAGES, DEFAULT_MAX_BODY_BYTES, readMessages, toolNeedingDeclarations } from './read-request';
import type { RegistryCache } from './registry-cache';
import { chooseEndpoints, openSession, type EndpointStatuses } from './route';
import { sendWithFailover, upstreamHeaders } from './send';
import type { SessionSealer } from './sessions';
import type { StreamSlots } from './stream-slots';
import { SSE_KEEPALIVE_MS } from './streams';
import type { UpstreamClient } from './upstream';
import { chargedMicroUsd, usageRecord, type UsageRecord } from './usage';

export { DEFAULT_MAX_BODY_BYTES } from './read-request';
export type { EndpointStatus, EndpointStatuses } from './route';
export type { Gateway, GatewayAnswer, GatewayRequest, GatewayRequestInfo } from './exchange';

export interface GatewayDeps {
  /** Verifies a presented API key (cached); throws ApiError 401 for a bad one. */
  readonly authenticate: (presented: string) => Promise<ApiKey>;
  /**
   * Verifies an OAuth access token presented at `target` (oauth/token-authenticator.ts); throws
   * TokenRefusedError for a bad one. @default none: every access token is refused (401 invalid_token)
   */
  readonly authenticateToken?: (token: string, target: TokenTarget) => Promise<TokenCaller>;
  /**
   * The public base URL of a request whose host did not put one in `GatewayRequestInfo.baseUrl`
   * (the local server derives it from the checked `Host`). Asked only when needed: for an access
   * token and for a 401 or 403 challenge. @default none: no resource metadata URL in challenges
   */
  readonly publicBaseUrl?: (headers: RequestHeaders) => string | undefined;
  readonly registry: Pick<RegistryCache, 'getOrg' | 'getMcp'>;
  /** The upstream credential in plaintext (cached per MCP version). */
  readonly revealSecret: (mcp: StoredMcpServer) => Promise<string | undefined>;
  readonly limiter: Pick<PerMinuteLimiter, 'consume'>;
  readonly quota: Pick<QuotaMeter, 'check' | 'record' | 'flushIfDue'>;
  readonly streamSlots: Pick<StreamSlots, 'take'>;
  readonly upstream: UpstreamClient;
  readonly sessions: SessionSealer;
  readonly passiveHealth: PassiveHealth;
  /** The `x-mcp-header` declarations of a tool of `mcp` (MCP 2026-07-28), when known. @default none known */
  readonly toolParamHeaders?: (mcp: StoredMcpServer, toolName: string) => Promise<readonly ParamHeader[] | undefined>;
  /** Endpoint statuses from the health monitor, by endpoint id (cached by the caller). @default none known */
  readonly endpointStatuses?: (mcp: StoredMcpServer) => Promise<EndpointStatuses>;
  readonly plans: Readonly<Record<Plan, PlanLimits>>;
  /** Where the usage record of each request goes (a structured log line); `DISCARD_USAGE` builds none. */
  readonly usage: (record: UsageRecord) => void;
  /** Work that must finish before the process may freeze (Lambda awaits it after the response). */
  readonly background: (work: Promise<unknown>) => void;
  readonly region: string;
  /** Browser origins allowed to call the gateway; requests with any other `Origin` get 403. @default none */
  readonly allowedOrigins?: readonly string[];
  /** Keys that failed authentication, refused from memory for a short while. @default a FailedKeyCache with its defaults */
  readonly failedKeys?: FailedKeyCache;
  /** @default DEFAULT_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** @default DEFAULT_MAX_BATCH_MESSAGES */
  readonly maxBatchMessages?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default Math.random */
  readonly random?: () => number;
  /** Silence on an SSE stream after which a keepalive comment is sent. @default 60_000 */
  readonly keepaliveMs?: number;
}

/** What is known about a request so far: what its usage record and error answer may report. */
interface Known {
  httpMethod: string;
  /** Whether the request carried a credential (a refused one is challenged with `error="invalid_token"`). */
  credentialPresented?: boolean;
  /** The request's headers, to work out the public base URL of a challenge only when one is sent. */
  headers?: RequestHeaders;
  key?: ApiKey;
  messages?: readonly InspectedMessage[];
  rpcId: JsonRpcId;
  bytesIn: number;
  admission?: Admission;
  /** Set once routed (only while recording): the endpoint tried last, then the one that answered. */
  endpointId?: string;
  gatewayMs?: number;
  upstreamFirstByteMs?: number;
}

/** A `usage` that drops every record: given it, the gateway does not build them at all. */
export const DISCARD_USAGE = (record: UsageRecord): void => void record;

export function createGateway(deps: GatewayDeps): Gateway {
  const now = deps.now ?? Date.now;
  const bodyLimits = { maxBodyBytes: deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, maxBatchMessages: deps.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES };
  const allowedOrigins = deps.allowedOrigins ?? [];
  const failedKeys = deps.failedKeys ?? new FailedKeyCache();
  const admitDeps = { ...deps, now };
  const keepaliveMs = deps.keepaliveMs ?? SSE_KEEPALIVE_MS;
  const recording = deps.usage !== DISCARD_USAGE;

  async function proxy(request: GatewayRequest, info: GatewayRequestInfo, known: Known, started: number): Promise<GatewayAnswer> {
    const { method } = checkRequestLine(request, allowedOrigins);
    const clientHeaders = request.headers;
    const presented = presentedCredential(clientHeaders);
    known.credentialPresented = presented !== undefined;
    const caller: Caller = await authenticateCaller(presented, deps.authenticate, failedKeys, verifyToken(info, clientHeaders));
    const key = caller.key;
    known.key = key;
    const read = await readMessages(request, method, bodyLimits);
    known.messages = read.messages;
    known.rpcId = read.rpcId;
    known.bytesIn = read.body.length;
    if (caller.scopes) checkScopes(read.messages, caller.scopes, info, clientHeaders);
    const { org, mcp, plan } = await resolveTarget(deps.registry, deps.plans, key, info.slug, info.sourceIp);
    const access = authorizeMessages(read.messages, mcp, key);
    const tool = toolNeedingDeclarations(clientHeaders, read);
    const mcpHeaders = checkMcpHeaders(clientHeaders, read, tool !== undefined ? await deps.toolParamHeaders?.(mcp, tool) : undefined);
    const sealed = clientHeaders.get('mcp-session-id');
    const session = openSession(deps.sessions, sealed, key, mcp, Math.floor(now() / 1000));
    known.admission = await admit(admitDeps, key, org, plan, costOf(method, read.messages));
    const route = await chooseEndpoints(deps, mcp, session);

    const headers = upstreamHeaders(clientHeaders, info.requestId, mcp, await deps.revealSecret(mcp), mcpHeaders, route.upstreamSessionId);
    const gatewayMs = now() - started;
    let upstream = deps.upstream;
    if (recording) {
      known.gatewayMs = gatewayMs;
      upstream = endpointTracking(upstream, route.candidates, known, () => now() - started - gatewayMs);
    }
    const sent = await sendWithFailover(upstream, deps.passiveHealth, mcp, route, {
      method,
      headers,
      body: method === 'POST' ? read.body : undefined,
      signal: request.signal,
    });
    const upstreamFirstByteMs = now() - started - gatewayMs;
    const slot = known.admission.slot;
    return shapeAnswer(sent, {
      method,
      messages: read.messages,
      key,
      mcp,
      access,
      requestId: info.requestId,
      rateHeaders: known.admission.rateHeaders,
      sessions: deps.sessions,
      session: session && sealed !== null ? { sealed, claims: session } : undefined,
      nowSeconds: Math.floor(now() / 1000),
      keepaliveMs,
      finished: (bytesOut) => {
        void slot?.release(); // the write is tracked by deps.background
        if (!recording) return;
        const status = sent.response.status;
        deps.usage(
          usageRecord(info, deps.region, known, started, {
            endpointId: sent.endpoint.id,
            status,
            totalMs: now() - started,
            gatewayMs,
            upstreamFirstByteMs,
            bytesOut,
            costMicroUsd: chargedMicroUsd(mcp.pricing, read.messages, status),
          }),
        );
      },
    });
  }

  /** Token verification bound to the request's resource, or undefined when this gateway takes no tokens. */
  function verifyToken(info: GatewayRequestInfo, headers: RequestHeaders): ((token: string) => Promise<Caller>) | undefined {
    const authenticateToken = deps.authenticateToken;
    if (!authenticateToken) return undefined;
    return (token) => authenticateToken(token, { baseUrl: baseUrlOf(info, headers), slug: info.slug });
  }

  /**
   * OAuth scopes (oauth/scopes.ts): a token may do what its scopes allow, and its grant's
   * policies decide within that afterwards, as for a key. A missing scope is 403
   * `insufficient_scope` naming what the request needs and what the token has, in one challenge
   * (so that one step-up authorization covers both).
   */
  function checkScopes(messages: readonly InspectedMessage[], granted: ReadonlySet<string>, info: GatewayRequestInfo, headers: RequestHeaders): void {
    const needed = scopesNeeded(messages);
    if (missingScopes(needed, granted).length === 0) return;
    const baseUrl = baseUrlOf(info, headers);
    const wanted = MCP_SCOPES.filter((scope) => needed.includes(scope) || granted.has(scope));
    throw new GatewayError('insufficient_scope', baseUrl === undefined ? { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${wanted.join(' ')}"` } : { 'WWW-Authenticate': insufficientScopeChallenge(baseUrl, info.slug, wanted) });
  }

  function baseUrlOf(info: GatewayRequestInfo, headers: RequestHeaders | undefined): string | undefined {
    return info.baseUrl ?? (headers && deps.publicBaseUrl?.(headers));
  }

  /**
   * `WWW-Authenticate` of a 401 (RFC 6750, RFC 9728): where the resource metadata is and every
   * scope, for API-key callers too (harmless to them, and how an OAuth client discovers the
   * authorization server); `error="invalid_token"` when a credential was presented and refused.
   */
  function challenge(info: GatewayRequestInfo, known: Known): string {
    const refused = known.credentialPresented ? 'invalid_token' : undefined;
    const baseUrl = baseUrlOf(info, known.headers);
    if (baseUrl === undefined) return refused ? 'Bearer error="invalid_token"' : 'Bearer';
    return unauthorizedChallenge(baseUrl, info.slug, refused);
  }

  return async (request, info) => {
    const started = now();
    const known: Known = { httpMethod: request.method.toUpperCase(), rpcId: null, bytesIn: 0, headers: request.headers };
    try {
      return await proxy(request, info, known, started);
    } catch (error) {
      void known.admission?.slot?.release(); // the write is tracked by deps.background
      return errorAnswer(toGatewayError(error, info.requestId), info, known, started);
    }
  };

  function errorAnswer(error: GatewayError, info: GatewayRequestInfo, known: Known, started: number): GatewayAnswer {
    const body = jsonRpcErrorBody(known.rpcId, jsonRpcCode(error), error.message, { code: error.code, requestId: info.requestId });
    const bytesOut = Buffer.byteLength(body);
    const headers: Record<string, string> = {};
    const rateHeaders = known.admission?.rateHeaders;
    if (rateHeaders) for (const name in rateHeaders) headers[name.toLowerCase()] = rateHeaders[name]!;
    for (const name in error.headers) headers[name.toLowerCase()] = error.headers[name]!;
    headers['content-type'] = 'application/json';
    headers['x-request-id'] = info.requestId;
    if (error.status === 401) headers['www-authenticate'] = challenge(info, known);
    headers['content-length'] = String(bytesOut);
    if (recording) {
      const { endpointId, gatewayMs, upstreamFirstByteMs } = known;
      deps.usage(usageRecord(info, deps.region, known, started, { status: error.status, errorCode: error.code, totalMs: now() - started, bytesOut, endpointId, gatewayMs, upstreamFirstByteMs }));
    }
    return { status: error.status, headers, body };
  }
}

/**
 * The upstream client, noting in `known` which endpoint each attempt goes to and when response
 * headers came, so that a failure after routing (a timeout, a refused credential, a 5xx, every
 * endpoint down, an answer that cannot be read) is recorded with the endpoint it happened on and
 * the times up to it. Endpoint URLs are unique within an MCP (the registry checks it).
 */
function endpointTracking(
  upstream: UpstreamClient,
  candidates: readonly { readonly id: string; readonly url: string }[],
  known: Known,
  firstByteMs: () => number,
): UpstreamClient {
  return {
    async send(request) {
      known.endpointId = candidates.find((candidate) => candidate.url === request.url)?.id;
      const response = await upstream.send(request);
      known.upstreamFirstByteMs = firstByteMs();
      return response;
    },
  };
}

/** Gateway errors as they are; a store that failed is 503; anything else is a bug, logged by name only. */
function toGatewayError(error: unknown, requestId: string): GatewayError {
  if (error instanceof GatewayError) return error;
  if (error instanceof StoreUnavailableError) return new GatewayError('store_unavailable', { 'Retry-After': '1' });
  console.error(JSON.stringify({ level: 'error', msg: 'gateway request failed', requestId, error: (error as Error)?.name }));
  return new GatewayError('internal_error');
}

/** JSON-RPC error code: parse error for bad JSON, header mismatch per MCP 2026-07-28, otherwise one code per HTTP status (jsonrpc.ts). */
function jsonRpcCode({ code, status }: GatewayError): number {
  if (code === 'malformed_json') return PARSE_ERROR;
  if (code === 'header_mismatch') return HEADER_MISMATCH;
  return jsonRpcCodeForStatus(status);
}
