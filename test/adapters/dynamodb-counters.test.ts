import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbCounters, ensureCountersTable } from '../../lambda/adapters/dynamodb-counters';
import { SignedDynamoDbCounters } from '../../lambda/adapters/signed-dynamodb-counters';
import type { RequestCounter } from '../../lambda/core/gateway/limits';
import type { LeaseStore } from '../../lambda/core/gateway/stream-slots';
import { PerMinuteLimiter, QuotaMeter } from '../../lambda/core/gateway/limits';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { randomUUID } from 'node:crypto';

let db: TestDynamoDb;
let counters: RequestCounter & LeaseStore;
let table: string;
const opened: SignedDynamoDbCounters[] = [];

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await db.close();
});

const implementations: [string, (table: string) => Promise<RequestCounter & LeaseStore>][] = [
  ['DynamoDbCounters (SDK client)', async (table) => new DynamoDbCounters(db.client, table)],
  [
    'SignedDynamoDbCounters (signed requests over undici)',
    async (table) => {
      const signed = await SignedDynamoDbCounters.fromClient(db.client, table);
      opened.push(signed);
      return signed;
    },
  ],
];

async function counterValue(id: string): Promise<number | undefined> {
  const out = await db.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: id } }, ConsistentRead: true }));
  return out.Item?.n?.N === undefined ? undefined : Number(out.Item.n.N);
}

describe.each(implementations)(`%s on ${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'}`, (_name, make) => {
  beforeEach(async () => {
    table = `counters-${randomUUID()}`;
    await ensureCountersTable(db.client, table);
    counters = await make(table);
  });

  test('200 concurrent conditional increments with limit 50 admit exactly 50', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => counters.incrementBelow('c1', 50, 2_000_000_000)));
    const admitted = results.filter((r) => r !== undefined) as number[];
    expect(admitted).toHaveLength(50);
    expect(new Set(admitted).size).toBe(50); // each admitted request saw a distinct count
    expect(Math.max(...admitted)).toBe(50);
    expect(await counters.incrementBelow('c1', 51, 2_000_000_000)).toBe(51);
  });

  test('incrementBelow with n: 200 concurrent adds of 3 with limit 50 admit exactly 16 (48), each seeing a distinct count', async () => {
    const results = await Promise.all(Array.from({ length: 200 }, () => counters.incrementBelow('batch', 50, 2_000_000_000, 3)));
    const admitted = (results.filter((r) => r !== undefined) as number[]).sort((a, b) => a - b);
    expect(admitted).toEqual(Array.from({ length: 16 }, (_, k) => 3 * (k + 1)));
    // 48 + 3 would pass 50, 48 + 2 does not: the condition is "room for n", not "below the limit".
    expect(await counters.incrementBelow('batch', 50, 2_000_000_000, 3)).toBeUndefined();
    expect(await counters.incrementBelow('batch', 50, 2_000_000_000, 2)).toBe(50);
    expect(await counters.incrementBelow('batch', 50, 2_000_000_000, 1)).toBeUndefined();
  });

  test('incrementBelow: n larger than the limit never writes, on a fresh counter and on a used one', async () => {
    // RequestCounter's contract: "adds n unless that would take it past limit". A fresh item
    // has no count yet, so the condition must still refuse n > limit.
    expect(await counters.incrementBelow('fresh', 2, 2_000_000_000, 3)).toBeUndefined();
    expect(await counterValue('fresh')).toBeUndefined();
    expect(await counters.incrementBelow('used', 10, 2_000_000_000, 4)).toBe(4);
    expect(await counters.incrementBelow('used', 10, 2_000_000_000, 11)).toBeUndefined();
    expect(await counterValue('used')).toBe(4);
  });

  test('leases: free, renewed by their owner, refused to others until they expire, then taken over', async () => {
    expect(await counters.acquire('stream#k#0', 'a', 1_000, 1_120)).toBe(true);
    expect(await counters.acquire('stream#k#0', 'a', 1_010, 1_130)).toBe(true); // renewal
    expect(await counters.acquire('stream#k#0', 'b', 1_129, 1_249)).toBe(false); // a's lease runs until 1130
    expect(await counters.acquire('stream#k#0', 'b', 1_130, 1_250)).toBe(false); // "expired" means strictly before now
    expect(await counters.acquire('stream#k#0', 'b', 1_131, 1_251)).toBe(true); // a crashed: b takes over
    expect(await counters.acquire('stream#k#0', 'a', 1_132, 1_252)).toBe(false); // and a cannot take it back
    expect(await counters.acquire('stream#k#1', 'a', 1_132, 1_252)).toBe(true); // other slots are separate items
  });

  test('leases: release frees the slot only for its owner; a foreign release changes nothing', async () => {
    expect(await counters.acquire('stream#k#0', 'owner', 1_000, 1_120)).toBe(true);
    await counters.release('stream#k#0', 'intruder'); // resolves: nothing to give back
    expect(await counters.acquire('stream#k#0', 'other', 1_001, 1_121)).toBe(false);
    await counters.release('stream#k#0', 'owner');
    expect(await counters.acquire('stream#k#0', 'other', 1_001, 1_121)).toBe(true);
    await counters.release('never-taken', 'anyone'); // no item: resolves too
    expect(await counters.acquire('never-taken', 'x', 1_001, 1_121)).toBe(true);
  });

  test('leases: of 20 owners racing for one lease exactly one gets it', async () => {
    const won = await Promise.all(Array.from({ length: 20 }, (_, i) => counters.acquire('stream#race#0', `owner${i}`, 1_000, 1_120)));
    expect(won.filter(Boolean)).toHaveLength(1);
  });

  test('add accumulates and returns the running total', async () => {
    expect(await counters.add('q', 5, 2_000_000_000)).toBe(5);
    expect(await counters.add('q', 7, 2_000_000_000)).toBe(12);
  });

  test('PerMinuteLimiter: per key and per minute window, with remaining and reset', async () => {
    let now = Date.UTC(2026, 10, 25, 10, 0, 15); // 45 s before the next minute
    const limiter = new PerMinuteLimiter(counters, () => now);
    expect(await limiter.consume('k1', 2)).toEqual({ allowed: true, limit: 2, remaining: 1, resetSeconds: 45 });
    expect(await limiter.consume('k1', 2)).toEqual({ allowed: true, limit: 2, remaining: 0, resetSeconds: 45 });
    expect(await limiter.consume('k1', 2)).toEqual({ allowed: false, limit: 2, remaining: 0, resetSeconds: 45 });
    expect((await limiter.consume('k2', 2)).allowed).toBe(true); // another key has its own window
    now += 45_000; // next minute
    expect(await limiter.consume('k1', 2)).toMatchObject({ allowed: true, remaining: 1, resetSeconds: 60 });
  });

  test('PerMinuteLimiter: a batch takes n units at once or none; n over the limit is refused without a write; handshakes have their own window', async () => {
    const now = Date.UTC(2026, 10, 25, 10, 0, 15);
    const minute = Math.floor(now / 60_000);
    const limiter = new PerMinuteLimiter(counters, () => now);
    expect(await limiter.consume('k1', 5, 3)).toEqual({ allowed: true, limit: 5, remaining: 2, resetSeconds: 45 });
    expect(await limiter.consume('k1', 5, 3)).toEqual({ allowed: false, limit: 5, remaining: 0, resetSeconds: 45 });
    expect(await limiter.consume('k1', 5, 2)).toEqual({ allowed: true, limit: 5, remaining: 0, resetSeconds: 45 });
    expect(await counterValue(`rpm#k1#${minute}`)).toBe(5);
    expect((await limiter.consume('k2', 2, 3)).allowed).toBe(false);
    expect(await counterValue(`rpm#k2#${minute}`)).toBeUndefined();
    // The handshake window of k1 is a counter of its own: k1's used-up minute does not touch it.
    expect(await limiter.consume('k1', 4, 2, 'hs')).toEqual({ allowed: true, limit: 4, remaining: 2, resetSeconds: 45 });
    expect(await counterValue(`hs#k1#${minute}`)).toBe(2);
    expect(await counterValue(`rpm#k1#${minute}`)).toBe(5);
  });

  test('QuotaMeter: an org it has not learned yet is flushed on its first request; then refused once the flushed total plus local pending reaches the quota', async () => {
    const now = Date.UTC(2026, 10, 25, 10, 0, 0);
    // An early flush once pending reaches 3 of what this instance believes is left.
    const meter = new QuotaMeter(counters, { flushFractionOfHeadroom: 0.3, flushIntervalMs: 60_000, now: () => now });
    // Another instance already used 5 of 20 this month.
    await counters.add('quota#org_a#2026-11', 5, 2_000_000_000);
    expect(meter.check('org_a', 20)).toEqual({ allowed: true, used: 0 }); // not known yet: no read on the hot path
    meter.record('org_a');
    await meter.flushIfDue(); // the first request of an unknown org: learns the total, 6
    expect(meter.check('org_a', 20)).toEqual({ allowed: true, used: 6 }); // 14 left: early flush at 4 pending
    for (let i = 0; i < 3; i++) {
      meter.record('org_a');
      expect(meter.flushIfDue()).toBeUndefined();
      meter.check('org_a', 20);
    }
    meter.record('org_a');
    await meter.flushIfDue();
    expect(meter.check('org_a', 20)).toEqual({ allowed: true, used: 10 });
    await counters.add('quota#org_a#2026-11', 9, 2_000_000_000); // other instances: 19 of 20
    expect(meter.check('org_a', 20).allowed).toBe(true); // this instance does not know yet
    meter.record('org_a'); // 10 left as it knows: early flush at 3 pending; not due yet
    expect(meter.flushIfDue()).toBeUndefined();
    meter.check('org_a', 20);
    meter.record('org_a');
    meter.check('org_a', 20);
    meter.record('org_a');
    await meter.flushIfDue();
    expect(meter.check('org_a', 20)).toEqual({ allowed: false, used: 22 }); // overshoot 2, bounded by the early flush
    expect(meter.check('org_b', 20).allowed).toBe(true); // other orgs unaffected
  });

  test('QuotaMeter: far from the quota only time flushes; near it every request does; a write in flight still counts', async () => {
    let now = Date.UTC(2026, 10, 25, 10, 0, 0);
    const meter = new QuotaMeter(counters, { flushIntervalMs: 5_000, now: () => now });
    meter.check('org_far', 100_000);
    meter.record('org_far');
    await meter.flushIfDue(); // learns the total
    for (let i = 0; i < 100; i++) {
      expect(meter.check('org_far', 100_000).allowed).toBe(true);
      meter.record('org_far');
      expect(meter.flushIfDue()).toBeUndefined(); // 100 pending, far below 1/8 of 100,000
    }
    now += 5_000;
    const flushing = meter.flushIfDue();
    expect(flushing).toBeDefined();
    expect(meter.check('org_far', 100_000).used).toBe(101); // being written: still counted
    await flushing;
    expect(await counters.add('quota#org_far#2026-11', 0, 2_000_000_000)).toBe(101);

    // 3 of 10 left (learned from the store): the early-flush threshold is 1, so each request flushes.
    await counters.add('quota#org_near#2026-11', 7, 2_000_000_000);
    meter.check('org_near', 10);
    meter.record('org_near');
    await meter.flushIfDue(); // learns the total 8
    for (const expected of [9, 10]) {
      expect(meter.check('org_near', 10).allowed).toBe(true);
      meter.record('org_near');
      await meter.flushIfDue();
      expect(await counters.add('quota#org_near#2026-11', 0, 2_000_000_000)).toBe(expected);
    }
    expect(meter.check('org_near', 10)).toEqual({ allowed: false, used: 10 });
  });

  test('QuotaMeter: the month rolls over at the UTC month boundary', async () => {
    let now = Date.UTC(2026, 10, 30, 23, 59, 59, 999);
    const meter = new QuotaMeter(counters, { now: () => now });
    meter.check('org_m', 1_000_000);
    meter.record('org_m', 2);
    now += 1;
    meter.check('org_m', 1_000_000);
    meter.record('org_m', 3);
    await meter.flush();
    expect(await counters.add('quota#org_m#2026-11', 0, 2_000_000_000)).toBe(2);
    expect(await counters.add('quota#org_m#2026-12', 0, 2_000_000_000)).toBe(3);
  });

  test('QuotaMeter: a failed flush keeps the pending count for the next one', async () => {
    let fail = true;
    const flaky: RequestCounter = {
      incrementBelow: counters.incrementBelow.bind(counters),
      add: async (id: string, delta: number, ttl: number) => {
        if (fail) throw new Error('throttled');
        return counters.add(id, delta, ttl);
      },
    };
    const meter = new QuotaMeter(flaky, { now: () => Date.UTC(2026, 10, 25) });
    meter.record('org_a');
    await meter.flush();
    fail = false;
    meter.record('org_a');
    await meter.flush();
    expect(await counters.add('quota#org_a#2026-11', 0, 2_000_000_000)).toBe(2);
  });
});
