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
import { authenticateCaller, FailedKeyCache } from './authenticate';
import { authorizeMessages, resolveTarget } from './authorize';
import { GatewayError, StoreUnavailableError } from './errors';
import { type Gateway, type GatewayAnswer, type GatewayRequest, type GatewayRequestInfo } from './exchange';
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
    const key = await authenticateCaller(clientHeaders, deps.authenticate, failedKeys);
    known.key = key;
    const read = await readMessages(request, method, bodyLimits);
    known.messages = read.messages;
    known.rpcId = read.rpcId;
    known.bytesIn = read.body.length;
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

  return async (request, info) => {
    const started = now();
    const known: Known = { httpMethod: request.method.toUpperCase(), rpcId: null, bytesIn: 0 };
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
    if (error.status === 401) headers['www-authenticate'] = 'Bearer realm="plexmcp", error="invalid_token"';
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
