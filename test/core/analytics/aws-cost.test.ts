/**
 * The gateway's own AWS cost estimate: each component against a hand computation from the price
 * table (the formulas, not the table, are what can be wrong here), regions, and refused inputs.
 */
import {
  AWS_PRICES,
  gatewayCostBreakdown,
  gatewayCostMicroUsd,
  LOG_EVENT_OVERHEAD_BYTES,
  logEventBytes,
  PRICED_REGIONS,
  type GatewayRequestUsage,
  usageRecordGatewayCost,
} from '../../../lambda/core/analytics/aws-cost';
import type { UsageRecord } from '../../../lambda/core/gateway/usage';

const typical: GatewayRequestUsage = { region: 'us-east-1', memoryMb: 1024, billedMs: 20, logBytes: 600, dynamoWrites: 1 / 64, dynamoReads: 0 };

test('us-east-1, 1 GB for 20 ms, one 600-byte log line, a leased counter write per 64 requests', () => {
  const cost = gatewayCostBreakdown(typical)!;
  // 1 GB × 0.020 s × $0.0000133334 = $2.66668e-7
  expect(cost.lambdaDuration).toBeCloseTo(0.266668, 9);
  expect(cost.lambdaRequest).toBe(0.2); // $0.20 per million
  expect(cost.apiGateway).toBe(3.5); // $3.50 per million
  expect(cost.dynamoWrites).toBeCloseTo(0.625 / 64, 12);
  expect(cost.dynamoReads).toBe(0);
  // 600 B of $0.50 per 2^30 B
  expect(cost.logs).toBeCloseTo((600 / 2 ** 30) * 0.5 * 1e6, 12);
  expect(cost.total).toBeCloseTo(cost.lambdaDuration + 0.2 + 3.5 + 0.625 / 64 + cost.logs, 12);
  expect(gatewayCostMicroUsd(typical)).toBe(cost.total);
  // API Gateway dominates a short request: about 4.26 µ$ in all (0.27 + 0.2 + 3.5 + 0.01 + 0.28).
  expect(cost.total).toBeGreaterThan(4.2);
  expect(cost.total).toBeLessThan(4.3);
});

test('duration scales with memory and billed milliseconds; reads and writes by their request units', () => {
  const base = gatewayCostBreakdown({ ...typical, memoryMb: 512, billedMs: 100 })!;
  const doubled = gatewayCostBreakdown({ ...typical, memoryMb: 1024, billedMs: 100 })!;
  const longer = gatewayCostBreakdown({ ...typical, memoryMb: 512, billedMs: 300 })!;
  expect(doubled.lambdaDuration).toBeCloseTo(2 * base.lambdaDuration, 12);
  expect(longer.lambdaDuration).toBeCloseTo(3 * base.lambdaDuration, 12);
  // A fraction of a millisecond is billed as a whole one.
  expect(gatewayCostBreakdown({ ...typical, billedMs: 1.2 })!.lambdaDuration).toBeCloseTo(gatewayCostBreakdown({ ...typical, billedMs: 2 })!.lambdaDuration, 12);
  const io = gatewayCostBreakdown({ ...typical, dynamoWrites: 2, dynamoReads: 0.5 })!;
  expect(io.dynamoWrites).toBeCloseTo(1.25, 12);
  expect(io.dynamoReads).toBeCloseTo(0.0625, 12);
});

test('every priced region has every price; regional prices differ where AWS prices differ', () => {
  expect(PRICED_REGIONS).toEqual(expect.arrayContaining(['us-east-1', 'eu-west-1']));
  for (const region of PRICED_REGIONS) {
    const cost = gatewayCostBreakdown({ ...typical, region, dynamoReads: 1 })!;
    for (const value of Object.values(cost)) expect(value).toBeGreaterThan(0);
  }
  const tokyo = gatewayCostBreakdown({ ...typical, region: 'ap-northeast-1' })!;
  const virginia = gatewayCostBreakdown(typical)!;
  expect(tokyo.apiGateway).toBe(AWS_PRICES['ap-northeast-1'].apiGatewayRestPerMillionUsd);
  expect(tokyo.total).toBeGreaterThan(virginia.total);
  expect(tokyo.logs / virginia.logs).toBeCloseTo(0.76 / 0.5, 9);
});

test('a region without prices has no estimate rather than another region’s', () => {
  expect(gatewayCostMicroUsd({ ...typical, region: 'local' })).toBeUndefined();
  expect(gatewayCostMicroUsd({ ...typical, region: 'toString' })).toBeUndefined();
  expect(gatewayCostBreakdown({ ...typical, region: 'sa-east-1' })).toBeUndefined();
});

test.each([
  ['memory below Lambda’s range', { memoryMb: 64 }],
  ['memory above Lambda’s range', { memoryMb: 20_000 }],
  ['negative duration', { billedMs: -1 }],
  ['NaN log bytes', { logBytes: Number.NaN }],
  ['infinite writes', { dynamoWrites: Infinity }],
  ['negative reads', { dynamoReads: -0.5 }],
])('refuses %s', (_what, change) => {
  expect(() => gatewayCostMicroUsd({ ...typical, ...change })).toThrow(RangeError);
});

test('log bytes are what CloudWatch meters: UTF-8 plus 26 bytes per event', () => {
  expect(logEventBytes(['{"type":"usage"}', 'é'])).toBe(16 + 2 + 2 * LOG_EVENT_OVERHEAD_BYTES);
  expect(logEventBytes([])).toBe(0);
});

describe('usageRecordGatewayCost: the estimate of one usage record', () => {
  const record: UsageRecord = {
    type: 'usage', timestamp: '2026-12-01T10:00:00.000Z', requestId: 'req-1', region: 'us-east-1', orgId: 'org1', keyId: 'key1',
    mcp: 'github', httpMethod: 'POST', messageCount: 1, methods: ['tools/call'], tool: 'search', status: 200, totalMs: 19.2, bytesIn: 120, bytesOut: 900,
  };
  const lineBytes = (r: UsageRecord) => Buffer.byteLength(JSON.stringify(r), 'utf8') + 26;

  test('us-east-1, 1,024 MB: totalMs rounded up as the billed ms, 1/64 write for a keyed request, its own line in the logs', () => {
    const estimate = usageRecordGatewayCost(1024)(record)!;
    // 1 GB × 0.020 s × $0.0000133334, + Lambda request + API Gateway + 1/64 WRU + the line.
    const expected = 1 * 0.02 * 0.0000133334 * 1e6 + 0.2 + 3.5 + 0.625 / 64 + (lineBytes(record) / 2 ** 30) * 0.5 * 1e6;
    expect(estimate).toBeCloseTo(expected, 12);
    expect(lineBytes(record)).toBe(JSON.stringify(record).length + 26); // ASCII: bytes = characters
  });

  test('no key (refused before authentication): no counter write; 0 ms is billed as 1 ms; memory scales duration', () => {
    const keyless = { ...record, keyId: undefined, orgId: undefined, totalMs: 0, status: 401 };
    const at512 = usageRecordGatewayCost(512)(keyless)!;
    expect(at512).toBeCloseTo(0.5 * 0.001 * 0.0000133334 * 1e6 + 0.2 + 3.5 + (lineBytes(keyless) / 2 ** 30) * 0.5 * 1e6, 12);
  });

  test("another region's prices; undefined for a region the table lacks (local mode's region too)", () => {
    const eu = usageRecordGatewayCost(1024)({ ...record, region: 'eu-central-1', totalMs: 100 })!;
    expect(eu).toBeCloseTo(0.1 * 0.0000133334 * 1e6 + 0.2 + 3.7 + 0.7625 / 64 + (lineBytes({ ...record, region: 'eu-central-1', totalMs: 100 }) / 2 ** 30) * 0.63 * 1e6, 12);
    expect(usageRecordGatewayCost(1024)({ ...record, region: 'local' })).toBeUndefined();
    expect(usageRecordGatewayCost(1024)({ ...record, region: 'sa-east-1' })).toBeUndefined();
  });

  test.each([0, 64, 127, 10_241, 1024.5, Number.NaN])('memory %p MB is refused at once', (mb) => {
    expect(() => usageRecordGatewayCost(mb)).toThrow(RangeError);
  });
});
