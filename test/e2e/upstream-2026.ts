/**
 * A small stateless MCP 2026-07-28 server for the end-to-end tests, written from the spec text
 * (no SDK on the registry implements this revision): `node:http` on 127.0.0.1, port 0.
 *
 * It checks what a 2026-07-28 server must check itself, independently of the gateway's own
 * module (so a test through the gateway shows what the gateway forwarded, not what it believes):
 * - `basic/transports/streamable-http`: POST only (GET and DELETE 405); `Origin` validated (403,
 *   none allowed by default); `Accept` listing both JSON and SSE (406 otherwise); `MCP-Protocol-Version` required and equal to
 *   `_meta["io.modelcontextprotocol/protocolVersion"]`; `Mcp-Method` required and equal to
 *   `method`; `Mcp-Name` required on `tools/call`, `resources/read`, `prompts/get` and equal to
 *   `params.name`/`params.uri` after decoding `=?base64?…?=`; `Mcp-Param-{Name}` for each
 *   `x-mcp-header` property of the called tool (present value: header required and equal; no
 *   value: no header). Failures are 400 with `HeaderMismatch` (-32020), an unsupported version
 *   400 `UnsupportedProtocolVersion` (-32022), an unknown method 404 with -32601, a batch or a
 *   client response 400 -32600, a notification 202.
 * - `basic/index` ("Per-request protocol fields"): `_meta` must carry `protocolVersion` and
 *   `clientCapabilities` (else 400, -32602); every result has `resultType` and
 *   `_meta["io.modelcontextprotocol/serverInfo"]`; list results and `resources/read` carry
 *   `ttlMs`/`cacheScope` (CacheableResult).
 * - `server/discover`: supported versions, capabilities, identity.
 * - `basic/patterns/subscriptions`: `subscriptions/listen` answers an SSE stream whose first
 *   event is `notifications/subscriptions/acknowledged` (sent at once), then only the
 *   notification types the client opted in to, each with `_meta["io.modelcontextprotocol/
 *   subscriptionId"]` = the request's id; the stream stays open until the client closes it or the
 *   server shuts down (then it sends the listen result and ends the stream). `notify()` pushes a
 *   notification so a test can watch it arrive.
 *
 * Dual-era (`basic/versioning`, "Backward Compatibility with Initialization-Based Versions"): an
 * `initialize` request selects legacy (2025-11-25 and earlier) semantics, statelessly and without
 * a session id, so the gateway's health probe (an SDK client) can list the tools, x-mcp-header
 * schemas included.
 *
 * Tools: `echo` (plain JSON), `route` (x-mcp-header `Region` string and `Shard` integer; answers
 * with the Mcp-Param headers it received), `progress` (an SSE answer, deliberately without
 * `X-Accel-Buffering`, so a test can see the gateway add its own), `held_json` (a JSON answer
 * whose second half is written only when the test calls `releaseHeld()`).
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const MODERN_VERSION = '2026-07-28';
const LEGACY_VERSIONS = ['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05'];
const HEADER_MISMATCH = -32020;
const UNSUPPORTED_PROTOCOL_VERSION = -32022;
const MAX_BODY = 1024 * 1024;

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
type Id = string | number;

export interface Seen2026Request {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body?: unknown;
  /** What this server answered: HTTP status and, for an error, its JSON-RPC code. */
  status?: number;
  errorCode?: number;
}

export interface ListenStream {
  readonly id: Id;
  readonly filter: Json;
  /** True once the response's connection closed (client went away, or the server ended it). */
  readonly closed: boolean;
  /** True once this server ended the stream itself (shutdown). */
  readonly ended: boolean;
}

export interface Upstream2026Options {
  /** Origins this server accepts on its own. @default none */
  readonly allowedOrigins?: readonly string[];
  /** @default 'upstream-2026' */
  readonly name?: string;
}

export interface Upstream2026 {
  /** `http://127.0.0.1:<port>/mcp` */
  readonly url: string;
  readonly requests: Seen2026Request[];
  /** Every `subscriptions/listen` stream opened, in order. */
  readonly listens: readonly ListenStream[];
  /** Resolves with the n-th (1-based) listen stream once it is open; rejects after `timeoutMs`. */
  waitForListen(n: number, timeoutMs?: number): Promise<ListenStream>;
  /**
   * Sends a change notification on every open listen stream that opted in to it; returns how many
   * streams it was written to.
   */
  notify(change: 'tools' | 'prompts' | 'resources' | { readonly uri: string }): number;
  /** How many `held_json` answers are waiting for `releaseHeld()`. */
  readonly held: number;
  /** Writes the rest of every held `held_json` answer; returns how many. */
  releaseHeld(): number;
  /** Ends every listen stream gracefully (listen result), then closes the server. Idempotent. */
  close(): Promise<void>;
}

const TOOLS = [
  {
    name: 'echo',
    description: 'Echoes its message',
    inputSchema: { type: 'object', properties: { message: { type: 'string' } }, required: ['message'] },
  },
  {
    name: 'route',
    description: 'Answers with the Mcp-Param headers it received',
    inputSchema: {
      type: 'object',
      properties: {
        region: { type: 'string', description: 'Where to run', 'x-mcp-header': 'Region' },
        shard: { type: 'integer', description: 'Which shard', 'x-mcp-header': 'Shard' },
        query: { type: 'string' },
      },
      required: ['region', 'query'],
    },
  },
  {
    name: 'progress',
    description: 'Answers with an SSE stream: one progress notification, then the result',
    inputSchema: { type: 'object', additionalProperties: false },
  },
  {
    name: 'held_json',
    description: 'A JSON answer written in two parts',
    inputSchema: { type: 'object', additionalProperties: false },
  },
];

const RESOURCES = [
  { uri: 'test://greeting', name: 'greeting', mimeType: 'text/plain', text: 'hello' },
  { uri: 'test://unicode/世界', name: 'unicode', mimeType: 'text/plain', text: 'world' },
];

const PROMPTS = [{ name: 'greet', description: 'Greets someone', arguments: [{ name: 'who', required: true }] }];

/** `x-mcp-header` properties of a tool's top-level schema: header name (lower case) -> property. */
function paramHeaders(tool: (typeof TOOLS)[number]): [string, string, string][] {
  const properties = (tool.inputSchema as Json).properties as Json | undefined;
  if (!properties) return [];
  return Object.entries(properties).flatMap(([property, schema]) =>
    typeof schema['x-mcp-header'] === 'string' ? [[`mcp-param-${(schema['x-mcp-header'] as string).toLowerCase()}`, property, schema.type as string]] : [],
  ) as [string, string, string][];
}

/** A header value as Value Encoding defines it (this server's own, lenient, decoding). */
function decode(value: string): string {
  const match = /^=\?base64\?(.*)\?=$/.exec(value);
  return match ? Buffer.from(match[1]!, 'base64').toString('utf8') : value;
}

class HttpAnswer extends Error {
  constructor(
    readonly status: number,
    readonly code: number,
    message: string,
    readonly id: Id | null = null,
    readonly data?: unknown,
  ) {
    super(message);
  }
}

export async function startUpstream2026(options: Upstream2026Options = {}): Promise<Upstream2026> {
  const serverInfo = { name: options.name ?? 'upstream-2026', version: '1.0.0' };
  const requests: Seen2026Request[] = [];
  const listens: (ListenStream & { res: ServerResponse; closed: boolean; ended: boolean })[] = [];
  const listenWaiters: (() => void)[] = [];
  const heldAnswers: (() => void)[] = [];

  const result = (fields: Json) => ({ resultType: 'complete', ...fields, _meta: { 'io.modelcontextprotocol/serverInfo': serverInfo } });
  const sendJson = (res: ServerResponse, status: number, message: Json, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(JSON.stringify(message));
  };
  const sseEvent = (message: Json) => `event: message\ndata: ${JSON.stringify(message)}\n\n`;

  const handle = async (req: IncomingMessage, res: ServerResponse, seen: Seen2026Request): Promise<void> => {
    if (new URL(req.url ?? '/', 'http://x').pathname !== '/mcp') throw new HttpAnswer(404, -32601, 'Not found');
    if (req.method === 'GET' || req.method === 'DELETE') {
      // Streamable HTTP, Backward Compatibility: no GET stream and no sessions in this revision.
      res.writeHead(405, { allow: 'POST' }).end();
      seen.status = 405;
      return;
    }
    if (req.method !== 'POST') throw new HttpAnswer(405, -32600, 'Use POST');
    const origin = req.headers.origin;
    if (origin !== undefined && !(options.allowedOrigins ?? []).includes(origin)) throw new HttpAnswer(403, -32600, 'Origin not allowed');
    if ((req.headers['content-type'] ?? '').split(';')[0]!.trim() !== 'application/json') throw new HttpAnswer(415, -32600, 'Send application/json');

    const raw = await readBody(req);
    let body: unknown;
    try {
      body = JSON.parse(raw);
    } catch {
      throw new HttpAnswer(400, -32700, 'Parse error');
    }
    (seen as { body?: unknown }).body = body;
    if (Array.isArray(body) || typeof body !== 'object' || body === null) throw new HttpAnswer(400, -32600, 'The body must be a single JSON-RPC message');
    const message = body as Json;
    const id: Id | null = typeof message.id === 'string' || typeof message.id === 'number' ? message.id : null;
    if (typeof message.method !== 'string') throw new HttpAnswer(400, -32600, 'Clients send no responses', id);
    const method = message.method;
    const params: Json = typeof message.params === 'object' && message.params !== null ? message.params : {};

    const version = req.headers['mcp-protocol-version'];
    const legacy = method === 'initialize' || (typeof version === 'string' && LEGACY_VERSIONS.includes(version));
    if (!legacy) {
      if (typeof version !== 'string') throw new HttpAnswer(400, HEADER_MISMATCH, 'The MCP-Protocol-Version header is required', id);
      if (version !== MODERN_VERSION) {
        throw new HttpAnswer(400, UNSUPPORTED_PROTOCOL_VERSION, 'Unsupported protocol version', id, { supported: [MODERN_VERSION, ...LEGACY_VERSIONS], requested: version });
      }
    }
    if (!legacy) {
      // Sending Messages: the client MUST accept both a JSON object and an SSE stream.
      const accept = req.headers.accept ?? '';
      if (!accept.includes('application/json') || !accept.includes('text/event-stream')) throw new HttpAnswer(406, -32600, 'Accept both application/json and text/event-stream', id);
    }
    if (message.id === undefined) {
      // A notification: accepted, no body.
      res.writeHead(202).end();
      seen.status = 202;
      return;
    }
    if (id === null) throw new HttpAnswer(400, -32600, 'A request id is a string or a number');

    if (!legacy) {
      const meta: Json = typeof params._meta === 'object' && params._meta !== null ? params._meta : {};
      if (typeof meta['io.modelcontextprotocol/protocolVersion'] !== 'string' || typeof meta['io.modelcontextprotocol/clientCapabilities'] !== 'object') {
        throw new HttpAnswer(400, -32602, 'Invalid params: _meta lacks protocolVersion or clientCapabilities', id);
      }
      if (meta['io.modelcontextprotocol/protocolVersion'] !== version) throw new HttpAnswer(400, HEADER_MISMATCH, 'Header mismatch: MCP-Protocol-Version', id);
      const mcpMethod = req.headers['mcp-method'];
      if (mcpMethod !== method) throw new HttpAnswer(400, HEADER_MISMATCH, 'Header mismatch: Mcp-Method', id);
      const nameField = method === 'resources/read' ? 'uri' : method === 'tools/call' || method === 'prompts/get' ? 'name' : undefined;
      if (nameField) {
        const mcpName = req.headers['mcp-name'];
        if (typeof mcpName !== 'string' || decode(mcpName) !== params[nameField]) throw new HttpAnswer(400, HEADER_MISMATCH, 'Header mismatch: Mcp-Name', id);
      }
    }

    const answer = (fields: Json) => {
      sendJson(res, 200, { jsonrpc: '2.0', id, result: result(fields) });
      seen.status = 200;
    };
    const cacheable = { ttlMs: 60_000, cacheScope: 'public' };

    switch (method) {
      case 'initialize': {
        const requested = typeof params.protocolVersion === 'string' ? params.protocolVersion : '';
        sendJson(res, 200, {
          jsonrpc: '2.0',
          id,
          result: {
            protocolVersion: LEGACY_VERSIONS.includes(requested) ? requested : LEGACY_VERSIONS[0],
            capabilities: { tools: {}, resources: {}, prompts: {} },
            serverInfo,
          },
        });
        seen.status = 200;
        return;
      }
      case 'server/discover':
        return answer({
          supportedVersions: [MODERN_VERSION, ...LEGACY_VERSIONS],
          capabilities: { tools: { listChanged: true }, resources: { subscribe: true, listChanged: true }, prompts: { listChanged: true } },
          serverInfo,
          instructions: 'A test server for the PlexMCP gateway.',
          ...cacheable,
        });
      case 'tools/list':
        return answer({ tools: TOOLS, ...cacheable });
      case 'resources/list':
        return answer({ resources: RESOURCES.map(({ text: _text, ...r }) => r), ...cacheable });
      case 'resources/templates/list':
        return answer({ resourceTemplates: [], ...cacheable });
      case 'resources/read': {
        const resource = RESOURCES.find((r) => r.uri === params.uri);
        if (!resource) throw new HttpAnswer(200, -32602, 'Resource not found', id);
        return answer({ contents: [{ uri: resource.uri, mimeType: resource.mimeType, text: resource.text }], ...cacheable });
      }
      case 'prompts/list':
        return answer({ prompts: PROMPTS, ...cacheable });
      case 'prompts/get': {
        if (params.name !== 'greet') throw new HttpAnswer(200, -32602, 'Unknown prompt', id);
        const who = typeof params.arguments?.who === 'string' ? params.arguments.who : 'nobody';
        return answer({ messages: [{ role: 'user', content: { type: 'text', text: `Hello, ${who}` } }] });
      }
      case 'tools/call':
        return callTool(req, res, seen, id, params, legacy);
      case 'subscriptions/listen':
        return listen(req, res, seen, id, params);
      default:
        throw new HttpAnswer(404, -32601, 'Method not found', id);
    }
  };

  const callTool = (req: IncomingMessage, res: ServerResponse, seen: Seen2026Request, id: Id, params: Json, legacy: boolean) => {
    const tool = TOOLS.find((t) => t.name === params.name);
    if (!tool) throw new HttpAnswer(200, -32602, 'Unknown tool', id);
    const args: Json = typeof params.arguments === 'object' && params.arguments !== null ? params.arguments : {};
    const mirrored: Record<string, string> = {};
    for (const [header, property, type] of legacy ? [] : paramHeaders(tool)) {
      const raw = req.headers[header];
      const value = args[property];
      if (value === undefined || value === null) {
        if (raw !== undefined) throw new HttpAnswer(400, HEADER_MISMATCH, `Header mismatch: ${header} without a value`, id);
        continue;
      }
      if (typeof raw !== 'string') throw new HttpAnswer(400, HEADER_MISMATCH, `Header mismatch: ${header} missing`, id);
      const decoded = decode(raw);
      const equal = type === 'integer' ? Number(decoded) === value : decoded === String(value);
      if (!equal) throw new HttpAnswer(400, HEADER_MISMATCH, `Header mismatch: ${header}`, id);
      mirrored[header] = raw;
    }
    const done = (fields: Json) => ({ jsonrpc: '2.0', id, result: result(fields) });
    switch (tool.name) {
      case 'echo':
        sendJson(res, 200, done({ content: [{ type: 'text', text: String(args.message) }] }));
        seen.status = 200;
        return;
      case 'route':
        sendJson(res, 200, done({ content: [{ type: 'text', text: JSON.stringify(mirrored) }], structuredContent: mirrored }));
        seen.status = 200;
        return;
      case 'progress': {
        // Deliberately no X-Accel-Buffering here: the gateway must add its own on SSE answers.
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        const token = params._meta?.progressToken;
        if (token !== undefined) res.write(sseEvent({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: token, progress: 1, total: 2 } }));
        res.end(sseEvent(done({ content: [{ type: 'text', text: 'done' }] })));
        seen.status = 200;
        return;
      }
      case 'held_json': {
        const text = JSON.stringify(done({ content: [{ type: 'text', text: 'held' }] }));
        const half = Math.floor(text.length / 2);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        res.write(text.slice(0, half));
        seen.status = 200;
        heldAnswers.push(() => res.end(text.slice(half)));
        return;
      }
    }
  };

  const listen = (req: IncomingMessage, res: ServerResponse, seen: Seen2026Request, id: Id, params: Json) => {
    const requested: Json = typeof params.notifications === 'object' && params.notifications !== null ? params.notifications : {};
    // This server supports every notification type, so it honours the whole filter.
    const filter: Json = {};
    for (const flag of ['toolsListChanged', 'promptsListChanged', 'resourcesListChanged']) if (requested[flag] === true) filter[flag] = true;
    if (Array.isArray(requested.resourceSubscriptions)) filter.resourceSubscriptions = requested.resourceSubscriptions.filter((u: unknown) => typeof u === 'string');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'x-accel-buffering': 'no' });
    res.flushHeaders();
    seen.status = 200;
    const stream = { id, filter, res, closed: false, ended: false };
    listens.push(stream);
    res.once('close', () => {
      stream.closed = true;
    });
    res.write(sseEvent({ jsonrpc: '2.0', method: 'notifications/subscriptions/acknowledged', params: { _meta: { 'io.modelcontextprotocol/subscriptionId': id }, notifications: filter } }));
    for (const wake of listenWaiters.splice(0)) wake();
    void req; // the stream lives until the client closes it (cancellation) or close()
  };

  const server = createServer((req, res) => {
    const seen: Seen2026Request = { method: req.method ?? '', headers: req.headers };
    requests.push(seen);
    handle(req, res, seen).catch((error: unknown) => {
      const answer = error instanceof HttpAnswer ? error : new HttpAnswer(500, -32603, 'Internal error');
      seen.status = answer.status;
      seen.errorCode = answer.code;
      if (res.headersSent) return void res.destroy();
      const errorBody: Json = { code: answer.code, message: answer.message, ...(answer.data === undefined ? {} : { data: answer.data }) };
      sendJson(res, answer.status, { jsonrpc: '2.0', ...(answer.id === null ? {} : { id: answer.id }), error: errorBody });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}/mcp`,
    requests,
    listens,
    async waitForListen(n, timeoutMs = 5_000) {
      const deadline = Date.now() + timeoutMs;
      while (listens.length < n) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`listen stream ${n} did not open within ${timeoutMs} ms (${listens.length} open)`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          listenWaiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return listens[n - 1]!;
    },
    notify(change) {
      let written = 0;
      for (const stream of listens) {
        if (stream.closed || stream.ended) continue;
        const meta = { 'io.modelcontextprotocol/subscriptionId': stream.id };
        let notification: Json | undefined;
        if (change === 'tools' && stream.filter.toolsListChanged) notification = { method: 'notifications/tools/list_changed', params: { _meta: meta } };
        if (change === 'prompts' && stream.filter.promptsListChanged) notification = { method: 'notifications/prompts/list_changed', params: { _meta: meta } };
        if (change === 'resources' && stream.filter.resourcesListChanged) notification = { method: 'notifications/resources/list_changed', params: { _meta: meta } };
        if (typeof change === 'object' && (stream.filter.resourceSubscriptions as string[] | undefined)?.includes(change.uri)) {
          notification = { method: 'notifications/resources/updated', params: { _meta: meta, uri: change.uri } };
        }
        if (notification) {
          stream.res.write(sseEvent({ jsonrpc: '2.0', ...notification }));
          written++;
        }
      }
      return written;
    },
    get held() {
      return heldAnswers.length;
    },
    releaseHeld() {
      const waiting = heldAnswers.splice(0);
      for (const release of waiting) release();
      return waiting.length;
    },
    close() {
      closing ??= (async () => {
        for (const stream of listens) {
          if (stream.closed || stream.ended) continue;
          stream.ended = true;
          // Graceful teardown: the listen result closes the stream (SubscriptionsListenResult).
          stream.res.end(sseEvent({ jsonrpc: '2.0', id: stream.id, result: { resultType: 'complete', _meta: { 'io.modelcontextprotocol/subscriptionId': stream.id, 'io.modelcontextprotocol/serverInfo': serverInfo } } }));
        }
        for (const release of heldAnswers.splice(0)) release();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new HttpAnswer(413, -32600, 'Body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
