/**
 * Hostile input and hostile upstreams, end to end: malformed JSON-RPC, content types, body sizes
 * at the limit, weird but legal headers (and illegal ones, which HTTP itself refuses), path
 * tricks in the slug, and upstreams that die, stall, redirect or leak headers; clients that go
 * away. The gateway must answer each with its documented error (or pass the upstream's answer
 * through untouched), leak nothing, and stay healthy for the next request.
 */
import { connect } from 'node:net';
import type { ServerResponse } from 'node:http';
import { z } from 'zod';
import { provision, startTestGateway, type TestGateway } from './harness';
import { startSdkUpstream, type SdkUpstream } from './upstreams';
import {
  ACCEPT,
  call,
  eventually,
  expectClean,
  expectGatewayError,
  openSession,
  rawRequest,
  resultOf,
  rpc,
  toolCall,
  type Answer,
} from './gateway-expect';

const IDLE_MS = 1_000;
const PROGRESS_EVENT = 'event: message\ndata: {"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"working"}}\n\n';

let gw: TestGateway;
let upstream: SdkUpstream; // a real MCP server that also misbehaves on request (tools die, stall, hold, leaky)
let redirecting: SdkUpstream; // answers every request with a redirect to `target`
let target: SdkUpstream; // must never be contacted
let key: string;
let session: string;
let secrets: string[];
/** When the upstream saw the request of a `hold`/`stall` call close, by the gateway's request id. */
const closedAt = new Map<string, number>();

/** An SSE answer that sends one event and then does what `then` says. */
function misbehave(res: ServerResponse, requestId: string, then: 'die' | 'stall'): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.write(PROGRESS_EVENT);
  res.on('close', () => closedAt.set(requestId, Date.now()));
  if (then === 'die') setTimeout(() => res.socket?.destroy(), 100);
}

beforeAll(async () => {
  target = await startSdkUpstream({ name: 'target' });
  upstream = await startSdkUpstream({
    name: 'hostile',
    setup: (server) => {
      server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
      server.registerTool('danger_delete', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'deleted everything' }] }));
    },
    intercept: (req, res, body) => {
      const message = body as { method?: string; id?: unknown; params?: { name?: string } } | undefined;
      const tool = message?.method === 'tools/call' ? message.params?.name : undefined;
      const requestId = String(req.headers['x-request-id']);
      if (tool === 'die' || tool === 'stall' || tool === 'hold') {
        misbehave(res, requestId, tool === 'die' ? 'die' : 'stall'); // hold: like stall, the client leaves first
        return true;
      }
      if (tool === 'hold_headers') {
        res.on('close', () => closedAt.set(requestId, Date.now())); // never answers
        return true;
      }
      if (tool === 'leaky') {
        res.writeHead(200, {
          'content-type': 'application/json',
          'set-cookie': 'upstream_session=secret-cookie; HttpOnly',
          server: 'internal-mcp/1.2.3',
          'x-powered-by': 'Express',
          'x-upstream-internal': `http://10.0.0.7:${upstream.port}/admin`,
          location: 'http://169.254.169.254/latest/meta-data/',
          'www-authenticate': 'Bearer realm="upstream"',
          'access-control-allow-origin': '*',
          'mcp-protocol-version': '2025-06-18',
          'cache-control': 'no-store',
        });
        res.end(JSON.stringify({ jsonrpc: '2.0', id: message!.id, result: { content: [{ type: 'text', text: 'fine' }] } }));
        return true;
      }
      return false;
    },
  });
  let redirects = 0;
  redirecting = await startSdkUpstream({
    intercept: (_req, res) => {
      const status = [302, 301, 307, 308][redirects++ % 4]!;
      res.writeHead(status, { location: target.url, 'content-type': 'text/plain' }).end('moved');
      return true;
    },
  });
  gw = await startTestGateway();
  const p = await provision(gw, {
    slug: 'alpha',
    endpoints: [{ url: upstream.url }],
    toolPolicy: { allow: [], deny: ['danger_*'] },
    timeouts: { idleMs: IDLE_MS },
  });
  key = p.apiKey;
  await gw.admin('POST', `/orgs/${p.orgId}/mcps`, { slug: 'upper', endpoints: [{ url: upstream.url }] });
  await gw.admin('POST', `/orgs/${p.orgId}/mcps`, { slug: 'redirecting', endpoints: [{ url: redirecting.url }] });
  session = await openSession(gw.mcpUrl('alpha'), key);
  secrets = [key];
  for (const u of [upstream, redirecting, target]) secrets.push(u.url, `127.0.0.1:${u.port}`);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([upstream, redirecting, target].map((u) => u?.close()));
});

const alpha = () => gw.mcpUrl('alpha');
const post = (body: unknown, headers: Record<string, string> = {}) => call(alpha(), key, body, { session, headers });

/** The gateway still works: health check and a real tool call. */
async function expectHealthy(): Promise<void> {
  expect((await fetch(`${gw.baseUrl}/healthz`)).status).toBe(200);
  const echo = await post(toolCall('healthy', 'echo', { text: 'still here' }));
  expect(resultOf(echo, 'healthy').result.content[0].text).toBe('echo: still here');
}

describe('malformed JSON-RPC', () => {
  test.each([
    ['wrong jsonrpc version', '{"jsonrpc":"1.0","id":1,"method":"ping"}'],
    ['jsonrpc as a number', '{"jsonrpc":2.0,"id":1,"method":"ping"}'],
    ['no jsonrpc member', '{"id":1,"method":"ping"}'],
    ['missing method (and no result)', '{"jsonrpc":"2.0","id":1}'],
    ['empty method', '{"jsonrpc":"2.0","id":1,"method":""}'],
    ['method not a string', '{"jsonrpc":"2.0","id":1,"method":42}'],
    ['id null on a request', '{"jsonrpc":"2.0","id":null,"method":"ping"}'],
    ['id an object', '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}'],
    ['id a boolean', '{"jsonrpc":"2.0","id":true,"method":"ping"}'],
    ['id beyond 2^53', '{"jsonrpc":"2.0","id":12345678901234567890,"method":"ping"}'],
    ['params a string', '{"jsonrpc":"2.0","id":1,"method":"ping","params":"x"}'],
    ['request with a result', '{"jsonrpc":"2.0","id":1,"method":"ping","result":{}}'],
    ['empty batch', '[]'],
    ['batch with one bad element', '[{"jsonrpc":"2.0","id":1,"method":"ping"},{"jsonrpc":"2.0","id":2}]'],
    ['null', 'null'],
    ['a number', '42'],
    ['duplicate "name" in tools/call params', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"danger_delete","arguments":{"text":"x"}}}'],
    ['duplicate "name" spelled with an escape', '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","na\\u006de":"danger_delete","arguments":{"text":"x"}}}'],
    ['duplicate "method"', '{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call"}'],
  ])('%s: 400 invalid_request (-32600), id null, nothing forwarded', async (_name, body) => {
    const before = upstream.requests.length;
    expectGatewayError(await post(body), 'invalid_request', null, secrets);
    expect(upstream.requests.length).toBe(before);
  });

  test.each([
    ['truncated', '{"jsonrpc":"2.0","id":1,"method":"pi'],
    ['trailing garbage', '{"jsonrpc":"2.0","id":1,"method":"ping"} x'],
    ['single quotes', "{'jsonrpc':'2.0','id':1,'method':'ping'}"],
    ['a byte-order mark', '\uFEFF{"jsonrpc":"2.0","id":1,"method":"ping"}'],
    ['NaN', '{"jsonrpc":"2.0","id":NaN,"method":"ping"}'],
  ])('%s: 400 malformed_json (-32700)', async (_name, body) => {
    expectGatewayError(await post(body), 'malformed_json', null, secrets);
  });

  test('bytes that are not UTF-8 are malformed JSON, not reinterpreted', async () => {
    const body = Buffer.concat([Buffer.from('{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo'), Buffer.from([0xff, 0xfe]), Buffer.from('","arguments":{}}}')]);
    expectGatewayError(await post(new Uint8Array(body)), 'malformed_json', null, secrets);
  });

  test('deeply nested (1,000,000 levels) but valid JSON is forwarded and answered; the gateway stays healthy', async () => {
    const depth = 1_000_000;
    const body = `{"jsonrpc":"2.0","id":"deep","method":"ping","params":{"a":${'['.repeat(depth)}${']'.repeat(depth)}}}`;
    const answer = await post(body);
    expect(answer.status).toBe(200);
    expect(resultOf(answer, 'deep').result).toEqual({});
    expectClean(answer, secrets);
    await expectHealthy();
  });

  test('policy look-alikes: __proto__ keys, another case of the method, a non-string tool name', async () => {
    // A "__proto__" member is an own property, not a prototype: the tool is echo for both sides.
    const proto = await post('{"jsonrpc":"2.0","id":"p","method":"tools/call","params":{"__proto__":{"name":"danger_delete"},"name":"echo","arguments":{"text":"proto"}}}');
    expect(resultOf(proto, 'p').result.content[0].text).toBe('echo: proto');
    // "Tools/Call" is not tools/call to the gateway, nor to the upstream (method names are case-sensitive).
    const cased = await post(rpc('c', 'Tools/Call', { name: 'danger_delete', arguments: {} }));
    expect(resultOf(cased, 'c').error.code).toBe(-32601);
    expect(cased.text).not.toContain('deleted everything');
    // A tool name that is not a string cannot be checked: refused.
    expectGatewayError(await post(rpc('n', 'tools/call', { name: 42, arguments: {} })), 'forbidden_tool', 'n', secrets);
    expectGatewayError(await post(rpc('d', 'tools/call', { name: 'danger_delete', arguments: {} })), 'forbidden_tool', 'd', secrets);
  });
});

describe('content types and sizes', () => {
  test.each(['text/plain', 'application/json, text/plain', 'application/jsonrpc', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', 'text/event-stream'])(
    'Content-Type %s: 415 unsupported_media_type',
    async (contentType) => {
      expectGatewayError(await post(rpc(1, 'ping'), { 'content-type': contentType }), 'unsupported_media_type', null, secrets);
    },
  );

  test('a body of exactly 4 MiB is read; one byte more is 413 body_too_large', async () => {
    const limit = 4 * 1024 * 1024;
    const frame = (pad: number) => `{"jsonrpc":"2.0","id":"big","method":"ping","params":{"pad":"${'x'.repeat(pad)}"}}`;
    const exact = frame(limit - frame(0).length);
    expect(Buffer.byteLength(exact)).toBe(limit);
    const answer = await post(exact);
    expect(answer.status).toBe(200);
    expect(resultOf(answer, 'big').result).toEqual({});
    const over = frame(limit - frame(0).length + 1);
    expectGatewayError(await post(over), 'body_too_large', null, secrets);
    // A lying Content-Length (small) with a big chunked body cannot be sent by HTTP/1.1 clients;
    // a chunked 4 MiB + 1 body is counted as it arrives.
    const chunked = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session },
      body: [Buffer.from(over.slice(0, limit)), Buffer.from(over.slice(limit))],
    });
    expectGatewayError(chunked, 'body_too_large', null, secrets);
    await expectHealthy();
  });
});

describe('weird headers', () => {
  test('a 12 KB Authorization is 401; a 70 KB one is refused by HTTP (431); the gateway answers the next request', async () => {
    const big = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { authorization: `Bearer pmcp_${'a'.repeat(12_000)}`, 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(rpc('big', 'ping')),
    });
    expectGatewayError(big, 'invalid_api_key', 'big', secrets);
    const huge = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { authorization: `Bearer pmcp_${'a'.repeat(70_000)}`, 'content-type': 'application/json', accept: ACCEPT },
      body: JSON.stringify(rpc('huge', 'ping')),
    });
    expect(huge.status).toBe(431);
    await expectHealthy();
  });

  test('UTF-8 in header values (legal bytes, not a key): 401, 404 or passed on, never a crash', async () => {
    const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1'); // the bytes as they go on the wire
    const headers = { 'content-type': 'application/json', accept: ACCEPT };
    const asBearer = await rawRequest(gw.baseUrl, { path: '/mcp/alpha', headers: { ...headers, authorization: utf8('Bearer pmcp_ключ_🔑') }, body: JSON.stringify(rpc(1, 'ping')) });
    expectGatewayError(asBearer, 'invalid_api_key', 1, secrets);
    const asApiKey = await rawRequest(gw.baseUrl, { path: '/mcp/alpha', headers: { ...headers, 'x-api-key': utf8('pmcp_ünïcødé') }, body: JSON.stringify(rpc(2, 'ping')) });
    expectGatewayError(asApiKey, 'invalid_api_key', 2, secrets);
    const asSession = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { ...headers, authorization: `Bearer ${key}`, 'mcp-session-id': utf8('pms2.сессия') },
      body: JSON.stringify(rpc(3, 'ping')),
    });
    expectGatewayError(asSession, 'session_not_found', 3, secrets);
    // A forwarded header with such bytes reaches the upstream, which judges it.
    const asVersion = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { ...headers, authorization: `Bearer ${key}`, 'mcp-session-id': session, 'mcp-protocol-version': utf8('2025-06-18✓') },
      body: JSON.stringify(rpc(4, 'ping')),
    });
    expect(asVersion.status).toBe(400);
    expectClean(asVersion, secrets);
    await expectHealthy();
  });

  test('two Authorization headers are ambiguous: 401, even if one is a valid key', async () => {
    const answer = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { authorization: [`Bearer ${key}`, 'Bearer pmcp_other'], 'content-type': 'application/json', accept: ACCEPT } as never,
      body: JSON.stringify(rpc('two', 'ping')),
    });
    expectGatewayError(answer, 'invalid_api_key', 'two', secrets);
  });

  test('CR/LF inside a header value is refused by HTTP itself (400), never reaches the gateway logic', async () => {
    const port = Number(new URL(gw.baseUrl).port);
    const response = await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.write(`POST /mcp/alpha HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${key}\rX-Injected: yes\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
      });
      let data = '';
      socket.setTimeout(5_000, () => socket.destroy(new Error('no answer')));
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data));
      socket.on('error', reject);
    });
    expect(response).toMatch(/^HTTP\/1\.1 400 /);
    expect(upstream.requests.some((r) => 'x-injected' in r.headers)).toBe(false);
    await expectHealthy();
  });
});

describe('slugs and paths', () => {
  const get = (path: string, withKey = true) =>
    rawRequest(gw.baseUrl, { method: 'POST', path, headers: { ...(withKey ? { authorization: `Bearer ${key}` } : {}), 'content-type': 'application/json', accept: ACCEPT }, body: JSON.stringify(rpc('x', 'ping')) });

  test.each([
    ['/mcp/..%2Fadmin', '/mcp/..%2Fadmin'],
    ['/mcp/..%2F..%2Fadmin%2Fv1%2Forgs', '/mcp/..%2F..%2Fadmin%2Fv1%2Forgs'],
    ['/mcp/alpha%2F..%2Fupper', '/mcp/alpha%2F..%2Fupper'],
    ['/mcp/UPPER (an org has "upper")', '/mcp/UPPER'],
    ['/mcp/Alpha', '/mcp/Alpha'],
    ['/mcp/%00', '/mcp/%00'],
    ['/mcp/alpha%20', '/mcp/alpha%20'],
    ['/mcp/-alpha', '/mcp/-alpha'],
    ['a 64-character slug', `/mcp/${'a'.repeat(64)}`],
    ['an 8,000-character slug', `/mcp/${'a'.repeat(8_000)}`],
  ])('%s: 404 unknown_mcp with a key, 401 without; nothing forwarded', async (_label, path) => {
    const before = upstream.requests.length;
    expectGatewayError(await get(path), 'unknown_mcp', 'x', secrets);
    expectGatewayError(await get(path, false), 'invalid_api_key', 'x', secrets);
    expect(upstream.requests.length).toBe(before);
  });

  test('/mcp/%2e%2e is the path "/" once the URL is parsed: not an MCP, not the admin API', async () => {
    const before = upstream.requests.length;
    const dots = await get('/mcp/%2e%2e');
    expect(dots.status).toBe(404);
    expect(dots.text).not.toContain('"result"');
    // ... and an API key is worth nothing on the admin API it might normalize into.
    const admin = await rawRequest(gw.baseUrl, { method: 'GET', path: '/mcp/%2e%2e/admin/v1/orgs', headers: { authorization: `Bearer ${key}` } });
    expect(admin.status).toBe(403);
    expect(admin.text).not.toContain('org_');
    expect(upstream.requests.length).toBe(before);
  });
});

describe('hostile upstreams and clients', () => {
  let quiet: jest.SpyInstance;
  beforeEach(() => {
    // @hono/node-server logs a failed response stream with console.error (server side only).
    quiet = jest.spyOn(console, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => quiet.mockRestore());

  /** Reads a streamed answer to its end or its error; returns what arrived and how it ended. */
  async function readStream(res: Response): Promise<{ text: string; error?: Error; ms: number }> {
    const started = Date.now();
    const reader = res.body!.getReader();
    let text = '';
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return { text, ms: Date.now() - started };
        text += new TextDecoder().decode(value);
      }
    } catch (error) {
      return { text, error: error as Error, ms: Date.now() - started };
    }
  }

  const stream = (tool: string, signal?: AbortSignal) =>
    fetch(alpha(), {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: ACCEPT, 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' },
      body: JSON.stringify(toolCall(tool, tool)),
      signal: signal ?? AbortSignal.timeout(15_000),
    });

  test('an upstream that dies mid-SSE-stream: the client gets what was sent, then an error; the gateway stays healthy', async () => {
    const res = await stream('die');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-request-id')).toBeTruthy();
    const outcome = await readStream(res);
    expect(outcome.text).toBe(PROGRESS_EVENT);
    expect(outcome.error).toBeDefined(); // truncated, not a clean end the client could mistake for complete
    expect(outcome.ms).toBeLessThan(5_000);
    await expectHealthy();
  });

  test(`an upstream that stalls mid-stream beyond idleMs (${IDLE_MS} ms): the stream ends and the upstream request is closed`, async () => {
    const res = await stream('stall');
    const requestId = res.headers.get('x-request-id')!;
    expect(res.status).toBe(200);
    const outcome = await readStream(res);
    expect(outcome.text).toBe(PROGRESS_EVENT);
    expect(outcome.error).toBeDefined();
    expect(outcome.ms).toBeGreaterThanOrEqual(IDLE_MS - 50);
    expect(outcome.ms).toBeLessThan(IDLE_MS + 3_000);
    expect(await eventually(() => closedAt.has(requestId), 2_000)).toBe(true);
    await expectHealthy();
  });

  test('a client that disconnects mid-stream aborts the upstream request', async () => {
    const controller = new AbortController();
    const res = await stream('hold', controller.signal);
    const requestId = res.headers.get('x-request-id')!;
    const reader = res.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe(PROGRESS_EVENT);
    expect(closedAt.has(requestId)).toBe(false);
    const abortedAt = Date.now();
    controller.abort();
    expect(await eventually(() => closedAt.has(requestId), 3_000)).toBe(true);
    expect(closedAt.get(requestId)! - abortedAt).toBeLessThan(3_000);
    // The request is still accounted for: its usage record was written when the stream ended.
    expect(await eventually(() => gw.records.some((r) => r.requestId === requestId && r.type === 'usage'), 2_000)).toBe(true);
    await expectHealthy();
  });

  test('a client that disconnects before the upstream answered aborts the upstream request', async () => {
    const controller = new AbortController();
    const pending = stream('hold_headers', controller.signal).then(
      (res) => `answered ${res.status}`,
      (error: Error) => error.name,
    );
    expect(await eventually(() => upstream.requests.some((r) => (r.body as { params?: { name?: string } })?.params?.name === 'hold_headers'), 3_000)).toBe(true);
    const seen = upstream.requests.find((r) => (r.body as { params?: { name?: string } })?.params?.name === 'hold_headers')!;
    const requestId = String(seen.headers['x-request-id']);
    const abortedAt = Date.now();
    controller.abort();
    expect(await pending).toBe('AbortError');
    expect(await eventually(() => closedAt.has(requestId), 3_000)).toBe(true);
    expect(closedAt.get(requestId)! - abortedAt).toBeLessThan(3_000);
    await expectHealthy();
  });

  test('only Content-Type, Cache-Control and MCP-Protocol-Version of the upstream reach the client', async () => {
    const answer = await post(toolCall('leak', 'leaky'));
    expect(answer.status).toBe(200);
    expect(resultOf(answer, 'leak').result.content[0].text).toBe('fine');
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(answer.headers['mcp-protocol-version']).toBe('2025-06-18');
    for (const name of ['set-cookie', 'server', 'x-powered-by', 'x-upstream-internal', 'location', 'www-authenticate', 'access-control-allow-origin']) {
      expect({ name, value: answer.headers[name] }).toEqual({ name, value: undefined });
    }
    expectClean(answer, [...secrets, 'secret-cookie', '10.0.0.7', '169.254.169.254']);
  });

  test('an upstream redirect (301/302/307/308 to another address) is not followed: the client gets 502 upstream_error', async () => {
    // undici's request() follows no redirects; the gateway answers a 3xx with its own error, so
    // the client is never sent on and sees neither Location nor the upstream's body.
    for (const id of [1, 2, 3, 4]) {
      const answer: Answer = await call(gw.mcpUrl('redirecting'), key, rpc(id, 'ping'));
      expectGatewayError(answer, 'upstream_error', id, secrets);
      expect(answer.headers.location).toBeUndefined();
      expect(answer.text).not.toContain('moved');
    }
    expect(redirecting.requests.length).toBe(4);
    expect(target.requests.length).toBe(0);
  });
});
