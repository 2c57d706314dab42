/**
 * Phase 0 and 2 of a request: what can be refused from the request line and headers alone, and
 * reading the body once the caller is known (docs/gateway.md, Request flow).
 */
import { GatewayError } from './errors';
import type { GatewayRequest, RequestHeaders } from './exchange';
import { inspectBody, type InspectedMessage, type JsonRpcId } from './jsonrpc';
import { requiresRequestHeaders, validateMcpHeaders, type ParamHeader } from './mcp-headers';
import { originAllowed } from '../origin-policy';

/** Largest request body the gateway reads (MCP messages are small; tool arguments can be large). */
export const DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024;
/** Most JSON-RPC messages in one batch; each of them counts against the limits. */
export const DEFAULT_MAX_BATCH_MESSAGES = 50;

export type HttpMethod = 'POST' | 'GET' | 'DELETE';

export interface RequestLine {
  readonly method: HttpMethod;
}

/** Refuses, from the request line and headers only, what the gateway never serves. */
export function checkRequestLine(request: Pick<GatewayRequest, 'method' | 'headers'>, allowedOrigins: readonly string[]): RequestLine {
  const method = request.method.toUpperCase();
  if (method !== 'POST' && method !== 'GET' && method !== 'DELETE') throw new GatewayError('method_not_allowed', { Allow: 'POST, GET, DELETE' });
  // DNS rebinding (MCP transport spec): a browser page on another origin must not reach the gateway.
  if (!originAllowed(request.headers.get('origin'), allowedOrigins)) throw new GatewayError('origin_not_allowed');
  if (method === 'POST') {
    const contentType = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
    if (contentType !== 'application/json') throw new GatewayError('unsupported_media_type');
  }
  return { method };
}

export interface ReadMessages {
  /** The body exactly as received (forwarded unchanged). Empty for GET and DELETE. */
  readonly body: Uint8Array;
  readonly text: string;
  readonly batch: boolean;
  readonly messages: readonly InspectedMessage[];
  /** The id an error answer carries: the single request's id, null for batches and notifications. */
  readonly rpcId: JsonRpcId;
}

const NO_MESSAGES: ReadMessages = { body: new Uint8Array(), text: '', batch: false, messages: [], rpcId: null };

export interface BodyLimits {
  readonly maxBodyBytes: number;
  readonly maxBatchMessages: number;
}

/** Reads and inspects a POST body (bounded in bytes and messages); GET and DELETE have none. */
export async function readMessages(request: GatewayRequest, method: HttpMethod, limits: BodyLimits): Promise<ReadMessages> {
  if (method !== 'POST') return NO_MESSAGES;
  const declared = Number(request.headers.get('content-length') ?? NaN);
  if (declared > limits.maxBodyBytes) throw new GatewayError('body_too_large');
  const body = await request.readBody(limits.maxBodyBytes);
  const text = decodeUtf8(body);
  const inspected = inspectBody(text);
  if (!inspected.ok) throw new GatewayError(inspected.error === 'parse_error' ? 'malformed_json' : 'invalid_request');
  if (inspected.messages.length > limits.maxBatchMessages) {
    throw new GatewayError('batch_too_large');
  }
  const first = inspected.messages[0];
  const rpcId = !inspected.batch && first?.id !== undefined ? first.id : null;
  return { body, text, batch: inspected.batch, messages: inspected.messages, rpcId };
}

/**
 * Strict UTF-8: a byte-order mark or invalid bytes make the body unparsable rather than silently
 * different from what the upstream will read (a tool name must mean the same on both sides).
 */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function decodeUtf8(bytes: Uint8Array): string {
  try {
    // One decoder for every request: a decode without `stream` keeps no state between calls.
    return STRICT_UTF8.decode(bytes);
  } catch {
    return '\u0000'; // not JSON: reported as malformed_json
  }
}

/**
 * The tool of a `tools/call` whose `x-mcp-header` declarations `checkMcpHeaders` needs, or
 * undefined when they cannot matter: they are looked up only for a modern request, or one that
 * carries `Mcp-Param-*` headers (most requests need no lookup and so no await).
 */
export function toolNeedingDeclarations(headers: RequestHeaders, read: ReadMessages): string | undefined {
  const call = !read.batch && read.messages[0]?.method === 'tools/call' ? read.messages[0] : undefined;
  if (call?.toolName === undefined) return undefined;
  return requiresRequestHeaders(headers.get('mcp-protocol-version')) || hasParamHeader(headers) ? call.toolName : undefined;
}

/**
 * The MCP 2026-07-28 request metadata headers (`Mcp-Method`, `Mcp-Name`, `Mcp-Param-*`), checked
 * against the body (mcp-headers.ts has the rules): the validated ones to forward, or 400.
 * `paramHeaders`: the called tool's declarations, when `toolNeedingDeclarations` named it and
 * they are known.
 */
export function checkMcpHeaders(headers: RequestHeaders, read: ReadMessages, paramHeaders?: readonly ParamHeader[]): Record<string, string> {
  const check = validateMcpHeaders(headers, read.messages, read.text, { paramHeaders });
  if (!check.ok) throw new GatewayError(check.code, {}, check.reason);
  return check.forward;
}

function hasParamHeader(headers: RequestHeaders): boolean {
  let found = false;
  headers.forEach((_, name) => {
    found ||= name.startsWith('mcp-param-');
  });
  return found;
}
