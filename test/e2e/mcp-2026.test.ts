/**
 * MCP 2026-07-28 through the gateway, against a server built from that revision's spec
 * (upstream-2026.ts): the gateway as an intermediary validates the request metadata headers
 * (Mcp-Method, Mcp-Name, Mcp-Param-*) itself, refuses foreign Origins, streams what it does not
 * rewrite (a `subscriptions/listen` stream stays open and delivers each event as it is sent) and
 * marks SSE answers `X-Accel-Buffering: no`.
 *
 * Where a refusal is the gateway's own, the test also checks that the upstream never saw the
 * request: the upstream would refuse it too, and only the gateway's answer carries `data.code`.
 */
import { provision, startTestGateway, type TestGateway } from './harness';
import { startUpstream2026, MODERN_VERSION, type Upstream2026 } from './upstream-2026';
import { sseEvents, type SseEvent } from './upstreams';

const ALLOWED_ORIGIN = 'https://app.plexmcp.test';
const META = {
  'io.modelcontextprotocol/protocolVersion': MODERN_VERSION,
  'io.modelcontextprotocol/clientInfo': { name: 'plexmcp-e2e-2026', version: '1.0.0' },
  'io.modelcontextprotocol/clientCapabilities': {},
};

let gw: TestGateway;
let upstream: Upstream2026;
let key: string;
let url: string;

beforeAll(async () => {
  upstream = await startUpstream2026();
  // `allowedOrigins` is the gateway option for browser origins (none by default).
  const options = { healthIntervalMs: 0, allowedOrigins: [ALLOWED_ORIGIN] };
  gw = await startTestGateway(options);
  const org = await provision(gw, { slug: 'modern-2026', endpoints: [{ url: upstream.url }] });
  key = org.apiKey;
  url = gw.mcpUrl('modern-2026');
  // Let the gateway learn the tools (x-mcp-header schemas included) however it does: from the
  // health monitor's probe (a legacy SDK client; the server is dual-era) and from a tools/list
  // answer passing through it.
  await gw.gateway.runHealthCycle();
  await (await send('tools/list', {})).text(); // its answer is checked by the tests below
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** Header value encoding as a 2026-07-28 client does it (Value Encoding), written independently of the gateway's. */
function encode(value: string): string {
  const plain = /^[\x21-\x7e](?:[\x20-\x7e]*[\x21-\x7e])?$/.test(value) && !(value.startsWith('=?base64?') && value.endsWith('?='));
  return plain ? value : `=?base64?${Buffer.from(value, 'utf8').toString('base64')}?=`;
}

interface SendOptions {
  readonly id?: string | number;
  /** Replaces or adds headers (a null value removes the header the client would send). */
  readonly headers?: Record<string, string | null>;
  readonly signal?: AbortSignal;
  /** The whole body instead of the one built from method and params. */
  readonly rawBody?: unknown;
}

/** A conforming 2026-07-28 POST (headers mirrored from the body) through the gateway; the raw Response. */
async function send(method: string, params: Record<string, unknown>, options: SendOptions = {}): Promise<Response> {
  const body = options.rawBody ?? { jsonrpc: '2.0', id: options.id ?? 1, method, params: { ...params, _meta: { ...META, ...(params._meta as object | undefined) } } };
  const headers: Record<string, string> = {
    authorization: `Bearer ${key}`,
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': MODERN_VERSION,
    'mcp-method': method,
  };
  const name = method === 'resources/read' ? params.uri : method === 'tools/call' || method === 'prompts/get' ? params.name : undefined;
  if (typeof name === 'string') headers['mcp-name'] = encode(name);
  for (const [header, value] of Object.entries(options.headers ?? {})) {
    if (value === null) delete headers[header.toLowerCase()];
    else headers[header.toLowerCase()] = value;
  }
  return fetch(url, { method: 'POST', headers, body: JSON.stringify(body), signal: options.signal ?? AbortSignal.timeout(10_000) });
}

async function json(res: Response): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  return JSON.parse(await res.text());
}

/** `promise`, or a rejection after `ms` naming `what`. */
async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function until(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Expects the gateway's own HeaderMismatch refusal, and that the upstream never saw the request. */
async function expectGatewayMismatch(answer: Promise<Response>, id: string | number) {
  const before = upstream.requests.length;
  const res = await answer;
  const body = await json(res);
  expect({ status: res.status, id: body.id, code: body.error?.code, dataCode: body.error?.data?.code }).toEqual({
    status: 400,
    id,
    code: -32020,
    dataCode: 'header_mismatch',
  });
  expect(upstream.requests.length).toBe(before);
}

describe('requests that match their headers pass, with the headers', () => {
  test('server/discover', async () => {
    const res = await send('server/discover', {}, { id: 'discover-1' });
    const body = await json(res);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ id: 'discover-1', result: { resultType: 'complete', supportedVersions: expect.arrayContaining([MODERN_VERSION]) } });
    expect(upstream.requests.at(-1)!.headers['mcp-method']).toBe('server/discover');
  });

  test('tools/call: Mcp-Method and Mcp-Name reach the upstream as sent', async () => {
    const res = await send('tools/call', { name: 'echo', arguments: { message: 'hi 2026' } }, { id: 2 });
    expect(res.status).toBe(200);
    expect((await json(res)).result.content[0].text).toBe('hi 2026');
    const seen = upstream.requests.at(-1)!;
    expect([seen.headers['mcp-method'], seen.headers['mcp-name']]).toEqual(['tools/call', 'echo']);
    expect(seen.headers.authorization).toBeUndefined();
  });

  test('resources/read of a non-ASCII URI: a Base64 Mcp-Name is accepted and forwarded encoded', async () => {
    const uri = 'test://unicode/世界';
    const res = await send('resources/read', { uri }, { id: 3 });
    expect(res.status).toBe(200);
    expect((await json(res)).result.contents[0].text).toBe('world');
    expect(upstream.requests.at(-1)!.headers['mcp-name']).toBe(encode(uri));
  });

  test('prompts/get', async () => {
    const res = await send('prompts/get', { name: 'greet', arguments: { who: 'Ada' } }, { id: 4 });
    expect(res.status).toBe(200);
    expect((await json(res)).result.messages[0].content.text).toBe('Hello, Ada');
  });

  test("an unknown method is the upstream's own 404 with -32601, passed through", async () => {
    const res = await send('vendor/unknown', {}, { id: 5 });
    expect(res.status).toBe(404);
    expect((await json(res)).error.code).toBe(-32601);
  });
});

describe('HeaderMismatch (-32020): the gateway validates the headers against the body itself', () => {
  test('a mismatched Mcp-Name', async () => {
    await expectGatewayMismatch(send('tools/call', { name: 'echo', arguments: { message: 'x' } }, { id: 10, headers: { 'mcp-name': 'route' } }), 10);
  });

  test('a mismatched Mcp-Method', async () => {
    await expectGatewayMismatch(send('tools/call', { name: 'echo', arguments: { message: 'x' } }, { id: 11, headers: { 'mcp-method': 'tools/list' } }), 11);
  });

  test('a Base64 Mcp-Name that decodes to another URI', async () => {
    await expectGatewayMismatch(send('resources/read', { uri: 'test://greeting' }, { id: 12, headers: { 'mcp-name': encode('test://unicode/世界') } }), 12);
  });

  test('a malformed Base64 Mcp-Name', async () => {
    await expectGatewayMismatch(send('resources/read', { uri: 'test://greeting' }, { id: 13, headers: { 'mcp-name': '=?base64?not base64?=' } }), 13);
  });

  test('a 2026-07-28 request without the required Mcp-Method', async () => {
    await expectGatewayMismatch(send('tools/list', {}, { id: 14, headers: { 'mcp-method': null } }), 14);
  });

  test('a 2026-07-28 tools/call without the required Mcp-Name', async () => {
    await expectGatewayMismatch(send('tools/call', { name: 'echo', arguments: { message: 'x' } }, { id: 15, headers: { 'mcp-name': null } }), 15);
  });

  test('MCP-Protocol-Version that differs from _meta', async () => {
    const rawBody = { jsonrpc: '2.0', id: 16, method: 'tools/list', params: { _meta: { ...META, 'io.modelcontextprotocol/protocolVersion': '2027-01-01' } } };
    await expectGatewayMismatch(send('tools/list', {}, { id: 16, rawBody }), 16);
  });

  test('a 2026-07-28 batch is refused with 400 before it reaches the upstream', async () => {
    const before = upstream.requests.length;
    const one = { jsonrpc: '2.0', method: 'tools/list', params: { _meta: META } };
    const res = await send('tools/list', {}, { rawBody: [{ ...one, id: 1 }, { ...one, id: 2 }] });
    expect(res.status).toBe(400);
    expect((await json(res)).error.data.code).toMatch(/invalid_request|header_mismatch|batch/);
    expect(upstream.requests.length).toBe(before);
  });
});

describe('Mcp-Param-* (tool parameters mirrored into headers)', () => {
  test('valid headers are forwarded: the upstream sees them (it refuses a call whose argument lacks its header)', async () => {
    const res = await send('tools/call', { name: 'route', arguments: { region: 'us-west1', shard: 42, query: 'SELECT 1' } }, {
      id: 20,
      headers: { 'Mcp-Param-Region': 'us-west1', 'Mcp-Param-Shard': '42' },
    });
    const body = await json(res);
    expect({ status: res.status, error: body.error }).toEqual({ status: 200, error: undefined });
    expect(body.result.structuredContent).toEqual({ 'mcp-param-region': 'us-west1', 'mcp-param-shard': '42' });
  });

  test('a Base64 value and a numerically equal integer ("42.0") are valid', async () => {
    const res = await send('tools/call', { name: 'route', arguments: { region: 'Zürich', shard: 42, query: 'q' } }, {
      id: 21,
      headers: { 'mcp-param-region': encode('Zürich'), 'mcp-param-shard': '42.0' },
    });
    expect(res.status).toBe(200);
    expect((await json(res)).result.structuredContent).toEqual({ 'mcp-param-region': encode('Zürich'), 'mcp-param-shard': '42.0' });
  });

  test('a mismatched value is refused by the gateway', async () => {
    await expectGatewayMismatch(
      send('tools/call', { name: 'route', arguments: { region: 'us-west1', query: 'q' } }, { id: 22, headers: { 'mcp-param-region': 'us-east1' } }),
      22,
    );
  });

  test('a missing header for a value in the body is refused by the gateway', async () => {
    await expectGatewayMismatch(send('tools/call', { name: 'route', arguments: { region: 'us-west1', query: 'q' } }, { id: 23 }), 23);
  });

  test('a header with malformed Base64 is refused by the gateway', async () => {
    await expectGatewayMismatch(
      send('tools/call', { name: 'route', arguments: { region: 'us-west1', query: 'q' } }, { id: 24, headers: { 'mcp-param-region': '=?base64?%%%?=' } }),
      24,
    );
  });
});

describe('Origin (DNS rebinding)', () => {
  test.each(['https://evil.example', 'null'])('Origin %s is refused with 403 origin_not_allowed', async (origin) => {
    const before = upstream.requests.length;
    const res = await send('tools/list', {}, { id: 30, headers: { origin } });
    const body = await json(res);
    expect({ status: res.status, dataCode: body.error?.data?.code }).toEqual({ status: 403, dataCode: 'origin_not_allowed' });
    expect(upstream.requests.length).toBe(before);
  });

  test('an allowed Origin passes', async () => {
    const res = await send('tools/list', {}, { id: 31, headers: { origin: ALLOWED_ORIGIN } });
    expect(res.status).toBe(200);
    expect((await json(res)).result.tools.map((t: { name: string }) => t.name)).toContain('route');
  });

  test('no Origin (agents, SDKs) passes', async () => {
    expect((await send('tools/list', {}, { id: 32 })).status).toBe(200);
  });
});

describe('streaming', () => {
  test('an SSE answer carries X-Accel-Buffering: no even when the upstream did not set it', async () => {
    const res = await send('tools/call', { name: 'progress', arguments: {}, _meta: { ...META, progressToken: 'p1' } }, { id: 40 });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
    expect(res.headers.get('x-accel-buffering')).toBe('no');
    const messages: Record<string, any>[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
    for await (const event of sseEvents(res.body!)) messages.push(JSON.parse(event.data));
    expect(messages.map((m) => m.method ?? 'result')).toEqual(['notifications/progress', 'result']);
  });

  test('subscriptions/listen: the first frame arrives while the upstream holds the stream open; later frames arrive as sent; closing it reaches the upstream', async () => {
    const n = upstream.listens.length + 1;
    const client = new AbortController();
    const res = await within(5_000, 'listen answer headers', send('subscriptions/listen', { notifications: { toolsListChanged: true } }, { id: 'listen-1', signal: client.signal }));
    try {
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const stream = await upstream.waitForListen(n);
      const events: AsyncGenerator<SseEvent> = sseEvents(res.body!);

      const first = await within(3_000, 'acknowledgement', events.next());
      expect(first.done).toBe(false);
      expect(JSON.parse(first.value!.data)).toMatchObject({
        method: 'notifications/subscriptions/acknowledged',
        params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' }, notifications: { toolsListChanged: true } },
      });
      // The upstream has not ended its response: the frame came through on its own.
      expect({ closed: stream.closed, ended: stream.ended }).toEqual({ closed: false, ended: false });

      // A quiet period does not end the stream, and the next frame arrives promptly when sent.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      expect(stream.closed).toBe(false);
      expect(upstream.notify('tools')).toBe(1);
      const sent = Date.now();
      const second = await within(3_000, 'tools/list_changed', events.next());
      expect(Date.now() - sent).toBeLessThan(1_000);
      expect(JSON.parse(second.value!.data)).toMatchObject({
        method: 'notifications/tools/list_changed',
        params: { _meta: { 'io.modelcontextprotocol/subscriptionId': 'listen-1' } },
      });
      expect(stream.closed).toBe(false);

      // Types the client did not opt in to are not sent (the upstream's rule; nothing to forward).
      expect(upstream.notify('prompts')).toBe(0);

      expect(res.headers.get('x-accel-buffering')).toBe('no');

      // Closing the stream is the cancellation (Streamable HTTP, Cancellation): it reaches the upstream.
      await events.return(undefined);
      client.abort();
      await until(() => stream.closed, 5_000, 'upstream listen stream closed after the client left');
    } finally {
      client.abort();
    }
  });

  test('a JSON answer is passed on as it arrives, not read whole first', async () => {
    const res = await within(3_000, 'answer headers while the upstream holds the rest of the body', send('tools/call', { name: 'held_json', arguments: {} }, { id: 42 })).catch(
      (error: unknown) => {
        upstream.releaseHeld(); // let the gateway's read finish so nothing stays open
        throw error;
      },
    );
    expect(res.status).toBe(200);
    expect(upstream.held).toBe(1);
    const text = res.text();
    expect(upstream.releaseHeld()).toBe(1);
    expect(JSON.parse(await within(3_000, 'rest of the body', text))).toMatchObject({ id: 42, result: { content: [{ text: 'held' }] } });
  });
});
