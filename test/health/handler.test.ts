import type { Context } from 'aws-lambda';
import type { CycleReport } from '../../lambda/core/health/checker';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// The health Lambda module as deployed (its Middy stack, Logger and Metrics) on an empty
// registry in dynalite: no MCP servers, so no probe, KMS or EventBridge call is made.
let db: TestDynamoDb;
let handler: (event: unknown, context: Context) => Promise<CycleReport>;
const saved = { ...process.env };

beforeAll(async () => {
  db = await startTestDynamoDb();
  Object.assign(process.env, {
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    PLEXMCP_REGISTRY_TABLE: await db.newRegistryTable(),
    PLEXMCP_KMS_KEY_ID: 'arn:aws:kms:us-east-1:111111111111:key/unused',
    PLEXMCP_EVENT_BUS_NAME: 'unused',
    POWERTOOLS_SERVICE_NAME: 'plexmcp-health',
    POWERTOOLS_METRICS_NAMESPACE: 'PlexMCP',
  });
  jest.isolateModules(() => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    handler = require('../../lambda/health/handler').handler;
  });
});
afterAll(async () => {
  process.env = saved;
  await db.close();
});

test('one Logger line and one EMF line of counts per cycle', async () => {
  const lines: string[] = [];
  const write = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') lines.push(line);
    return true;
  });
  let report: CycleReport;
  try {
    report = await handler({ shard: 0, shards: 1 }, { awsRequestId: 'h-1', functionName: 'PlexMcp-Health' } as Context);
  } finally {
    write.mockRestore();
  }
  expect(report.endpoints).toBe(0);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const records = lines.map((line) => JSON.parse(line) as Record<string, any>);
  expect(records.filter((r) => r.message === 'health cycle')).toEqual([
    expect.objectContaining({ level: 'INFO', service: 'plexmcp-health', function_request_id: 'h-1', shard: 0, shards: 1, endpoints: 0, failures: 0 }),
  ]);
  const emf = records.filter((r) => r._aws !== undefined && r.ColdStart === undefined);
  expect(emf).toHaveLength(1);
  expect(emf[0]._aws.CloudWatchMetrics).toEqual([
    {
      Namespace: 'PlexMCP',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'HealthEndpoints', Unit: 'Count' },
        { Name: 'HealthEndpointsHealthy', Unit: 'Count' },
        { Name: 'HealthEndpointsDegraded', Unit: 'Count' },
        { Name: 'HealthEndpointsUnhealthy', Unit: 'Count' },
        { Name: 'HealthTransitions', Unit: 'Count' },
        { Name: 'HealthFailures', Unit: 'Count' },
        { Name: 'HealthCycleDuration', Unit: 'Milliseconds' },
      ],
    },
  ]);
  expect([emf[0].service, emf[0].HealthEndpoints, emf[0].HealthEndpointsUnhealthy, emf[0].HealthFailures]).toEqual(['plexmcp-health', 0, 0, 0]);
  expect(records.filter((r) => r.ColdStart === 1)).toHaveLength(1);
});
