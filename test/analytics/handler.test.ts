import { randomUUID } from 'node:crypto';
import { DynamoDbRollups, ensureAnalyticsTable } from '../../lambda/adapters/dynamodb-rollups';
import type { UsageBatchSummary } from '../../lambda/adapters/kinesis-usage';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { kinesisEvent, kinesisRecord, logsBatch, usageLine } from './kinesis-events';

// The Lambda handler module as deployed: its environment, its DynamoDB client (pointed at the
// test engine through the SDK's standard endpoint variable), its rollup store.
let db: TestDynamoDb;
let table: string;
let handler: (event: unknown) => Promise<UsageBatchSummary>;
const saved = { ...process.env };

beforeAll(async () => {
  db = await startTestDynamoDb();
  table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    PLEXMCP_ANALYTICS_TABLE: table,
    PLEXMCP_ANALYTICS_RETENTION: JSON.stringify({ minute: 2, hour: 90, day: 730 }),
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

test('the handler applies a batch once, logs one summary line, and skips its redelivery', async () => {
  const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    const event = kinesisEvent([kinesisRecord(logsBatch([usageLine(), usageLine(), 'garbage']), 1), kinesisRecord(logsBatch([], 'CONTROL_MESSAGE'), 2)]);
    const first = await handler(event);
    expect(first).toMatchObject({ usageRecords: 2, rejectedLines: 1, controlMessages: 1, rollupsSkipped: 0 });
    expect(first.rollupsApplied).toBeGreaterThan(0);
    const second = await handler(event);
    expect(second).toMatchObject({ rollupsApplied: 0, rollupsSkipped: first.rollupsApplied });
    expect(log).toHaveBeenCalledTimes(2);
    expect(JSON.parse(log.mock.calls[0][0] as string)).toMatchObject({ msg: 'usage batch', usageRecords: 2 });
  } finally {
    log.mockRestore();
  }
  const now = Date.now();
  const stored = await new DynamoDbRollups(db.client, table).query({ orgId: 'org_a', granularity: 'hour', dimension: 'all', from: now - 7_200_000, to: now + 3_600_000 });
  expect(stored.reduce((n, r) => n + r.requests, 0)).toBe(2);
});
