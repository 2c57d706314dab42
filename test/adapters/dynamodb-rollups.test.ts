import { randomUUID } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
} from '@aws-sdk/client-dynamodb';
import {
  comparePositions,
  DynamoDbRollups,
  ensureAnalyticsTable,
  rollupPartitionKey,
  rollupSortKey,
} from '../../lambda/adapters/dynamodb-rollups';
import { FLEET_ORG_ID, type BatchPosition, type Rollup, type RollupQuery } from '../../lambda/core/analytics/model';
import { aggregateUsage } from '../../lambda/core/analytics/rollup';
import type { UsageRecord } from '../../lambda/core/gateway/usage';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let table: string;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
});

const HOUR = Date.UTC(2026, 11, 1, 10);
/** Test records fall into the first MINUTES minutes of HOUR (few items: store tests stay quick on DynamoDB Local too). */
const MINUTES = 10;

/** mulberry32: a small seeded generator, so that every run sees the same values. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function usage(i: number, over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    type: 'usage',
    timestamp: new Date(HOUR + (i % MINUTES) * 60_000 + 1_000).toISOString(),
    requestId: `r${i}`,
    region: 'local',
    orgId: 'org1',
    keyId: `k${Math.floor(i / MINUTES) % 3}`, // i % MINUTES is the minute: the round decides key, MCP and tool
    mcp: `m${Math.floor(i / MINUTES) % 2}`,
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: `t${Math.floor(i / MINUTES) % 5}`,
    status: i % 10 === 0 ? 429 : i % 7 === 0 ? 502 : 200,
    errorCode: i % 10 === 0 ? 'rate_limited' : i % 7 === 0 ? 'upstream_unavailable' : undefined,
    totalMs: 5 + (i % 50),
    gatewayMs: 0.5,
    upstreamFirstByteMs: 3 + (i % 40),
    bytesIn: 100 + i,
    bytesOut: 1000 + i,
    costMicroUsd: i % 2 === 0 ? 250 : undefined,
    ...over,
  };
}

const records = (from: number, n: number) => Array.from({ length: n }, (_, k) => usage(from + k));

/** What the records add up to, counted directly (the truth the store must match). */
function truth(rs: UsageRecord[]) {
  return {
    requests: rs.length,
    errors: rs.filter((r) => r.status !== 200).length,
    rateLimited: rs.filter((r) => r.status === 429).length,
    bytesIn: rs.reduce((s, r) => s + r.bytesIn, 0),
    bytesOut: rs.reduce((s, r) => s + r.bytesOut, 0),
    costMicroUsd: rs.reduce((s, r) => s + (r.costMicroUsd ?? 0), 0),
  };
}

const position = (source: string, first: number, last = first): BatchPosition => ({
  source,
  first: String(first).padStart(64, '0'),
  last: String(last).padStart(64, '0'),
});

const hourAll = (orgId = 'org1'): RollupQuery => ({ orgId, granularity: 'hour', dimension: 'all', from: HOUR, to: HOUR + 3_600_000 });

/** Sums of every rollup a query returns (e.g. the 60 minutes of the hour). */
async function sums(store: DynamoDbRollups, q: RollupQuery) {
  const rollups = await store.query(q);
  const total = { requests: 0, errors: 0, rateLimited: 0, bytesIn: 0, bytesOut: 0, costMicroUsd: 0, latencyCount: 0 };
  for (const r of rollups) {
    total.requests += r.requests;
    total.errors += r.errors;
    total.rateLimited += r.rateLimited;
    total.bytesIn += r.bytesIn;
    total.bytesOut += r.bytesOut;
    total.costMicroUsd += r.costMicroUsd;
    total.latencyCount += r.latency.total.count;
  }
  return total;
}

/** The real client, with hooks before and after each command it passes on, and on its errors. */
interface Hooks {
  before?: (command: object) => Promise<void> | void;
  after?: (command: object) => Promise<void> | void;
  error?: (error: unknown) => void;
}

function wrapClient(client: DynamoDBClient, hook: Hooks): DynamoDBClient {
  return {
    send: async (command: object) => {
      await hook.before?.(command);
      let out: unknown;
      try {
        out = await (client.send as (c: object) => Promise<unknown>)(command);
      } catch (error) {
        hook.error?.(error);
        throw error;
      }
      await hook.after?.(command);
      return out;
    },
  } as unknown as DynamoDBClient;
}

describe(`DynamoDbRollups on ${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'}`, () => {
  test('apply then query round-trips every field of a rollup', async () => {
    const store = new DynamoDbRollups(db.client, table);
    const rollups = aggregateUsage(records(0, 120));
    const result = await store.apply(position('shard-1', 1, 120), rollups);
    expect(result).toEqual({ applied: rollups.length, skipped: 0 });
    for (const [granularity, dimension] of [['minute', 'key'], ['hour', 'tool'], ['day', 'mcp'], ['hour', 'all']] as const) {
      const q = { orgId: 'org1', granularity, dimension, from: Date.UTC(2026, 11, 1), to: Date.UTC(2026, 11, 2) };
      const stored = await store.query(q);
      const expected = rollups.filter((r) => r.id.orgId === 'org1' && r.id.granularity === granularity && r.id.dimension === dimension);
      expect(stored).toHaveLength(expected.length);
      const key = (r: Rollup) => `${r.id.bucketStart}#${r.id.group}`;
      const byKey = new Map(stored.map((r) => [key(r), r]));
      for (const want of expected) {
        const got = byKey.get(key(want))!;
        expect(got.id).toEqual(want.id);
        expect({ ...got, latency: undefined, errorsByCode: { ...got.errorsByCode } }).toEqual({ ...want, latency: undefined, errorsByCode: { ...want.errorsByCode } });
        for (const kind of ['total', 'upstreamFirstByte', 'gateway'] as const) {
          expect(got.latency[kind].toStored()).toEqual(want.latency[kind].toStored());
        }
      }
    }
    expect(await sums(store, hourAll(FLEET_ORG_ID))).toMatchObject({ requests: 120 });
  });

  test("the gateway's AWS cost (integer nano-USD) round-trips and adds exactly; an item stored before the field reads 0 and merges", async () => {
    const store = new DynamoDbRollups(db.client, table);
    // A made-up estimate with a fractional part, so that rounding per record is what is summed.
    const gatewayCost = (r: UsageRecord) => 4.2 + r.totalMs * 0.0133334;
    const rs = records(0, 40);
    const perRecord = rs.map((r) => Math.round(gatewayCost(r) * 1000));
    await store.apply(position('shard-1', 1, 40), aggregateUsage(rs, { gatewayCost }));
    const [hour] = await store.query(hourAll());
    expect(hour!.gatewayCostNanoUsd).toBe(perRecord.reduce((n, v) => n + v, 0));
    // Redelivered: unchanged; the next batch adds its own exactly.
    await store.apply(position('shard-1', 1, 40), aggregateUsage(rs, { gatewayCost }));
    const next = records(40, 20);
    await store.apply(position('shard-1', 41, 60), aggregateUsage(next, { gatewayCost }));
    const all = [...rs, ...next].reduce((n, r) => n + Math.round(gatewayCost(r) * 1000), 0);
    expect((await store.query(hourAll()))[0]!.gatewayCostNanoUsd).toBe(all);

    // An item as the store wrote it before gatewayCostNanoUsd existed: no such attribute.
    const key = { pk: { S: rollupPartitionKey('org-old', 'hour', 'all') }, sk: { S: rollupSortKey(HOUR, '') } };
    await store.apply(position('old', 1), aggregateUsage(records(0, 3).map((r) => ({ ...r, orgId: 'org-old' }))));
    const item = (await db.client.send(new GetItemCommand({ TableName: table, Key: key }))).Item!;
    delete item.gatewayCostNanoUsd;
    await db.client.send(new PutItemCommand({ TableName: table, Item: item }));
    expect((await store.query(hourAll('org-old')))[0]).toMatchObject({ requests: 3, gatewayCostNanoUsd: 0 });
    const later = records(3, 2).map((r) => ({ ...r, orgId: 'org-old' }));
    await store.apply(position('old', 2), aggregateUsage(later, { gatewayCost }));
    expect((await store.query(hourAll('org-old')))[0]).toMatchObject({ requests: 5, gatewayCostNanoUsd: later.reduce((n, r) => n + Math.round(gatewayCost(r) * 1000), 0) });
  });

  test('a batch delivered twice counts once (and a third time, once)', async () => {
    const store = new DynamoDbRollups(db.client, table);
    const rs = records(0, 200);
    const rollups = aggregateUsage(rs);
    const first = await store.apply(position('shard-1', 10, 209), rollups);
    const again = await store.apply(position('shard-1', 10, 209), rollups);
    const third = await store.apply(position('shard-1', 10, 209), aggregateUsage(rs));
    expect(first).toEqual({ applied: rollups.length, skipped: 0 });
    expect(again).toEqual({ applied: 0, skipped: rollups.length });
    expect(third).toEqual({ applied: 0, skipped: rollups.length });
    expect(await sums(store, hourAll())).toEqual({ ...truth(rs), latencyCount: 200 });
    // The next batch of the same source, and another source's batch at a lower position, still apply.
    const next = records(200, 50);
    const other = records(250, 30);
    await store.apply(position('shard-1', 210, 259), aggregateUsage(next));
    await store.apply(position('shard-2', 1, 30), aggregateUsage(other));
    expect(await sums(store, hourAll())).toEqual({ ...truth([...rs, ...next, ...other]), latencyCount: 280 });
  });

  test.each([
    ['the Nth PutItem throws before it is sent', 'before'],
    ['the Nth PutItem is written but its answer is lost', 'after'],
  ] as const)('a batch that fails half-way (%s) and is retried whole: exact totals, nothing lost, nothing doubled', async (_name, when) => {
    let puts = 0;
    let failAt = 0;
    const fail = (command: object) => {
      if (command instanceof PutItemCommand && ++puts === failAt) throw new Error('injected: connection reset');
    };
    const flaky = new DynamoDbRollups(wrapClient(db.client, when === 'before' ? { before: fail } : { after: fail }), table);
    const earlier = records(1000, 40);
    await flaky.apply(position('shard-1', 1, 40), aggregateUsage(earlier));

    const rs = records(0, 300);
    const rollups = aggregateUsage(rs);
    puts = 0;
    failAt = Math.floor(rollups.length / 2);
    await expect(flaky.apply(position('shard-1', 41, 340), rollups)).rejects.toThrow('injected');
    expect(puts).toBeGreaterThanOrEqual(failAt); // it failed half-way: some items have the batch, some not
    const views = (['minute', 'hour', 'day'] as const).flatMap((granularity) =>
      (['all', 'mcp', 'key', 'tool'] as const).map((dimension) => ({ orgId: 'org1', granularity, dimension, from: Date.UTC(2026, 11, 1), to: Date.UTC(2026, 11, 2) })),
    );
    let partial = 0;
    for (const q of views) partial += (await sums(flaky, q)).requests;
    expect(partial).toBeGreaterThan(earlier.length * views.length);
    expect(partial).toBeLessThan((earlier.length + rs.length) * views.length);

    failAt = 0;
    const retried = await flaky.apply(position('shard-1', 41, 340), rollups);
    expect(retried.applied).toBeGreaterThan(0);
    expect(retried.skipped).toBeGreaterThan(0);
    expect(retried.applied + retried.skipped).toBe(rollups.length);
    const all = [...earlier, ...rs];
    for (const q of views) expect(await sums(flaky, q)).toEqual({ ...truth(all), latencyCount: all.length });
    expect(await sums(flaky, hourAll(FLEET_ORG_ID))).toEqual({ ...truth(all), latencyCount: all.length });
  });

  test('a bisected redelivery (Kinesis splits a failed batch) neither doubles nor loses', async () => {
    const store = new DynamoDbRollups(db.client, table);
    const rs = records(0, 100);
    await store.apply(position('shard-1', 1, 100), aggregateUsage(rs)); // applied whole, then redelivered in halves
    await store.apply(position('shard-1', 1, 50), aggregateUsage(rs.slice(0, 50)));
    await store.apply(position('shard-1', 51, 100), aggregateUsage(rs.slice(50)));
    expect(await sums(store, hourAll())).toEqual({ ...truth(rs), latencyCount: 100 });
  });

  test('two writers racing on the same items (different sources, concurrently): exact sum, and the race happened', async () => {
    let conflicts = 0;
    // Each writer waits between its read and its write, so that the two read the same version.
    const slow = () =>
      wrapClient(db.client, {
        after: async (command) => {
          if (command instanceof GetItemCommand) await new Promise((resolve) => setTimeout(resolve, 15));
        },
        error: (error) => {
          if (error instanceof ConditionalCheckFailedException) conflicts++;
        },
      });
    const a = new DynamoDbRollups(slow(), table);
    const b = new DynamoDbRollups(slow(), table);
    const batchesA = Array.from({ length: 6 }, (_, k) => records(k * 20, 20));
    const batchesB = Array.from({ length: 6 }, (_, k) => records(1000 + k * 20, 20));
    const run = async (store: DynamoDbRollups, source: string, batches: UsageRecord[][]) => {
      for (const [k, batch] of batches.entries()) {
        // Only the hour items: every batch of both writers meets on the same few items.
        await store.apply(position(source, k + 1), aggregateUsage(batch).filter((r) => r.id.granularity === 'hour'));
      }
    };
    await Promise.all([run(a, 'shard-a', batchesA), run(b, 'shard-b', batchesB)]);
    expect(conflicts).toBeGreaterThan(0);
    const all = [...batchesA.flat(), ...batchesB.flat()];
    expect(await sums(a, hourAll())).toEqual({ ...truth(all), latencyCount: all.length });
    expect(await sums(b, hourAll(FLEET_ORG_ID))).toEqual({ ...truth(all), latencyCount: all.length });
    expect(await sums(b, { ...hourAll(), dimension: 'key' })).toEqual({ ...truth(all), latencyCount: all.length });
  });

  test('quantiles of a merged range are within 2 % of the exact quantiles of the same values', async () => {
    const store = new DynamoDbRollups(db.client, table);
    const random = seeded(20261201);
    // Log-normal latencies (median ~20 ms, a long tail into seconds), over an hour.
    const latencies: number[] = [];
    const rs: UsageRecord[] = [];
    for (let i = 0; i < 6000; i++) {
      const normal = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      const ms = Math.round(Math.exp(3 + 1.2 * normal) * 1000) / 1000;
      latencies.push(ms);
      rs.push(usage(i, { totalMs: ms, timestamp: new Date(HOUR + Math.floor(random() * 3_600_000)).toISOString() }));
    }
    // Delivered as 12 batches (so stored items are merges of merges); only the items read below,
    // which keeps the test to a few hundred writes.
    const read = (r: Rollup) => r.id.orgId === 'org1' && r.id.dimension === 'all' && r.id.granularity !== 'day';
    for (let b = 0; b < 12; b++) await store.apply(position('shard-1', b * 500 + 1, b * 500 + 500), aggregateUsage(rs.slice(b * 500, b * 500 + 500)).filter(read));
    const sorted = [...latencies].sort((x, y) => x - y);
    const exact = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
    const minutes = await store.query({ orgId: 'org1', granularity: 'minute', dimension: 'all', from: HOUR, to: HOUR + 3_600_000 });
    expect(minutes).toHaveLength(60);
    const merged = minutes[0]!.latency.total;
    for (const r of minutes.slice(1)) merged.merge(r.latency.total);
    const [hour] = await store.query(hourAll());
    expect(merged.count).toBe(6000);
    expect(hour!.latency.total.count).toBe(6000);
    for (const q of [0.5, 0.9, 0.95, 0.99]) {
      expect(Math.abs(merged.quantile(q) - exact(q)) / exact(q)).toBeLessThan(0.02);
      expect(Math.abs(hour!.latency.total.quantile(q) - exact(q)) / exact(q)).toBeLessThan(0.02);
    }
    // The spread is real: the test would notice a sketch that reports one value for everything.
    expect(exact(0.99) / exact(0.5)).toBeGreaterThan(10);
  });

  test('TTL per granularity: bucket end plus its retention, in epoch seconds', async () => {
    const retention = { minute: 3, hour: 40, day: 400 };
    const store = new DynamoDbRollups(db.client, table, { retention, now: () => HOUR });
    await store.apply(position('local', 1), aggregateUsage([usage(7)]));
    const start = { minute: HOUR + 7 * 60_000, hour: HOUR, day: Date.UTC(2026, 11, 1) };
    const size = { minute: 60, hour: 3600, day: 86400 };
    for (const g of ['minute', 'hour', 'day'] as const) {
      const out = await db.client.send(
        new GetItemCommand({ TableName: table, Key: { pk: { S: rollupPartitionKey('org1', g, 'all') }, sk: { S: rollupSortKey(start[g], '') } }, ConsistentRead: true }),
      );
      expect(Number(out.Item!.expiresAt!.N)).toBe(start[g] / 1000 + size[g] + retention[g] * 86400);
      expect(Number(out.Item!.v!.N)).toBe(1);
      expect(out.Item!.pos!.M!.local!.S).toBe(position('local', 1).last);
    }
    // Defaults: 2, 90, 730 days.
    const defaults = new DynamoDbRollups(db.client, table);
    expect(defaults.expiresAt('minute', 0)).toBe(60 + 2 * 86400);
    expect(defaults.expiresAt('hour', 0)).toBe(3600 + 90 * 86400);
    expect(defaults.expiresAt('day', 0)).toBe(86400 + 730 * 86400);
  });

  test('a late record for a bucket past its retention is not written', async () => {
    const later = HOUR + 3 * 86_400_000; // minute items (2 days) of HOUR have expired, hour and day not
    const store = new DynamoDbRollups(db.client, table, { now: () => later });
    const rollups = aggregateUsage([usage(1)]);
    const result = await store.apply(position('shard-1', 1), rollups);
    const minutes = rollups.filter((r) => r.id.granularity === 'minute').length;
    expect(result).toEqual({ applied: rollups.length - minutes, skipped: minutes });
    expect(await store.query({ orgId: 'org1', granularity: 'minute', dimension: 'all', from: HOUR, to: HOUR + 3_600_000 })).toEqual([]);
  });

  test('query: half-open range over bucket starts, every group, across pages; other orgs and dimensions apart', async () => {
    let pagesAsked = 0;
    // Small pages, so the store must follow LastEvaluatedKey.
    const paging = wrapClient(db.client, {
      before: (command) => {
        if (command instanceof QueryCommand) {
          command.input.Limit = 4;
          pagesAsked++;
        }
      },
    });
    const store = new DynamoDbRollups(paging, table);
    await store.apply(position('shard-1', 1, 150), aggregateUsage(records(0, 150)));
    await store.apply(position('shard-1', 151), aggregateUsage([usage(0, { orgId: 'org2' })]));
    const minutes = await store.query({ orgId: 'org1', granularity: 'minute', dimension: 'key', from: HOUR + 2 * 60_000, to: HOUR + 7 * 60_000 });
    expect(pagesAsked).toBeGreaterThanOrEqual(4); // 15 items, 4 a page
    expect(new Set(minutes.map((r) => r.id.bucketStart))).toEqual(new Set(Array.from({ length: 5 }, (_, k) => HOUR + (2 + k) * 60_000)));
    expect(minutes).toHaveLength(15); // 5 minutes × 3 keys
    expect(minutes.every((r) => r.id.orgId === 'org1' && r.id.dimension === 'key')).toBe(true);
    expect(await store.query({ orgId: 'org1', granularity: 'minute', dimension: 'key', from: HOUR, to: HOUR })).toEqual([]);
    expect((await store.query(hourAll('org2')))[0]!.requests).toBe(1);
    expect((await store.query(hourAll()))[0]!.requests).toBe(150);
  });

  test('an org id or group with # and odd characters stays apart', async () => {
    const store = new DynamoDbRollups(db.client, table);
    await store.apply(position('s', 1), aggregateUsage([usage(0, { tool: 'a#b', mcp: 'x' }), usage(0, { tool: 'a', mcp: 'x' }), usage(0, { tool: 'ü "q"', mcp: 'x' })]));
    const tools = await store.query({ ...hourAll(), dimension: 'tool' });
    expect(tools.map((r) => r.id.group).sort()).toEqual(['a', 'a#b', 'ü "q"']);
  });

  test('positions compare as numbers; first after last is refused', async () => {
    expect(comparePositions('0009', '0010')).toBeLessThan(0);
    expect(comparePositions('10', '9')).toBeGreaterThan(0);
    expect(comparePositions('0042', '0042')).toBe(0);
    const store = new DynamoDbRollups(db.client, table);
    await expect(store.apply(position('s', 5, 4), [])).rejects.toThrow('first is after last');
  });

  test('ensureAnalyticsTable is idempotent and turns TTL on where the engine has it', async () => {
    await ensureAnalyticsTable(db.client, table);
    if (db.engine === 'dynamodb-local') {
      const ttl = await db.client.send(new DescribeTimeToLiveCommand({ TableName: table }));
      expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
    }
  });
});
