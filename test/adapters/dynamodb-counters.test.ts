import { DynamoDbCounters, ensureCountersTable } from '../../lambda/adapters/dynamodb-counters';
import { SignedDynamoDbCounters } from '../../lambda/adapters/signed-dynamodb-counters';
import type { RequestCounter } from '../../lambda/core/gateway/limits';
import { PerMinuteLimiter, QuotaMeter } from '../../lambda/core/gateway/limits';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { randomUUID } from 'node:crypto';

let db: TestDynamoDb;
let counters: RequestCounter;
const opened: SignedDynamoDbCounters[] = [];

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
  await db.close();
});

const implementations: [string, (table: string) => Promise<RequestCounter>][] = [
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

describe.each(implementations)(`%s on ${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'}`, (_name, make) => {
  beforeEach(async () => {
    const table = `counters-${randomUUID()}`;
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

  test('QuotaMeter: refuses once the flushed total plus local pending reaches the quota', async () => {
    const now = Date.UTC(2026, 10, 25, 10, 0, 0);
    const meter = new QuotaMeter(counters, { flushEvery: 3, flushIntervalMs: 60_000, now: () => now });
    // Another instance already used 8 of 10 this month.
    await counters.add('quota#org_a#2026-11', 8, 2_000_000_000);
    expect(meter.check('org_a', 10)).toEqual({ allowed: true, used: 0 }); // not known yet: no read on the hot path
    meter.record('org_a');
    expect(meter.flushIfDue()).toBeUndefined(); // 1 pending < 3
    meter.record('org_a');
    meter.record('org_a');
    await meter.flushIfDue();
    expect(meter.check('org_a', 10)).toEqual({ allowed: false, used: 11 }); // 8 + 3 flushed: overshoot 1, bounded by flushEvery
    expect(meter.check('org_b', 10).allowed).toBe(true); // other orgs unaffected
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
    const meter = new QuotaMeter(flaky, { flushEvery: 1, now: () => Date.UTC(2026, 10, 25) });
    meter.record('org_a');
    await meter.flush();
    fail = false;
    meter.record('org_a');
    await meter.flush();
    expect(await counters.add('quota#org_a#2026-11', 0, 2_000_000_000)).toBe(2);
  });
});
