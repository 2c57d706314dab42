/**
 * Leased per-minute limits across gateway processes (docs/gateway.md, "Limits"): two gateways
 * share one store — A in this process, B a separate `plexmcp serve` process with the same data
 * directory — and the store is reached through a proxy that counts every DynamoDB operation.
 *
 * - 50 concurrent calls split across both against a key limit of 20 admit at most 20, and at
 *   least 20 minus the documented under-admission (one other instance: its last block - 1, at
 *   most floor(20/4) - 1 = 4), with far fewer counter writes than requests;
 * - the bound is reached when A stops after one block, and A's tokens still pass later that minute;
 * - far from the limit, 200 calls cost at most 0.1 store writes each, every kind of write counted.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { z } from 'zod';
import { LEASE_FRACTION, MAX_LEASE_BLOCK } from '../../lambda/core/gateway/limits';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { DEFAULT_COUNTERS_TABLE_NAME } from '../../lambda/core/registry-table';
import { provision, startGatewayProcess, startTestGateway, type GatewayProcess, type TestGateway } from './harness';
import { startStoreProxy, type StoreProxy } from './store-proxy';
import { startSdkUpstream, type SdkUpstream } from './upstreams';
import { call, expectGatewayError, initializeMessage, resultOf, sleep, toolCall, type Answer } from './gateway-expect';

const LIMIT = 20;
const CONCURRENT = 50;
/** docs/gateway.md: with one other instance, at most its last block - 1 units are stranded. */
const BOUND = Math.min(MAX_LEASE_BLOCK, Math.floor(LIMIT / LEASE_FRACTION)) - 1;
const SLUG = 'leased';


let upstream: SdkUpstream;
let db: EmbeddedDynamoDb;
let proxy: StoreProxy;
let dataDir: string;
let a: TestGateway;
let b: GatewayProcess;
let orgId: string;
let secrets: string[];
let urlA: string;
let urlB: string;

beforeAll(async () => {
  upstream = await startSdkUpstream({
    stateful: false,
    enableJsonResponse: true,
    setup: (server) => server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] })),
  });
  db = await startEmbeddedDynamoDb();
  proxy = await startStoreProxy(db.endpoint);
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-leased-'));
  // A creates the tables, the local key file and the session key; B (same data directory, so the
  // same master key) reads them from the shared store.
  a = await startTestGateway({ dataDir, dynamodbEndpoint: proxy.endpoint });
  b = await startGatewayProcess(dataDir, { dynamodbEndpoint: proxy.endpoint });
  ({ orgId } = await provision(a, { slug: SLUG, endpoints: [{ url: upstream.url }] }));
  urlA = a.mcpUrl(SLUG);
  urlB = `${b.baseUrl}/mcp/${SLUG}`;
  secrets = [upstream.url, `127.0.0.1:${upstream.port}`, proxy.endpoint, db.endpoint];
}, 90_000);

afterAll(async () => {
  await b?.stop();
  await a?.close();
  await proxy?.close();
  await db?.close();
  await upstream?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const minuteOf = (ms: number) => Math.floor(ms / 60_000);

/** If less than `neededMs` is left of the current UTC minute, waits for the next one. */
async function awayFromMinuteBoundary(neededMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < neededMs) await sleep(left + 100);
}

/**
 * A key of its own with `rateLimitPerMinute`, warm in both gateways: an `initialize` through each
 * verifies the key and caches the MCP there, and counts against the handshake window only.
 */
async function warmKey(rateLimitPerMinute: number): Promise<{ secret: string; keyId: string }> {
  const issued = await a.admin('POST', `/orgs/${orgId}/keys`, { name: `k${Math.random()}`, role: 'member', rateLimitPerMinute });
  for (const url of [urlA, urlB]) {
    const init = await call(url, issued.secret, initializeMessage('warm'));
    expect(init.status).toBe(200);
    expect(init.headers['ratelimit-limit']).toBeUndefined(); // not the per-minute window
  }
  return { secret: issued.secret, keyId: issued.key.keyId };
}

async function counterOf(counterId: string): Promise<number | undefined> {
  const item = await db.client.send(new GetItemCommand({ TableName: DEFAULT_COUNTERS_TABLE_NAME, Key: { pk: { S: counterId } }, ConsistentRead: true }));
  return item.Item?.n?.N === undefined ? undefined : Number(item.Item.n.N);
}

const updatesSince = (from: number) => proxy.operations.slice(from).filter((op) => op === 'UpdateItem').length;

/** Tool calls through `url`, `count` at once; each answer with the gateway it went through. */
function burst(url: string, secret: string, from: number, count: number): Promise<{ answer: Answer; via: string; id: number }>[] {
  return Array.from({ length: count }, async (_, i) => {
    const id = from + i;
    return { answer: await call(url, secret, toolCall(id, 'echo', { text: `m${id}` })), via: url, id };
  });
}

function forwardedCalls(answers: readonly Answer[]): number {
  const ids = new Set(answers.map((x) => x.headers['x-request-id']));
  return upstream.requests.filter((r) => ids.has(r.headers['x-request-id'] as string) && (r.body as { method?: string }).method === 'tools/call').length;
}

test(`${CONCURRENT} concurrent calls split across two gateway processes against a limit of ${LIMIT}: at most ${LIMIT} pass and at least ${LIMIT} - ${BOUND}; far fewer counter writes than requests`, async () => {
  expect(BOUND).toBe(4);
  const { secret, keyId } = await warmKey(LIMIT);
  await awayFromMinuteBoundary(20_000);
  const started = Date.now();
  const before = proxy.operations.length;
  const results = await Promise.all([...burst(urlA, secret, 0, CONCURRENT / 2), ...burst(urlB, secret, 1_000, CONCURRENT / 2)]);
  const writes = updatesSince(before);
  expect(minuteOf(Date.now())).toBe(minuteOf(started));

  const passed = results.filter((r) => r.answer.status === 200);
  expect(passed.length).toBeLessThanOrEqual(LIMIT);
  expect(passed.length).toBeGreaterThanOrEqual(LIMIT - BOUND);
  for (const { answer, id } of passed) {
    expect(resultOf(answer, id).result.content).toEqual([{ type: 'text', text: `echo: m${id}` }]);
    expect(answer.headers['ratelimit-limit']).toBe(String(LIMIT));
  }
  for (const { answer, id } of results.filter((r) => r.answer.status !== 200)) {
    expectGatewayError(answer, 'rate_limited', id, [...secrets, secret]);
    expect(answer.headers['ratelimit-remaining']).toBe('0');
  }
  // Within one gateway every admitted call saw a different RateLimit-Remaining (it only goes down).
  for (const via of [urlA, urlB]) {
    const remaining = passed.filter((r) => r.via === via).map((r) => r.answer.headers['ratelimit-remaining']);
    expect(new Set(remaining).size).toBe(remaining.length);
  }
  // Only the admitted calls reached the upstream, and the store never counted past the limit.
  expect(forwardedCalls(results.map((r) => r.answer))).toBe(passed.length);
  expect(await counterOf(`rpm#${keyId}#${minuteOf(started)}`)).toBeLessThanOrEqual(LIMIT);
  // One conditional write per request would be 50; blocks of 5, 3, 3, 2 then 1s near the limit
  // (and any quota flush or lastUsedAt write, counted too) are far fewer.
  console.log(`leased limits: ${passed.length} of ${CONCURRENT} admitted against ${LIMIT}; ${writes} UpdateItem calls (all kinds) for ${CONCURRENT} requests`);
  expect(writes).toBeLessThanOrEqual(CONCURRENT / 2);
}, 60_000);

test(`the bound is reached when one gateway stops after one block: the other admits ${LIMIT} - 5, together ${LIMIT} - ${BOUND}; the first still spends its 4 tokens that minute`, async () => {
  const { secret, keyId } = await warmKey(LIMIT);
  await awayFromMinuteBoundary(20_000);
  const started = Date.now();
  const first = await call(urlA, secret, toolCall('a0', 'echo', { text: 'a0' }));
  expect(first.status).toBe(200);
  expect(first.headers['ratelimit-remaining']).toBe(String(LIMIT - 1));
  expect(await counterOf(`rpm#${keyId}#${minuteOf(started)}`)).toBe(5); // A reserved a block of floor(20/4)

  const flood = await Promise.all(burst(urlB, secret, 100, CONCURRENT - 1));
  const viaB = flood.filter((r) => r.answer.status === 200).length;
  expect(viaB).toBe(LIMIT - 5);
  expect(1 + viaB).toBe(LIMIT - BOUND);
  expect(await counterOf(`rpm#${keyId}#${minuteOf(started)}`)).toBe(LIMIT);

  const later = await Promise.all(burst(urlA, secret, 200, 6));
  expect(later.filter((r) => r.answer.status === 200)).toHaveLength(BOUND);
  expect(1 + viaB + BOUND).toBe(LIMIT);
  expect(await counterOf(`rpm#${keyId}#${minuteOf(started)}`)).toBe(LIMIT);
  expect(forwardedCalls([first, ...flood.map((r) => r.answer), ...later.map((r) => r.answer)])).toBe(LIMIT);
  expect(minuteOf(Date.now())).toBe(minuteOf(started));
}, 60_000);

test('far from the limit: 200 calls through both gateways (16 at a time) cost at most 0.1 store writes each, every kind of write counted', async () => {
  const { secret, keyId } = await warmKey(10_000);
  await awayFromMinuteBoundary(20_000);
  const started = Date.now();
  const before = proxy.operations.length;
  const answers: { answer: Answer; via: string; id: number }[] = [];
  for (let round = 0; round < 200 / 16; round++) {
    const n = Math.min(16, 200 - round * 16);
    answers.push(...(await Promise.all([...burst(urlA, secret, round * 100, n / 2), ...burst(urlB, secret, round * 100 + 50, n / 2)])));
  }
  expect(answers).toHaveLength(200);
  expect(answers.every((r) => r.answer.status === 200)).toBe(true);
  const writes = updatesSince(before);
  const operations = proxy.operations.length - before;
  console.log(`leased limits, far from the limit: ${writes} UpdateItem / ${operations} store operations for 200 requests`);
  expect(writes).toBeLessThanOrEqual(20);
  // What the two gateways reserved: two blocks of 64 each for their 100 calls.
  const reserved = await counterOf(`rpm#${keyId}#${minuteOf(started)}`);
  expect(reserved).toBeGreaterThanOrEqual(200);
  expect(reserved).toBeLessThanOrEqual(4 * MAX_LEASE_BLOCK);
  for (const via of [urlA, urlB]) {
    const remaining = answers.filter((r) => r.via === via).map((r) => Number(r.answer.headers['ratelimit-remaining']));
    expect(new Set(remaining).size).toBe(remaining.length);
    for (const left of remaining) expect(left).toBeLessThan(10_000);
  }
  expect(minuteOf(Date.now())).toBe(minuteOf(started));
}, 90_000);
