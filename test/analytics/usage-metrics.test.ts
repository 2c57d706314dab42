import { Metrics } from '@aws-lambda-powertools/metrics';
import { metricErrorCode, publishUsageMetrics, VALUES_PER_LINE } from '../../lambda/adapters/usage-metrics';
import { parseUsageLine } from '../../lambda/core/analytics/rollup';
import type { UsageRecord } from '../../lambda/core/gateway/usage';
import { usageLine } from './kinesis-events';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
function captureEmf(run: () => number): { lines: Record<string, any>[]; returned: number } {
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') lines.push(line);
    return true;
  });
  try {
    const returned = run();
    return { lines: lines.map((l) => JSON.parse(l)), returned };
  } finally {
    write.mockRestore();
  }
}

const record = (overrides: Record<string, unknown>): UsageRecord => parseUsageLine(usageLine(overrides))!;

test('250 requests of one minute: the counts once, the 250 latencies over 3 lines of at most 99, each line with its dimensions', () => {
  const minute = Math.floor((Date.now() - 5 * 60_000) / 60_000) * 60_000;
  const records = Array.from({ length: 250 }, (_, i) => record({ timestamp: new Date(minute + i * 100).toISOString(), totalMs: i + 1, gatewayMs: i % 2 === 0 ? 0.5 : undefined }));
  const metrics = new Metrics({ namespace: 'PlexMCP', serviceName: 'plexmcp-gateway' });
  const { lines, returned } = captureEmf(() => publishUsageMetrics(records, metrics));
  expect(returned).toBe(3);
  expect(lines).toHaveLength(3);
  for (const line of lines) {
    expect(line._aws.Timestamp).toBe(minute);
    expect(line._aws.CloudWatchMetrics[0].Dimensions).toEqual([['service', 'Region']]);
    expect([line.service, line.Region]).toEqual(['plexmcp-gateway', 'us-east-1']);
  }
  expect(lines.map((l) => l.Requests)).toEqual([250, undefined, undefined]);
  expect(lines.map((l) => l._aws.CloudWatchMetrics[0].Metrics.map((m: { Name: string }) => m.Name))).toEqual([
    ['Requests', 'Errors', 'Throttles', 'Latency', 'GatewayLatency'],
    ['Latency', 'GatewayLatency'],
    ['Latency'],
  ]);
  expect(lines.map((l) => l.Latency.length)).toEqual([VALUES_PER_LINE, VALUES_PER_LINE, 250 - 2 * VALUES_PER_LINE]);
  expect(lines.flatMap((l) => l.Latency)).toEqual(records.map((r) => r.totalMs));
  expect(lines.flatMap((l) => l.GatewayLatency ?? [])).toHaveLength(125);
});

test('no records, no lines', () => {
  const { lines, returned } = captureEmf(() => publishUsageMetrics([], new Metrics({ namespace: 'PlexMCP', serviceName: 'plexmcp-gateway' })));
  expect([lines, returned]).toEqual([[], 0]);
});

test.each([
  [{ status: 429, errorCode: 'rate_limited' }, 'rate_limited'],
  [{ status: 502 }, 'http_502'],
  [{ status: 200, errorCode: 'internal_error' }, 'internal_error'],
  [{ status: 503, errorCode: 'brand_new' }, 'other'],
  [{ status: 503, errorCode: '__proto__' }, 'other'],
])('ErrorCode of %p is %p', (fields, code) => {
  expect(metricErrorCode(fields)).toBe(code);
});
