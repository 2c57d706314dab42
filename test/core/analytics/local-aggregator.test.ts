import { randomUUID } from 'node:crypto';
import { type DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../../lambda/adapters/dynamodb-rollups';
import { LocalAnalytics } from '../../../lambda/core/analytics/local-aggregator';
import type { ApplyResult, BatchPosition, Rollup, RollupWriter } from '../../../lambda/core/analytics/model';
import { usageReport } from '../../../lambda/core/analytics/usage-query';
import type { UsageRecord } from '../../../lambda/core/gateway/usage';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
let table: string;
const opened: LocalAnalytics[] = [];

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await Promise.all(opened.map((a) => a.close().catch(() => undefined)));
  await db.close();
});
beforeEach(async () => {
  table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
});

const HOUR = Date.UTC(2026, 11, 1, 10);

function usage(i: number): UsageRecord {
  return {
    type: 'usage',
    timestamp: new Date(HOUR + (i % 5) * 60_000).toISOString(),
    requestId: `r${i}`,
    region: 'local',
    orgId: 'org1',
    keyId: `k${i % 2}`,
    mcp: 'm1',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: `t${i % 3}`,
    status: i % 4 === 0 ? 500 : 200,
    totalMs: 1 + (i % 30),
    bytesIn: 10,
    bytesOut: 100 + i,
    costMicroUsd: 10,
  };
}

/** The real store; apply() calls are counted (and can be held) on the way through. */
class CountingWriter implements RollupWriter {
  applies: BatchPosition[] = [];
  gate: Promise<void> | undefined;
  constructor(private readonly inner: RollupWriter) {}
  async apply(position: BatchPosition, rollups: readonly Rollup[]): Promise<ApplyResult> {
    this.applies.push(position);
    await this.gate;
    return this.inner.apply(position, rollups);
  }
}

/** A client whose PutItems fail while `failing()` says so (counting them), otherwise the real one. */
function flakyClient(client: DynamoDBClient, failing: (nthPut: number) => boolean): DynamoDBClient {
  let puts = 0;
  return {
    send: (command: object) => {
      if (command instanceof PutItemCommand && failing(++puts)) return Promise.reject(new Error('injected: store unavailable'));
      return (client.send as (c: object) => Promise<unknown>)(command);
    },
  } as unknown as DynamoDBClient;
}

function open(writer: RollupWriter, options: ConstructorParameters<typeof LocalAnalytics>[1] = {}): LocalAnalytics {
  const analytics = new LocalAnalytics(writer, options);
  opened.push(analytics);
  return analytics;
}

async function stored(): Promise<{ requests: number; errors: number; bytesOut: number; costUsd: number; byKey: number }> {
  const store = new DynamoDbRollups(db.client, table);
  const q = { orgId: 'org1', from: HOUR, to: HOUR + 3_600_000, granularity: 'minute', groupBy: 'all' } as const;
  const all = (await usageReport(store, q)).totals;
  const byKey = (await usageReport(store, { ...q, groupBy: 'key' })).totals;
  return { requests: all.requests, errors: all.errors, bytesOut: all.bytesOut, costUsd: all.costUsd, byKey: byKey.requests };
}

/** Polls (bounded) until the store holds exactly the first n records: a flush writes its items one by one. */
async function eventually(n: number): Promise<void> {
  const want = JSON.stringify(truth(n));
  for (let k = 0; k < 250 && JSON.stringify(await stored()) !== want; k++) await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await stored()).toEqual(truth(n));
}

const truth = (n: number) => {
  const rs = Array.from({ length: n }, (_, i) => usage(i));
  return {
    requests: n,
    errors: rs.filter((r) => r.status === 500).length,
    bytesOut: rs.reduce((s, r) => s + r.bytesOut, 0),
    costUsd: (n * 10) / 1_000_000,
    byKey: n,
  };
};

test('flushes on its timer, one batch per interval, positions growing under one boot id', async () => {
  const writer = new CountingWriter(new DynamoDbRollups(db.client, table));
  const analytics = open(writer, { flushIntervalMs: 40, bootId: 'boot-1' });
  for (let i = 0; i < 30; i++) analytics.record(usage(i));
  await eventually(30);
  for (let i = 30; i < 50; i++) analytics.record(usage(i));
  await eventually(50);
  expect(writer.applies.length).toBe(2); // empty intervals write nothing
  expect(writer.applies.map((p) => p.source)).toEqual(['boot-1', 'boot-1']);
  expect(writer.applies.map((p) => p.first)).toEqual(['0000000000000001', '0000000000000002']);
  expect(writer.applies.every((p) => p.first === p.last)).toBe(true);
});

test('flushes on close (the timer never fired), then takes no more records', async () => {
  const analytics = open(new DynamoDbRollups(db.client, table), { flushIntervalMs: 60_000 });
  for (let i = 0; i < 25; i++) analytics.record(usage(i));
  expect((await stored()).requests).toBe(0);
  await analytics.close();
  expect(await stored()).toEqual(truth(25));
  analytics.record(usage(99));
  await analytics.flush();
  expect(await stored()).toEqual(truth(25));
});

test('the timer does not keep the process alive', () => {
  const analytics = open(new DynamoDbRollups(db.client, table), { flushIntervalMs: 60_000 });
  expect((analytics as unknown as { timer: NodeJS.Timeout }).timer.hasRef()).toBe(false);
});

test('a flush that fails half-way keeps its records; later flushes retry it as it was, then the newer ones: exact counts', async () => {
  let failFrom = 0;
  // The 8th PutItem of the first flush fails (some items written, some not), then the store is down for a while.
  let down = true;
  const client = flakyClient(db.client, (n) => down && n >= failFrom);
  const writer = new CountingWriter(new DynamoDbRollups(client, table));
  const errors: unknown[] = [];
  const analytics = open(writer, { flushIntervalMs: 60_000, onError: (e) => errors.push(e) });
  failFrom = 8;
  for (let i = 0; i < 40; i++) analytics.record(usage(i));
  await expect(analytics.flush()).rejects.toThrow('injected');
  const partial = await stored();
  expect(partial.requests).toBeGreaterThan(0); // half-way: some items have the batch
  expect(partial.byKey).toBeLessThan(40);
  for (let i = 40; i < 60; i++) analytics.record(usage(i));
  failFrom = 0; // now every write fails
  await expect(analytics.flush()).rejects.toThrow('injected');
  for (let i = 60; i < 70; i++) analytics.record(usage(i));
  down = false;
  await analytics.flush();
  expect(await stored()).toEqual(truth(70));
  // The failed batch kept its position; the newer records came after it under the next one.
  const firsts = writer.applies.map((p) => p.first);
  expect(firsts[0]).toBe('0000000000000001');
  expect(firsts.at(-1)).toBe('0000000000000002');
  expect(firsts.filter((f) => f === '0000000000000001').length).toBe(3);
  await analytics.flush(); // nothing left: no write
  expect(writer.applies).toHaveLength(firsts.length);
});

test('a failed timer flush is reported to onError and retried by the next tick', async () => {
  let down = true;
  const errors: unknown[] = [];
  const analytics = open(new DynamoDbRollups(flakyClient(db.client, () => down), table), { flushIntervalMs: 30, onError: (e) => errors.push(e) });
  for (let i = 0; i < 10; i++) analytics.record(usage(i));
  for (let k = 0; k < 200 && errors.length === 0; k++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(errors.length).toBeGreaterThan(0);
  down = false;
  await eventually(10);
});

test('concurrent flush calls share the flush in flight; a record taken meanwhile is written by the call made after it', async () => {
  const writer = new CountingWriter(new DynamoDbRollups(db.client, table));
  const analytics = open(writer, { flushIntervalMs: 60_000 });
  let open_: () => void = () => undefined;
  writer.gate = new Promise((resolve) => (open_ = resolve));
  for (let i = 0; i < 10; i++) analytics.record(usage(i));
  const first = analytics.flush();
  const second = analytics.flush();
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(writer.applies).toHaveLength(1);
  analytics.record(usage(10));
  const third = analytics.flush(); // must include record 10, which the flush in flight does not have
  writer.gate = undefined;
  open_();
  await Promise.all([first, second, third]);
  expect(writer.applies).toHaveLength(2);
  expect(await stored()).toEqual(truth(11));
});

test('record() is cheap and synchronous: 10,000 records, one flush, exact', async () => {
  const analytics = open(new DynamoDbRollups(db.client, table), { flushIntervalMs: 60_000 });
  const started = performance.now();
  for (let i = 0; i < 10_000; i++) analytics.record(usage(i));
  expect(performance.now() - started).toBeLessThan(500);
  await analytics.flush();
  expect(await stored()).toEqual(truth(10_000));
});
