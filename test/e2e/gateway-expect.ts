/**
 * Client-side helpers for the gateway's end-to-end error, limit and hostile-input tests: raw
 * MCP requests (fetch and node:http), session set-up, and the checks every gateway answer must
 * pass (status, JSON-RPC error body with the request's id and `error.data.code`, `X-Request-Id`,
 * nothing leaked).
 */
import { request as httpRequest, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { GATEWAY_ERRORS, type GatewayErrorCode } from '../../lambda/core/gateway/errors';

export const PROTOCOL_VERSION = '2025-06-18';
export const ACCEPT = 'application/json, text/event-stream';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** What a test needs of one HTTP answer: status, lower-cased headers and the whole body. */
export interface Answer {
  readonly status: number;
  readonly headers: Record<string, string>;
  readonly text: string;
}

export type RpcId = string | number | null;

export function rpc(id: RpcId | undefined, method: string, params?: unknown): Record<string, unknown> {
  return { jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method, ...(params === undefined ? {} : { params }) };
}

export const initializeMessage = (id: RpcId = 1) =>
  rpc(id, 'initialize', { protocolVersion: PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'e2e', version: '1.0.0' } });

export const toolCall = (id: RpcId, name: string, args: Record<string, unknown> = {}) => rpc(id, 'tools/call', { name, arguments: args });

function headersOf(headers: Headers): Record<string, string> {
  const out: Record<string, string> = {};
  headers.forEach((value, name) => {
    out[name] = value;
  });
  return out;
}

/**
 * POSTs (or sends `method`) to a gateway URL with fetch. `key` goes in `Authorization: Bearer`
 * unless undefined; `body` is JSON-encoded unless it is already a string or Uint8Array.
 */
export async function call(
  url: string,
  key: string | undefined,
  body?: unknown,
  options: { method?: string; headers?: Record<string, string>; session?: string; signal?: AbortSignal } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { accept: ACCEPT, ...(key === undefined ? {} : { authorization: `Bearer ${key}` }) };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.session) {
    headers['mcp-session-id'] = options.session;
    headers['mcp-protocol-version'] = PROTOCOL_VERSION;
  }
  Object.assign(headers, options.headers);
  const res = await fetch(url, {
    method: options.method ?? 'POST',
    headers,
    body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
    signal: options.signal ?? AbortSignal.timeout(20_000),
  });
  return { status: res.status, headers: headersOf(res.headers), text: await res.text() };
}

/**
 * One request with node:http, for what fetch will not send: a path the URL parser would
 * normalize, hop-by-hop headers, raw bytes in header values, a chunked body of any size.
 * `body` chunks are written with back-pressure; writing stops early once the answer arrives.
 */
export function rawRequest(
  baseUrl: string,
  options: { method?: string; path: string; headers?: OutgoingHttpHeaders; body?: string | Buffer | Buffer[]; timeoutMs?: number },
): Promise<Answer & { rawHeaders: IncomingHttpHeaders }> {
  const base = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = httpRequest(
      { host: base.hostname, port: base.port, path: options.path, method: options.method ?? 'POST', headers: options.headers, agent: false },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [name, value] of Object.entries(res.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
          resolve({ status: res.statusCode ?? 0, headers, rawHeaders: res.headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.setTimeout(options.timeoutMs ?? 20_000, () => req.destroy(new Error(`no answer within ${options.timeoutMs ?? 20_000} ms`)));
    req.on('error', (error: NodeJS.ErrnoException) => {
      // The server may answer (413) and close while the body is still being written.
      if (answered && (error.code === 'EPIPE' || error.code === 'ECONNRESET')) return;
      reject(error);
    });
    const chunks = options.body === undefined ? [] : Array.isArray(options.body) ? options.body : [options.body];
    let next = 0;
    const pump = () => {
      while (next < chunks.length && !answered && !req.destroyed) {
        if (!req.write(chunks[next++]!)) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** The JSON-RPC messages of a JSON or SSE answer body. */
export function messagesOf(answer: Answer): Record<string, any>[] { // eslint-disable-line @typescript-eslint/no-explicit-any
  if ((answer.headers['content-type'] ?? '').startsWith('text/event-stream')) {
    return answer.text
      .split('\n')
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trim())
      .filter((data) => data.length > 0)
      .map((data) => JSON.parse(data));
  }
  const parsed = JSON.parse(answer.text);
  return Array.isArray(parsed) ? parsed : [parsed];
}

/** The response to request `id` in an answer (JSON or SSE); throws if there is none. */
export function resultOf(answer: Answer, id: RpcId): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const found = messagesOf(answer).find((m) => m.id === id && ('result' in m || 'error' in m));
  if (!found) throw new Error(`no response with id ${JSON.stringify(id)} in ${answer.status} ${answer.text.slice(0, 500)}`);
  return found;
}

/** initialize + notifications/initialized through the gateway; returns the sealed session id. */
export async function openSession(url: string, key: string, headers: Record<string, string> = {}): Promise<string> {
  const init = await call(url, key, initializeMessage(1), { headers });
  if (init.status !== 200) throw new Error(`initialize -> ${init.status} ${init.text}`);
  expect(resultOf(init, 1).result.protocolVersion).toBe(PROTOCOL_VERSION);
  const session = init.headers['mcp-session-id'];
  expect(session).toMatch(/^pms2\./);
  const initialized = await call(url, key, rpc(undefined, 'notifications/initialized'), { session, headers });
  expect(initialized.status).toBe(202);
  return session!;
}

/** The JSON-RPC error code the gateway uses for a code (docs/gateway.md). */
export function jsonRpcCodeFor(code: GatewayErrorCode): number {
  const status = GATEWAY_ERRORS[code].status;
  if (code === 'malformed_json') return -32700;
  if (status === 400) return -32600;
  if (status < 500) return -(32000 + status - 400);
  if (status === 500) return -32603;
  return -(32050 + status - 500);
}

/** Every gateway answer: an `X-Request-Id` (a UUID) and nothing that must stay inside. */
export function expectClean(answer: Answer, secrets: readonly string[] = []): void {
  expect(answer.headers['x-request-id']).toMatch(UUID);
  expectNoLeak(answer, secrets);
}

/**
 * No header or body byte carries one of `secrets` (upstream URLs, host:port, credentials, the
 * caller's key) or a stack trace.
 */
export function expectNoLeak(answer: Answer, secrets: readonly string[]): void {
  const everything = [answer.text, ...Object.entries(answer.headers).map(([name, value]) => `${name}: ${value}`)].join('\n');
  for (const secret of secrets) {
    if (secret.length > 0) expect(everything).not.toContain(secret);
  }
  expect(everything).not.toMatch(/\n\s+at .+:\d+:\d+/); // a V8 stack frame
  expect(everything).not.toMatch(/node_modules|\/lambda\/|\.ts:\d+|Error: /);
}

/**
 * A gateway error answer: the status of `code`, a JSON-RPC 2.0 error body with `id`, the mapped
 * JSON-RPC code, `error.data.code`, `error.data.requestId` equal to `X-Request-Id`, JSON content
 * type, and no leak.
 */
export function expectGatewayError(answer: Answer, code: GatewayErrorCode, id: RpcId, secrets: readonly string[] = []): Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const context = `${answer.status} ${answer.text.slice(0, 300)}`;
  expect({ status: answer.status, context }).toEqual({ status: GATEWAY_ERRORS[code].status, context });
  expect(answer.headers['content-type']).toMatch(/^application\/json/);
  expectClean(answer, secrets);
  const body = JSON.parse(answer.text);
  expect(body).toEqual({
    jsonrpc: '2.0',
    // A caller without a valid key or token is refused from the headers, before its body is read.
    id: code === 'invalid_api_key' || code === 'invalid_token' ? null : id,
    error: { code: jsonRpcCodeFor(code), message: GATEWAY_ERRORS[code].message, data: { code, requestId: answer.headers['x-request-id'] } },
  });
  // A 401 challenges as an OAuth resource server (RFC 9728), for API-key callers too; a refused
  // credential says invalid_token, a missing one says nothing more. Only 401 and 403 insufficient_scope challenge.
  if (answer.status === 401) {
    expect(answer.headers['www-authenticate']).toMatch(
      /^Bearer (error="invalid_token", )?resource_metadata="http:\/\/[^"\s]+\/\.well-known\/oauth-protected-resource(\/mcp\/[a-z0-9-]+)?", scope="mcp:tools mcp:resources mcp:prompts"$/,
    );
  } else if (code === 'insufficient_scope') expect(answer.headers['www-authenticate']).toMatch(/^Bearer error="insufficient_scope", scope="[^"]+", resource_metadata="[^"]+"/);
  else expect(answer.headers['www-authenticate']).toBeUndefined();
  return body;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `probe` every `everyMs` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function eventually(probe: () => Promise<boolean> | boolean, timeoutMs: number, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() >= deadline) return false;
    await sleep(everyMs);
  }
}
