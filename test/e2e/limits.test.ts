/**
 * Limits end to end (docs/gateway.md, "Rate limits and quotas"): the per-key per-minute limit is
 * exact under concurrency; the initialize handshake is not counted against it but against a
 * per-key handshake budget of its own (2 × the plan's handshakesPerKeyPerMinute messages), exact
 * under concurrency too; the monthly org quota, counted in batches off the hot path, refuses
 * requests (the handshake included) within the documented overshoot once the org's counter
 * reaches the plan's quota, and a batch counts every message against it. The quota tests seed the
 * counter in a dynalite shared with the gateway, so they need no 10,000 requests. (Batches
 * against the per-minute limit, the handshake flood and streams: enforcement.test.ts.)
 */
import { GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { PLAN_LIMITS } from '../../lambda/core/plans';
import { DEFAULT_COUNTERS_TABLE_NAME } from '../../lambda/core/registry-table';
import { provision, startTestGateway, type TestGateway } from './harness';
import { startSdkUpstream, type SdkUpstream } from './upstreams';
import { call, expectClean, expectGatewayError, initializeMessage, openSession, resultOf, rpc, sleep, toolCall, type Answer, type RpcId } from './gateway-expect';

const RATE_LIMIT = 20;
const CONCURRENT = 100;
/** docs/gateway.md: each instance flushes its count every 50 requests (or 5 s). */
/** A quota's overshoot by one instance that has not learned the org's total: its first flush, plus what its write lets in. */
const UNKNOWN_ORG_OVERSHOOT = 5;

let upstream: SdkUpstream;
let secrets: string[];

beforeAll(async () => {
  upstream = await startSdkUpstream({
    setup: (server) =>
      server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] })),
  });
  secrets = [upstream.url, `127.0.0.1:${upstream.port}`];
});

afterAll(async () => {
  await upstream?.close();
});

/** If less than `neededMs` is left of the current UTC minute, waits (at most that long) for the next one. */
async function awayFromMinuteBoundary(neededMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < neededMs) await sleep(left + 100);
}

const minuteOf = (ms: number) => Math.floor(ms / 60_000);

describe('per key per minute', () => {
  let gw: TestGateway;
  afterAll(async () => {
    await gw?.close();
  });

  test(`rateLimitPerMinute ${RATE_LIMIT}: of ${CONCURRENT} concurrent tools/call exactly ${RATE_LIMIT} pass, the rest get 429 rate_limited`, async () => {
    gw = await startTestGateway();
    const { apiKey, orgId } = await provision(gw, { slug: 'limited', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: RATE_LIMIT });
    const session = await openSession(gw.mcpUrl('limited'), apiKey); // the handshake has its own budget

    // The window is the UTC minute: a burst straddling two minutes would get the limit twice.
    await awayFromMinuteBoundary(15_000);
    const started = Date.now();
    const answers = await Promise.all(
      Array.from({ length: CONCURRENT }, (_, i) => call(gw.mcpUrl('limited'), apiKey, toolCall(i, 'echo', { text: `n${i}` }), { session })),
    );
    const ended = Date.now();
    expect(minuteOf(ended)).toBe(minuteOf(started));

    const passed = answers.map((a, i) => ({ a, i })).filter(({ a }) => a.status === 200);
    const refused = answers.map((a, i) => ({ a, i })).filter(({ a }) => a.status !== 200);
    expect({ passed: passed.length, refused: refused.length }).toEqual({ passed: RATE_LIMIT, refused: CONCURRENT - RATE_LIMIT });

    for (const { a, i } of passed) {
      expect(resultOf(a, i).result.content).toEqual([{ type: 'text', text: `echo: n${i}` }]);
      expect(a.headers['ratelimit-limit']).toBe(String(RATE_LIMIT));
      expect(a.headers['ratelimit-policy']).toBe(`${RATE_LIMIT};w=60`);
      expectReset(a);
      expectClean(a, [...secrets, apiKey]);
    }
    // One conditional write per request: each count 1..20 was handed out exactly once.
    const remaining = passed.map(({ a }) => Number(a.headers['ratelimit-remaining'])).sort((x, y) => x - y);
    expect(remaining).toEqual(Array.from({ length: RATE_LIMIT }, (_, k) => k));

    for (const { a, i } of refused) {
      expectGatewayError(a, 'rate_limited', i, [...secrets, apiKey]);
      expect(a.headers['ratelimit-limit']).toBe(String(RATE_LIMIT));
      expect(a.headers['ratelimit-remaining']).toBe('0');
      const reset = expectReset(a);
      expect(a.headers['retry-after']).toBe(String(reset));
    }

    // Only the admitted calls reached the upstream.
    const ids = new Set(answers.map((a) => a.headers['x-request-id']));
    const forwarded = upstream.requests.filter((r) => ids.has(r.headers['x-request-id'] as string));
    expect(forwarded.length).toBe(RATE_LIMIT);
    expect(forwarded.every((r) => (r.body as { method: string }).method === 'tools/call')).toBe(true);

    // The limit is used up for this minute, but the initialize handshake is not refused by it: it
    // has a budget of its own (we started with at least 15 s of the minute left, so this is
    // still the same window).
    expect(minuteOf(Date.now())).toBe(minuteOf(started));
    const init = await call(gw.mcpUrl('limited'), apiKey, initializeMessage('again'));
    expect(init.status).toBe(200);
    expect(resultOf(init, 'again').result.protocolVersion).toBeDefined();
    const fresh = init.headers['mcp-session-id']!;
    const initialized = await call(gw.mcpUrl('limited'), apiKey, rpc(undefined, 'notifications/initialized'), { session: fresh });
    expect(initialized.status).toBe(202);
    // ... while anything else still is, in the new session too; so is a batch that is not only
    // handshake messages.
    expectGatewayError(await call(gw.mcpUrl('limited'), apiKey, rpc('p', 'ping'), { session: fresh }), 'rate_limited', 'p', secrets);
    expectGatewayError(await call(gw.mcpUrl('limited'), apiKey, [initializeMessage('b1'), rpc('b2', 'ping')]), 'rate_limited', null, secrets);
    expect(minuteOf(Date.now())).toBe(minuteOf(started));

    // The limit is per key: another key of the same org has its own minute (and its own
    // session: a session belongs to the key that opened it).
    const second = await gw.admin('POST', `/orgs/${orgId}/keys`, { name: 'second', rateLimitPerMinute: RATE_LIMIT });
    const secondSession = await openSession(gw.mcpUrl('limited'), second.secret);
    const other = await call(gw.mcpUrl('limited'), second.secret, rpc('o', 'ping'), { session: secondSession });
    expect(other.status).toBe(200);
    expect(other.headers['ratelimit-remaining']).toBe(String(RATE_LIMIT - 1));
  }, 60_000);
});

describe('handshake budget per key per minute', () => {
  let gw: TestGateway;
  afterAll(async () => {
    await gw?.close();
  });

  const budget = 2 * PLAN_LIMITS.free.handshakesPerKeyPerMinute;
  const CONCURRENT_HANDSHAKES = 2 * budget;

  test(`free plan (${budget} handshake messages a minute): of ${CONCURRENT_HANDSHAKES} concurrent initialize exactly ${budget} pass, the rest get 429 handshake_limited; the per-minute limit is untouched`, async () => {
    gw = await startTestGateway();
    const { apiKey } = await provision(gw, { slug: 'handshakes', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 5 }, { plan: 'free' });
    const url = gw.mcpUrl('handshakes');
    await awayFromMinuteBoundary(15_000);
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: CONCURRENT_HANDSHAKES }, (_, i) => call(url, apiKey, initializeMessage(i))));
    expect(minuteOf(Date.now())).toBe(minuteOf(started));
    const passed = answers.filter((a) => a.status === 200);
    expect(passed).toHaveLength(budget);
    answers.forEach((a, i) => {
      if (a.status === 200) {
        expect(resultOf(a, i).result.protocolVersion).toBeDefined();
        expect(a.headers['ratelimit-limit']).toBeUndefined(); // not counted against the per-minute limit
      } else {
        expectGatewayError(a, 'handshake_limited', i, [...secrets, apiKey]);
      }
    });
    const ids = new Set(answers.map((a) => a.headers['x-request-id']));
    expect(upstream.requests.filter((r) => ids.has(r.headers['x-request-id'] as string))).toHaveLength(budget);
    // The per-minute limit (5) is all there: a session opened within the budget still has it.
    const session = passed[0]!.headers['mcp-session-id'];
    const ping = await call(url, apiKey, rpc('p', 'ping'), { session });
    expect(ping.status).toBe(200);
    expect(ping.headers['ratelimit-remaining']).toBe('4');
    expect(minuteOf(Date.now())).toBe(minuteOf(started));
  }, 60_000);
});

/** RateLimit-Reset: whole seconds to the end of the current UTC minute. */
function expectReset(answer: Answer): number {
  const reset = Number(answer.headers['ratelimit-reset']);
  expect(Number.isInteger(reset)).toBe(true);
  expect(reset).toBeGreaterThanOrEqual(1);
  expect(reset).toBeLessThanOrEqual(60);
  return reset;
}

describe('per org per month', () => {
  let db: EmbeddedDynamoDb;
  let gw: TestGateway | undefined;
  // Each test: an in-memory dynalite shared by its gateway and the test (a gateway keeps its
  // session key in the store, sealed with its data directory's master key: one store each).
  beforeEach(async () => {
    db = await startEmbeddedDynamoDb();
  });
  afterEach(async () => {
    await gw?.close();
    gw = undefined;
    await db?.close();
  });

  const counterOf = async (counterId: string) => {
    const item = await db.client.send(new GetItemCommand({ TableName: DEFAULT_COUNTERS_TABLE_NAME, Key: { pk: { S: counterId } }, ConsistentRead: true }));
    return item.Item?.n?.N === undefined ? undefined : Number(item.Item.n.N);
  };

  test('an org whose monthly counter reached the plan quota is refused (429 quota_exceeded) within the flush overshoot, initialize included', async () => {
    gw = await startTestGateway({ dynamodbEndpoint: db.endpoint });
    const quota = PLAN_LIMITS.free.monthlyRequests;
    expect(quota).toBe(10_000);
    // A high per-minute limit, so that only the quota can refuse.
    const capped = await provision(gw, { slug: 'metered', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 10_000 }, { plan: 'free' });
    const control = await provision(gw, { slug: 'control', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 10_000 }, { plan: 'free' });

    const month = new Date().toISOString().slice(0, 7);
    const counterId = `quota#${capped.orgId}#${month}`;
    await db.client.send(new PutItemCommand({ TableName: DEFAULT_COUNTERS_TABLE_NAME, Item: { pk: { S: counterId }, n: { N: String(quota) } } }));

    // This instance does not know the total yet: it flushes the org's first request at once, and
    // refuses once that write has told it the org's total.
    const url = gw.mcpUrl('metered');
    // The handshake, then pings: every message counts, and the refusal may come at any of them.
    let admitted = 0;
    let refusal: Answer | undefined;
    let refusedId: RpcId = null;
    const init = await call(url, capped.apiKey, initializeMessage(1));
    const session = init.headers['mcp-session-id'];
    if (init.status === 200) admitted++;
    else [refusal, refusedId] = [init, 1];
    const deadline = Date.now() + 20_000;
    for (let i = 0; !refusal && i < 500 && Date.now() < deadline; i++) {
      const message = i === 0 ? rpc(undefined, 'notifications/initialized') : rpc(i, 'ping');
      const answer = await call(url, capped.apiKey, message, { session });
      if (answer.status === (i === 0 ? 202 : 200)) {
        if (i > 0) expect(resultOf(answer, i).result).toEqual({});
        admitted++;
        continue;
      }
      [refusal, refusedId] = [answer, i === 0 ? null : i];
    }
    expectGatewayError(refusal!, 'quota_exceeded', refusedId, [...secrets, capped.apiKey]);
    expect(refusal).toBeDefined();
    // Overshoot for one instance: the request that told it, plus what slips in while that write
    // is in flight.
    expect(admitted).toBeGreaterThanOrEqual(1);
    expect(admitted).toBeLessThanOrEqual(UNKNOWN_ORG_OVERSHOOT);
    const retryAfter = Number(refusal!.headers['retry-after']);
    const now = new Date();
    const toNextMonth = (Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - now.getTime()) / 1000;
    expect(Math.abs(retryAfter - toNextMonth)).toBeLessThanOrEqual(5);

    // The quota applies to the handshake too: no new session, no notification.
    expectGatewayError(await call(url, capped.apiKey, initializeMessage('init')), 'quota_exceeded', 'init', secrets);
    expectGatewayError(await call(url, capped.apiKey, rpc(undefined, 'notifications/initialized'), { session }), 'quota_exceeded', null, secrets);
    expectGatewayError(await call(url, capped.apiKey, rpc('after', 'ping'), { session }), 'quota_exceeded', 'after', secrets);

    // Another org on the same plan and gateway is not affected.
    const controlSession = await openSession(gw.mcpUrl('control'), control.apiKey);
    expect((await call(gw.mcpUrl('control'), control.apiKey, rpc('c', 'ping'), { session: controlSession })).status).toBe(200);

    // Closing flushes the rest: the counter is the seed plus exactly what was admitted.
    await gw.close();
    gw = undefined;
    expect(await counterOf(counterId)).toBe(quota + admitted);
  }, 60_000);

  test('a batch counts every message against the quota: with 10 left a batch of 11 is refused whole, a batch of 10 passes, then nothing does', async () => {
    gw = await startTestGateway({ dynamodbEndpoint: db.endpoint });
    const quota = PLAN_LIMITS.free.monthlyRequests;
    const org = await provision(gw, { slug: 'batched', endpoints: [{ url: upstream.url }] }, { rateLimitPerMinute: 10_000 }, { plan: 'free' });
    const counterId = `quota#${org.orgId}#${new Date().toISOString().slice(0, 7)}`;
    await db.client.send(new PutItemCommand({ TableName: DEFAULT_COUNTERS_TABLE_NAME, Item: { pk: { S: counterId }, n: { N: String(quota - 60) } } }));

    // 2 (the handshake) + 48 = 50 admitted: the instance flushes the org's first request at once,
    // then once its unflushed count reaches 1/8 of what is left, and learns the org's total,
    // quota - 10, from those writes.
    const url = gw.mcpUrl('batched');
    const session = await openSession(url, org.apiKey);
    const pings = (from: number, n: number) => Array.from({ length: n }, (_, i) => rpc(from + i, 'ping'));
    const first = await call(url, org.apiKey, pings(0, 48), { session });
    expect(first.status).toBe(200);
    expect(resultOf(first, 47).result).toEqual({});
    const flushed = async () => (await counterOf(counterId)) === quota - 10;
    const deadline = Date.now() + 10_000;
    while (!(await flushed()) && Date.now() < deadline) await sleep(50);
    expect(await counterOf(counterId)).toBe(quota - 10);
    await sleep(200); // the instance reads the total from the answer to its write

    const before = upstream.requests.length;
    expectGatewayError(await call(url, org.apiKey, pings(100, 11), { session }), 'quota_exceeded', null, [...secrets, org.apiKey]);
    expect(upstream.requests.length).toBe(before);
    const fits = await call(url, org.apiKey, pings(200, 10), { session });
    expect(fits.status).toBe(200);
    for (let i = 200; i < 210; i++) expect(resultOf(fits, i).result).toEqual({});
    expectGatewayError(await call(url, org.apiKey, rpc('one', 'ping'), { session }), 'quota_exceeded', 'one', secrets);

    await gw.close();
    gw = undefined;
    expect(await counterOf(counterId)).toBe(quota); // exactly: nothing was counted twice or lost
  }, 60_000);
});
