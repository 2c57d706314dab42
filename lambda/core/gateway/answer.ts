/**
 * Phase 7: the upstream's answer, as the client receives it. Streams pass through chunk by chunk;
 * only an answer the gateway must rewrite (a list the key may see only part of) is read whole, up
 * to a cap, and so is a small answer whose declared length says it is complete already (cheaper
 * than a stream and delays nothing).
 */
import type { ApiKey, StoredMcpServer } from '../model';
import { GatewayError } from './errors';
import type { Access } from './feature-policy';
import type { InspectedMessage } from './jsonrpc';
import { answerShaping, filterListJson, listSseFilter } from './list-filter';
import type { GatewayAnswer } from './exchange';
import type { SessionClaims, SessionSealer } from './sessions';
import { relayed } from './streams';
import { UpstreamBodyTooLargeError, type ResponseHeaders } from './upstream';
import type { Sent } from './send';
import type { HttpMethod } from './read-request';

/** Largest answer the gateway reads whole to rewrite it; a larger one is 502 upstream_error. */
const MAX_REWRITTEN_ANSWER_BYTES = 16 * 1024 * 1024;
/** Answers up to this declared length are read whole rather than streamed (they are complete). */
const SMALL_ANSWER_BYTES = 64 * 1024;

/** Headers passed from the upstream to the client (Mcp-Session-Id is replaced by the sealed id). */
const FORWARDED_RESPONSE_HEADERS = ['content-type', 'cache-control', 'mcp-protocol-version'];

export interface AnswerContext {
  readonly method: HttpMethod;
  readonly messages: readonly InspectedMessage[];
  readonly key: ApiKey;
  readonly mcp: StoredMcpServer;
  /** What the key may see: list answers and resource notifications are filtered to it. */
  readonly access: Access;
  readonly requestId: string;
  readonly rateHeaders: Record<string, string>;
  readonly sessions: SessionSealer;
  /** The session the request came with: its sealed id as the client sent it, and what it seals. */
  readonly session?: { readonly sealed: string; readonly claims: SessionClaims };
  readonly nowSeconds: number;
  readonly keepaliveMs: number;
  /** Called once with the bytes passed on, when the answer ended (or the client left). */
  readonly finished: (bytesOut: number) => void;
}

export async function shapeAnswer({ response, endpoint }: Sent, context: AnswerContext): Promise<GatewayAnswer> {
  const headers = answerHeaders(response.headers, context, endpoint.id);
  const status = response.status;
  // A GET stream can replay answers to earlier POSTs (Last-Event-ID), list answers included:
  // every response on it is a candidate.
  const shaping = answerShaping(context.method === 'GET' ? 'every' : context.messages, context.access);
  const contentType = headers['content-type'] ?? '';

  if (contentType.startsWith('text/event-stream')) {
    // Proxies between us and the client (nginx and the like) must not buffer the stream either.
    headers['x-accel-buffering'] = 'no';
    let stream = response.body;
    if (shaping.sse) stream = stream.pipeThrough(listSseFilter(shaping.requests, context.access));
    return { status, headers, body: relayed(stream, context.finished, context.keepaliveMs) };
  }

  const declared = Number(response.headers.get('content-length') ?? NaN);
  const rewrite = shaping.json && contentType.startsWith('application/json');
  if (rewrite || declared <= SMALL_ANSWER_BYTES) {
    let bytes: Uint8Array = await response.readAll(rewrite ? MAX_REWRITTEN_ANSWER_BYTES : SMALL_ANSWER_BYTES).catch((error: unknown) => {
      throw error instanceof UpstreamBodyTooLargeError ? new GatewayError('upstream_error') : new GatewayError('upstream_unavailable');
    });
    if (rewrite) bytes = new TextEncoder().encode(filterListJson(new TextDecoder().decode(bytes), shaping.requests, context.access));
    context.finished(bytes.length);
    headers['content-length'] = String(bytes.length);
    return { status, headers, body: bytes.length > 0 ? bytes : null };
  }
  // Anything else (a long-lived JSON stream, e.g. a 2026-07-28 subscription, or a large answer) passes through as it comes.
  return { status, headers, body: relayed(response.body, context.finished) };
}

/**
 * A sealed session id is re-sealed (fresh issue time) at most this often: an answer in a session
 * that still lives on the same upstream session gets the id the client sent, which spares an
 * AES-GCM seal per answer while an active session still never reaches the sealer's maximum age.
 */
export const RESEAL_AFTER_SECONDS = 3_600;

function answerHeaders(upstream: ResponseHeaders, context: AnswerContext, endpointId: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name in context.rateHeaders) out[name.toLowerCase()] = context.rateHeaders[name]!;
  for (const name of FORWARDED_RESPONSE_HEADERS) {
    const value = upstream.get(name);
    if (value !== null) out[name] = value;
  }
  out['x-request-id'] = context.requestId;
  const upstreamSession = upstream.get('mcp-session-id');
  if (upstreamSession) {
    const { key, mcp, session } = context;
    const claims = session?.claims;
    const unchanged =
      claims !== undefined &&
      claims.upstreamSessionId === upstreamSession &&
      claims.endpointId === endpointId &&
      context.nowSeconds - claims.issuedAt < RESEAL_AFTER_SECONDS;
    out['mcp-session-id'] = unchanged
      ? session!.sealed
      : context.sessions.seal({ endpointId, upstreamSessionId: upstreamSession, orgId: key.orgId, mcp: mcp.slug, keyId: key.keyId, issuedAt: context.nowSeconds });
  }
  return out;
}
