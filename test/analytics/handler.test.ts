import { randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../lambda/adapters/dynamodb-rollups';
import type { UsageBatchSummary } from '../../lambda/adapters/kinesis-usage';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { kinesisEvent, kinesisRecord, logsBatch, usageLine } from './kinesis-events';

// The Lambda handler module as deployed: its environment, its DynamoDB client (pointed at the
// test engine through the SDK's standard endpoint variable), its rollup store, its Middy stack.
let db: TestDynamoDb;
let table: string;
let handler: (event: unknown, context: Context) => Promise<UsageBatchSummary>;
const saved = { ...process.env };
const context = { awsRequestId: 'inv-1', functionName: 'PlexMcp-Analytics' } as Context;

/** Every line the handler writes (Powertools writes JSON lines to stdout directly). */
let lines: string[] = [];
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const json = () => lines.map((line) => JSON.parse(line) as Record<string, any>);

beforeAll(async () => {
  db = await startTestDynamoDb();
  table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    PLEXMCP_ANALYTICS_TABLE: table,
    PLEXMCP_ANALYTICS_RETENTION: JSON.stringify({ minute: 2, hour: 90, day: 730 }),
    POWERTOOLS_SERVICE_NAME: 'plexmcp-analytics',
    POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP',
  });
  delete process.env.PLEXMCP_TIMESTREAM_DATABASE;
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../../lambda/analytics/handler').handler;
  });
});
afterAll(async () => {
  process.env = saved;
  await db.close();
});

async function invoke(event: unknown): Promise<UsageBatchSummary> {
  lines = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') lines.push(line);
    return true;
  });
  try {
    return await handler(event, context);
  } finally {
    write.mockRestore();
  }
}

const usageEmf = () => json().filter((r) => r._aws !== undefined && r.service === 'plexmcp-gateway');

test('the handler applies a batch once, logs one summary line, and skips its redelivery', async () => {
  const event = kinesisEvent([kinesisRecord(logsBatch([usageLine(), usageLine(), 'garbage']), 1), kinesisRecord(logsBatch([], 'CONTROL_MESSAGE'), 2)]);
  const first = await invoke(event);
  expect(first).toMatchObject({ usageRecords: 2, rejectedLines: 1, controlMessages: 1, rollupsSkipped: 0 });
  expect(first.rollupsApplied).toBeGreaterThan(0);
  const summaries = json().filter((r) => r.message === 'usage batch');
  expect(summaries).toHaveLength(1);
  expect(summaries[0]).toMatchObject({ level: 'INFO', service: 'plexmcp-analytics', function_request_id: 'inv-1', cold_start: true, usageRecords: 2, rejectedLines: 1 });
  expect(summaries[0]).not.toHaveProperty('msg');
  // The consumer's own metrics, one EMF line, and the cold start.
  const own = json().filter((r) => r._aws !== undefined && r.service === 'plexmcp-analytics' && r.UsageRecords !== undefined);
  expect(own).toHaveLength(1);
  expect(own[0]._aws.CloudWatchMetrics).toEqual([
    {
      Namespace: 'PlexMCP',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'UsageRecords', Unit: 'Count' },
        { Name: 'RejectedLines', Unit: 'Count' },
        { Name: 'MalformedRecords', Unit: 'Count' },
      ],
    },
  ]);
  expect([own[0].UsageRecords, own[0].RejectedLines, own[0].MalformedRecords]).toEqual([2, 1, 0]);
  expect(json().filter((r) => r.ColdStart === 1)).toHaveLength(1);
  expect(usageEmf().length).toBeGreaterThan(0);

  const second = await invoke(event);
  expect(second).toMatchObject({ rollupsApplied: 0, rollupsSkipped: first.rollupsApplied });
  expect(json().filter((r) => r.message === 'usage batch')).toEqual([expect.objectContaining({ cold_start: false, rollupsApplied: 0 })]);
  // A redelivered batch counts once in CloudWatch too.
  expect(usageEmf()).toEqual([]);

  const now = Date.now();
  const stored = await new DynamoDbRollups(db.client, table).query({ orgId: 'org_a', granularity: 'hour', dimension: 'all', from: now - 7_200_000, to: now + 3_600_000 });
  expect(stored.reduce((n, r) => n + r.requests, 0)).toBe(2);
});

test('the gateway metrics of a known batch: exact EMF lines per minute and Region, errors per ErrorCode', async () => {
  const minute = Math.floor((Date.now() - 10 * 60_000) / 60_000) * 60_000;
  const at = (m: number, s: number) => new Date(m + s * 1000).toISOString();
  const batch = [
    usageLine({ timestamp: at(minute, 1), status: 200, totalMs: 12.5, gatewayMs: 0.4 }),
    usageLine({ timestamp: at(minute, 2), status: 200, totalMs: 20.004, gatewayMs: 0.6 }),
    usageLine({ timestamp: at(minute, 3), status: 429, statusClass: '4xx', errorCode: 'rate_limited', totalMs: 1.2, gatewayMs: 1.2 }),
    usageLine({ timestamp: at(minute, 4), status: 504, statusClass: '5xx', errorCode: 'upstream_timeout', totalMs: 30000, gatewayMs: 0.5 }),
    usageLine({ timestamp: at(minute, 5), status: 500, statusClass: '5xx', totalMs: 40, gatewayMs: 0.3 }), // the upstream's own 500
    usageLine({ timestamp: at(minute, 6), status: 401, statusClass: '4xx', errorCode: 'invalid_api_key', keyId: undefined, totalMs: 0.8, gatewayMs: undefined, upstreamFirstByteMs: undefined }),
    usageLine({ timestamp: at(minute, 7), status: 503, statusClass: '5xx', errorCode: 'some_future_code', totalMs: 7, gatewayMs: 0.25 }),
    usageLine({ timestamp: at(minute + 60_000, 0), status: 200, totalMs: 5, gatewayMs: 0.2, region: 'us-east-1' }),
  ];
  const summary = await invoke(kinesisEvent([kinesisRecord(logsBatch(batch.slice(0, 4)), 10), kinesisRecord(logsBatch(batch.slice(4)), 11)]));
  expect(summary.usageRecords).toBe(8);

  const metricsOf = (names: string[], units: string[]) => names.map((Name, i) => ({ Name, Unit: units[i] }));
  const main = metricsOf(['Requests', 'Errors', 'Throttles', 'Latency', 'GatewayLatency'], ['Count', 'Count', 'Count', 'Milliseconds', 'Milliseconds']);
  const byCode = (code: string, count: number) => ({
    _aws: { Timestamp: minute, CloudWatchMetrics: [{ Namespace: 'PlexMCP', Dimensions: [['service', 'Region', 'ErrorCode']], Metrics: metricsOf(['Errors'], ['Count']) }] },
    service: 'plexmcp-gateway',
    Region: 'us-east-1',
    ErrorCode: code,
    Errors: count,
  });
  expect(usageEmf()).toEqual([
    {
      _aws: { Timestamp: minute, CloudWatchMetrics: [{ Namespace: 'PlexMCP', Dimensions: [['service', 'Region']], Metrics: main }] },
      service: 'plexmcp-gateway',
      Region: 'us-east-1',
      Requests: 7,
      Errors: 5,
      Throttles: 1,
      Latency: [12.5, 20, 1.2, 30000, 40, 0.8, 7],
      GatewayLatency: [0.4, 0.6, 1.2, 0.5, 0.3, 0.25],
    },
    byCode('http_500', 1),
    byCode('invalid_api_key', 1),
    byCode('other', 1), // a code this gateway does not know: bounded cardinality
    byCode('rate_limited', 1),
    byCode('upstream_timeout', 1),
    {
      _aws: { Timestamp: minute + 60_000, CloudWatchMetrics: [{ Namespace: 'PlexMCP', Dimensions: [['service', 'Region']], Metrics: main }] },
      service: 'plexmcp-gateway',
      Region: 'us-east-1',
      Requests: 1,
      Errors: 0,
      Throttles: 0,
      Latency: 5,
      GatewayLatency: 0.2,
    },
  ]);
  // No org, key, MCP, tool or request id in any metric line.
  for (const line of usageEmf()) expect(JSON.stringify(line)).not.toMatch(/org_a|key_1|github|search|req-/);
});
