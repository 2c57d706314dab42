/**
 * The request metadata headers of MCP 2026-07-28 (Streamable HTTP, "Request Metadata"), checked
 * against the body as an intermediary must. Pure functions over the headers and the body text the
 * gateway already read and inspected; nothing here throws on hostile input.
 *
 * What the spec says, and what this module does with it (section names are those of
 * `basic/transports/streamable-http` of 2026-07-28 unless said otherwise):
 *
 * - "Standard Request Headers": `Mcp-Method` mirrors `method` (REQUIRED on all requests);
 *   `Mcp-Name` mirrors `params.name` (`tools/call`, `prompts/get`) or `params.uri`
 *   (`resources/read`) and is REQUIRED for those three. "Server Validation": a server that
 *   processes the body MUST reject a request whose header values do not match the body, or where
 *   a required header (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`) is missing, or a value
 *   has invalid characters: 400 with JSON-RPC error -32020 `HeaderMismatch`. Header values are
 *   case-sensitive ("Case Sensitivity"). The gateway processes the body, so it validates.
 *   -> Present headers are validated whatever the revision (a mismatch is never legitimate, and
 *   only validated values are forwarded). Missing ones are refused only for modern revisions
 *   (`MCP-Protocol-Version` 2026-07-28 or a later date): earlier revisions define no such headers
 *   and keep working as before. Notifications: "header requirements for notification POSTs are
 *   not defined by this revision", so none is required on them (present ones must still match).
 * - "Protocol Version Header": the header MUST match `_meta["io.modelcontextprotocol/protocolVersion"]`
 *   (400 HeaderMismatch otherwise). -> Checked for modern requests. A request without the field is
 *   malformed by `basic/index` ("Per-request protocol fields": -32602), which is the upstream's
 *   answer to give, not a header mismatch.
 * - "Sending Messages": the body MUST be a single JSON-RPC request or notification, never a
 *   response. -> A modern batch or client response is `invalid_request`; a batch of an earlier
 *   revision may carry none of these headers (they describe one message).
 * - "Value Encoding": a value that is not plain visible ASCII is sent as `=?base64?{Base64}?=`
 *   (Base64 of the UTF-8 bytes; the markers are case-sensitive and exact), for `Mcp-Name` and
 *   `Mcp-Param-*` only; a plain value that matches the sentinel pattern MUST itself be encoded, so
 *   anything of that shape is decoded. Servers MUST decode before comparing. -> Strict decoding:
 *   canonical Base64 (padding, no stray bits) and well-formed UTF-8, else the header is malformed.
 *   Values are forwarded exactly as received (encoded), never decoded.
 * - "Custom Headers from Tool Parameters": a tool's `inputSchema` may mark properties with
 *   `x-mcp-header: "{Name}"`; clients mirror the argument into `Mcp-Param-{Name}` (string as is,
 *   integer in decimal, boolean `true`/`false`), omitting it when the argument is absent or null.
 *   Constraints ("Schema Extension"): a non-empty RFC 9110 token, case-insensitively unique,
 *   only on `string`/`integer`/`boolean` properties reachable from the root through `properties`
 *   alone; an annotation anywhere else invalidates the tool. Server side ("Server Behavior for
 *   Custom Headers"): a value present in the body needs its header; a header must match the body
 *   (integers compared numerically, "42.0" equals 42); a header without a value in the body does
 *   not match. "Intermediate servers that do not recognize an `Mcp-Param-{Name}` header MUST
 *   forward it and otherwise ignore it."
 *   -> With the called tool's declarations (`paramHeadersFromSchema` of its `inputSchema`) every
 *   declared header is validated as above. A `Mcp-Param-*` header the gateway cannot map to an
 *   argument (no schema known, or not declared in the schema it has) is forwarded after a syntax
 *   check (characters, Base64 form, bounds) and counted in `unverifiedParams`: the upstream, which
 *   processes the body, MUST validate it itself, and the gateway never decides anything on it.
 *   At most MAX_PARAM_HEADERS such headers of at most MAX_HEADER_VALUE_LENGTH characters each.
 *
 * Headers present on a request without a body (GET, DELETE) have nothing to match and are not
 * forwarded (2026-07-28 has no GET or DELETE; earlier revisions define no such headers).
 */
import type { RequestHeaders } from './exchange';
import { endOfJsonValue, jsonObjectMembers, skipJsonWhitespace, INVALID_REQUEST, type InspectedMessage } from './jsonrpc';

/** JSON-RPC error code `HeaderMismatch` (schema 2026-07-28, HeaderMismatchError); HTTP 400. */
export const HEADER_MISMATCH = -32020;

/** The first revision with request metadata headers. Later revisions are dates after it. */
export const MODERN_PROTOCOL_VERSION = '2026-07-28';

/** Most `Mcp-Param-*` headers on one request (and most `x-mcp-header` declarations in one tool). */
export const MAX_PARAM_HEADERS = 64;

/** Longest `Mcp-Name` or `Mcp-Param-*` value, in characters (the encoded form as received). */
export const MAX_HEADER_VALUE_LENGTH = 8192;

const PARAM_PREFIX = 'mcp-param-';
const SENTINEL_PREFIX = '=?base64?';
const SENTINEL_SUFFIX = '?=';
const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

/** One `x-mcp-header` declaration of a tool: header `Mcp-Param-{header}` mirrors `arguments[path…]`. */
export interface ParamHeader {
  /** The name portion as declared (compared case-insensitively). */
  readonly header: string;
  /** The chain of `properties` keys from the schema root to the annotated property. */
  readonly path: readonly string[];
  readonly type: 'string' | 'integer' | 'boolean';
}

export type ParamHeadersResult = { readonly ok: true; readonly params: readonly ParamHeader[] } | { readonly ok: false; readonly reason: string };

export type McpHeaderCheck =
  | {
      readonly ok: true;
      /** Lower-case header names to their values as received: `mcp-method`, `mcp-name`, `mcp-param-*`. */
      readonly forward: Record<string, string>;
      /** Whether the request declared a modern revision (header requirements applied). */
      readonly modern: boolean;
      /** Forwarded `Mcp-Param-*` headers the gateway could not map to an argument (not validated). */
      readonly unverifiedParams: number;
    }
  | {
      readonly ok: false;
      /** `header_mismatch` (JSON-RPC -32020) or `invalid_request` (-32600); both HTTP 400. */
      readonly code: 'header_mismatch' | 'invalid_request';
      readonly jsonRpcCode: number;
      /** Names the header and the rule; never echoes a value (header values can be sensitive). */
      readonly reason: string;
    };

export interface McpHeaderOptions {
  /**
   * The `x-mcp-header` declarations of the tool a `tools/call` names (`paramHeadersFromSchema` of
   * its `inputSchema`). Omit when the gateway does not know the tool's schema: `Mcp-Param-*`
   * headers are then forwarded unverified.
   */
  readonly paramHeaders?: readonly ParamHeader[];
}

/** Whether a `MCP-Protocol-Version` value is a revision that requires the request metadata headers. */
export function requiresRequestHeaders(protocolVersion: string | null | undefined): boolean {
  return typeof protocolVersion === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(protocolVersion) && protocolVersion >= MODERN_PROTOCOL_VERSION;
}

/** RFC 9110 field value characters without obs-text: visible ASCII, space and tab. */
function plainHeaderValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c !== 0x09 && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

const STRICT_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * The value a `Mcp-Name` or `Mcp-Param-*` header carries ("Value Encoding"): plain visible ASCII as
 * is, the `=?base64?…?=` form decoded (canonical Base64 of well-formed UTF-8). Undefined when the
 * value is malformed: other characters, or a sentinel-shaped value that does not decode.
 */
export function decodeHeaderValue(value: string): string | undefined {
  if (!plainHeaderValue(value)) return undefined;
  if (!(value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX))) return value;
  if (value.length < SENTINEL_PREFIX.length + SENTINEL_SUFFIX.length) return undefined; // `=?base64?=`
  const encoded = value.slice(SENTINEL_PREFIX.length, value.length - SENTINEL_SUFFIX.length);
  if (!STRICT_BASE64.test(encoded)) return undefined;
  const bytes = Buffer.from(encoded, 'base64');
  // Non-zero padding bits ("QR==" and "QQ==" would both be "A") make two spellings of one value.
  if (bytes.toString('base64') !== encoded) return undefined;
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    return undefined;
  }
}

/**
 * How a client puts `value` in a header ("Value Encoding"): as is when it is plain visible ASCII
 * without leading or trailing whitespace and does not look like the sentinel, Base64 otherwise.
 */
export function encodeHeaderValue(value: string): string {
  const plain = /^(?:[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?)?$/.test(value);
  const sentinelShaped = value.startsWith(SENTINEL_PREFIX) && value.endsWith(SENTINEL_SUFFIX);
  if (plain && value !== '' && !sentinelShaped) return value;
  return `${SENTINEL_PREFIX}${Buffer.from(value, 'utf8').toString('base64')}${SENTINEL_SUFFIX}`;
}

// ---------------------------------------------------------------------------------------------
// x-mcp-header declarations of a tool

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** Keywords whose value is a subschema or an array of subschemas (JSON Schema 2020-12 and draft-07). */
const SUBSCHEMA_KEYWORDS = new Set([
  'items', 'prefixItems', 'additionalItems', 'contains', 'unevaluatedItems', 'additionalProperties', 'unevaluatedProperties',
  'propertyNames', 'not', 'if', 'then', 'else', 'oneOf', 'anyOf', 'allOf',
]);
/** Keywords whose value maps names to subschemas. */
const SUBSCHEMA_MAP_KEYWORDS = new Set(['$defs', 'definitions', 'patternProperties', 'dependentSchemas', 'dependencies']);
const MAX_SCHEMA_DEPTH = 32;
const MAX_SCHEMA_NODES = 10_000;

type JsonObject = Record<string, unknown>;
const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/**
 * The `x-mcp-header` declarations of a tool's `inputSchema` ("Schema Extension"), or why the tool
 * definition is invalid. A schema without annotations gives an empty list. Bounded in depth and
 * size (a larger schema is reported invalid rather than walked).
 */
export function paramHeadersFromSchema(inputSchema: unknown): ParamHeadersResult {
  const params: ParamHeader[] = [];
  const seen = new Set<string>();
  let nodes = 0;
  let failure: string | undefined;

  const visit = (node: unknown, path: readonly string[], reachable: boolean, depth: number): void => {
    if (failure !== undefined) return;
    if (Array.isArray(node)) {
      for (const element of node) visit(element, path, false, depth + 1);
      return;
    }
    if (!isObject(node)) return;
    if (++nodes > MAX_SCHEMA_NODES || depth > MAX_SCHEMA_DEPTH) {
      failure = 'the input schema is too large or too deep to check';
      return;
    }
    for (const key of Object.keys(node)) {
      const value = node[key];
      if (key === 'x-mcp-header') {
        if (!reachable || path.length === 0) {
          failure = 'x-mcp-header is only allowed on properties reachable through "properties" alone';
          return;
        }
        if (typeof value !== 'string' || !TOKEN.test(value)) {
          failure = `x-mcp-header of ${JSON.stringify(path.join('.').slice(0, 128))} is not an HTTP token`;
          return;
        }
        const type = node.type;
        if (type !== 'string' && type !== 'integer' && type !== 'boolean') {
          failure = `x-mcp-header ${JSON.stringify(value)} is on a property that is not a string, integer or boolean`;
          return;
        }
        const folded = value.toLowerCase();
        if (seen.has(folded)) {
          failure = `x-mcp-header ${JSON.stringify(value)} is declared twice (names are case-insensitive)`;
          return;
        }
        seen.add(folded);
        if (seen.size > MAX_PARAM_HEADERS) {
          failure = `more than ${MAX_PARAM_HEADERS} x-mcp-header declarations`;
          return;
        }
        params.push({ header: value, path, type });
      } else if (key === 'properties' && isObject(value)) {
        for (const name of Object.keys(value)) visit(value[name], [...path, name], reachable, depth + 1);
      } else if (SUBSCHEMA_KEYWORDS.has(key) || key === '$ref') {
        visit(value, path, false, depth + 1);
      } else if (SUBSCHEMA_MAP_KEYWORDS.has(key) && isObject(value)) {
        for (const name of Object.keys(value)) visit(value[name], path, false, depth + 1);
      }
      // Other keywords (enum, const, default, examples, description, …) hold data, not schemas:
      // an "x-mcp-header" key inside them is not an annotation.
      if (failure !== undefined) return;
    }
  };

  if (!isObject(inputSchema)) return { ok: false, reason: 'the input schema is not an object' };
  visit(inputSchema, [], true, 0);
  return failure === undefined ? { ok: true, params } : { ok: false, reason: failure };
}

// ---------------------------------------------------------------------------------------------
// Reading values from the body

/** A value at a path: `found` false when a step is missing (or not an object). */
type Lookup = { readonly found: false } | { readonly found: true; readonly value: unknown };
const MISSING: Lookup = { found: false };

/**
 * Reads `path` from a JSON body: from the text with the span helpers (no parse of the whole body,
 * only of the value found), or from an already parsed value. The text was accepted by
 * `inspectBody`, so it is valid JSON without duplicate keys: the first match is the only one.
 */
function lookup(body: unknown, path: readonly string[]): Lookup {
  try {
    if (typeof body === 'string') {
      let at = skipJsonWhitespace(body, 0);
      for (const step of path) {
        if (body.charCodeAt(at) !== 0x7b) return MISSING;
        const member = jsonObjectMembers(body, at).find((m) => m.key === step);
        if (!member) return MISSING;
        at = member.start;
      }
      return { found: true, value: JSON.parse(body.slice(at, endOfJsonValue(body, at))) as unknown };
    }
    let value: unknown = body;
    for (const step of path) {
      if (!isObject(value) || !Object.hasOwn(value, step)) return MISSING;
      value = value[step];
    }
    return { found: true, value };
  } catch {
    return MISSING;
  }
}

function isBatch(body: unknown): boolean {
  if (typeof body === 'string') return body.charCodeAt(skipJsonWhitespace(body, 0)) === 0x5b;
  return Array.isArray(body);
}

// ---------------------------------------------------------------------------------------------
// Validation

const NAME_SOURCE: Readonly<Record<string, 'name' | 'uri'>> = { 'tools/call': 'name', 'prompts/get': 'name', 'resources/read': 'uri' };

/** A header name as a reason shows it: names come from the client or the upstream, so bounded. */
function showName(name: string): string {
  return name.length > 80 ? `${name.slice(0, 80)}…` : name;
}

function mismatch(reason: string): McpHeaderCheck {
  return { ok: false, code: 'header_mismatch', jsonRpcCode: HEADER_MISMATCH, reason };
}

function invalid(reason: string): McpHeaderCheck {
  return { ok: false, code: 'invalid_request', jsonRpcCode: INVALID_REQUEST, reason };
}

/** Whether a decoded `Mcp-Param-*` value represents the body's value ("Value Encoding", type conversion). */
function paramMatches(decoded: string, value: unknown): boolean {
  if (typeof value === 'string') return decoded === value;
  if (typeof value === 'boolean') return decoded === (value ? 'true' : 'false');
  if (typeof value === 'number') {
    // Integers only (type `number` may not be mirrored), in the safe range; compared numerically.
    if (!Number.isSafeInteger(value)) return false;
    return /^[+-]?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?$/.test(decoded) && Number(decoded) === value;
  }
  return false; // objects, arrays: never mirrored
}

/**
 * Validates the MCP request metadata headers of one POST against its body (see the top of this
 * file for the rules and their spec sections).
 *
 * @param headers the client's request headers
 * @param messages what `inspectBody` found in the body (empty for GET and DELETE)
 * @param body the body text `inspectBody` accepted, or the same body already parsed
 * @returns `forward`: the headers to send upstream (validated, or `Mcp-Param-*` checked in form),
 *   or why the request is refused (HTTP 400, JSON-RPC `jsonRpcCode`)
 */
export function validateMcpHeaders(
  headers: RequestHeaders,
  messages: readonly InspectedMessage[],
  body: unknown,
  options: McpHeaderOptions = {},
): McpHeaderCheck {
  const version = headers.get('mcp-protocol-version');
  const modern = requiresRequestHeaders(version);
  const method = headers.get('mcp-method');
  const name = headers.get('mcp-name');
  const params: [string, string][] = [];
  headers.forEach((value, key) => {
    if (key.startsWith(PARAM_PREFIX)) params.push([key, value]);
  });
  const anyHeader = method !== null || name !== null || params.length > 0;

  if (messages.length === 0) return { ok: true, forward: {}, modern, unverifiedParams: 0 };
  if (isBatch(body)) {
    if (modern) return invalid(`An MCP ${MODERN_PROTOCOL_VERSION} POST body is a single JSON-RPC message, not a batch`);
    if (anyHeader) return mismatch('Mcp-Method, Mcp-Name and Mcp-Param-* headers describe a single message, not a batch');
    return { ok: true, forward: {}, modern, unverifiedParams: 0 };
  }
  const message = messages[0]!;
  if (modern && message.kind === 'response') return invalid(`An MCP ${MODERN_PROTOCOL_VERSION} client sends no JSON-RPC responses`);
  if (!modern && !anyHeader) return { ok: true, forward: {}, modern, unverifiedParams: 0 }; // the fast path of earlier revisions
  const forward: Record<string, string> = {};
  const requiredHere = modern && message.kind === 'request';

  // Mcp-Method: exact, case-sensitive; no Base64 form.
  if (method !== null) {
    if (!plainHeaderValue(method)) return mismatch('The Mcp-Method header has invalid characters');
    if (method !== message.method) return mismatch('The Mcp-Method header does not match the body\'s method');
    forward['mcp-method'] = method;
  } else if (requiredHere) {
    return mismatch('The Mcp-Method header is required');
  }

  // Mcp-Name: params.name or params.uri, decoded before comparing.
  const source = message.method !== undefined ? NAME_SOURCE[message.method] : undefined;
  const nameValue = (): string | undefined => {
    if (message.method === 'tools/call') return message.toolName;
    if (message.method === 'prompts/get') return message.promptName;
    if (message.method === 'resources/read') return message.resourceUri;
    // Other methods: whichever of params.name and params.uri the body has (a string).
    for (const field of ['name', 'uri']) {
      const found = lookup(body, ['params', field]);
      if (found.found && typeof found.value === 'string') return found.value;
    }
    return undefined;
  };
  if (name !== null) {
    if (name.length > MAX_HEADER_VALUE_LENGTH) return mismatch('The Mcp-Name header is too long');
    const decoded = decodeHeaderValue(name);
    if (decoded === undefined) return mismatch('The Mcp-Name header has invalid characters or a malformed Base64 value');
    const expected = nameValue();
    if (expected === undefined || decoded !== expected) {
      return mismatch(`The Mcp-Name header does not match the body's ${source === 'uri' ? 'params.uri' : source === 'name' ? 'params.name' : 'params.name or params.uri'}`);
    }
    forward['mcp-name'] = name;
  } else if (requiredHere && source !== undefined && nameValue() !== undefined) {
    return mismatch('The Mcp-Name header is required');
  }

  // MCP-Protocol-Version against _meta (modern requests only; see the top of the file).
  if (modern && message.kind !== 'response') {
    const declared = lookup(body, ['params', '_meta', PROTOCOL_VERSION_META]);
    if (declared.found && declared.value !== version) return mismatch('The MCP-Protocol-Version header does not match _meta\'s protocolVersion');
  }

  // Mcp-Param-*: in form always; against the arguments when the tool's declarations are known.
  if (params.length > MAX_PARAM_HEADERS) return mismatch(`More than ${MAX_PARAM_HEADERS} Mcp-Param-* headers`);
  const decodedParams = new Map<string, string>();
  for (const [key, value] of params) {
    const shown = showName(key);
    if (key.length === PARAM_PREFIX.length) return mismatch('An Mcp-Param- header has no name');
    if (value.length > MAX_HEADER_VALUE_LENGTH) return mismatch(`The ${shown} header is too long`);
    const decoded = decodeHeaderValue(value);
    if (decoded === undefined) return mismatch(`The ${shown} header has invalid characters or a malformed Base64 value`);
    decodedParams.set(key, decoded);
    forward[key] = value;
  }
  const declared = message.method === 'tools/call' ? options.paramHeaders : undefined;
  let unverifiedParams = params.length;
  if (declared) {
    for (const param of declared) {
      const key = PARAM_PREFIX + param.header.toLowerCase();
      const shown = showName(key);
      const header = decodedParams.get(key);
      const found = lookup(body, ['params', 'arguments', ...param.path]);
      const present = found.found && found.value !== null;
      if (header !== undefined) unverifiedParams--;
      if (!present) {
        if (header !== undefined) return mismatch(`The ${shown} header has no value in the body's arguments`);
        continue;
      }
      if (header === undefined) return mismatch(`The ${shown} header is required (its argument is in the body)`);
      if (!paramMatches(header, found.value)) return mismatch(`The ${shown} header does not match the body's argument`);
    }
  }
  return { ok: true, forward, modern, unverifiedParams };
}
