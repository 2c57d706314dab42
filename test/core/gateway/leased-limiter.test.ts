/**
 * LeasedLimiter: the per-minute limit with one conditional write per block of requests, against
 * the real counters table (DynamoDbCounters on dynalite, or DynamoDB Local under `.ci/run`) and a
 * fake clock. Exact as an upper bound under concurrency and across instances; exactly the limit
 * with one instance; under-admission across instances within the bound docs/gateway.md states;
 * far fewer writes than requests far from the limit.
 */
import { randomUUID } from 'node:crypto';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbCounters, ensureCountersTable } from '../../../lambda/adapters/dynamodb-counters';
import { StoreUnavailableError } from '../../../lambda/core/gateway/errors';
import { LEASE_FRACTION, LeasedLimiter, MAX_LEASE_BLOCK, type RateDecision, type RequestCounter } from '../../../lambda/core/gateway/limits';
import { guardStore } from '../../../lambda/core/gateway/store-guard';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
let table: string;
let store: DynamoDbCounters;

/** 15 s into a minute, so every window below has 45 s left. */
const START = Date.UTC(2026, 11, 1, 12, 0, 15);
const MINUTE = Math.floor(START / 60_000);
let now = START;
const clock = () => now;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  table = `counters-${randomUUID()}`;
  await ensureCountersTable(db.client, table);
  store = new DynamoDbCounters(db.client, table);
  now = START;
});

/** The store's count of a window (undefined: never written). */
async function countOf(counterId: string): Promise<number | undefined> {
  const out = await db.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: counterId } }, ConsistentRead: true }));
  return out.Item?.n?.N === undefined ? undefined : Number(out.Item.n.N);
}

interface Write {
  readonly n: number;
  /** The limit the write was conditioned on (below the key's limit for a block: count + F·n <= limit). */
  readonly limit: number;
  readonly applied: boolean;
}

/** The real counters, with every write recorded. */
function recorded(inner: RequestCounter = store): { counter: RequestCounter; writes: Write[] } {
  const writes: Write[] = [];
  return {
    writes,
    counter: {
      incrementBelow: async (id, limit, expires, n = 1) => {
        const count = await inner.incrementBelow(id, limit, expires, n);
        writes.push({ n, limit, applied: count !== undefined });
        return count;
      },
      add: (id, delta, expires) => inner.add(id, delta, expires),
    },
  };
}

const admitted = (decisions: RateDecision[]) => decisions.filter((d) => d.allowed);

test(`far from the limit one write serves a block of ${MAX_LEASE_BLOCK}: 200 requests against 1,000 cost 4 writes, sequential or concurrent`, async () => {
  const { counter, writes } = recorded();
  const limiter = new LeasedLimiter(counter, { now: clock });
  const sequential: RateDecision[] = [];
  for (let i = 0; i < 200; i++) sequential.push(await limiter.consume('seq', 1_000));
  expect(admitted(sequential)).toHaveLength(200);
  expect(writes.length).toBeLessThanOrEqual(10);
  expect(writes.map((w) => w.n)).toEqual([64, 64, 64, 64]);
  // One instance: RateLimit-Remaining is exact, one less each time.
  expect(sequential.map((d) => d.remaining)).toEqual(Array.from({ length: 200 }, (_, i) => 999 - i));
  expect(sequential[0]).toEqual({ allowed: true, limit: 1_000, remaining: 999, resetSeconds: 45 });
  expect(await countOf(`rpm#seq#${MINUTE}`)).toBe(256); // reserved, of which 200 spent

  // Concurrent requests of one key share the one reservation in flight: no write per request.
  writes.length = 0;
  const concurrent = await Promise.all(Array.from({ length: 200 }, () => limiter.consume('conc', 1_000)));
  expect(admitted(concurrent)).toHaveLength(200);
  expect(writes.map((w) => w.n)).toEqual([64, 64, 64, 64]);
  expect(concurrent.map((d) => d.remaining).sort((a, b) => b - a)).toEqual(Array.from({ length: 200 }, (_, i) => 999 - i));
});

test('16 concurrent requests of one key far from its limit: one write, the others wait for it', async () => {
  const { counter, writes } = recorded();
  const limiter = new LeasedLimiter(counter, { now: clock });
  const decisions = await Promise.all(Array.from({ length: 16 }, () => limiter.consume('k', 10_000)));
  expect(admitted(decisions)).toHaveLength(16);
  expect(writes).toEqual([{ n: 64, limit: 10_000 - (LEASE_FRACTION - 1) * 64, applied: true }]);
});

test('one instance admits exactly the limit: of 100 concurrent requests against 20, 20 pass (remaining 19..0 each once), in 11 writes; then no more writes', async () => {
  const { counter, writes } = recorded();
  const limiter = new LeasedLimiter(counter, { now: clock });
  const decisions = await Promise.all(Array.from({ length: 100 }, () => limiter.consume('k', 20)));
  const passed = admitted(decisions);
  expect(passed).toHaveLength(20);
  expect(passed.map((d) => d.remaining).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i));
  for (const d of decisions.filter((x) => !x.allowed)) expect(d).toEqual({ allowed: false, limit: 20, remaining: 0, resetSeconds: 45 });
  expect(await countOf(`rpm#k#${MINUTE}`)).toBe(20);
  // Blocks shrink as the window fills: 5 (of 20 left), 3 (of 15), 3, 2, then 1s near the limit.
  // The last write returned 20: everything after it is refused without a write.
  expect(writes.map((w) => w.n)).toEqual([5, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1]);
  expect(writes.every((w) => w.applied)).toBe(true);
  expect((await limiter.consume('k', 20)).allowed).toBe(false);
  expect(writes).toHaveLength(11);
});

test('the handshake window is its own: the same key has the full limit for `hs` while `rpm` is used up', async () => {
  const limiter = new LeasedLimiter(store, { now: clock });
  await Promise.all(Array.from({ length: 10 }, () => limiter.consume('k', 5)));
  expect((await limiter.consume('k', 5)).allowed).toBe(false);
  const handshakes = await Promise.all(Array.from({ length: 10 }, () => limiter.consume('k', 5, 1, 'hs')));
  expect(admitted(handshakes)).toHaveLength(5);
  expect(await countOf(`hs#k#${MINUTE}`)).toBe(5);
  expect(await countOf(`rpm#k#${MINUTE}`)).toBe(5);
});

describe('two instances on one store', () => {
  // docs/gateway.md: each other instance strands at most its last block - 1, and a block is at
  // most 1/F of what was left when it was taken: with limit 20, at most floor(20/4) - 1 = 4.
  const LIMIT = 20;
  const BOUND = Math.min(MAX_LEASE_BLOCK, Math.floor(LIMIT / LEASE_FRACTION)) - 1;

  test(`50 concurrent requests split across them against ${LIMIT}: at most ${LIMIT} pass, and at least ${LIMIT} - ${BOUND}`, async () => {
    expect(BOUND).toBe(4);
    for (let round = 0; round < 5; round++) {
      const a = new LeasedLimiter(store, { now: clock });
      const b = new LeasedLimiter(store, { now: clock });
      const key = `k${round}`;
      const decisions = await Promise.all(Array.from({ length: 50 }, (_, i) => (i % 2 === 0 ? a : b).consume(key, LIMIT)));
      const passed = admitted(decisions).length;
      expect(passed).toBeLessThanOrEqual(LIMIT);
      expect(passed).toBeGreaterThanOrEqual(LIMIT - BOUND);
      expect(await countOf(`rpm#${key}#${MINUTE}`)).toBeLessThanOrEqual(LIMIT);
    }
  });

  test('the bound is reached when an instance stops after one block, and its tokens are still spent if it gets more requests that minute', async () => {
    const { counter: counterA, writes: writesA } = recorded();
    const a = new LeasedLimiter(counterA, { now: clock });
    const b = new LeasedLimiter(store, { now: clock });
    expect(await a.consume('k', LIMIT)).toMatchObject({ allowed: true, remaining: 19 });
    expect(writesA.map((w) => w.n)).toEqual([5]); // 4 tokens left in A

    const flood = await Promise.all(Array.from({ length: 50 }, () => b.consume('k', LIMIT)));
    expect(admitted(flood)).toHaveLength(LIMIT - 5); // B gets what A did not reserve
    expect(1 + admitted(flood).length).toBe(LIMIT - BOUND); // A's 4 are the under-admission
    expect(await countOf(`rpm#k#${MINUTE}`)).toBe(LIMIT);

    // A thaws in the same minute: its 4 tokens pass without a write, then it is refused.
    const later = await Promise.all(Array.from({ length: 6 }, () => a.consume('k', LIMIT)));
    expect(admitted(later)).toHaveLength(4);
    expect(writesA.filter((w) => w.applied).map((w) => w.n)).toEqual([5]);
    expect(await countOf(`rpm#k#${MINUTE}`)).toBe(LIMIT);
  });

  test("an instance's stale count cannot get it a large block: the write is conditioned on the store's real count", async () => {
    const { counter, writes } = recorded();
    const a = new LeasedLimiter(counter, { now: clock });
    const b = new LeasedLimiter(store, { now: clock });
    for (let i = 0; i < 5; i++) expect((await a.consume('k', LIMIT)).allowed).toBe(true); // A's block of 5, spent
    for (let i = 0; i < 11; i++) expect((await b.consume('k', LIMIT)).allowed).toBe(true);
    expect(await countOf(`rpm#k#${MINUTE}`)).toBe(16); // 4 left, A still believes 15
    // A asks for floor(15/4) = 3 only if count + 4·3 <= 20: refused; then exactly 1.
    const next = await a.consume('k', LIMIT);
    expect(next).toMatchObject({ allowed: true, remaining: 3 });
    expect(writes.map((w) => ({ n: w.n, applied: w.applied }))).toEqual([
      { n: 5, applied: true },
      { n: 3, applied: false },
      { n: 1, applied: true },
    ]);
    expect(await countOf(`rpm#k#${MINUTE}`)).toBe(17); // A strands nothing
  });

  test(`five instances that each stop after one request: the one that keeps going admits at least the limit minus the sum of their last blocks - 1`, async () => {
    const limit = 100;
    const others = Array.from({ length: 4 }, () => recorded());
    for (const { counter } of others) expect((await new LeasedLimiter(counter, { now: clock }).consume('k', limit)).allowed).toBe(true);
    const stranded = others.reduce((sum, { writes }) => sum + writes.filter((w) => w.applied).reduce((s, w) => s + w.n, 0) - 1, 0);
    // Each block was at most 1/F of what was left, and at most MAX_LEASE_BLOCK.
    for (const { writes } of others) for (const w of writes.filter((x) => x.applied && x.n > 1)) expect(w.n).toBeLessThanOrEqual(Math.min(MAX_LEASE_BLOCK, limit / LEASE_FRACTION));
    const last = new LeasedLimiter(store, { now: clock });
    const flood = await Promise.all(Array.from({ length: 200 }, () => last.consume('k', limit)));
    const total = 4 + admitted(flood).length;
    expect(total).toBeLessThanOrEqual(limit);
    expect(total).toBe(limit - stranded);
    // The documented bound for 4 other instances: 4 × (min(64, floor(100/4)) - 1) = 96, and the
    // sum of 1/F shares of what is left, 100 × (1 - (3/4)^4) ≈ 68.
    expect(stranded).toBeLessThanOrEqual(Math.min(4 * (Math.min(MAX_LEASE_BLOCK, Math.floor(limit / LEASE_FRACTION)) - 1), Math.floor(limit * (1 - (1 - 1 / LEASE_FRACTION) ** 4))));
  });
});

test('batches take what they lack from the store on top of the instance’s own tokens; near the limit exactly what fits passes, and what cannot fit is refused without a write', async () => {
  const { counter, writes } = recorded();
  const limiter = new LeasedLimiter(counter, { now: clock });
  const ns = () => writes.map((w) => w.n);
  expect(await limiter.consume('k', 100)).toMatchObject({ allowed: true, remaining: 99 });
  expect(ns()).toEqual([25]); // 24 tokens left
  // 30: 24 tokens + 6 from the store, reserved as a block of floor(75/4) = 18.
  expect(await limiter.consume('k', 100, 30)).toMatchObject({ allowed: true, remaining: 69 });
  expect(ns()).toEqual([25, 18]); // 12 tokens left, count 43
  // 60: 12 tokens + 48, more than a block would be: exactly 48.
  expect(await limiter.consume('k', 100, 60)).toMatchObject({ allowed: true, remaining: 9 });
  expect(ns()).toEqual([25, 18, 48]);
  // 10 cannot fit in what is left (9): refused, no write.
  expect(await limiter.consume('k', 100, 10)).toEqual({ allowed: false, limit: 100, remaining: 0, resetSeconds: 45 });
  expect(ns()).toEqual([25, 18, 48]);
  expect(await limiter.consume('k', 100, 9)).toMatchObject({ allowed: true, remaining: 0 });
  expect(await limiter.consume('k', 100)).toMatchObject({ allowed: false });
  expect(ns()).toEqual([25, 18, 48, 9]);
  expect(await countOf(`rpm#k#${MINUTE}`)).toBe(100); // 1 + 30 + 60 + 9: exactly the limit

  // More than the whole limit: refused without a write, as before.
  expect(await limiter.consume('other', 5, 6)).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 45 });
  expect(await countOf(`rpm#other#${MINUTE}`)).toBeUndefined();
});

test('a batch refused by the store while another instance holds tokens: the refusal proves the count, a smaller request still fits', async () => {
  const a = new LeasedLimiter(store, { now: clock });
  const b = new LeasedLimiter(store, { now: clock });
  expect((await a.consume('k', 20)).allowed).toBe(true); // A reserves 5
  expect((await b.consume('k', 20, 12)).allowed).toBe(true); // count 17
  const { counter, writes } = recorded();
  const c = new LeasedLimiter(counter, { now: clock });
  // C knows nothing yet: a block of 5 if count + 4·5 <= 20 (refused), then exactly 4 (refused: 3 left).
  expect((await c.consume('k', 20, 4)).allowed).toBe(false);
  expect((await c.consume('k', 20, 4)).allowed).toBe(false); // the refusal proved count > 16: no write
  expect(writes.map((w) => [w.n, w.applied])).toEqual([
    [5, false],
    [4, false],
  ]);
  expect(await c.consume('k', 20, 3)).toMatchObject({ allowed: true, remaining: 0 });
  expect(await countOf(`rpm#k#${MINUTE}`)).toBe(20);
});

test('RateLimit-Remaining never goes up within an instance’s window, while another instance spends too', async () => {
  const a = new LeasedLimiter(store, { now: clock });
  const b = new LeasedLimiter(store, { now: clock });
  const seen: number[] = [];
  for (let i = 0; i < 60; i++) {
    const da = await a.consume('k', 200, 1 + (i % 3));
    if (da.allowed) seen.push(da.remaining);
    await b.consume('k', 200, 2);
  }
  expect(seen.length).toBeGreaterThan(10);
  for (let i = 1; i < seen.length; i++) expect(seen[i]).toBeLessThanOrEqual(seen[i - 1]!);
  expect(await countOf(`rpm#k#${MINUTE}`)).toBeLessThanOrEqual(200);
});

test('minute rollover: a new window with the full limit and its own counter; tokens of the past minute are dropped with its state', async () => {
  const limiter = new LeasedLimiter(store, { now: clock });
  expect(await limiter.consume('k', 20)).toMatchObject({ allowed: true, remaining: 19, resetSeconds: 45 });
  now = START + 44_500;
  expect(await limiter.consume('k', 20)).toMatchObject({ allowed: true, remaining: 18, resetSeconds: 1 });
  expect(await limiter.consume('j', 20)).toMatchObject({ allowed: true });
  expect(limiter.trackedWindows).toBe(2);
  now = START + 45_000; // the next minute, 0 s in
  expect(await limiter.consume('k', 20)).toEqual({ allowed: true, limit: 20, remaining: 19, resetSeconds: 60 });
  expect(await countOf(`rpm#k#${MINUTE}`)).toBe(5); // the old block: 2 spent, 3 stranded with the minute
  expect(await countOf(`rpm#k#${MINUTE + 1}`)).toBe(5);
  expect(limiter.trackedWindows).toBe(1); // the past minute's windows are gone
});

test('local state is bounded: beyond maxWindows the oldest windows are forgotten (their tokens stranded, never spent twice)', async () => {
  const limiter = new LeasedLimiter(store, { now: clock, maxWindows: 3 });
  for (const key of ['a', 'b', 'c', 'd', 'e']) expect((await limiter.consume(key, 20)).allowed).toBe(true);
  expect(limiter.trackedWindows).toBe(3);
  // 'a' was forgotten: its next request reserves again from the store (5 + 5 of 20).
  expect(await limiter.consume('a', 20)).toMatchObject({ allowed: true });
  // The new state knows nothing: a block of 5 only if count + 4·5 <= 20 (refused: count is 5), then 1.
  expect(await countOf(`rpm#a#${MINUTE}`)).toBe(6);
  const flood = await Promise.all(Array.from({ length: 40 }, () => limiter.consume('a', 20)));
  expect(await countOf(`rpm#a#${MINUTE}`)).toBe(20);
  expect(admitted(flood).length).toBe(20 - 2 - 4); // 2 spent before; the forgotten 4 are stranded
});

describe('a store write that fails', () => {
  test('propagates to the request and to every request waiting for the same reservation; the gateway maps it to 503; the next request writes again', async () => {
    let broken = true;
    const missing = new DynamoDbCounters(db.client, `no-such-table-${randomUUID()}`);
    const { counter, writes } = recorded({
      incrementBelow: (...args) => (broken ? missing : store).incrementBelow(...args),
      add: (...args) => store.add(...args),
    });
    const limiter = new LeasedLimiter(counter, { now: clock });
    const outcomes = await Promise.allSettled(Array.from({ length: 5 }, () => limiter.consume('k', 1_000)));
    expect(outcomes.every((o) => o.status === 'rejected')).toBe(true);
    expect(writes).toHaveLength(0); // the failed write is not recorded as a count
    const guarded = guardStore((...args: Parameters<LeasedLimiter['consume']>) => limiter.consume(...args), 2_500);
    await expect(guarded('k', 1_000)).rejects.toBeInstanceOf(StoreUnavailableError);

    broken = false;
    expect(await limiter.consume('k', 1_000)).toMatchObject({ allowed: true, remaining: 999 });
    expect(writes.map((w) => w.n)).toEqual([64]);
  });

  test('tokens an instance held for a request whose write failed stay spendable', async () => {
    let broken = false;
    const missing = new DynamoDbCounters(db.client, `no-such-table-${randomUUID()}`);
    const limiter = new LeasedLimiter({ incrementBelow: (...args) => (broken ? missing : store).incrementBelow(...args), add: (...args) => store.add(...args) }, { now: clock });
    expect((await limiter.consume('k', 20)).allowed).toBe(true); // block 5: 4 tokens left
    broken = true;
    await expect(limiter.consume('k', 20, 6)).rejects.toThrow(); // needs 2 more from the store
    const small = await Promise.all(Array.from({ length: 4 }, () => limiter.consume('k', 20)));
    expect(admitted(small)).toHaveLength(4); // from the 4 tokens, no write
  });
});
