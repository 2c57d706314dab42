/**
 * The MCP probe against real servers on 127.0.0.1: SDK Streamable HTTP servers (healthy, or made
 * to misbehave through `intercept`), server-everything as a child process, a TCP server that
 * never answers, and nothing at all. Every case is bounded by the probe's own deadline.
 */
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { createMcpProbe, type McpProbe } from '../../lambda/adapters/mcp-probe';
import type { ProbeResult } from '../../lambda/core/health/model';
import { refusedLoopbackUrl, startEverything, startSdkUpstream, type SdkUpstream, type UpstreamProcess } from '../e2e/upstreams';

const SECRET_TEXT = 'upstream-secret-message-5f1c';
const CREDENTIALS = { authorization: 'Bearer probe-token-1234', 'x-upstream-key': 'key-5678' };

function fullServer(server: McpServer) {
  server.registerTool('echo', { title: 'Echo', description: 'Echoes its input', inputSchema: { text: z.string() } }, async ({ text }) => ({
    content: [{ type: 'text', text }],
  }));
  server.registerTool('add', { description: 'Adds', inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({
    content: [{ type: 'text', text: String(a + b) }],
  }));
  server.registerResource('readme', 'file:///readme.md', { description: 'The readme' }, async (uri) => ({
    contents: [{ uri: uri.href, text: 'hello' }],
  }));
  server.registerPrompt('greet', { description: 'Says hello' }, async () => ({
    messages: [{ role: 'user', content: { type: 'text', text: 'hello' } }],
  }));
}

function toolsOnly(server: McpServer) {
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text }] }));
}

type Message = { method?: string; id?: string | number } | undefined;
const methodOf = (body: unknown) => (body as Message)?.method;
const methods = (upstream: SdkUpstream) => upstream.requests.map((r) => (r.method === 'POST' ? methodOf(r.body) : r.method));

function json(res: ServerResponse, status: number, body: unknown) {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** What a failed probe may say: its class and status, nothing the upstream wrote, no URL. */
function expectClean(result: ProbeResult, upstreamUrl?: string) {
  const text = JSON.stringify(result);
  expect(text).not.toContain(SECRET_TEXT);
  expect(text).not.toContain('127.0.0.1');
  expect(text).not.toContain('169.254');
  if (upstreamUrl) expect(text).not.toContain(new URL(upstreamUrl).port);
  expect(Object.keys(result).sort()).toEqual(expect.arrayContaining(['latencyMs', 'ok']));
  for (const key of Object.keys(result)) expect(['ok', 'latencyMs', 'errorClass', 'httpStatus', 'metadata']).toContain(key);
}

async function timed(probe: McpProbe, url: string, headers: Record<string, string> = {}) {
  const started = performance.now();
  const result = await probe.probe({ url, headers, connectTimeoutMs: 1_000 });
  return { result, ms: performance.now() - started };
}

let probe: McpProbe;
const upstreams: SdkUpstream[] = [];
const start = async (options: Parameters<typeof startSdkUpstream>[0]) => {
  const upstream = await startSdkUpstream(options);
  upstreams.push(upstream);
  return upstream;
};

beforeAll(() => {
  probe = createMcpProbe({ allowLoopback: true, timeoutMs: 3_000 });
});
afterAll(async () => {
  await probe.close();
  await Promise.all(upstreams.map((u) => u.close()));
});

describe('healthy servers', () => {
  it('initializes, lists tools, resources and prompts, and ends the session', async () => {
    const upstream = await start({ setup: fullServer });
    const { result } = await timed(probe, upstream.url, CREDENTIALS);

    expect(result.ok).toBe(true);
    expect(result.errorClass).toBeUndefined();
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
    expect(result.latencyMs).toBeLessThan(3_000);
    const m = result.metadata!;
    expect(m.tools.map((t) => t.name)).toEqual(['add', 'echo']);
    expect(m.tools[1]).toMatchObject({ name: 'echo', title: 'Echo', description: 'Echoes its input', inputSchema: { type: 'object', properties: { text: { type: 'string' } } } });
    expect(m.resources).toEqual([{ name: 'readme', uri: 'file:///readme.md', description: 'The readme' }]);
    expect(m.prompts).toEqual([{ name: 'greet', description: 'Says hello' }]);
    expect(m.hash).toMatch(/^[0-9a-f]{64}$/);

    // The session was ended: DELETE seen, and the stateful server holds no session.
    expect(methods(upstream)).toEqual(['initialize', 'notifications/initialized', 'tools/list', 'resources/list', 'prompts/list', 'DELETE']);
    expect(upstream.sessions.size).toBe(0);
    // No standalone GET stream was opened, and the credentials reached every request.
    for (const seen of upstream.requests) {
      expect(seen.headers.authorization).toBe(CREDENTIALS.authorization);
      expect(seen.headers['x-upstream-key']).toBe(CREDENTIALS['x-upstream-key']);
    }

    // Stable: a second probe (a new session) finds the same hash.
    const again = await probe.probe({ url: upstream.url, headers: CREDENTIALS, connectTimeoutMs: 1_000 });
    expect(again.metadata!.hash).toBe(m.hash);
  });

  it('does not list resources or prompts a server does not advertise', async () => {
    const upstream = await start({ setup: toolsOnly });
    const { result } = await timed(probe, upstream.url);
    expect(result).toMatchObject({ ok: true, metadata: { resources: [], prompts: [] } });
    expect(result.errorClass).toBeUndefined();
    expect(result.metadata!.tools.map((t) => t.name)).toEqual(['echo']);
    expect(methods(upstream)).toEqual(['initialize', 'notifications/initialized', 'tools/list', 'DELETE']);
  });

  it('works with a stateless server answering JSON (no session to end)', async () => {
    const upstream = await start({ setup: fullServer, stateful: false, enableJsonResponse: true });
    const { result } = await timed(probe, upstream.url);
    expect(result.ok).toBe(true);
    expect(result.errorClass).toBeUndefined();
    expect(result.metadata!.tools).toHaveLength(2);
    expect(methods(upstream)).toEqual(['initialize', 'notifications/initialized', 'tools/list', 'resources/list', 'prompts/list']);
  });

  it('follows nextCursor across pages', async () => {
    const upstream = await start({
      setup: toolsOnly,
      intercept: (_req, res, body) => {
        const message = body as { method?: string; id?: number; params?: { cursor?: string } } | undefined;
        if (message?.method !== 'tools/list') return false;
        const page = Number(message.params?.cursor ?? '0');
        json(res, 200, {
          jsonrpc: '2.0',
          id: message.id,
          result: { tools: [{ name: `tool-${page}`, inputSchema: { type: 'object' } }], ...(page < 2 ? { nextCursor: String(page + 1) } : {}) },
        });
        return true;
      },
    });
    const { result } = await timed(probe, upstream.url);
    expect(result.ok).toBe(true);
    expect(result.errorClass).toBeUndefined();
    expect(result.metadata!.tools.map((t) => t.name)).toEqual(['tool-0', 'tool-1', 'tool-2']);
  });

  it('stops after maxPages and says the result is partial', async () => {
    const upstream = await start({
      setup: toolsOnly,
      intercept: (_req, res, body) => {
        const message = body as { method?: string; id?: number; params?: { cursor?: string } } | undefined;
        if (message?.method !== 'tools/list') return false;
        const page = Number(message.params?.cursor ?? '0');
        json(res, 200, { jsonrpc: '2.0', id: message.id, result: { tools: [{ name: `tool-${page}`, inputSchema: { type: 'object' } }], nextCursor: String(page + 1) } });
        return true;
      },
    });
    const paged = createMcpProbe({ allowLoopback: true, timeoutMs: 3_000, maxPages: 3 });
    try {
      const result = await paged.probe({ url: upstream.url, headers: {}, connectTimeoutMs: 1_000 });
      expect(result).toMatchObject({ ok: true, errorClass: 'partial' });
      expect(result.metadata!.tools.map((t) => t.name)).toEqual(['tool-0', 'tool-1', 'tool-2']);
      expect(methods(upstream).filter((m) => m === 'tools/list')).toHaveLength(3);
    } finally {
      await paged.close();
    }
  });

  describe('server-everything', () => {
    let everything: UpstreamProcess;
    beforeAll(async () => {
      everything = await startEverything();
    }, 30_000);
    afterAll(async () => {
      await everything?.stop();
    });

    it('is healthy with tools, resources and prompts', async () => {
      const slow = createMcpProbe({ allowLoopback: true, timeoutMs: 10_000 });
      try {
        const result = await slow.probe({ url: everything.url, headers: {}, connectTimeoutMs: 2_000 });
        expect(result.ok).toBe(true);
        expect(result.errorClass).toBeUndefined();
        expect(result.metadata!.tools.map((t) => t.name)).toContain('echo');
        expect(result.metadata!.resources.length).toBeGreaterThan(0);
        expect(result.metadata!.prompts.length).toBeGreaterThan(0);
      } finally {
        await slow.close();
      }
    });
  });
});

describe('partial results', () => {
  it('reads tools even when resources/list fails', async () => {
    const upstream = await start({
      setup: fullServer,
      intercept: (_req, res, body) => {
        if (methodOf(body) !== 'resources/list') return false;
        json(res, 500, { error: SECRET_TEXT });
        return true;
      },
    });
    const { result } = await timed(probe, upstream.url);
    expect(result).toMatchObject({ ok: true, errorClass: 'partial', metadata: { resources: [], prompts: [{ name: 'greet' }] } });
    expect(result.metadata!.tools).toHaveLength(2);
    expect(methods(upstream)).toContain('DELETE');
  });
});

describe('failures', () => {
  it('connection refused', async () => {
    const url = await refusedLoopbackUrl();
    const { result, ms } = await timed(probe, url);
    expect(result).toMatchObject({ ok: false, errorClass: 'connect_refused' });
    expect(result.metadata).toBeUndefined();
    expect(ms).toBeLessThan(1_000);
    expectClean(result, url);
  });

  describe('a server that accepts connections and never answers', () => {
    let server: Server;
    const sockets = new Set<Socket>();
    let port: number;
    beforeAll(async () => {
      server = createServer((socket) => {
        sockets.add(socket);
        socket.on('error', () => undefined);
        socket.on('close', () => sockets.delete(socket));
        socket.resume(); // read (and drop) the request, so the client's FIN is seen
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    });

    it('times out at the deadline', async () => {
      const quick = createMcpProbe({ allowLoopback: true, timeoutMs: 1_000 });
      try {
        const started = performance.now();
        const result = await quick.probe({ url: `http://127.0.0.1:${port}/mcp`, headers: {}, connectTimeoutMs: 500 });
        const ms = performance.now() - started;
        expect(result).toMatchObject({ ok: false, errorClass: 'timeout' });
        expect(ms).toBeGreaterThanOrEqual(950);
        expect(ms).toBeLessThan(1_500);
        expect(result.latencyMs).toBeGreaterThanOrEqual(950);
        expectClean(result);
      } finally {
        await quick.close();
      }
      // The probe let go of its connection.
      const deadline = Date.now() + 2_000;
      while (sockets.size > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      expect(sockets.size).toBe(0);
    });
  });

  describe('a 50 MB answer', () => {
    const BIG = 50 * 1024 * 1024;
    /** Writes up to 50 MB with backpressure; resolves with the bytes the socket took. */
    function bigAnswer(res: ServerResponse, contentType: string, prefix: string): Promise<number> {
      return new Promise((resolve) => {
        res.writeHead(200, { 'content-type': contentType });
        const chunk = Buffer.alloc(64 * 1024, 'a');
        let sent = 0;
        let closed = false;
        res.on('close', () => {
          closed = true;
          resolve(sent);
        });
        res.on('error', () => undefined);
        res.write(prefix);
        const pump = () => {
          while (!closed && sent < BIG) {
            sent += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          if (!closed) res.end();
        };
        pump();
      });
    }

    it.each([
      ['JSON', 'application/json', '{"jsonrpc":"2.0","id":0,"result":{"pad":"'],
      ['SSE', 'text/event-stream', 'event: message\ndata: {"jsonrpc":"2.0","id":0,"result":{"pad":"'],
    ])('as %s is too_large, without reading it all', async (_kind, contentType, prefix) => {
      let sentBytes: Promise<number> | undefined;
      const upstream = await start({
        intercept: (_req, res, body) => {
          if (methodOf(body) !== 'initialize') return false;
          sentBytes = bigAnswer(res, contentType, prefix);
          return true;
        },
      });
      const heapBefore = process.memoryUsage().heapUsed;
      const { result, ms } = await timed(probe, upstream.url);
      expect(result).toMatchObject({ ok: false, errorClass: 'too_large' });
      expect(ms).toBeLessThan(2_000);
      expectClean(result, upstream.url);
      // The probe stopped reading: the server could not write much past the 1 MiB cap (plus
      // socket buffers), and the heap did not grow by anything like 50 MB.
      const sent = await sentBytes!;
      expect(sent).toBeLessThan(16 * 1024 * 1024);
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(20 * 1024 * 1024);
    });

    it('is too_large from its Content-Length alone', async () => {
      const upstream = await start({
        intercept: (_req, res, body) => {
          if (methodOf(body) !== 'initialize') return false;
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(BIG) });
          res.on('error', () => undefined);
          res.write('{');
          return true;
        },
      });
      const { result, ms } = await timed(probe, upstream.url);
      expect(result).toMatchObject({ ok: false, errorClass: 'too_large' });
      expect(ms).toBeLessThan(1_000);
    });
  });

  it.each<[string, (res: ServerResponse) => void, Partial<ProbeResult>]>([
    ['invalid JSON', (res) => res.writeHead(200, { 'content-type': 'application/json' }).end(`{"jsonrpc": "2.0", ${SECRET_TEXT}`), { errorClass: 'invalid_response' }],
    ['JSON that is not JSON-RPC', (res) => json(res, 200, { hello: SECRET_TEXT }), { errorClass: 'invalid_response' }],
    ['a plain 200 "OK"', (res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('OK'), { errorClass: 'invalid_response' }],
    ['a 200 with no body and no type', (res) => res.writeHead(200).end(), { errorClass: 'invalid_response' }],
    ['a bad SSE event', (res) => res.writeHead(200, { 'content-type': 'text/event-stream' }).write(`event: message\ndata: {${SECRET_TEXT}\n\n`), { errorClass: 'invalid_response' }],
    ['401', (res) => json(res, 401, { error: SECRET_TEXT }), { errorClass: 'auth_rejected' }],
    ['403', (res) => json(res, 403, { error: SECRET_TEXT }), { errorClass: 'auth_rejected' }],
    ['500', (res) => res.writeHead(500, { 'content-type': 'text/plain' }).end(SECRET_TEXT), { errorClass: 'http_status', httpStatus: 500 }],
    ['404', (res) => json(res, 404, { error: SECRET_TEXT }), { errorClass: 'http_status', httpStatus: 404 }],
    ['a JSON-RPC error', (res) => json(res, 200, { jsonrpc: '2.0', id: 0, error: { code: -32001, message: SECRET_TEXT } }), { errorClass: 'protocol_error' }],
    ['an unsupported protocol version', (res) => json(res, 200, { jsonrpc: '2.0', id: 0, result: { protocolVersion: '1999-01-01', capabilities: {}, serverInfo: { name: SECRET_TEXT, version: '1' } } }), { errorClass: 'protocol_error' }],
    ['a result without serverInfo', (res) => json(res, 200, { jsonrpc: '2.0', id: 0, result: { protocolVersion: '2025-06-18', capabilities: {} } }), { errorClass: 'protocol_error' }],
    ['a connection cut mid-body', (res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' }).write('{"jsonrpc":');
      setTimeout(() => res.socket?.destroy(), 50);
    }, { errorClass: 'invalid_response' }],
  ])('initialize answered with %s', async (_what, answer, expected) => {
    const upstream = await start({
      intercept: (_req, res, body) => {
        if (methodOf(body) !== 'initialize') return false;
        answer(res);
        return true;
      },
    });
    const { result, ms } = await timed(probe, upstream.url);
    expect(result).toMatchObject({ ok: false, ...expected });
    if (expected.httpStatus === undefined) expect(result.httpStatus).toBeUndefined();
    expect(result.metadata).toBeUndefined();
    expect(ms).toBeLessThan(1_500); // failed fast, not at the deadline
    expectClean(result, upstream.url);
  });

  it.each<[string, (res: ServerResponse, id: unknown) => void, string]>([
    ['a JSON-RPC error', (res, id) => json(res, 200, { jsonrpc: '2.0', id, error: { code: -32603, message: SECRET_TEXT } }), 'protocol_error'],
    ['a result of the wrong shape', (res, id) => json(res, 200, { jsonrpc: '2.0', id, result: { tools: SECRET_TEXT } }), 'protocol_error'],
    ['500', (res) => json(res, 500, { error: SECRET_TEXT }), 'http_status'],
  ])('tools/list answered with %s fails the probe', async (_what, answer, errorClass) => {
    const upstream = await start({
      setup: fullServer,
      intercept: (_req, res, body) => {
        if (methodOf(body) !== 'tools/list') return false;
        answer(res, (body as Message)?.id);
        return true;
      },
    });
    const { result, ms } = await timed(probe, upstream.url);
    expect(result).toMatchObject({ ok: false, errorClass });
    expect(result.metadata).toBeUndefined();
    expect(ms).toBeLessThan(1_500);
    expectClean(result, upstream.url);
    // Initialize worked, so the session was still ended.
    expect(methods(upstream)).toContain('DELETE');
    expect(upstream.sessions.size).toBe(0);
  });

  describe('redirects are never followed', () => {
    it('to the cloud metadata address', async () => {
      const upstream = await start({
        intercept: (_req, res) => {
          res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end();
          return true;
        },
      });
      // A contacted 169.254.169.254 would be refused by the address check or hang until the
      // deadline; the redirect is reported at once instead.
      const { result, ms } = await timed(probe, upstream.url);
      expect(result).toMatchObject({ ok: false, errorClass: 'redirect' });
      expect(ms).toBeLessThan(1_000);
      expect(upstream.requests).toHaveLength(1);
      expectClean(result, upstream.url);
    });

    it('not even within the origin', async () => {
      const upstream = await start({
        setup: toolsOnly,
        path: '/mcp',
        intercept: (req, res) => {
          if (req.url !== '/old') return false;
          res.writeHead(307, { location: '/mcp' }).end();
          return true;
        },
      });
      const { result } = await timed(probe, upstream.url.replace(/\/mcp$/, '/old'));
      expect(result).toMatchObject({ ok: false, errorClass: 'redirect' });
      expect(upstream.requests.map((r) => r.url)).toEqual(['/old']);
    });

    it('and a redirect of tools/list fails the probe', async () => {
      const upstream = await start({
        setup: toolsOnly,
        intercept: (_req, res, body) => {
          if (methodOf(body) !== 'tools/list') return false;
          res.writeHead(308, { location: 'http://169.254.169.254/' }).end();
          return true;
        },
      });
      const { result } = await timed(probe, upstream.url);
      expect(result).toMatchObject({ ok: false, errorClass: 'redirect' });
    });
  });

  describe('without allowLoopback', () => {
    let strict: McpProbe;
    beforeAll(() => {
      strict = createMcpProbe({ allowLoopback: false, timeoutMs: 2_000 });
    });
    afterAll(() => strict.close());

    it.each([
      ['an IP literal', (port: number) => `http://127.0.0.1:${port}/mcp`],
      ['a name that resolves to loopback', (port: number) => `http://localhost:${port}/mcp`],
      ['an IPv4-mapped IPv6 literal', (port: number) => `http://[::ffff:127.0.0.1]:${port}/mcp`],
    ])('refuses %s without sending anything', async (_what, url) => {
      const upstream = await start({ setup: toolsOnly });
      const result = await strict.probe({ url: url(upstream.port), headers: CREDENTIALS, connectTimeoutMs: 1_000 });
      expect(result).toMatchObject({ ok: false, errorClass: 'forbidden_address' });
      expect(upstream.requests).toHaveLength(0);
      expectClean(result, upstream.url);
    });

    it('refuses other schemes', async () => {
      const result = await strict.probe({ url: 'file:///etc/passwd', headers: {}, connectTimeoutMs: 1_000 });
      expect(result).toMatchObject({ ok: false, errorClass: 'forbidden_address' });
    });
  });

  describe('TLS', () => {
    // A self-signed certificate for localhost (test/fixtures; test-only key, valid 100 years).
    let server: HttpsServer;
    beforeAll(async () => {
      const fixtures = join(__dirname, '..', 'fixtures');
      server = createHttpsServer(
        { key: readFileSync(join(fixtures, 'self-signed-key.pem')), cert: readFileSync(join(fixtures, 'self-signed-cert.pem')) },
        (_req, res) => res.end('{}'),
      );
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    });
    afterAll(() => new Promise((resolve) => server.close(resolve)));

    it('an untrusted certificate is tls', async () => {
      const { port } = server.address() as { port: number };
      const { result, ms } = await timed(probe, `https://127.0.0.1:${port}/mcp`);
      expect(result).toMatchObject({ ok: false, errorClass: 'tls' });
      expect(ms).toBeLessThan(1_000);
      expectClean(result);
    });
  });

  it('never throws, even for a URL that does not parse', async () => {
    const result = await probe.probe({ url: 'not a url', headers: {}, connectTimeoutMs: 1_000 });
    expect(result).toMatchObject({ ok: false, errorClass: 'unknown' });
  });
});

describe('concurrency and reuse', () => {
  it('runs probes side by side with different connect timeouts, and works after close()', async () => {
    const a = await start({ setup: fullServer });
    const b = await start({ setup: toolsOnly });
    const results = await Promise.all([
      probe.probe({ url: a.url, headers: {}, connectTimeoutMs: 1_000 }),
      probe.probe({ url: b.url, headers: {}, connectTimeoutMs: 2_000 }),
      probe.probe({ url: a.url, headers: {}, connectTimeoutMs: 1_000 }),
    ]);
    expect(results.map((r) => r.ok)).toEqual([true, true, true]);
    expect(results[0]!.metadata!.hash).toBe(results[2]!.metadata!.hash);
    expect(results[1]!.metadata!.hash).not.toBe(results[0]!.metadata!.hash);
    await probe.close();
    expect((await probe.probe({ url: b.url, headers: {}, connectTimeoutMs: 1_000 })).ok).toBe(true);
  });
});

