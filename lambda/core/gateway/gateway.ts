/**
 * The data plane for one MCP request (ARCHITECTURE.md §2, docs/gateway.md): each phase is a
 * function in a file of its own that returns what the next needs; this file runs them in order
 * and turns any failure into the one error answer. Web-standard Request/Response, so the same
 * function serves the local HTTP server and the streaming Lambda.
 */
import type { ApiKey, Plan, StoredMcpServer } from '../model';
import type { PlanLimits } from '../plans';
import { admit, costOf, type Admission } from './admit';
import { shapeAnswer } from './answer';
import { authenticateCaller, FailedKeyCache } from './authenticate';
import { authorizeMessages, resolveTarget } from './authorize';
import { GatewayError, StoreUnavailableError } from './errors';
import { jsonRpcCodeForStatus, jsonRpcErrorBody, PARSE_ERROR, type InspectedMessage, type JsonRpcId } from './jsonrpc';
import { HEADER_MISMATCH, type ParamHeader } from './mcp-headers';
import type { PerMinuteLimiter, QuotaMeter } from './limits';
import type { PassiveHealth } from './passive-health';
import { checkMcpHeaders, checkRequestLine, DEFAULT_MAX_BATCH_MESSAGES, DEFAULT_MAX_BODY_BYTES, readMessages } from './read-request';
import type { RegistryCache } from './registry-cache';
import { chooseEndpoints, openSession, type EndpointStatus } from './route';
import { sendWithFailover, upstreamHeaders } from './send';
import type { SessionSealer } from './sessions';
import type { StreamSlots } from './stream-slots';
import { SSE_KEEPALIVE_MS } from './streams';
import type { UpstreamClient } from './upstream';
import { usageRecord, type UsageRecord } from './usage';

export { DEFAULT_MAX_BODY_BYTES } from './read-request';
export type { EndpointStatus } from './route';

export interface GatewayDeps {
  /** Verifies a presented API key (cached); throws ApiError 401 for a bad one. */
  readonly authenticate: (presented: string) => Promise<ApiKey>;
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
  readonly endpointStatuses?: (mcp: StoredMcpServer) => Promise<ReadonlyMap<string, EndpointStatus>>;
  readonly plans: Readonly<Record<Plan, PlanLimits>>;
  /** Where the usage record of each request goes (a structured log line). */
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

export interface GatewayRequestInfo {
  readonly slug: string;
  /** The caller's address as the network saw it (never X-Forwarded-For from the client). */
  readonly sourceIp: string;
  readonly requestId: string;
}

/** What is known about a request so far: what its usage record and error answer may report. */
interface Known {
  httpMethod: string;
  key?: ApiKey;
  messages?: readonly InspectedMessage[];
  rpcId: JsonRpcId;
  bytesIn: number;
  admission?: Admission;
}

export function createGateway(deps: GatewayDeps): (request: Request, info: GatewayRequestInfo) => Promise<Response> {
  const now = deps.now ?? Date.now;
  const bodyLimits = { maxBodyBytes: deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, maxBatchMessages: deps.maxBatchMessages ?? DEFAULT_MAX_BATCH_MESSAGES };
  const allowedOrigins = deps.allowedOrigins ?? [];
  const failedKeys = deps.failedKeys ?? new FailedKeyCache();
  const admitDeps = { ...deps, now };

  async function proxy(request: Request, info: GatewayRequestInfo, known: Known, started: number): Promise<Response> {
    const { method } = checkRequestLine(request, allowedOrigins);
    const key = await authenticateCaller(request.headers, deps.authenticate, failedKeys);
    known.key = key;
    const read = await readMessages(request, method, bodyLimits);
    Object.assign(known, { messages: read.messages, rpcId: read.rpcId, bytesIn: read.body.length });
    const { org, mcp, plan } = await resolveTarget(deps.registry, deps.plans, key, info.slug, info.sourceIp);
    const access = authorizeMessages(read.messages, mcp, key);
    const mcpHeaders = await checkMcpHeaders(request.headers, read, (tool) => deps.toolParamHeaders?.(mcp, tool) ?? Promise.resolve(undefined));
    const session = openSession(deps.sessions, request.headers.get('mcp-session-id'), key, mcp, Math.floor(now() / 1000));
    known.admission = await admit(admitDeps, key, org, plan, costOf(method, read.messages));
    const route = await chooseEndpoints(deps, mcp, session);

    const headers = upstreamHeaders(request, info.requestId, mcp, await deps.revealSecret(mcp), mcpHeaders, route.upstreamSessionId);
    const gatewayMs = now() - started;
    const sent = await sendWithFailover(deps.upstream, deps.passiveHealth, mcp, route, {
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
      nowSeconds: Math.floor(now() / 1000),
      keepaliveMs: deps.keepaliveMs ?? SSE_KEEPALIVE_MS,
      finished: (bytesOut) => {
        slot?.release();
        deps.usage(
          usageRecord(info, deps.region, known, started, {
            endpointId: sent.endpoint.id,
            status: sent.response.status,
            totalMs: now() - started,
            gatewayMs,
            upstreamFirstByteMs,
            bytesOut,
          }),
        );
      },
    });
  }

  return async (request, info) => {
    const started = now();
    const known: Known = { httpMethod: request.method.toUpperCase(), rpcId: null, bytesIn: 0 };
    try {
      return await proxy(request, info, known, started);
    } catch (error) {
      known.admission?.slot?.release();
      return errorAnswer(toGatewayError(error, info.requestId), info, known, started);
    }
  };

  function errorAnswer(error: GatewayError, info: GatewayRequestInfo, known: Known, started: number): Response {
    const body = jsonRpcErrorBody(known.rpcId, jsonRpcCode(error), error.message, { code: error.code, requestId: info.requestId });
    const headers = new Headers({
      ...known.admission?.rateHeaders,
      ...error.headers,
      'Content-Type': 'application/json',
      'X-Request-Id': info.requestId,
    });
    if (error.status === 401) headers.set('WWW-Authenticate', 'Bearer realm="plexmcp", error="invalid_token"');
    deps.usage(usageRecord(info, deps.region, known, started, { status: error.status, errorCode: error.code, totalMs: now() - started, bytesOut: Buffer.byteLength(body) }));
    return new Response(body, { status: error.status, headers });
  }
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
