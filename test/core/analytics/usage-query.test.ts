import { randomUUID } from 'node:crypto';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../../lambda/adapters/dynamodb-rollups';
import { ApiError } from '../../../lambda/core/errors';
import type { Rollup } from '../../../lambda/core/analytics/model';
import { aggregateUsage } from '../../../lambda/core/analytics/rollup';
import { USAGE_LIMITS, usageReport } from '../../../lambda/core/analytics/usage-query';
import type { UsageRecord } from '../../../lambda/core/gateway/usage';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbRollups;
let batch = 0;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  const table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
  store = new DynamoDbRollups(db.client, table);
});

const DAY = Date.UTC(2026, 11, 1);
const HOUR = 3_600_000;

function usage(over: Partial<UsageRecord>): UsageRecord {
  return {
    type: 'usage',
    timestamp: new Date(DAY).toISOString(),
    requestId: 'r',
    region: 'local',
    orgId: 'org1',
    keyId: 'k1',
    mcp: 'm1',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: 'search',
    status: 200,
    totalMs: 10,
    bytesIn: 10,
    bytesOut: 100,
    ...over,
  };
}

/** Stores the rollups of `records` that `keep` selects, as one batch. */
async function store_(records: UsageRecord[], keep: (r: Rollup) => boolean = () => true) {
  batch++;
  await store.apply({ source: 'test', first: String(batch).padStart(16, '0'), last: String(batch).padStart(16, '0') }, aggregateUsage(records).filter(keep));
}

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

test('every bucket of the range is a point; empty ones are zeros with null percentiles', async () => {
  await store_(
    [
      usage({ timestamp: new Date(DAY + 1 * HOUR + 5).toISOString(), mcp: 'a', totalMs: 20, costMicroUsd: 1_500 }),
      usage({ timestamp: new Date(DAY + 1 * HOUR + 9).toISOString(), mcp: 'a', status: 502, errorCode: 'upstream_unavailable' }),
      usage({ timestamp: new Date(DAY + 3 * HOUR).toISOString(), mcp: 'b', status: 429, errorCode: 'rate_limited' }),
    ],
    (r) => r.id.granularity === 'hour',
  );
  const report = await usageReport(store, { orgId: 'org1', from: DAY, to: DAY + 6 * HOUR, granularity: 'hour', groupBy: 'mcp' });
  expect(report).toMatchObject({ granularity: 'hour', groupBy: 'mcp', from: new Date(DAY).toISOString(), to: new Date(DAY + 6 * HOUR).toISOString() });
  expect(report.series.map((s) => s.group)).toEqual(['a', 'b']); // by requests
  for (const s of report.series) expect(s.points.map((p) => p.start)).toEqual(Array.from({ length: 6 }, (_, k) => new Date(DAY + k * HOUR).toISOString()));
  const a = report.series[0]!.points;
  expect(a[0]).toEqual({ start: new Date(DAY).toISOString(), requests: 0, errors: 0, errorRate: 0, rateLimited: 0, p50Ms: null, p95Ms: null, p99Ms: null, bytesIn: 0, bytesOut: 0, costUsd: 0, gatewayCostUsd: 0, errorsByCode: {} });
  expect(a[1]).toMatchObject({ requests: 2, errors: 1, errorRate: 0.5, rateLimited: 0, bytesIn: 20, bytesOut: 200, costUsd: 0.0015, errorsByCode: { upstream_unavailable: 1 } });
  expect(a[1]!.p50Ms).toBeGreaterThan(9.8);
  expect(a[1]!.p99Ms).toBeLessThan(20.3);
  expect(report.series[1]!.points[3]).toMatchObject({ requests: 1, errors: 1, rateLimited: 1, errorsByCode: { rate_limited: 1 } });
  expect(report.totals).toMatchObject({ requests: 3, errors: 2, rateLimited: 1, bytesIn: 30, costUsd: 0.0015, errorsByCode: { rate_limited: 1, upstream_unavailable: 1 } });
  expect(JSON.parse(JSON.stringify(report))).toEqual(report); // plain JSON, ready for the API
});

test("the gateway's AWS cost: per point and in the totals, in USD, apart from the upstream cost; 0 without an estimate", async () => {
  // 4.2626 µ$ a request in the first hour, 7.0004 µ$ in the third (each rounded to whole nano-USD).
  const gatewayCost = (r: UsageRecord) => (Date.parse(r.timestamp) < DAY + 2 * HOUR ? 4.2626 : 7.0004);
  const records = [
    usage({ timestamp: new Date(DAY + 5).toISOString(), costMicroUsd: 1_000 }),
    usage({ timestamp: new Date(DAY + 9).toISOString() }),
    usage({ timestamp: new Date(DAY + 2 * HOUR).toISOString() }),
  ];
  batch++;
  await store.apply({ source: 'test', first: String(batch).padStart(16, '0'), last: String(batch).padStart(16, '0') }, aggregateUsage(records, { gatewayCost }));
  const report = await usageReport(store, { orgId: 'org1', from: DAY, to: DAY + 3 * HOUR, granularity: 'hour', groupBy: 'all' });
  expect(report.series[0]!.points.map((p) => p.gatewayCostUsd)).toEqual([8_526 / 1e9, 0, 7_000 / 1e9]);
  expect(report.series[0]!.points.map((p) => p.costUsd)).toEqual([0.001, 0, 0]);
  expect(report.totals.gatewayCostUsd).toBe(15_526 / 1e9);
  expect(report.totals.costUsd).toBe(0.001);
  // Local mode: no estimate, so 0 (like the upstream cost of an MCP without pricing).
  await store_([usage({ orgId: 'org-local', timestamp: new Date(DAY).toISOString() })]);
  const local = await usageReport(store, { orgId: 'org-local', from: DAY, to: DAY + HOUR, granularity: 'hour', groupBy: 'all' });
  expect(local.totals).toMatchObject({ requests: 1, gatewayCostUsd: 0 });
});

test('a range that is not on bucket boundaries widens to whole buckets; an empty range has no points', async () => {
  await store_([usage({ timestamp: new Date(DAY + 30 * 60_000).toISOString() })], (r) => r.id.granularity === 'hour');
  const report = await usageReport(store, { orgId: 'org1', from: DAY + 10 * 60_000, to: DAY + HOUR + 1, granularity: 'hour', groupBy: 'all' });
  expect(report.from).toBe(new Date(DAY).toISOString());
  expect(report.to).toBe(new Date(DAY + 2 * HOUR).toISOString());
  expect(report.series).toHaveLength(1);
  expect(report.series[0]!.points.map((p) => p.requests)).toEqual([1, 0]);
  const empty = await usageReport(store, { orgId: 'org1', from: DAY, to: DAY, granularity: 'hour', groupBy: 'all' });
  expect(empty.series).toEqual([{ group: '', points: [] }]);
  expect(empty.totals.requests).toBe(0);
  expect(empty.totals.p50Ms).toBeNull();
});

test('groupBy all has its one series even with no data; another org sees nothing of org1', async () => {
  await store_([usage({})], (r) => r.id.granularity === 'day');
  const other = await usageReport(store, { orgId: 'org2', from: DAY, to: DAY + 86_400_000, granularity: 'day', groupBy: 'all' });
  expect(other.series).toEqual([{ group: '', points: [expect.objectContaining({ requests: 0 })] }]);
  const byKey = await usageReport(store, { orgId: 'org2', from: DAY, to: DAY + 86_400_000, granularity: 'day', groupBy: 'key' });
  expect(byKey.series).toEqual([]);
});

test(`series are sorted by requests and cut at ${USAGE_LIMITS.maxSeries}; totals count every group`, async () => {
  const records: UsageRecord[] = [];
  for (let t = 0; t < 105; t++) for (let n = 0; n <= t % 10; n++) records.push(usage({ tool: `tool-${String(t).padStart(3, '0')}` }));
  await store_(records, (r) => r.id.granularity === 'day' && r.id.dimension === 'tool');
  const report = await usageReport(store, { orgId: 'org1', from: DAY, to: DAY + 86_400_000, granularity: 'day', groupBy: 'tool' });
  expect(report.series).toHaveLength(USAGE_LIMITS.maxSeries);
  const counts = report.series.map((s) => s.points[0]!.requests);
  expect(counts).toEqual([...counts].sort((x, y) => y - x));
  expect(counts[0]).toBe(10);
  // Ties in group order; the five smallest (1 request each, the last in order) are the ones cut.
  expect(report.series.slice(0, 3).map((s) => s.group)).toEqual(['tool-009', 'tool-019', 'tool-029']);
  expect(report.series.at(-1)!.group).toBe('tool-050');
  expect(report.totals.requests).toBe(records.length);
});

test('totals: exact counts and p50/p95/p99 of the union within 2 % of the exact quantiles', async () => {
  const random = seeded(7);
  const records: UsageRecord[] = [];
  for (let i = 0; i < 5000; i++) {
    // A skewed mix: most calls fast, a heavy tail (Pareto), over 24 hours and 4 keys.
    const ms = random() < 0.8 ? 2 + random() * 8 : 20 / Math.pow(1 - random(), 1 / 1.5);
    records.push(usage({ totalMs: ms, keyId: `k${i % 4}`, timestamp: new Date(DAY + Math.floor(random() * 86_400_000)).toISOString(), status: i % 13 === 0 ? 500 : 200 }));
  }
  for (let b = 0; b < 5; b++) await store_(records.slice(b * 1000, b * 1000 + 1000), (r) => r.id.granularity === 'hour' && r.id.dimension === 'key');
  const report = await usageReport(store, { orgId: 'org1', from: DAY, to: DAY + 86_400_000, granularity: 'hour', groupBy: 'key' });
  expect(report.series.map((s) => s.group).sort()).toEqual(['k0', 'k1', 'k2', 'k3']);
  expect(report.totals.requests).toBe(5000);
  expect(report.totals.errors).toBe(records.filter((r) => r.status === 500).length);
  expect(report.totals.errorsByCode).toEqual({ http_500: report.totals.errors });
  const sorted = records.map((r) => r.totalMs).sort((x, y) => x - y);
  const exact = (q: number) => sorted[Math.floor(q * (sorted.length - 1))]!;
  expect(Math.abs(report.totals.p50Ms! - exact(0.5)) / exact(0.5)).toBeLessThan(0.02);
  expect(Math.abs(report.totals.p95Ms! - exact(0.95)) / exact(0.95)).toBeLessThan(0.02);
  expect(Math.abs(report.totals.p99Ms! - exact(0.99)) / exact(0.99)).toBeLessThan(0.02);
  expect(exact(0.99) / exact(0.5)).toBeGreaterThan(10);
  // Each series' points add up to its share.
  const perSeries = report.series.map((s) => s.points.reduce((n, p) => n + p.requests, 0));
  expect(perSeries.reduce((x, y) => x + y, 0)).toBe(5000);
});

test(`more than ${USAGE_LIMITS.maxPoints} points is usage_range_too_large`, async () => {
  const q = { orgId: 'org1', from: DAY, to: DAY + (USAGE_LIMITS.maxPoints + 1) * 60_000, granularity: 'minute', groupBy: 'all' } as const;
  const error = await usageReport(store, q).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(ApiError);
  expect(error).toMatchObject({ status: 400, code: 'usage_range_too_large' });
  const ok = await usageReport(store, { ...q, to: DAY + USAGE_LIMITS.maxPoints * 60_000 });
  expect(ok.series[0]!.points).toHaveLength(USAGE_LIMITS.maxPoints);
});
