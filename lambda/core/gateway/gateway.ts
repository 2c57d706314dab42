import * as ipaddr from 'ipaddr.js';
import { looksLikeApiKey } from '../api-keys';
import { ApiError } from '../errors';
import { SLUG_PATTERN } from '../admin/schemas';
import type { ApiKey, Endpoint, Org, Plan, StoredMcpServer } from '../model';
import type { PlanLimits } from '../plans';
import { credentialHeaders } from './credentials';
import { GatewayError } from './errors';
import { inspectBody, jsonRpcCodeForStatus, jsonRpcErrorBody, PARSE_ERROR, type InspectedMessage, type JsonRpcId } from './jsonrpc';
import type { PerMinuteLimiter, QuotaMeter } from './limits';
import { weightedOrder, type PassiveHealth } from './passive-health';
import type { RegistryCache } from './registry-cache';
import type { SessionSealer } from './sessions';
import { policiesFor, toolAllowed } from './tool-policy';
import { EVERY_REQUEST_ID, filterToolsListJson, toolsListSseFilter } from './tools-filter';
import { UpstreamBodyTooLargeError, UpstreamConnectError, UpstreamTimeoutError, type UpstreamClient, type UpstreamResponse } from './upstream';
import type { UsageRecord } from './usage';

/** Largest request body the gateway reads (MCP messages are small; tool arguments can be large). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Largest non-SSE upstream answer (a single JSON-RPC message); larger ones are 502 upstream_error. */
const MAX_JSON_ANSWER_BYTES = 16 * 1024 * 1024;

/** Endpoint status from the scheduled health monitor; `undefined` when it has none yet. */
export type EndpointStatus = 'healthy' | 'degraded' | 'unhealthy' | undefined;

export interface GatewayDeps {
  /** Verifies a presented API key (cached); throws ApiError 401 for a bad one. */
  readonly authenticate: (presented: string) => Promise<ApiKey>;
  readonly registry: Pick<RegistryCache, 'getOrg' | 'getMcp'>;
  /** The upstream credential in plaintext (cached per MCP version). */
  readonly revealSecret: (mcp: StoredMcpServer) => Promise<string | undefined>;
  readonly limiter: Pick<PerMinuteLimiter, 'consume'>;
  readonly quota: Pick<QuotaMeter, 'check' | 'record' | 'flushIfDue'>;
  readonly upstream: UpstreamClient;
  readonly sessions: SessionSealer;
  readonly passiveHealth: PassiveHealth;
  /** Endpoint statuses from the health monitor, by endpoint id (cached by the caller). @default none known */
  readonly endpointStatuses?: (mcp: StoredMcpServer) => Promise<ReadonlyMap<string, EndpointStatus>>;
  readonly plans: Readonly<Record<Plan, PlanLimits>>;
  /** Where the usage record of each request goes (a structured log line). */
  readonly usage: (record: UsageRecord) => void;
  /** Work that must finish before the process may freeze (Lambda awaits it after the response). */
  readonly background: (work: Promise<unknown>) => void;
  readonly region: string;
  /** @default DEFAULT_MAX_BODY_BYTES */
  readonly maxBodyBytes?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /** @default Math.random */
  readonly random?: () => number;
  /** Silence on an SSE stream after which a keepalive comment is sent. @default 60_000 */
  readonly keepaliveMs?: number;
}

export interface GatewayRequestInfo {
  readonly slug: string;
  /** The caller's address as the network saw it (never X-Forwarded-For from the client). */
  readonly sourceIp: string;
  readonly requestId: string;
}

const NO_STATUSES: ReadonlyMap<string, EndpointStatus> = new Map();

/** Headers passed from the client to the upstream; everything else (incl. hop-by-hop) is dropped. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'mcp-protocol-version', 'last-event-id', 'mcp-method', 'mcp-name'];
/** Headers passed from the upstream to the client (Mcp-Session-Id is replaced by the sealed id). */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'mcp-protocol-version'];
/** Methods that make up the initialize handshake: never refused by the per-minute limit. */
const HANDSHAKE_METHODS = new Set(['initialize', 'notifications/initialized']);

/**
 * The data plane for one MCP request (ARCHITECTURE.md §2): authenticate, authorize, limit, route
 * and proxy, streaming the answer through. Web-standard Request/Response, so the same function
 * serves the local HTTP server and the streaming Lambda.
 */
export function createGateway(deps: GatewayDeps): (request: Request, info: GatewayRequestInfo) => Promise<Response> {
  const now = deps.now ?? Date.now;
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  return async (request, info) => {
    const started = now();
    const method = request.method.toUpperCase();
    let messages: InspectedMessage[] = [];
    let rpcId: JsonRpcId = null;
    let body: Uint8Array | undefined;
    let key: ApiKey | undefined;
    let rateHeaders: Record<string, string> = {};
    const base = () => ({
      type: 'usage' as const,
      timestamp: new Date(started).toISOString(),
      requestId: info.requestId,
      region: deps.region,
      orgId: key?.orgId,
      keyId: key?.keyId,
      mcp: info.slug,
      httpMethod: method,
      methods: messages.flatMap((m) => (m.method ? [m.method] : [])),
      tool: messages.find((m) => m.method === 'tools/call')?.toolName,
      bytesIn: body?.length ?? 0,
    });

    try {
      if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') throw new GatewayError('method_not_allowed', { Allow: 'POST, GET, DELETE' });

      if (method === 'POST') {
        const contentType = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
        if (contentType !== 'application/json') throw new GatewayError('unsupported_media_type');
        body = await readBounded(request, maxBodyBytes);
        const inspected = inspectBody(decodeUtf8(body));
        if (!inspected.ok) throw new GatewayError(inspected.error === 'parse_error' ? 'malformed_json' : 'invalid_request');
        messages = inspected.messages;
        if (!inspected.batch && messages[0]?.id !== undefined) rpcId = messages[0].id;
      }

      key = await authenticate(deps, request);
      if (!SLUG_PATTERN.test(info.slug)) throw new GatewayError('unknown_mcp');
      const [org, mcp] = await Promise.all([deps.registry.getOrg(key.orgId), deps.registry.getMcp(key.orgId, info.slug)]);
      if (!org) throw new GatewayError('invalid_api_key');
      if (!ipAllowed(org, info.sourceIp)) throw new GatewayError('ip_not_allowed');
      if (key.scopes.mcps !== '*' && !key.scopes.mcps.includes(info.slug)) throw new GatewayError('forbidden_mcp');
      if (!mcp) throw new GatewayError('unknown_mcp');

      const policies = policiesFor(mcp, key);
      for (const message of messages) {
        if (message.method === 'tools/call' && (message.toolName === undefined || !toolAllowed(message.toolName, policies))) {
          throw new GatewayError('forbidden_tool');
        }
      }

      const plan = deps.plans[org.plan];
      const quota = deps.quota.check(org.orgId, plan.monthlyRequests);
      if (!quota.allowed) throw new GatewayError('quota_exceeded', { 'Retry-After': String(secondsToNextMonth(now())) });
      const handshakeOnly = messages.length > 0 && messages.every((m) => m.method !== undefined && HANDSHAKE_METHODS.has(m.method));
      if (!handshakeOnly) {
        const limit = key.rateLimitPerMinute ?? plan.requestsPerMinute;
        const decision = await deps.limiter.consume(key.keyId, limit);
        rateHeaders = {
          'RateLimit-Limit': String(decision.limit),
          'RateLimit-Remaining': String(decision.remaining),
          'RateLimit-Reset': String(decision.resetSeconds),
          'RateLimit-Policy': `${decision.limit};w=60`,
        };
        if (!decision.allowed) throw new GatewayError('rate_limited', { ...rateHeaders, 'Retry-After': String(decision.resetSeconds) });
      }
      deps.quota.record(org.orgId);
      const flushing = deps.quota.flushIfDue();
      if (flushing) deps.background(flushing);

      // ---- route ----
      const sealedSession = request.headers.get('mcp-session-id');
      const statuses = (await deps.endpointStatuses?.(mcp)) ?? NO_STATUSES;
      const usable = (endpoint: Endpoint) => deps.passiveHealth.isUp(endpoint.id) && statuses.get(endpoint.id) !== 'unhealthy';
      let candidates: Endpoint[];
      let upstreamSessionId: string | undefined;
      if (sealedSession) {
        const claims = deps.sessions.open(sealedSession, { orgId: org.orgId, mcp: mcp.slug }, Math.floor(now() / 1000));
        const endpoint = claims && mcp.endpoints.find((e) => e.id === claims.endpointId);
        if (!claims || !endpoint || !usable(endpoint)) throw new GatewayError('session_not_found');
        candidates = [endpoint];
        upstreamSessionId = claims.upstreamSessionId;
      } else {
        // Degraded endpoints (health monitor) take a quarter of their weight.
        const weighted = mcp.endpoints
          .filter(usable)
          .map((e) => ({ ...e, weight: statuses.get(e.id) === 'degraded' ? Math.max(1, e.weight / 4) : e.weight }));
        candidates = weightedOrder(weighted, deps.random);
      }
      if (candidates.length === 0) throw new GatewayError('mcp_unhealthy');

      const headers = upstreamHeaders(request, info.requestId, mcp, await deps.revealSecret(mcp), upstreamSessionId);
      const gatewayMs = now() - started;
      let response: UpstreamResponse | undefined;
      let endpoint: Endpoint | undefined;
      let connectTimedOut = false;
      for (const candidate of candidates) {
        try {
          response = await deps.upstream.send({
            url: candidate.url,
            method,
            headers,
            body,
            timeouts: mcp.timeouts,
            signal: request.signal,
          });
          endpoint = candidate;
          deps.passiveHealth.markUp(candidate.id);
          break;
        } catch (error) {
          if (error instanceof UpstreamConnectError) {
            deps.passiveHealth.markDown(candidate.id);
            connectTimedOut ||= error.reason === 'UND_ERR_CONNECT_TIMEOUT';
            continue; // nothing was sent: the next endpoint may take it
          }
          if (error instanceof UpstreamTimeoutError) throw new GatewayError('upstream_timeout');
          if (request.signal.aborted) throw new GatewayError('upstream_unavailable', {}, 'client went away');
          throw new GatewayError('upstream_unavailable');
        }
      }
      if (!response || !endpoint) {
        // Every endpoint failed before anything was sent: a session must start over elsewhere;
        // otherwise a connect timeout is reported as such, refusals as no healthy endpoint.
        throw new GatewayError(sealedSession ? 'session_not_found' : connectTimedOut ? 'upstream_timeout' : 'mcp_unhealthy');
      }
      const upstreamFirstByteMs = now() - started - gatewayMs;

      if (response.status === 401 || response.status === 403) {
        // The upstream refused *our* credentials; passing 401 on would make the client think its
        // own key is bad (and start an OAuth flow).
        await response.body.cancel().catch(() => undefined);
        throw new GatewayError('upstream_auth_failed');
      }
      if ((response.status >= 300 && response.status < 400) || response.status >= 500) {
        // Redirects are not followed (they could point anywhere) and upstream failure bodies may
        // carry its internals (stack traces, hosts): both become the gateway's own 502.
        await response.body.cancel().catch(() => undefined);
        throw new GatewayError('upstream_error');
      }

      const out = new Headers(rateHeaders);
      for (const name of FORWARDED_RESPONSE_HEADERS) {
        const value = response.headers.get(name);
        if (value !== null) out.set(name, value);
      }
      out.set('X-Request-Id', info.requestId);
      const upstreamSession = response.headers.get('mcp-session-id');
      if (upstreamSession) {
        out.set(
          'Mcp-Session-Id',
          deps.sessions.seal({ endpointId: endpoint.id, upstreamSessionId: upstreamSession, orgId: org.orgId, mcp: mcp.slug, issuedAt: Math.floor(now() / 1000) }),
        );
      }

      // A GET stream can replay answers to earlier POSTs (Last-Event-ID), tools/list ones included:
      // every response on it is a candidate.
      const toolsListIds =
        method === 'GET'
          ? EVERY_REQUEST_ID
          : new Set(messages.filter((m) => m.method === 'tools/list' && m.id !== undefined).map((m) => JSON.stringify(m.id)));
      const restricted = policies.some((p) => p.allow.length > 0 || p.deny.length > 0);
      const allowed = (name: string) => toolAllowed(name, policies);
      const filtering = toolsListIds.size > 0 && restricted;
      const contentType = out.get('content-type') ?? '';
      const finish = (bytesOut: number) =>
        deps.usage({ ...base(), endpointId: endpoint!.id, status: response!.status, totalMs: now() - started, gatewayMs, upstreamFirstByteMs, bytesOut });

      if (contentType.startsWith('text/event-stream')) {
        // SSE: passed on event by event as it arrives, never buffered.
        let stream = response.body;
        if (filtering) stream = stream.pipeThrough(toolsListSseFilter(toolsListIds, allowed));
        stream = withKeepalive(stream, deps.keepaliveMs ?? SSE_KEEPALIVE_MS);
        return new Response(counting(stream, finish), { status: response.status, headers: out });
      }
      // A JSON answer is one message, complete only at its end: read it whole (cheaper than a
      // stream), filter it if needed, and send it on.
      let bytes: Uint8Array = await response.readAll(MAX_JSON_ANSWER_BYTES).catch((error: unknown) => {
        throw error instanceof UpstreamBodyTooLargeError ? new GatewayError('upstream_error') : new GatewayError('upstream_unavailable');
      });
      if (filtering && contentType.startsWith('application/json')) {
        bytes = new TextEncoder().encode(filterToolsListJson(new TextDecoder().decode(bytes), toolsListIds, allowed));
      }
      finish(bytes.length);
      return new Response(bytes.length > 0 ? bytes : null, { status: response.status, headers: out });
    } catch (error) {
      const gatewayError = toGatewayError(error);
      if (gatewayError.code === 'internal_error') {
        console.error(JSON.stringify({ level: 'error', msg: 'gateway request failed', requestId: info.requestId, error: (error as Error).name }));
      }
      const errorBody = jsonRpcErrorBody(rpcId, jsonRpcCode(gatewayError), gatewayError.message, {
        code: gatewayError.code,
        requestId: info.requestId,
      });
      const headers = new Headers({ ...rateHeaders, ...gatewayError.headers, 'Content-Type': 'application/json', 'X-Request-Id': info.requestId });
      if (gatewayError.status === 401) headers.set('WWW-Authenticate', 'Bearer realm="plexmcp", error="invalid_token"');
      deps.usage({ ...base(), status: gatewayError.status, errorCode: gatewayError.code, totalMs: now() - started, bytesOut: Buffer.byteLength(errorBody) });
      return new Response(errorBody, { status: gatewayError.status, headers });
    }
  };
}

/**
 * Strict UTF-8: a byte-order mark or invalid bytes make the body unparsable rather than silently
 * different from what the upstream will read (a tool name must mean the same on both sides).
 */
function decodeUtf8(bytes: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return '\u0000'; // not JSON: reported as malformed_json
  }
}

async function authenticate(deps: GatewayDeps, request: Request): Promise<ApiKey> {
  const authorization = request.headers.get('authorization');
  const bearer = authorization && /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
  const presented = bearer || request.headers.get('x-api-key');
  if (!presented || !looksLikeApiKey(presented)) throw new GatewayError('invalid_api_key');
  try {
    return await deps.authenticate(presented);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) throw new GatewayError('invalid_api_key');
    throw error;
  }
}

function ipAllowed(org: Org, sourceIp: string): boolean {
  if (org.ipAllowlist.length === 0) return true;
  if (!ipaddr.isValid(sourceIp)) return false;
  const address = ipaddr.process(sourceIp);
  return org.ipAllowlist.some((entry) => {
    const single = entry.includes('/') ? undefined : ipaddr.parse(entry);
    const [range, bits] = single ? [single, single.kind() === 'ipv4' ? 32 : 128] : ipaddr.parseCIDR(entry);
    return range.kind() === address.kind() && address.match(range, bits);
  });
}

function upstreamHeaders(request: Request, requestId: string, mcp: StoredMcpServer, secret: string | undefined, upstreamSessionId: string | undefined) {
  const headers: Record<string, string> = { 'user-agent': 'plexmcp-gateway', 'x-request-id': requestId };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = request.headers.get(name);
    if (value !== null) headers[name] = value;
  }
  if (upstreamSessionId) headers['mcp-session-id'] = upstreamSessionId;
  return { ...headers, ...credentialHeaders(mcp.upstreamAuth, secret) };
}

/** Reads a request body, refusing it (413) as soon as it passes `limit`, whatever Content-Length says. */
async function readBounded(request: Request, limit: number): Promise<Uint8Array> {
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limit) throw new GatewayError('body_too_large');
  if (!request.body) return new Uint8Array();
  try {
    return await readStreamBounded(request.body, limit);
  } catch (error) {
    if (error instanceof GatewayError) throw error;
    throw new GatewayError('invalid_request', {}, 'The request body could not be read');
  }
}

async function readStreamBounded(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new GatewayError('body_too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * API Gateway closes a stream that stays silent for 5 minutes (regional endpoints), and idle
 * MCP streams (a GET stream waiting for server notifications) are normal. After `intervalMs` of
 * silence, an SSE comment line is sent — only between events, never inside one.
 */
const SSE_KEEPALIVE_MS = 60_000;
const KEEPALIVE = new TextEncoder().encode(': keepalive\n\n');

export function withKeepalive(stream: ReadableStream<Uint8Array>, intervalMs: number): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let pending: ReturnType<typeof reader.read> | undefined;
  let atEventBoundary = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      pending ??= reader.read();
      let next: Awaited<typeof pending> | 'silence';
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const silence = new Promise<'silence'>((resolve) => (timer = setTimeout(() => resolve('silence'), intervalMs)));
        next = await Promise.race([pending, silence]).finally(() => clearTimeout(timer));
        if (next !== 'silence') break;
        if (atEventBoundary) return controller.enqueue(KEEPALIVE);
        // Inside an event: keep waiting (a pull that enqueues nothing would not be called again).
      }
      pending = undefined;
      if (next.done) return controller.close();
      const chunk = next.value;
      if (chunk.length > 0) atEventBoundary = endsEvent(chunk);
      controller.enqueue(chunk);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Whether a chunk ends with a blank line (the end of an SSE event). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  const LF = 10;
  const CR = 13;
  return (n >= 2 && chunk[n - 1] === LF && (chunk[n - 2] === LF || (n >= 3 && chunk[n - 2] === CR && chunk[n - 3] === LF))) || (n >= 2 && chunk[n - 1] === CR && chunk[n - 2] === CR);
}

/** Passes chunks through as they come, counting bytes; reports once when the stream ends or is cancelled. */
function counting(stream: ReadableStream<Uint8Array>, done: (bytes: number) => void): ReadableStream<Uint8Array> {
  let bytes = 0;
  let reported = false;
  const report = () => {
    if (!reported) {
      reported = true;
      done(bytes);
    }
  };
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          report();
          controller.close();
          return;
        }
        bytes += value.length;
        controller.enqueue(value);
      } catch {
        // The upstream died or went idle mid-stream: end the client's stream with an error that
        // names nothing of the upstream (HTTP servers log it).
        report();
        controller.error(new Error('upstream stream ended early'));
      }
    },
    async cancel(reason) {
      report();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}

function toGatewayError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  return new GatewayError('internal_error');
}

/** JSON-RPC error code: parse error for bad JSON, otherwise one code per HTTP status (jsonrpc.ts). */
function jsonRpcCode({ code, status }: GatewayError): number {
  return code === 'malformed_json' ? PARSE_ERROR : jsonRpcCodeForStatus(status);
}

function secondsToNextMonth(ms: number): number {
  const d = new Date(ms);
  return Math.ceil((Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1) - ms) / 1000);
}

