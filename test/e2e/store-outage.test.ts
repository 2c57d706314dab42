/**
 * The store goes away (issue 7, "Fail closed, fast"): a local gateway whose DynamoDB endpoint is a
 * loopback TCP proxy in front of an embedded dynalite. After the gateway started and its key is
 * warm (verified-key and registry caches hold it), the proxy turns into
 *
 * - a black hole (accepts connections, reads requests, never answers),
 * - a resetter (every connection is reset), or
 * - nothing at all (the port refuses connections),
 *
 * and every request that needs the store must get 503 `store_unavailable` with `Retry-After` within the documented
 * bound (the counter client gives up after one 1 s attempt; the gateway's guards allow 1.5 s for
 * registry and key reads and 2.5 s for the counter write), never 500 and never a proxied answer
 * (nothing is sent upstream unchecked). When the proxy passes traffic again, so does the gateway.
 *
 * Per-minute limits are leased (docs/gateway.md): an instance may spend, without the store, units
 * it reserved before the outage. The warm key here has limits under 8 (7 requests, 3 handshakes a
 * minute), where every reservation is exactly what the request needs, so every request of it
 * needs the store.
 */
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { provision, startTestGateway, type TestGateway } from './harness';
import { startStoreProxy, type ProxyMode, type StoreProxy } from './store-proxy';
import { startSdkUpstream, type SdkUpstream } from './upstreams';
import { call, eventually, expectGatewayError, initializeMessage, openSession, resultOf, rpc, toolCall, type Answer } from './gateway-expect';
import { z } from 'zod';

/** The longest a client may wait for the 503 (the guards' 2.5 s, plus scheduling on a busy machine). */
const BOUND_MS = 4_000;

let db: EmbeddedDynamoDb;
let proxy: StoreProxy;
let upstream: SdkUpstream;
let gw: TestGateway;
let warm: { apiKey: string; keyId: string; orgId: string };
let session: string;
let secrets: string[];

beforeAll(async () => {
  db = await startEmbeddedDynamoDb();
  proxy = await startStoreProxy(db.endpoint);
  upstream = await startSdkUpstream({
    setup: (server) => server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] })),
  });
  // Caches longer than the test: during the outage only the counter writes (and cold keys) need the store.
  gw = await startTestGateway({ dynamodbEndpoint: proxy.endpoint, keyCacheTtlMs: 120_000, registryCacheTtlMs: 120_000 });
  warm = await provision(gw, { slug: 'outage', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 7 });
  await gw.admin('PATCH', `/orgs/${warm.orgId}`, { planOverrides: { handshakesPerKeyPerMinute: 3 } });
  session = await openSession(gw.mcpUrl('outage'), warm.apiKey);
  const ok = await call(gw.mcpUrl('outage'), warm.apiKey, toolCall('w', 'echo', { text: 'warm' }), { session });
  expect(resultOf(ok, 'w').result.content[0].text).toBe('echo: warm');
  secrets = [upstream.url, `127.0.0.1:${upstream.port}`, proxy.endpoint, db.endpoint];
}, 30_000);

afterAll(async () => {
  // Back to pass-through first, so that nothing the gateway still waits for stays stuck.
  await proxy?.setMode('pass');
  await gw?.close();
  await proxy?.close();
  await db?.close();
  await upstream?.close();
});

interface Timed {
  readonly answer: Answer;
  readonly ms: number;
}

async function timed(work: Promise<Answer>): Promise<Timed> {
  const started = Date.now();
  const answer = await work;
  return { answer, ms: Date.now() - started };
}

/** 503 store_unavailable with a small whole-second Retry-After, within BOUND_MS. */
function expectStoreUnavailable({ answer, ms }: Timed, id: string | null): void {
  expect({ ms, within: ms < BOUND_MS }).toEqual({ ms, within: true });
  expectGatewayError(answer, 'store_unavailable', id, [...secrets, warm.apiKey]);
  const retryAfter = Number(answer.headers['retry-after']);
  expect(Number.isInteger(retryAfter)).toBe(true);
  expect(retryAfter).toBeGreaterThanOrEqual(1);
  expect(retryAfter).toBeLessThanOrEqual(5);
}

describe.each<[Exclude<ProxyMode, 'pass'>, string]>([
  ['blackhole', 'accepts connections and never answers'],
  ['reset', 'resets every connection'],
  ['closed', 'refuses connections'],
])('proxy mode %s: a store that %s', (mode) => {
  test('warm key: tools/call, a batch, initialize and a GET stream get 503 store_unavailable within the bound; nothing is forwarded; a cold key is 503 too, never 401 or 200', async () => {
    const url = gw.mcpUrl('outage');
    // A key that has never been used: its record must be read from the store.
    const cold = await gw.admin('POST', `/orgs/${warm.orgId}/keys`, { name: `cold-${mode}` });
    const forwardedBefore = upstream.requests.length;
    await proxy.setMode(mode);
    try {
      await duringOutage(url, cold.secret, forwardedBefore);
    } finally {
      await proxy.setMode('pass');
    }

    // The store is back: the same key, session and the cold key work again.
    let last: Answer | undefined;
    const recovered = await eventually(
      async () => {
        last = await call(url, warm.apiKey, toolCall('r', 'echo', { text: 'back' }), { session });
        return last.status === 200;
      },
      10_000,
      100,
    );
    expect({ recovered, last: last && `${last.status} ${last.text.slice(0, 200)}` }).toEqual({ recovered: true, last: expect.any(String) });
    expect(resultOf(last!, 'r').result.content[0].text).toBe('echo: back');
    const coldAgain = await call(url, cold.secret, initializeMessage('ci'));
    expect(coldAgain.status).toBe(200);
    // And the region reports healthy again once its cached report (5 s) has expired.
    expect(await eventually(async () => (await fetch(`${gw.baseUrl}/healthz`)).status === 200, 10_000, 200)).toBe(true);
  }, 40_000);

  async function duringOutage(url: string, coldKey: string, forwardedBefore: number): Promise<void> {
    const [single, batch, handshake, stream, coldCall] = await Promise.all([
      timed(call(url, warm.apiKey, toolCall('t', 'echo', { text: 'during' }), { session })),
      timed(call(url, warm.apiKey, [toolCall('b1', 'echo', { text: '1' }), toolCall('b2', 'echo', { text: '2' })], { session })),
      timed(call(url, warm.apiKey, initializeMessage('i'))),
      timed(call(url, warm.apiKey, undefined, { method: 'GET', session, headers: { accept: 'text/event-stream' } })),
      timed(call(url, coldKey, rpc('c', 'ping'))),
    ]);
    expectStoreUnavailable(single, 't');
    expectStoreUnavailable(batch, null);
    expectStoreUnavailable(handshake, 'i');
    expectStoreUnavailable(stream, null);
    expectStoreUnavailable(coldCall, null); // authentication comes before the body is read
    if (mode === 'blackhole') {
      // It waited for the store (about the counter client's 1 s attempt), it did not guess.
      expect(single.ms).toBeGreaterThanOrEqual(900);
    }
    expect(upstream.requests.length).toBe(forwardedBefore);

    // The region says it cannot serve (once its cached report, at most 5 s old, has expired),
    // naming the store components and nothing else.
    let health: Response | undefined;
    const unhealthy = await eventually(async () => (health = await fetch(`${gw.baseUrl}/healthz`)).status === 503, 10_000, 200);
    const report = (await health!.json()) as { status: string; failing: string[] };
    expect([unhealthy, report.status]).toEqual([true, 'unavailable']);
    expect(report.failing).toEqual(expect.arrayContaining(['registry', 'counters', 'credentialsKey']));
    expect(report.failing).not.toContain('sessionKey');
    expect(JSON.stringify(report)).not.toMatch(new RegExp(secrets.map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')));

    // Still refused while it lasts (no state was left half-open by the first failures).
    expectStoreUnavailable(await timed(call(url, warm.apiKey, rpc('again', 'ping'), { session })), 'again');
    expect(upstream.requests.length).toBe(forwardedBefore);
  }
});


describe('after a black hole that kept its connections (a path that lost them without telling either end)', () => {
  let db2: EmbeddedDynamoDb;
  let proxy2: StoreProxy;
  let gw2: TestGateway;

  afterAll(async () => {
    await proxy2?.setMode('pass');
    await gw2?.close();
    await proxy2?.close();
    await db2?.close();
  });

  // The store client must time its requests out: otherwise requests stuck on connections that
  // will never answer hold its whole pool (the SDK's: 50 sockets, a 300 s socket timeout) and every
  // registry read waits behind them long after the store is reachable again.
  test('the gateway serves again within 10 s once new connections to the store work, even with dozens of requests stuck on the old ones', async () => {
    db2 = await startEmbeddedDynamoDb();
    proxy2 = await startStoreProxy(db2.endpoint);
    // No registry cache: every request reads the org and the MCP (as every request does once the cache expired).
    gw2 = await startTestGateway({ dynamodbEndpoint: proxy2.endpoint, registryCacheTtlMs: 0 });
    const key = await provision(gw2, { slug: 'stuck', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 10_000 });
    const url = gw2.mcpUrl('stuck');
    const session = await openSession(url, key.apiKey);
    expect((await call(url, key.apiKey, rpc('w', 'ping'), { session })).status).toBe(200);

    await proxy2.setMode('blackhole');
    let during: Timed[];
    try {
      // More store reads than the store client has connections (the SDK's default pool: 50).
      during = await Promise.all(Array.from({ length: 40 }, (_, i) => timed(call(url, key.apiKey, rpc(`d${i}`, 'ping'), { session }))));
    } finally {
      await proxy2.setMode('pass', { keepSwallowed: true });
    }
    during.forEach((t, i) => expectStoreUnavailable(t, `d${i}`));

    let last: Answer | undefined;
    const recovered = await eventually(
      async () => {
        last = await call(url, key.apiKey, rpc('r', 'ping'), { session });
        return last.status === 200;
      },
      10_000,
      200,
    );
    expect({ recovered, last: last && `${last.status} ${last.text.slice(0, 160)}` }).toEqual({ recovered: true, last: expect.any(String) });
  }, 40_000);
});
