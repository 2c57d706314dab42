import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../lambda/adapters/dynamodb-rollups';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { createAdminApp } from '../../lambda/core/admin/app';
import { OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { resolveRange } from '../../lambda/core/admin/routes/usage';
import { AlertService } from '../../lambda/core/alert-service';
import { USAGE_LIMITS } from '../../lambda/core/analytics/usage-query';
import type { RollupReader } from '../../lambda/core/analytics/model';
import { usageRecordGatewayCost } from '../../lambda/core/analytics/aws-cost';
import { aggregateUsage, nanoUsdOf } from '../../lambda/core/analytics/rollup';
import { ApiKeyAuthenticator } from '../../lambda/core/api-keys';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import type { UsageRecord } from '../../lambda/core/gateway/usage';
import { RegistryService } from '../../lambda/core/registry-service';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

/**
 * The usage routes of the admin API against real rollups: usage records aggregated by the
 * analytics core and stored in an analytics table of the local DynamoDB engine.
 */
const OPERATOR = 'pmop_test-operator-token';
const BASE = '/admin/v1';
/** The clock of the app: relative ranges count from here. */
const NOW = Date.parse('2026-12-01T12:30:00.000Z');

let db: TestDynamoDb;
let rollups: DynamoDbRollups;
let app: ReturnType<typeof createAdminApp>;
let deps: Parameters<typeof createAdminApp>[0];
let orgA: string;
let orgB: string;
let adminA: string;
let memberA: string;
let adminB: string;
let keyIdA: string;
const truth: UsageRecord[] = [];

const gatewayCost = usageRecordGatewayCost(1024);

function record(at: string, fields: Partial<UsageRecord> & { totalMs: number }): UsageRecord {
  return {
    type: 'usage',
    timestamp: at,
    requestId: randomUUID(),
    region: 'local',
    mcp: 'github',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    status: 200,
    bytesIn: 100,
    bytesOut: 1000,
    ...fields,
  };
}

/** The exact quantile (nearest rank below) of `values`. */
function exactQuantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

/** `token` null: no credentials. */
async function call(path: string, token: string | null = OPERATOR, app_ = app) {
  const res = await app_.request(`${BASE}${path}`, { headers: token !== null ? { authorization: `Bearer ${token}` } : {} });
  const text = await res.text();
  const json = (res.headers.get('content-type') ?? '').startsWith('application/json');
  return { status: res.status, headers: res.headers, text, body: json && text ? JSON.parse(text) : undefined };
}

beforeAll(async () => {
  db = await startTestDynamoDb();
  const registry = await db.newRegistryTable();
  const analyticsTable = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, analyticsTable);
  const auditTable = `audit-${randomUUID()}`;
  await ensureAuditTable(db.client, auditTable);
  rollups = new DynamoDbRollups(db.client, analyticsTable, { now: () => NOW });
  const store = new DynamoDbRegistryStore(db.client, registry);
  const service = new RegistryService({ store, cipher: new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32))), urlPolicy: { allowLoopback: false, resolve: async () => ['93.184.216.34'] } });
  const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  deps = {
    service,
    authenticateKey: (k) => keys.authenticate(k),
    operator: new OperatorCredential(async () => OPERATOR),
    health: new DynamoDbHealthStore(db.client, registry),
    alerts: new AlertService({ store: new DynamoDbAlertStore(db.client, registry), delivery: { subscribe: async () => undefined, unsubscribe: async () => undefined, publish: async () => undefined }, getOrg: (id) => store.getOrg(id) }),
    usage: rollups,
    audit: new DynamoDbAuditStore(db.client, auditTable),
    strictAudit: true,
    now: () => NOW,
  };
  app = createAdminApp(deps);

  orgA = (await service.createOrg({ name: 'A', plan: 'pro', ipAllowlist: [] })).item.orgId;
  orgB = (await service.createOrg({ name: 'B', plan: 'pro', ipAllowlist: [] })).item.orgId;
  const a = await service.createKey(orgA, { name: 'admin', role: 'admin', scopes: { mcps: '*', tools: {} } }, undefined, 'operator');
  adminA = a.secret;
  keyIdA = a.key.keyId;
  memberA = (await service.createKey(orgA, { name: 'member', role: 'member', scopes: { mcps: '*', tools: {} } }, undefined, 'operator')).secret;
  adminB = (await service.createKey(orgB, { name: 'admin', role: 'admin', scopes: { mcps: '*', tools: {} } }, undefined, 'operator')).secret;

  // Org A: 40 github calls at 10:05 (latencies 1..40 ms, 4 of them upstream errors), 10 docs
  // calls at 11:59 (50..59 ms, 1 rate limited); org B: 3 calls; 2 refused before authentication.
  for (let i = 1; i <= 40; i++) {
    truth.push(record('2026-12-01T10:05:00.000Z', { orgId: orgA, keyId: keyIdA, tool: i % 2 ? 'search' : 'create_issue', totalMs: i, costMicroUsd: 1500, ...(i % 10 === 0 ? { status: 502, errorCode: 'upstream_error' } : {}) }));
  }
  for (let i = 0; i < 10; i++) {
    truth.push(record('2026-12-01T11:59:30.000Z', { orgId: orgA, keyId: keyIdA, mcp: 'docs', tool: 'read, "quoted"', totalMs: 50 + i, ...(i === 0 ? { status: 429, errorCode: 'rate_limited' } : {}) }));
  }
  for (let i = 0; i < 3; i++) truth.push(record('2026-12-01T12:10:00.000Z', { orgId: orgB, keyId: 'bbbbbbbbbbbbbbbb', totalMs: 5 }));
  for (let i = 0; i < 2; i++) truth.push(record('2026-12-01T12:11:00.000Z', { status: 401, errorCode: 'invalid_credentials', totalMs: 0.2 }));
  // As the AWS consumer aggregates: with the gateway's AWS cost estimate. Org A's docs calls ran
  // in local mode (region 'local'), so they carry none.
  for (const [i, r] of truth.entries()) if (r.mcp !== 'docs') truth[i] = { ...r, region: 'us-east-1' };
  await rollups.apply({ source: 'test', first: '0001', last: '0001' }, aggregateUsage(truth, { gatewayCost }));
});
afterAll(async () => {
  await db.close();
});

describe('GET /orgs/{orgId}/usage', () => {
  test('defaults: the last 24 hours, hourly, one series for the whole org, every bucket a point', async () => {
    const res = await call(`/orgs/${orgA}/usage`);
    expect(res.status).toBe(200);
    const report = res.body;
    // 12:30 - 24 h rounded down to 12:00 the day before; 12:30 rounded up to 13:00.
    expect(report).toMatchObject({ granularity: 'hour', groupBy: 'all', from: '2026-11-30T12:00:00.000Z', to: '2026-12-01T13:00:00.000Z' });
    expect(report.series).toHaveLength(1);
    expect(report.series[0].group).toBe('');
    expect(report.series[0].points).toHaveLength(25);
    const busy = report.series[0].points.filter((p: { requests: number }) => p.requests > 0);
    expect(busy.map((p: { start: string; requests: number }) => [p.start, p.requests])).toEqual([
      ['2026-12-01T10:00:00.000Z', 40],
      ['2026-12-01T11:00:00.000Z', 10],
    ]);
    const empty = report.series[0].points[0];
    expect(empty).toMatchObject({ requests: 0, errors: 0, errorRate: 0, p50Ms: null, p95Ms: null, p99Ms: null, costUsd: 0 });

    const mine = truth.filter((r) => r.orgId === orgA);
    expect(report.totals).toMatchObject({
      requests: 50,
      errors: 5,
      errorRate: 0.1,
      rateLimited: 1,
      bytesIn: 5000,
      bytesOut: 50_000,
      costUsd: 0.06,
      errorsByCode: { upstream_error: 4, rate_limited: 1 },
    });
    // The gateway's own AWS cost, apart from costUsd: the github calls' estimates, none for docs.
    const github = mine.filter((r) => r.mcp === 'github').reduce((n, r) => n + nanoUsdOf(gatewayCost(r)), 0);
    expect(github).toBeGreaterThan(40 * 3_700);
    expect(report.totals.gatewayCostUsd).toBe(github / 1e9);
    expect(busy.map((p: { gatewayCostUsd: number }) => p.gatewayCostUsd)).toEqual([github / 1e9, 0]);
    expect(empty.gatewayCostUsd).toBe(0);
    const latencies = mine.map((r) => r.totalMs);
    for (const [q, field] of [[0.5, 'p50Ms'], [0.95, 'p95Ms'], [0.99, 'p99Ms']] as const) {
      expect(Math.abs(report.totals[field] - exactQuantile(latencies, q))).toBeLessThanOrEqual(exactQuantile(latencies, q) * 0.01 + 1e-9);
    }
  });

  test('groupBy=mcp: one series per MCP, busiest first; group= keeps one', async () => {
    const res = await call(`/orgs/${orgA}/usage?groupBy=mcp&from=2026-12-01T10:00:00Z&to=2026-12-01T12:00:00Z`);
    expect(res.status).toBe(200);
    expect(res.body.series.map((s: { group: string }) => s.group)).toEqual(['github', 'docs']);
    expect(res.body.series[0].points.map((p: { requests: number }) => p.requests)).toEqual([40, 0]);
    expect(res.body.series[1].points.map((p: { requests: number }) => p.requests)).toEqual([0, 10]);

    const one = await call(`/orgs/${orgA}/usage?groupBy=mcp&group=docs&from=2026-12-01T10:00:00Z&to=2026-12-01T12:00:00Z`);
    expect(one.body.series.map((s: { group: string }) => s.group)).toEqual(['docs']);
    expect(one.body.totals).toMatchObject({ requests: 10, errors: 1, rateLimited: 1 });
  });

  test.each([
    ['tool', () => ({ search: 20, create_issue: 20, 'read, "quoted"': 10 })],
    ['key', () => ({ [keyIdA]: 50 })],
  ])('groupBy=%s: requests per group', async (groupBy, expected) => {
    const res = await call(`/orgs/${orgA}/usage?groupBy=${groupBy}&from=-1d`);
    expect(res.status).toBe(200);
    const byGroup = Object.fromEntries(res.body.series.map((s: { group: string; points: { requests: number }[] }) => [s.group, s.points.reduce((n, p) => n + p.requests, 0)]));
    expect(byGroup).toEqual(expected());
  });

  test('minute granularity with a relative range; date-only and ISO bounds', async () => {
    const minutes = await call(`/orgs/${orgA}/usage?granularity=minute&from=-150m`);
    expect(minutes.status).toBe(200);
    // 10:00 to 12:30 (now, exclusive, on a minute boundary).
    expect(minutes.body.from).toBe('2026-12-01T10:00:00.000Z');
    expect(minutes.body.to).toBe('2026-12-01T12:30:00.000Z');
    expect(minutes.body.series[0].points).toHaveLength(150);
    // A `to` inside a bucket takes the whole bucket.
    const partial = await call(`/orgs/${orgA}/usage?granularity=minute&from=2026-12-01T10:04:59Z&to=2026-12-01T10:05:00.001Z`);
    expect(partial.body.series[0].points.map((p: { start: string; requests: number }) => [p.start, p.requests])).toEqual([
      ['2026-12-01T10:04:00.000Z', 0],
      ['2026-12-01T10:05:00.000Z', 40],
    ]);
    expect(minutes.body.series[0].points.find((p: { start: string }) => p.start === '2026-12-01T10:05:00.000Z').requests).toBe(40);

    const days = await call(`/orgs/${orgA}/usage?granularity=day&from=2026-11-01&to=2026-12-02`);
    expect(days.status).toBe(200);
    expect(days.body.series[0].points).toHaveLength(31);
    expect(days.body.series[0].points.at(-1)).toMatchObject({ start: '2026-12-01T00:00:00.000Z', requests: 50 });
  });

  test('another org sees only its own usage', async () => {
    const res = await call(`/orgs/${orgB}/usage`, adminB);
    expect(res.status).toBe(200);
    expect(res.body.totals.requests).toBe(3);
  });

  test.each([
    ['from=yesterday', 'validation_failed', 'from'],
    ['to=2026-12-01T10:00:00', 'validation_failed', 'to'], // no zone: ambiguous
    ['from=2026-02-30&to=2026-03-02', 'validation_failed', 'from'],
    ['granularity=week', 'validation_failed', 'granularity'],
    ['groupBy=org', 'validation_failed', 'groupBy'],
    ['from=-1h&to=-2h', 'invalid_range', 'from'],
    ['from=now', 'invalid_range', 'from'],
    [`granularity=minute&from=-${USAGE_LIMITS.maxPoints + 1}m`, 'usage_range_too_large', 'from'],
    ['granularity=hour&from=-61d', 'usage_range_too_large', 'from'],
    ['group=github', 'group_needs_group_by', 'group'],
  ])('%s: 400 %s', async (query, code, path) => {
    const res = await call(`/orgs/${orgA}/usage?${query}`);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe(code);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  test(`exactly ${USAGE_LIMITS.maxPoints} points are allowed`, async () => {
    const res = await call(`/orgs/${orgA}/usage?granularity=minute&from=2026-12-01T00:00:00Z&to=2026-12-02T00:00:00Z`);
    expect(res.status).toBe(200);
    expect(res.body.series[0].points).toHaveLength(USAGE_LIMITS.maxPoints);
  });

  test.each([
    ['no credentials', undefined, 401, 'invalid_credentials'],
    ['a member key of the org', 'member', 403, 'admin_role_required'],
    ["another org's admin key", 'adminB', 403, 'forbidden_org'],
  ])('%s: %i %s, before the query is validated', async (_, who, status, code) => {
    const token = who === 'member' ? memberA : who === 'adminB' ? adminB : null;
    for (const query of ['', '?from=garbage']) {
      const res = await call(`/orgs/${orgA}/usage${query}`, token);
      expect(res.status).toBe(status);
      expect(res.body.error.code).toBe(code);
      const exported = await call(`/orgs/${orgA}/usage/export${query}`, token);
      expect(exported.status).toBe(status);
    }
  });

  test("the org's admin key reads its usage", async () => {
    const res = await call(`/orgs/${orgA}/usage`, adminA);
    expect(res.status).toBe(200);
    expect(res.body.totals.requests).toBe(50);
  });

  test('without analytics configured: 501 usage_unavailable', async () => {
    const bare = createAdminApp({ ...deps, usage: undefined });
    for (const path of [`/orgs/${orgA}/usage`, '/usage', `/orgs/${orgA}/usage/export`]) {
      const res = await call(path, OPERATOR, bare);
      expect(res.status).toBe(501);
      expect(res.body.error.code).toBe('usage_unavailable');
    }
  });

  test('a store failure is a 500 with a request id and nothing of the failure', async () => {
    const failing: RollupReader = { query: async () => { throw new Error('connect ECONNREFUSED 10.0.0.1:8000 secret-table'); } };
    const broken = createAdminApp({ ...deps, usage: failing });
    const spy = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    try {
      for (const path of [`/orgs/${orgA}/usage`, `/orgs/${orgA}/usage/export`]) {
        const res = await call(path, OPERATOR, broken);
        expect(res.status).toBe(500);
        expect(res.body.error.code).toBe('internal_error');
        expect(res.text).not.toMatch(/ECONNREFUSED|secret-table|10\.0\.0\.1/);
      }
    } finally {
      spy.mockRestore();
    }
  });
});

describe('GET /usage (fleet)', () => {
  test('the operator sees every request, refused ones included; by org one series per org', async () => {
    const all = await call('/usage?from=-1d');
    expect(all.status).toBe(200);
    expect(all.body.totals.requests).toBe(truth.length);
    expect(all.body.totals.errorsByCode).toMatchObject({ invalid_credentials: 2 });

    const byOrg = await call('/usage?groupBy=org&from=-1d');
    expect(byOrg.status).toBe(200);
    expect(Object.fromEntries(byOrg.body.series.map((s: { group: string; points: { requests: number }[] }) => [s.group, s.points.reduce((n, p) => n + p.requests, 0)]))).toEqual({ [orgA]: 50, [orgB]: 3 });
    const one = await call(`/usage?groupBy=org&group=${orgB}&from=-1d`);
    expect(one.body.totals.requests).toBe(3);
  });

  test.each([
    ['an org admin key', () => adminA, 403, 'operator_required'],
    ['a member key', () => memberA, 403, 'operator_required'],
    ['no credentials', () => null, 401, 'invalid_credentials'],
  ])('%s: %i', async (_, token, status, code) => {
    const res = await call('/usage?groupBy=org', token());
    expect(res.status).toBe(status);
    expect(res.body.error.code).toBe(code);
  });

  test('groupBy is all or org', async () => {
    const res = await call('/usage?groupBy=mcp');
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
  });
});

describe('GET /orgs/{orgId}/usage/export', () => {
  test('CSV: a header and one row per stored rollup, as an attachment', async () => {
    const res = await call(`/orgs/${orgA}/usage/export?groupBy=tool&from=2026-12-01T10:00:00Z&to=2026-12-01T12:00:00Z`, adminA);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/csv; charset=utf-8; header=present');
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="usage-${orgA}-hour-20261201T1000Z-20261201T1200Z.csv"`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const lines = res.text.split('\r\n');
    expect(lines.pop()).toBe('');
    expect(lines[0]).toBe('bucketStart,granularity,dimension,group,requests,errors,rateLimited,bytesIn,bytesOut,costUsd,gatewayCostUsd,p50Ms,p95Ms,p99Ms');
    expect(lines.slice(1).map((l) => l.split(',').slice(0, 6).join(','))).toEqual([
      '2026-12-01T10:00:00.000Z,hour,tool,create_issue,20,4',
      '2026-12-01T10:00:00.000Z,hour,tool,search,20,0',
      // RFC 4180: a field with a comma or quote is quoted, quotes doubled.
      '2026-12-01T11:00:00.000Z,hour,tool,"read, ""quoted""",10',
    ]);
  });

  test('a host that buffers answers (maxExportBytes): the same rows at once up to the limit, 413 export_too_large beyond it', async () => {
    const query = `/orgs/${orgA}/usage/export?groupBy=tool&from=2026-12-01T10:00:00Z&to=2026-12-01T12:00:00Z`;
    const streamed = await call(query, adminA);
    const size = Buffer.byteLength(streamed.text, 'utf8');
    const fits = await call(query, adminA, createAdminApp({ ...deps, maxExportBytes: size }));
    expect(fits.status).toBe(200);
    expect(fits.text).toBe(streamed.text);
    const tooLarge = await call(query, adminA, createAdminApp({ ...deps, maxExportBytes: size - 1 }));
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.body.error.code).toBe('export_too_large');
  });

  test('NDJSON, one group only; the rows agree with the report', async () => {
    const query = 'groupBy=mcp&group=github&from=2026-12-01T10:00:00Z&to=2026-12-01T12:00:00Z';
    const res = await call(`/orgs/${orgA}/usage/export?${query}&format=ndjson`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-ndjson; charset=utf-8');
    expect(res.headers.get('content-disposition')).toMatch(/filename="usage-org_[a-z2-7]{16}-hour-20261201T1000Z-20261201T1200Z\.ndjson"$/);
    const rows = res.text.trimEnd().split('\n').map((l) => JSON.parse(l));
    const report = (await call(`/orgs/${orgA}/usage?${query}`)).body;
    expect(rows).toHaveLength(1);
    const point = report.series[0].points[0];
    expect(rows[0]).toEqual({
      bucketStart: point.start, granularity: 'hour', dimension: 'mcp', group: 'github', requests: point.requests, errors: point.errors,
      rateLimited: point.rateLimited, bytesIn: point.bytesIn, bytesOut: point.bytesOut, costUsd: point.costUsd, gatewayCostUsd: point.gatewayCostUsd, p50Ms: point.p50Ms, p95Ms: point.p95Ms, p99Ms: point.p99Ms,
    });
  });

  test('an empty range is the header only; the same validation as the report', async () => {
    const empty = await call(`/orgs/${orgA}/usage/export?from=2026-01-01&to=2026-01-02`);
    expect(empty.status).toBe(200);
    expect(empty.text).toBe('bucketStart,granularity,dimension,group,requests,errors,rateLimited,bytesIn,bytesOut,costUsd,gatewayCostUsd,p50Ms,p95Ms,p99Ms\r\n');
    const bad = await call(`/orgs/${orgA}/usage/export?format=xlsx`);
    expect(bad.status).toBe(400);
    expect(bad.body.error.code).toBe('validation_failed');
    const tooMany = await call(`/orgs/${orgA}/usage/export?granularity=minute&from=-2d`);
    expect(tooMany.body.error.code).toBe('usage_range_too_large');
  });
});

describe('range resolution', () => {
  test('whole buckets around from and to; day buckets are UTC days', () => {
    expect(resolveRange({ granularity: 'day', from: '2026-12-01T23:30:00+02:00', to: '2026-12-03T00:00:00Z' }, NOW)).toEqual({
      from: Date.parse('2026-12-01T00:00:00Z'),
      to: Date.parse('2026-12-03T00:00:00Z'),
      points: 2,
    });
    expect(resolveRange({ granularity: 'hour', from: '-2w' }, NOW).from).toBe(Date.parse('2026-11-17T12:00:00Z'));
  });
});

describe('OpenAPI', () => {
  test('documents the usage routes from their schemas', async () => {
    const doc = (await (await app.request(`${BASE}/openapi.json`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const usage = doc.paths['/admin/v1/orgs/{orgId}/usage'].get;
    expect(usage.parameters.map((p: { name: string }) => p.name).sort()).toEqual(['from', 'granularity', 'group', 'groupBy', 'orgId', 'to']);
    expect(usage.parameters.find((p: { name: string }) => p.name === 'groupBy').schema.enum).toEqual(['all', 'mcp', 'key', 'tool', 'resource', 'prompt']);
    expect(usage.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/UsageReport');
    expect(Object.keys(doc.components.schemas.UsagePoint.properties)).toEqual(expect.arrayContaining(['start', 'requests', 'errors', 'errorRate', 'p50Ms', 'p95Ms', 'p99Ms', 'bytesIn', 'bytesOut', 'costUsd', 'gatewayCostUsd']));
    expect(doc.components.schemas.UsagePoint.properties.gatewayCostUsd).toMatchObject({ type: 'number', description: expect.stringMatching(/AWS cost.*never included in it/) });
    expect(doc.components.schemas.UsagePoint.required).toContain('gatewayCostUsd');
    expect(doc.paths['/admin/v1/usage'].get.parameters.find((p: { name: string }) => p.name === 'groupBy').schema.enum).toEqual(['all', 'org']);
    const exported = doc.paths['/admin/v1/orgs/{orgId}/usage/export'].get;
    expect(Object.keys(exported.responses['200'].content)).toEqual(['text/csv', 'application/x-ndjson']);
    expect(exported.parameters.find((p: { name: string }) => p.name === 'format').schema.enum).toEqual(['csv', 'ndjson']);
  });
});
