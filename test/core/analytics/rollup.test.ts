import { usageRecord, type UsageRecord } from '../../../lambda/core/gateway/usage';
import { FLEET_ORG_ID, type Rollup } from '../../../lambda/core/analytics/model';
import { usageRecordGatewayCost } from '../../../lambda/core/analytics/aws-cost';
import { aggregateUsage, bucketStart, mergeRollups, nanoUsdOf, parseUsageLine } from '../../../lambda/core/analytics/rollup';

const T0 = Date.UTC(2026, 11, 1, 10, 59, 30); // 30 s before an hour boundary

function record(over: Partial<UsageRecord> = {}): UsageRecord {
  return {
    type: 'usage',
    timestamp: new Date(T0).toISOString(),
    requestId: 'req-1',
    region: 'eu-west-1',
    orgId: 'org1',
    keyId: 'key1',
    mcp: 'github',
    httpMethod: 'POST',
    messageCount: 1,
    methods: ['tools/call'],
    tool: 'search',
    status: 200,
    totalMs: 12,
    gatewayMs: 1,
    upstreamFirstByteMs: 9,
    bytesIn: 100,
    bytesOut: 2000,
    costMicroUsd: 150,
    ...over,
  };
}

const find = (rollups: Rollup[], orgId: string, granularity: string, dimension: string, group: string) =>
  rollups.filter((r) => r.id.orgId === orgId && r.id.granularity === granularity && r.id.dimension === dimension && r.id.group === group);

describe('parseUsageLine', () => {
  test('accepts a real record from usageRecord() and keeps its fields', () => {
    const real = usageRecord(
      { slug: 'github', requestId: 'r-42' },
      'eu-west-1',
      { httpMethod: 'POST', key: { orgId: 'org1', keyId: 'k1' }, messages: [{ kind: 'request', id: 1, method: 'tools/call', toolName: 'search' }], bytesIn: 120 },
      T0,
      { status: 200, totalMs: 33.5, bytesOut: 999, gatewayMs: 0.4, upstreamFirstByteMs: 20 },
    );
    const parsed = parseUsageLine(JSON.stringify(real));
    expect(parsed).toBeDefined();
    // Exactly the record as a JSON round trip would give it (undefined fields are absent).
    expect(parsed).toEqual(JSON.parse(JSON.stringify(real)));
    expect(parsed).toMatchObject({ orgId: 'org1', keyId: 'k1', mcp: 'github', tool: 'search', status: 200, totalMs: 33.5 });
  });

  test('accepts a record refused before authentication (no org, no key)', () => {
    const { orgId, keyId, ...anonymous } = record({ status: 401, errorCode: 'invalid_credentials' });
    void orgId;
    void keyId;
    expect(parseUsageLine(JSON.stringify(anonymous))).toMatchObject({ status: 401, errorCode: 'invalid_credentials' });
    expect(parseUsageLine(JSON.stringify(anonymous))?.orgId).toBeUndefined();
  });

  test('drops unknown fields and does not carry a __proto__ member', () => {
    const line = JSON.stringify(record()).replace(/^\{/, '{"__proto__":{"polluted":true},"extra":"x",');
    const parsed = parseUsageLine(line) as unknown as Record<string, unknown>;
    expect(parsed).toBeDefined();
    expect(Object.hasOwn(parsed, 'extra')).toBe(false);
    expect(Object.hasOwn(parsed, '__proto__')).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  const good = record() as unknown as Record<string, unknown>;
  const hostile: [string, string][] = [
    ['empty', ''],
    ['not JSON', 'START RequestId: 1234 Version: $LATEST'],
    ['truncated JSON', JSON.stringify(good).slice(0, 60)],
    ['a JSON array', JSON.stringify([good])],
    ['a JSON string', JSON.stringify(JSON.stringify(good))],
    ['null', 'null'],
    ['a number', '42'],
    ['another type', JSON.stringify({ ...good, type: 'audit' })],
    ['no type', JSON.stringify({ ...good, type: undefined })],
    ['status as a string', JSON.stringify({ ...good, status: '200' })],
    ['negative totalMs', JSON.stringify({ ...good, totalMs: -1 })],
    ['negative bytesOut', JSON.stringify({ ...good, bytesOut: -5 })],
    ['fractional bytesIn', JSON.stringify({ ...good, bytesIn: 1.5 })],
    ['negative cost', JSON.stringify({ ...good, costMicroUsd: -100 })],
    ['cost as a string', JSON.stringify({ ...good, costMicroUsd: '100' })],
    ['huge number (not finite once parsed)', JSON.stringify(good).replace('"totalMs":12', '"totalMs":1e999')],
    ['status over 999', JSON.stringify({ ...good, status: 20000 })],
    ['missing mcp', JSON.stringify({ ...good, mcp: undefined })],
    ['empty mcp', JSON.stringify({ ...good, mcp: '' })],
    ['mcp of 129 chars', JSON.stringify({ ...good, mcp: 'm'.repeat(129) })],
    ['tool of 10,000 chars', JSON.stringify({ ...good, tool: 't'.repeat(10_000) })],
    ['a 1 MB line', JSON.stringify({ ...good, region: 'r'.repeat(1_000_000) })],
    ['httpMethod of 17 chars', JSON.stringify({ ...good, httpMethod: 'P'.repeat(17) })],
    ['methods not an array', JSON.stringify({ ...good, methods: 'tools/call' })],
    ['17 methods', JSON.stringify({ ...good, methods: Array.from({ length: 17 }, () => 'ping') })],
    ['a method that is a number', JSON.stringify({ ...good, methods: [1] })],
    ['orgId as an object', JSON.stringify({ ...good, orgId: { S: 'org1' } })],
    ['tool as an array', JSON.stringify({ ...good, tool: ['search'] })],
    ['orgId null', JSON.stringify({ ...good, orgId: null })],
    ['unparsable timestamp', JSON.stringify({ ...good, timestamp: 'yesterday' })],
    ['errorCode with spaces', JSON.stringify({ ...good, errorCode: 'rate limited; drop table' })],
    ['gatewayMs NaN-ish string', JSON.stringify({ ...good, gatewayMs: 'NaN' })],
  ];
  test.each(hostile)('rejects %s', (_name, line) => {
    expect(() => parseUsageLine(line)).not.toThrow();
    expect(parseUsageLine(line)).toBeUndefined();
  });

  test('accepts names at the bounds (128 chars, 16 methods)', () => {
    const line = JSON.stringify({ ...good, mcp: 'm'.repeat(128), tool: 't'.repeat(128), methods: Array.from({ length: 16 }, () => 'x'.repeat(128)) });
    expect(parseUsageLine(line)?.mcp).toHaveLength(128);
  });
});

describe('aggregateUsage', () => {
  test('one record: every granularity and dimension of its org, and the fleet', () => {
    const rollups = aggregateUsage([record({ resource: undefined, prompt: undefined })]);
    const ids = rollups.map((r) => `${r.id.orgId} ${r.id.granularity} ${r.id.dimension} ${r.id.group}`).sort();
    const expected: string[] = [];
    for (const g of ['minute', 'hour', 'day']) {
      expected.push(`org1 ${g} all `, `org1 ${g} mcp github`, `org1 ${g} key key1`, `org1 ${g} tool search`, `* ${g} all `, `* ${g} org org1`);
    }
    expect(ids).toEqual(expected.sort());
    for (const r of rollups) {
      expect(r).toMatchObject({ requests: 1, errors: 0, rateLimited: 0, bytesIn: 100, bytesOut: 2000, costMicroUsd: 150 });
      expect(r.latency.total.count).toBe(1);
      expect(r.latency.gateway.count).toBe(1);
      expect(r.latency.upstreamFirstByte.count).toBe(1);
    }
    const [minute] = find(rollups, 'org1', 'minute', 'all', '');
    expect(minute!.id.bucketStart).toBe(Date.UTC(2026, 11, 1, 10, 59));
    expect(find(rollups, 'org1', 'hour', 'all', '')[0]!.id.bucketStart).toBe(Date.UTC(2026, 11, 1, 10));
    expect(find(rollups, 'org1', 'day', 'all', '')[0]!.id.bucketStart).toBe(Date.UTC(2026, 11, 1));
  });

  test('buckets split at boundaries: records 30 s apart across an hour are two minutes, two hours, one day', () => {
    const rollups = aggregateUsage([record(), record({ timestamp: new Date(T0 + 60_000).toISOString() })]);
    expect(find(rollups, 'org1', 'minute', 'all', '')).toHaveLength(2);
    expect(find(rollups, 'org1', 'hour', 'all', '')).toHaveLength(2);
    const day = find(rollups, 'org1', 'day', 'all', '');
    expect(day).toHaveLength(1);
    expect(day[0]!.requests).toBe(2);
  });

  test('errors, error codes, 429s, cost and absent latencies', () => {
    const rollups = aggregateUsage([
      record({ status: 200 }),
      record({ status: 202, costMicroUsd: undefined }),
      record({ status: 204 }),
      record({ status: 429, errorCode: 'rate_limited', costMicroUsd: undefined, upstreamFirstByteMs: undefined }),
      record({ status: 429, errorCode: 'quota_exceeded', costMicroUsd: undefined, upstreamFirstByteMs: undefined }),
      record({ status: 502, errorCode: 'upstream_unavailable', costMicroUsd: undefined }),
      record({ status: 500, costMicroUsd: 7 }), // the upstream's own 500
      record({ status: 404 }),
      record({ status: 200, errorCode: 'upstream_jsonrpc_error' }),
    ]);
    const [all] = find(rollups, 'org1', 'hour', 'all', '');
    expect(all).toMatchObject({ requests: 9, errors: 6, rateLimited: 2, costMicroUsd: 150 * 4 + 7 });
    expect({ ...all!.errorsByCode }).toEqual({ rate_limited: 1, quota_exceeded: 1, upstream_unavailable: 1, http_500: 1, http_404: 1, upstream_jsonrpc_error: 1 });
    expect(all!.latency.total.count).toBe(9);
    expect(all!.latency.upstreamFirstByte.count).toBe(7);
  });

  test('a record without an org counts in the fleet all only', () => {
    const rollups = aggregateUsage([record({ orgId: undefined, keyId: undefined, status: 401, errorCode: 'invalid_credentials' })]);
    expect(rollups.map((r) => `${r.id.orgId} ${r.id.dimension}`)).toEqual([`${FLEET_ORG_ID} all`, `${FLEET_ORG_ID} all`, `${FLEET_ORG_ID} all`]);
    expect(rollups[0]).toMatchObject({ requests: 1, errors: 1 });
  });

  test('groups per org, MCP, key, tool, resource and prompt; orgs never mix', () => {
    const rollups = aggregateUsage([
      record({ orgId: 'a', keyId: 'k1', mcp: 'm1', tool: 't1' }),
      record({ orgId: 'a', keyId: 'k2', mcp: 'm1', tool: undefined, resource: 'file:///x', methods: ['resources/read'] }),
      record({ orgId: 'a', keyId: 'k2', mcp: 'm2', tool: undefined, prompt: 'p1', methods: ['prompts/get'] }),
      record({ orgId: 'b', keyId: 'k3', mcp: 'm1', tool: 't1' }),
    ]);
    const req = (o: string, d: string, g: string) => find(rollups, o, 'day', d, g).map((r) => r.requests);
    expect(req('a', 'all', '')).toEqual([3]);
    expect(req('a', 'mcp', 'm1')).toEqual([2]);
    expect(req('a', 'mcp', 'm2')).toEqual([1]);
    expect(req('a', 'key', 'k2')).toEqual([2]);
    expect(req('a', 'tool', 't1')).toEqual([1]);
    expect(req('a', 'resource', 'file:///x')).toEqual([1]);
    expect(req('a', 'prompt', 'p1')).toEqual([1]);
    expect(req('b', 'mcp', 'm1')).toEqual([1]);
    expect(req(FLEET_ORG_ID, 'all', '')).toEqual([4]);
    expect(req(FLEET_ORG_ID, 'org', 'a')).toEqual([3]);
    expect(req(FLEET_ORG_ID, 'org', 'b')).toEqual([1]);
  });

  test('an error code named __proto__ counts like any other', () => {
    const [all] = find(aggregateUsage([record({ status: 500, errorCode: '__proto__' }), record({ status: 500, errorCode: '__proto__' })]), 'org1', 'day', 'all', '');
    expect(Object.entries(all!.errorsByCode)).toEqual([['__proto__', 2]]);
  });

  test('mergeRollups adds counts and codes and merges sketches, without changing its inputs', () => {
    const [a] = find(aggregateUsage([record({ status: 500 })]), 'org1', 'day', 'all', '');
    const [b] = find(aggregateUsage([record({ status: 500 }), record({ status: 503 })]), 'org1', 'day', 'all', '');
    const m = mergeRollups(a!, b!);
    expect(m).toMatchObject({ requests: 3, errors: 3, bytesIn: 300 });
    expect({ ...m.errorsByCode }).toEqual({ http_500: 2, http_503: 1 });
    expect(m.latency.total.count).toBe(3);
    expect(a!.requests).toBe(1);
    expect(a!.latency.total.count).toBe(1);
  });

  test('bucketStart is UTC', () => {
    expect(bucketStart(Date.UTC(2026, 0, 1, 23, 59, 59, 999), 'day')).toBe(Date.UTC(2026, 0, 1));
    expect(bucketStart(Date.UTC(2026, 0, 1, 23, 59, 59, 999), 'minute')).toBe(Date.UTC(2026, 0, 1, 23, 59));
  });
});

describe("the gateway's own AWS cost in the rollups", () => {
  // Three requests of org1 in us-east-1 (two keys, two tools), one refused before authentication,
  // and one in a region the price table lacks. Gateway memory 1,024 MB.
  const lineBytes = (r: UsageRecord) => JSON.stringify(r).length + 26;
  const microUsd = (r: UsageRecord, billedMs: number, writes: number) => 1 * (billedMs / 1000) * 0.0000133334 * 1e6 + 0.2 + 3.5 + writes * 0.625 + (lineBytes(r) / 2 ** 30) * 0.5 * 1e6;
  const a = record({ region: 'us-east-1', requestId: 'a', keyId: 'key1', tool: 'search', totalMs: 19.2 });
  const b = record({ region: 'us-east-1', requestId: 'b', keyId: 'key2', tool: 'fetch', totalMs: 250 });
  const c = record({ region: 'us-east-1', requestId: 'c', keyId: 'key1', tool: 'search', totalMs: 3.0001 });
  const refused = record({ region: 'us-east-1', requestId: 'd', orgId: undefined, keyId: undefined, tool: undefined, status: 401, errorCode: 'invalid_credentials', totalMs: 0.4, costMicroUsd: undefined });
  const unpriced = record({ region: 'local', requestId: 'e', keyId: 'key1', tool: 'search' });
  const batch = [a, b, c, refused, unpriced];
  // Each record's estimate in whole nano-USD, computed by hand from the us-east-1 row.
  const na = Math.round(microUsd(a, 20, 1 / 64) * 1000);
  const nb = Math.round(microUsd(b, 250, 1 / 64) * 1000);
  const nc = Math.round(microUsd(c, 4, 1 / 64) * 1000);
  const nd = Math.round(microUsd(refused, 1, 0) * 1000);

  test('a known batch: the exact nano-USD of every item; none for the unpriced region; upstream cost unchanged', () => {
    // A few µ$ a request (API Gateway's 3.5 µ$ most of it); the 250 ms one pays for its duration.
    for (const n of [na, nc, nd]) {
      expect(n).toBeGreaterThan(3_700);
      expect(n).toBeLessThan(4_300);
    }
    expect(nb).toBeGreaterThan(7_000);
    const rollups = aggregateUsage(batch, { gatewayCost: usageRecordGatewayCost(1024) });
    const one = (orgId: string, dimension: string, group: string) => {
      const found = find(rollups, orgId, 'hour', dimension, group);
      expect(found).toHaveLength(1);
      return found[0]!;
    };
    expect(one('org1', 'all', '').gatewayCostNanoUsd).toBe(na + nb + nc);
    expect(one('org1', 'key', 'key1').gatewayCostNanoUsd).toBe(na + nc);
    expect(one('org1', 'key', 'key2').gatewayCostNanoUsd).toBe(nb);
    expect(one('org1', 'tool', 'search').gatewayCostNanoUsd).toBe(na + nc);
    expect(one('org1', 'tool', 'fetch').gatewayCostNanoUsd).toBe(nb);
    expect(one('org1', 'mcp', 'github').gatewayCostNanoUsd).toBe(na + nb + nc);
    expect(one(FLEET_ORG_ID, 'all', '').gatewayCostNanoUsd).toBe(na + nb + nc + nd);
    expect(one(FLEET_ORG_ID, 'org', 'org1').gatewayCostNanoUsd).toBe(na + nb + nc);
    // The two costs stay apart: the upstream cost is the pricing's alone.
    expect(one('org1', 'all', '').costMicroUsd).toBe(4 * 150);
    // Every granularity carries the same sums.
    for (const g of ['minute', 'day']) expect(find(rollups, 'org1', g, 'all', '').reduce((n, r) => n + r.gatewayCostNanoUsd, 0)).toBe(na + nb + nc);
  });

  test('integer sums: the same records in any split add up to the same items', () => {
    const whole = aggregateUsage(batch, { gatewayCost: usageRecordGatewayCost(1024) });
    const halves = [aggregateUsage([c, a], { gatewayCost: usageRecordGatewayCost(1024) }), aggregateUsage([unpriced, refused, b], { gatewayCost: usageRecordGatewayCost(1024) })];
    const [left] = find(halves[0]!, 'org1', 'day', 'all', '');
    const [right] = find(halves[1]!, 'org1', 'day', 'all', '');
    expect(mergeRollups(left!, right!).gatewayCostNanoUsd).toBe(find(whole, 'org1', 'day', 'all', '')[0]!.gatewayCostNanoUsd);
    expect(Number.isSafeInteger(find(whole, 'org1', 'day', 'all', '')[0]!.gatewayCostNanoUsd)).toBe(true);
  });

  test('without the option (local mode) every item has 0; an estimate that is not a cost counts as 0', () => {
    for (const r of aggregateUsage(batch)) expect(r.gatewayCostNanoUsd).toBe(0);
    const odd = aggregateUsage([a], { gatewayCost: () => Number.NaN });
    for (const r of odd) expect(r.gatewayCostNanoUsd).toBe(0);
    expect([nanoUsdOf(undefined), nanoUsdOf(-1), nanoUsdOf(Infinity), nanoUsdOf(4.2626), nanoUsdOf(4.2624)]).toEqual([0, 0, 0, 4263, 4262]);
  });
});
