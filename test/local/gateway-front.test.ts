/**
 * The local server's node:http front (lambda/local/gateway-front.ts) and the web adapters of the
 * core's request/answer interface (lambda/core/gateway/exchange.ts), on a loopback server with a
 * small gateway function standing in for the core (the e2e suites run the real one behind it).
 */
import { Agent, createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { GatewayError } from '../../lambda/core/gateway/errors';
import { fromWebRequest, toWebResponse, type Gateway, type GatewayAnswer, type GatewayRequest, type GatewayRequestInfo } from '../../lambda/core/gateway/exchange';
import { gatewayFront, NodeRequestHeaders } from '../../lambda/local/gateway-front';

interface Seen {
  readonly request: GatewayRequest;
  readonly info: GatewayRequestInfo;
  readonly headers: Record<string, string>;
}

let server: Server;
let port: number;
let seen: Seen[];
let fallbackPaths: string[];
let connections: number;
let answer: (request: GatewayRequest) => Promise<GatewayAnswer>;

beforeEach(async () => {
  seen = [];
  fallbackPaths = [];
  answer = async () => ({ status: 200, headers: { 'content-type': 'application/json', 'content-length': '2' }, body: '{}' });
  const gateway: Gateway = async (request, info) => {
    const headers: Record<string, string> = {};
    request.headers.forEach((value, name) => (headers[name] = value));
    seen.push({ request, info, headers });
    return answer(request);
  };
  const fallback = (req: { url?: string }, res: { writeHead(s: number): void; end(b: string): void }) => {
    fallbackPaths.push(req.url ?? '');
    res.writeHead(404);
    res.end('fallback');
  };
  server = createServer(gatewayFront({ gateway, fallback, loopbackOnly: () => true }));
  connections = 0;
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterEach(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

interface Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly text: string;
}

/** One request with node:http (raw paths and repeated headers, which fetch will not send). */
function send(path: string, options: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method: options.method ?? 'POST', headers: options.headers, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('which requests the front serves', () => {
  test('a plain /mcp/{slug}, with or without a query, goes to the gateway with its slug, the peer address and a request id', async () => {
    expect((await send('/mcp/alpha')).status).toBe(200);
    expect((await send('/mcp/a-b_c.d~e?x=1&y=%2F')).status).toBe(200);
    expect(seen.map((s) => s.info.slug)).toEqual(['alpha', 'a-b_c.d~e']);
    expect(seen[0]!.info.sourceIp).toBe('127.0.0.1');
    expect(seen[0]!.info.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(seen[0]!.info.requestId).not.toBe(seen[1]!.info.requestId);
    expect(fallbackPaths).toEqual([]);
  });

  test.each(['/mcp', '/mcp/', '/mcp/.', '/mcp/..', '/mcp/a/b', '/mcp/a%2Fb', '/mcp/%61lpha', '/mcp/a#b', '/mcp/a;b', '/healthz', '/admin/v1/orgs', '/MCP/alpha'])(
    '%s is left to the fallback (its URL semantics are Hono\'s)',
    async (path) => {
      const reply = await send(path);
      expect({ status: reply.status, text: reply.text }).toEqual({ status: 404, text: 'fallback' });
      expect(fallbackPaths).toEqual([path]);
      expect(seen).toEqual([]);
    },
  );

  test('a foreign Host is refused with 403 host_not_allowed before the gateway runs (the body is never read)', async () => {
    const reply = await send('/mcp/alpha', { headers: { host: 'evil.test', 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":7,"method":"ping"}' });
    expect(reply.status).toBe(403);
    const body = JSON.parse(reply.text);
    expect(body).toMatchObject({ jsonrpc: '2.0', id: null, error: { code: -32003, data: { code: 'host_not_allowed', requestId: reply.headers['x-request-id'] } } });
    expect(reply.headers['content-length']).toBe(String(Buffer.byteLength(reply.text)));
    expect(seen).toEqual([]);
  });
});

describe('request headers', () => {
  test('names are lower case; values as sent; a repeated name is joined with ", " as web Headers do (two Authorization headers stay ambiguous)', async () => {
    await send('/mcp/alpha', { headers: { 'X-Mixed-Case': 'Value', authorization: ['Bearer one', 'Bearer two'], 'mcp-param-a': ['1', '2'] } });
    const { headers, request } = seen[0]!;
    expect(headers['x-mixed-case']).toBe('Value');
    expect(headers.authorization).toBe('Bearer one, Bearer two');
    expect(request.headers.get('authorization')).toBe('Bearer one, Bearer two');
    expect(request.headers.get('mcp-param-a')).toBe('1, 2');
  });

  test('without repeats, Node\'s own headers object is read: same answers, and nothing from its prototype', () => {
    const plain = new NodeRequestHeaders({ headers: { host: 'localhost', 'set-cookie': ['a=1'] }, rawHeaders: ['Host', 'localhost', 'Set-Cookie', 'a=1'] });
    expect(plain.get('host')).toBe('localhost');
    expect(plain.get('set-cookie')).toBe('a=1');
    expect(plain.get('constructor')).toBeNull();
    expect(plain.get('toString')).toBeNull();
    const names: string[] = [];
    plain.forEach((_, name) => names.push(name));
    expect(names).toEqual(['host', 'set-cookie']);

    const repeated = new NodeRequestHeaders({ headers: { host: 'localhost' }, rawHeaders: ['Host', 'localhost', 'HOST', 'evil.test'] });
    expect(repeated.get('host')).toBe('localhost, evil.test');
    expect(repeated.get('constructor')).toBeNull();
  });
});

describe('request bodies', () => {
  /** POSTs `bodies` one after the other on one kept-alive connection (if the server keeps it). */
  async function postAll(bodies: string[]): Promise<number[]> {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const statuses: number[] = [];
      for (const body of bodies) {
        statuses.push(
          await new Promise<number>((resolve, reject) => {
            const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp/alpha', method: 'POST', agent }, (res) => {
              res.resume();
              res.on('end', () => resolve(res.statusCode!));
            });
            req.on('error', reject);
            req.end(body);
          }),
        );
      }
      return statuses;
    } finally {
      agent.destroy();
    }
  }

  test('read whole when asked; past the limit it is refused with body_too_large as it arrives, and the connection still serves the next request', async () => {
    const read: (string | Error)[] = [];
    answer = async (request) => {
      try {
        read.push(Buffer.from(await request.readBody(10)).toString());
      } catch (error) {
        read.push(error as Error);
      }
      return { status: 200, headers: { 'content-length': '0' }, body: null };
    };
    expect(await postAll(['0123456789', 'x'.repeat(100_000), 'abc'])).toEqual([200, 200, 200]);
    expect(read[0]).toBe('0123456789');
    expect(read[1]).toBeInstanceOf(GatewayError);
    expect((read[1] as GatewayError).code).toBe('body_too_large');
    expect(read[2]).toBe('abc');
    expect(connections).toBe(1);
  });

  test('a body the gateway never reads is drained after the answer: the kept-alive connection serves the next request', async () => {
    answer = async () => ({ status: 401, headers: { 'content-length': '0' }, body: null });
    expect(await postAll(['y'.repeat(20_000), 'y'.repeat(20_000), 'y'])).toEqual([401, 401, 401]);
    expect(seen).toHaveLength(3);
    expect(connections).toBe(1);
  });

  test('a client that keeps sending a body nobody reads has its connection closed about 500 ms after the answer', async () => {
    answer = async () => ({ status: 401, headers: { 'content-length': '0' }, body: null });
    const socket = connect({ host: '127.0.0.1', port });
    let answered = 0;
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    socket.on('error', () => undefined);
    socket.on('data', (chunk) => {
      if (!answered && chunk.toString().startsWith('HTTP/1.1 401')) answered = Date.now();
    });
    socket.write('POST /mcp/alpha HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n');
    // A chunk every 20 ms, for at most 5 s: without the bound the connection would stay open that long.
    const stopAt = Date.now() + 5_000;
    const sending: NodeJS.Timeout = setInterval(() => {
      if (Date.now() > stopAt || socket.destroyed) return clearInterval(sending);
      socket.write('400\r\n' + 'z'.repeat(1024) + '\r\n');
    }, 20);
    try {
      const at = await closed;
      expect(answered).toBeGreaterThan(0);
      expect(at - answered).toBeGreaterThanOrEqual(400);
      expect(at - answered).toBeLessThan(2_500);
    } finally {
      clearInterval(sending);
      socket.destroy();
    }
  });
});

describe('answers', () => {
  test('a fixed answer is written with its status, headers and body', async () => {
    answer = async () => ({ status: 429, headers: { 'content-type': 'application/json', 'retry-after': '3', 'content-length': '11' }, body: new TextEncoder().encode('{"a":"bcd"}') });
    const reply = await send('/mcp/alpha');
    expect(reply.status).toBe(429);
    expect(reply.headers['retry-after']).toBe('3');
    expect(reply.headers['transfer-encoding']).toBeUndefined();
    expect(reply.text).toBe('{"a":"bcd"}');
  });

  test('a stream: headers within moments even while it is silent, then each chunk as it comes, not buffered', async () => {
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    answer = async () => ({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) }),
    });
    const events: string[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp/alpha', method: 'POST', agent: false }, (res) => {
        events.push(`headers ${res.statusCode} ${res.headers['content-type']}`);
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => events.push(chunk));
        res.on('end', () => resolve());
      });
      req.on('error', reject);
      req.end();
    });
    await waitFor(() => events.length === 1);
    expect(events).toEqual(['headers 200 text/event-stream']);
    controller.enqueue(new TextEncoder().encode('data: 1\n\n'));
    await waitFor(() => events.length === 2);
    expect(events[1]).toBe('data: 1\n\n');
    controller.enqueue(new TextEncoder().encode('data: 2\n\n'));
    controller.close();
    await done;
    expect(events).toEqual(['headers 200 text/event-stream', 'data: 1\n\n', 'data: 2\n\n']);
  });

  test('the client going away mid-stream cancels the stream and aborts the request signal', async () => {
    let cancelled: unknown;
    answer = async () => ({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: new ReadableStream<Uint8Array>({
        start: (c) => c.enqueue(new TextEncoder().encode('data: first\n\n')),
        cancel: (reason) => void (cancelled = reason ?? 'cancelled'),
      }),
    });
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp/alpha', method: 'POST', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.once('error', reject);
      req.end();
    });
    await waitFor(() => cancelled !== undefined && seen[0]!.request.signal.aborted);
    expect(seen[0]!.request.signal.aborted).toBe(true);
  });

  test('a stream that fails mid-way ends the connection without the final chunk (the client sees it broken off)', async () => {
    answer = async () => ({
      status: 200,
      headers: { 'content-type': 'text/event-stream' },
      body: new ReadableStream<Uint8Array>({
        start: (c) => c.enqueue(new TextEncoder().encode('data: partial\n\n')),
        pull: async (c) => {
          await sleep(20);
          c.error(new Error('upstream died'));
        },
      }),
    });
    const outcome = await new Promise<{ text: string; error: boolean }>((resolve) => {
      let text = '';
      const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp/alpha', method: 'POST', agent: false }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => resolve({ text, error: false }));
        res.on('error', () => resolve({ text, error: true }));
        res.on('aborted', () => resolve({ text, error: true }));
      });
      req.on('error', () => resolve({ text, error: true }));
      req.end();
    });
    expect(outcome).toEqual({ text: 'data: partial\n\n', error: true });
  });

  test('the client going away before the answer aborts the request signal', async () => {
    let release!: () => void;
    answer = (request) =>
      new Promise((resolve) => {
        release = () => resolve({ status: 200, headers: { 'content-length': '0' }, body: null });
        request.signal.addEventListener('abort', () => release());
      });
    const req = httpRequest({ host: '127.0.0.1', port, path: '/mcp/alpha', method: 'POST', agent: false });
    req.on('error', () => undefined);
    req.end();
    await waitFor(() => seen.length === 1);
    expect(seen[0]!.request.signal.aborted).toBe(false);
    req.destroy();
    await waitFor(() => seen[0]!.request.signal.aborted);
  });
});

describe('web adapters (the Lambda and tests hand the core a web Request)', () => {
  test('fromWebRequest: its own headers and signal, the body read bounded', async () => {
    const abort = new AbortController();
    const request = fromWebRequest(new Request('https://gw.test/mcp/a', { method: 'POST', headers: { 'X-A': '1' }, body: 'hello', signal: abort.signal }));
    expect(request.method).toBe('POST');
    expect(request.headers.get('x-a')).toBe('1');
    expect(Buffer.from(await request.readBody(5)).toString()).toBe('hello');
    await expect(fromWebRequest(new Request('https://gw.test/', { method: 'POST', body: 'too long' })).readBody(3)).rejects.toMatchObject({ code: 'body_too_large' });
    expect((await fromWebRequest(new Request('https://gw.test/')).readBody(3)).length).toBe(0);
    abort.abort();
    expect(request.signal.aborted).toBe(true);
  });

  test('toWebResponse: status, headers and body; the fixed length is the Response\'s own business', async () => {
    const response = toWebResponse({ status: 202, headers: { 'content-type': 'application/json', 'content-length': '2', 'x-request-id': 'r' }, body: '{}' });
    expect(response.status).toBe(202);
    expect(response.headers.get('content-length')).toBeNull();
    expect(response.headers.get('x-request-id')).toBe('r');
    expect(await response.text()).toBe('{}');
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}
