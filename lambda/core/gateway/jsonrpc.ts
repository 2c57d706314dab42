/**
 * JSON-RPC 2.0 as MCP uses it over Streamable HTTP: inspecting what a client POSTs, building
 * error bodies, and locating values in JSON source text (so that a filtered response keeps every
 * byte it does not change). Pure functions; nothing here throws on hostile input.
 */

export type JsonRpcId = string | number | null;

export interface InspectedMessage {
  readonly kind: 'request' | 'notification' | 'response';
  /** Present for requests and responses. */
  readonly id?: JsonRpcId;
  /** Present for requests and notifications. */
  readonly method?: string;
  /** `params.name` of a `tools/call` request, when it is a string. */
  readonly toolName?: string;
  /** `params.uri` of a `resources/read` or `resources/subscribe` request, when it is a string. */
  readonly resourceUri?: string;
  /** `params.name` of a `prompts/get` request, when it is a string. */
  readonly promptName?: string;
  /** What a `completion/complete` request completes (`params.ref`); present on every such message. */
  readonly completionRef?: CompletionRef;
  /**
   * `params.notifications.resourceSubscriptions` of a `subscriptions/listen` request (2026-07-28),
   * when present: the URIs, or `invalid` when it is not an array of strings.
   */
  readonly subscriptionUris?: readonly string[] | 'invalid';
}

/**
 * `params.ref` of `completion/complete`: a prompt by name (`ref/prompt`), a resource or resource
 * template by URI (`ref/resource`), each with its name or URI when that is a string, or `other`
 * when the ref is missing or of another type.
 */
export type CompletionRef =
  | { readonly kind: 'prompt'; readonly name?: string }
  | { readonly kind: 'resource'; readonly uri?: string }
  | { readonly kind: 'other' };

export type InspectResult =
  | { readonly ok: true; readonly batch: boolean; readonly messages: InspectedMessage[] }
  | { readonly ok: false; readonly error: 'parse_error' | 'invalid_request'; readonly message: string };

// Standard JSON-RPC 2.0 codes.
export const PARSE_ERROR = -32700;
export const INVALID_REQUEST = -32600;
export const METHOD_NOT_FOUND = -32601;
export const INVALID_PARAMS = -32602;
export const INTERNAL_ERROR = -32603;

/*
 * Gateway codes, in the range JSON-RPC leaves to implementations (-32000 to -32099). One code per
 * HTTP status the gateway answers with, derived mechanically so that a client can tell the status
 * from the code alone:
 *   4xx (other than 400) -> -(32000 + status - 400): 401 -> -32001, 403 -> -32003, 429 -> -32029
 *   5xx (other than 500) -> -(32050 + status - 500): 502 -> -32052, 504 -> -32054
 *   400 -> INVALID_REQUEST (-32600), 500 -> INTERNAL_ERROR (-32603).
 * None of the statuses the gateway uses lands on a code MCP defines itself (-32002 resource not
 * found, -32042 URL elicitation required).
 */
export const GATEWAY_UNAUTHORIZED = -32001; // 401
export const GATEWAY_FORBIDDEN = -32003; // 403
export const GATEWAY_NOT_FOUND = -32004; // 404
export const GATEWAY_METHOD_NOT_ALLOWED = -32005; // 405
export const GATEWAY_PAYLOAD_TOO_LARGE = -32013; // 413
export const GATEWAY_UNSUPPORTED_MEDIA_TYPE = -32015; // 415
export const GATEWAY_RATE_LIMITED = -32029; // 429
export const GATEWAY_BAD_UPSTREAM = -32052; // 502
export const GATEWAY_UNAVAILABLE = -32053; // 503
export const GATEWAY_UPSTREAM_TIMEOUT = -32054; // 504

/** The JSON-RPC error code for an HTTP status, by the rule above. */
export function jsonRpcCodeForStatus(status: number): number {
  if (!Number.isInteger(status)) return INTERNAL_ERROR;
  if (status === 400) return INVALID_REQUEST;
  if (status > 400 && status < 500) return -(32000 + status - 400);
  if (status > 500 && status < 550) return -(32050 + status - 500);
  return INTERNAL_ERROR;
}

/**
 * `{"jsonrpc":"2.0","id":<id or null>,"error":{"code":…,"message":…,"data":…}}`. Never throws:
 * data that cannot be serialized (a cycle, a BigInt) is dropped rather than failing the error.
 */
export function jsonRpcErrorBody(
  id: JsonRpcId | undefined,
  code: number,
  message: string,
  data: Record<string, unknown>,
): string {
  const safeId = typeof id === 'string' || (typeof id === 'number' && Number.isFinite(id)) ? id : null;
  try {
    return JSON.stringify({ jsonrpc: '2.0', id: safeId, error: { code, message, data } });
  } catch {
    return JSON.stringify({ jsonrpc: '2.0', id: safeId, error: { code, message } });
  }
}

/** The key under which a request id is remembered (see list-filter): `JSON.stringify(id)`. */
export function idKey(id: JsonRpcId): string {
  return JSON.stringify(id);
}

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const has = (o: JsonObject, key: string): boolean => Object.hasOwn(o, key);
const get = (o: JsonObject, key: string): unknown => (Object.hasOwn(o, key) ? o[key] : undefined);

/**
 * Numeric ids must be finite and, when integral, exactly representable: an id like
 * 12345678901234567890 reads back as a different number here than in an upstream with 64-bit or
 * arbitrary-precision integers, and the response would no longer be recognised (and filtered).
 */
function validId(id: unknown): id is string | number {
  if (typeof id === 'string') return true;
  if (typeof id !== 'number' || !Number.isFinite(id)) return false;
  return !Number.isInteger(id) || Number.isSafeInteger(id);
}

type Checked = { ok: true; message: InspectedMessage } | { ok: false; message: string };

type FeatureRefs = Pick<InspectedMessage, 'toolName' | 'resourceUri' | 'promptName' | 'completionRef' | 'subscriptionUris'>;

function stringMember(o: JsonObject, key: string): string | undefined {
  const value = get(o, key);
  return typeof value === 'string' ? value : undefined;
}

/** What a request or notification names that a policy governs (see feature-policy.ts). */
function featureRefs(method: string, params: JsonObject): FeatureRefs {
  switch (method) {
    case 'tools/call': {
      const toolName = stringMember(params, 'name');
      return toolName === undefined ? {} : { toolName };
    }
    case 'resources/read':
    case 'resources/subscribe': {
      const resourceUri = stringMember(params, 'uri');
      return resourceUri === undefined ? {} : { resourceUri };
    }
    case 'prompts/get': {
      const promptName = stringMember(params, 'name');
      return promptName === undefined ? {} : { promptName };
    }
    case 'completion/complete': {
      const ref = get(params, 'ref');
      if (!isObject(ref)) return { completionRef: { kind: 'other' } };
      const type = get(ref, 'type');
      if (type === 'ref/prompt') {
        const name = stringMember(ref, 'name');
        return { completionRef: name === undefined ? { kind: 'prompt' } : { kind: 'prompt', name } };
      }
      if (type === 'ref/resource') {
        const uri = stringMember(ref, 'uri');
        return { completionRef: uri === undefined ? { kind: 'resource' } : { kind: 'resource', uri } };
      }
      return { completionRef: { kind: 'other' } };
    }
    case 'subscriptions/listen': {
      const notifications = get(params, 'notifications');
      if (notifications === undefined) return {};
      if (!isObject(notifications)) return { subscriptionUris: 'invalid' };
      if (!has(notifications, 'resourceSubscriptions')) return {};
      const uris = notifications.resourceSubscriptions;
      if (!Array.isArray(uris) || !uris.every((uri) => typeof uri === 'string')) return { subscriptionUris: 'invalid' };
      return { subscriptionUris: uris as string[] };
    }
    default:
      return {};
  }
}

function checkMessage(value: unknown): Checked {
  if (!isObject(value)) return { ok: false, message: 'a JSON-RPC message must be an object' };
  if (get(value, 'jsonrpc') !== '2.0') return { ok: false, message: 'jsonrpc must be "2.0"' };
  if (has(value, 'params')) {
    const params = value.params;
    if (typeof params !== 'object' || params === null) return { ok: false, message: 'params must be an object or array' };
  }
  if (has(value, 'method')) {
    const method = value.method;
    if (typeof method !== 'string' || method === '') return { ok: false, message: 'method must be a non-empty string' };
    if (has(value, 'result') || has(value, 'error')) {
      return { ok: false, message: 'a request or notification has no result or error' };
    }
    const params = get(value, 'params');
    const named = isObject(params) ? params : {};
    const extra = featureRefs(method, named);
    if (!has(value, 'id')) return { ok: true, message: { kind: 'notification', method, ...extra } };
    const id = value.id;
    if (!validId(id)) {
      return { ok: false, message: 'a request id must be a string or a number (safe integer if integral); null is not allowed' };
    }
    return { ok: true, message: { kind: 'request', id, method, ...extra } };
  }
  // A response: the client answering a server's request (sampling, elicitation, roots, ping).
  if (!has(value, 'id')) return { ok: false, message: 'a message needs a method (request, notification) or an id (response)' };
  const hasResult = has(value, 'result');
  const hasError = has(value, 'error');
  if (hasResult === hasError) return { ok: false, message: 'a response has exactly one of result and error' };
  const id = value.id;
  if (hasError) {
    const error = value.error;
    if (!isObject(error) || !Number.isInteger(get(error, 'code')) || typeof get(error, 'message') !== 'string') {
      return { ok: false, message: 'error must be an object with an integer code and a string message' };
    }
    // JSON-RPC allows a null id on an error response when the request's id could not be read.
    if (id !== null && !validId(id)) return { ok: false, message: 'a response id must be a string, a number or null' };
  } else if (!validId(id)) {
    return { ok: false, message: 'a result response id must be a string or a number' };
  }
  return { ok: true, message: { kind: 'response', id: id as JsonRpcId } };
}

/**
 * Parses and validates a POSTed MCP body: one JSON-RPC 2.0 message or a non-empty batch array
 * (MCP 2025-03-26 allowed batches). Every message must be valid, or the whole body is refused.
 * Bodies with a duplicated object key anywhere are refused as invalid requests: parsers differ on
 * which copy wins, and `{"name":"denied","name":"allowed"}` must not mean one thing to the tool
 * policy and another to the upstream.
 */
export function inspectBody(text: string): InspectResult {
  let parsed: unknown;
  try {
    if (typeof text !== 'string') throw new TypeError('not text');
    parsed = JSON.parse(text);
  } catch {
    return { ok: false, error: 'parse_error', message: 'The body is not valid JSON' };
  }
  try {
    const duplicate = repeatsKey(text, parsed) ? findDuplicateKey(text) : undefined;
    if (duplicate !== undefined) {
      return { ok: false, error: 'invalid_request', message: `Duplicate object key ${JSON.stringify(duplicate.slice(0, 64))}` };
    }
    const batch = Array.isArray(parsed);
    const items: unknown[] = batch ? (parsed as unknown[]) : [parsed];
    if (items.length === 0) return { ok: false, error: 'invalid_request', message: 'An empty batch is not a valid request' };
    const messages: InspectedMessage[] = [];
    for (let i = 0; i < items.length; i++) {
      const checked = checkMessage(items[i]);
      if (!checked.ok) {
        return { ok: false, error: 'invalid_request', message: batch ? `Batch element ${i}: ${checked.message}` : checked.message };
      }
      messages.push(checked.message);
    }
    return { ok: true, batch, messages };
  } catch {
    return { ok: false, error: 'invalid_request', message: 'The body is not a valid JSON-RPC message' };
  }
}

// ---------------------------------------------------------------------------------------------
// Locating values in JSON source. Every function here expects text that JSON.parse accepted and
// indexes pointing at the start of a value; all of them are iterative and linear in the text.

/** Index of the first non-whitespace character at or after `i`. */
export function skipJsonWhitespace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) i++;
    else return i;
  }
}

/** `i` at an opening quote; the index just past the closing quote. */
function endOfString(text: string, i: number): number {
  let j = i + 1;
  for (;;) {
    const quote = text.indexOf('"', j);
    if (quote < 0) return text.length;
    let backslashes = 0;
    for (let k = quote - 1; text.charCodeAt(k) === 0x5c; k--) backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    j = quote + 1;
  }
}

function decodeKey(text: string, start: number, end: number): string {
  const raw = text.slice(start + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(text.slice(start, end)) as string) : raw;
}

/** `i` at the start of a value; the index just past its end. */
export function endOfJsonValue(text: string, i: number): number {
  const first = text.charCodeAt(i);
  if (first === 0x22) return endOfString(text, i);
  if (first !== 0x7b && first !== 0x5b) {
    let j = i;
    for (;;) {
      const c = text.charCodeAt(j);
      // Numbers and literals end at a delimiter, whitespace or the end of the text.
      if (Number.isNaN(c) || c === 0x2c || c === 0x5d || c === 0x7d || c === 0x3a || c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
        return j;
      }
      j++;
    }
  }
  let depth = 0;
  let j = i;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === 0x22) {
      j = endOfString(text, j);
      continue;
    }
    if (c === 0x7b || c === 0x5b) depth++;
    else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return text.length;
}

export interface JsonSpan {
  readonly start: number;
  readonly end: number;
}

export interface JsonMember extends JsonSpan {
  /** The decoded key. */
  readonly key: string;
}

/** `i` at `{`; the members in source order (duplicates included), with their values' spans. */
export function jsonObjectMembers(text: string, i: number): JsonMember[] {
  const members: JsonMember[] = [];
  let j = skipJsonWhitespace(text, i + 1);
  if (text.charCodeAt(j) === 0x7d) return members;
  while (j < text.length) {
    const keyEnd = endOfString(text, j);
    const key = decodeKey(text, j, keyEnd);
    const start = skipJsonWhitespace(text, skipJsonWhitespace(text, keyEnd) + 1); // past the colon
    const end = endOfJsonValue(text, start);
    members.push({ key, start, end });
    j = skipJsonWhitespace(text, end);
    if (text.charCodeAt(j) !== 0x2c) break;
    j = skipJsonWhitespace(text, j + 1);
  }
  return members;
}

/** `i` at `[`; the spans of its elements in order. */
export function jsonArrayElements(text: string, i: number): JsonSpan[] {
  const elements: JsonSpan[] = [];
  let j = skipJsonWhitespace(text, i + 1);
  if (text.charCodeAt(j) === 0x5d) return elements;
  while (j < text.length) {
    const end = endOfJsonValue(text, j);
    elements.push({ start: j, end });
    j = skipJsonWhitespace(text, end);
    if (text.charCodeAt(j) !== 0x2c) break;
    j = skipJsonWhitespace(text, j + 1);
  }
  return elements;
}

/**
 * Whether valid JSON `text`, parsed as `value`, repeats a key within some object: JSON.parse
 * keeps one member per key, so the parsed objects then hold fewer members than the text has keys.
 * Counting both sides allocates nothing per key, unlike finding the key (only done when this says
 * there is one).
 */
function repeatsKey(text: string, value: unknown): boolean {
  let keys = 0;
  // Outside strings, a quote opens a string; a string followed by a colon is a key.
  for (let i = text.indexOf('"'); i >= 0; ) {
    const end = endOfString(text, i);
    if (text.charCodeAt(skipJsonWhitespace(text, end)) === 0x3a) keys++;
    i = text.indexOf('"', end);
  }
  let members = 0;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (Array.isArray(next)) {
      for (const element of next) if (typeof element === 'object' && element !== null) pending.push(element);
    } else if (typeof next === 'object' && next !== null) {
      for (const key in next) {
        members++;
        const member = (next as JsonObject)[key];
        if (typeof member === 'object' && member !== null) pending.push(member);
      }
    }
  }
  return keys !== members;
}

/** The first key that occurs twice in one object, anywhere in valid JSON `text`. */
export function findDuplicateKey(text: string): string | undefined {
  // One entry per open container: the keys seen so far for an object, null for an array.
  const stack: (Set<string> | null)[] = [];
  let expectKey = false;
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === 0x22) {
      const end = endOfString(text, i);
      const top = stack[stack.length - 1];
      if (expectKey && top) {
        const key = decodeKey(text, i, end);
        if (top.has(key)) return key;
        top.add(key);
        expectKey = false;
      }
      i = end;
      continue;
    }
    if (c === 0x7b) {
      stack.push(new Set());
      expectKey = true;
    } else if (c === 0x5b) {
      stack.push(null);
      expectKey = false;
    } else if (c === 0x7d || c === 0x5d) {
      stack.pop();
      expectKey = false;
    } else if (c === 0x2c) {
      expectKey = stack[stack.length - 1] instanceof Set;
    }
    i++;
  }
  return undefined;
}
