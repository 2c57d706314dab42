/**
 * End to end: `plexmcp mcp health|tools` and `plexmcp alert ...` in-process against the real local
 * server (`serve()`), on a DynamoDB engine the test can also write to (to stand in for the checker).
 */
import { join } from 'node:path';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../../lambda/core/registry-table';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { run, tempDir } from './helpers';

let dir: { path: string; cleanup: () => Promise<void> };
let db: TestDynamoDb;
let gateway: LocalGateway;
let health: DynamoDbHealthStore;
const serverLog: string[] = [];

beforeAll(async () => {
  dir = await tempDir();
  db = await startTestDynamoDb();
  gateway = await serve({ port: 0, dataDir: join(dir.path, 'data'), dynamodbEndpoint: db.endpoint, log: (line) => serverLog.push(line) });
  health = new DynamoDbHealthStore(db.client, DEFAULT_REGISTRY_TABLE_NAME);
});
afterAll(async () => {
  await gateway?.close();
  await db?.close();
  await dir?.cleanup();
});

const asOperator = (argv: string[]) => run(['--url', gateway.adminUrl, '--data-dir', 'data', ...argv], { cwd: dir.path });
const withToken = (token: string, argv: string[]) => run(['--url', gateway.adminUrl, ...argv], { env: { PLEXMCP_TOKEN: token } });
const ok = <T>(r: { code: number; stdout: string; stderr: string }): T => {
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout) as T;
};

test('health and discovered tools of an MCP server, as the checker stored them', async () => {
  const org = ok<{ orgId: string }>(await asOperator(['org', 'create', 'Health Org', '--plan', 'pro', '--json']));
  const port = new URL(gateway.adminUrl).port;
  const mcp = ok<{ endpoints: { id: string }[] }>(
    await asOperator(['mcp', 'create', 'tools', '--org', org.orgId, '--endpoint', `http://127.0.0.1:${port}/mcp`, '--json']),
  );
  const endpointId = mcp.endpoints[0]!.id;

  const never = await asOperator(['mcp', 'health', 'tools', '--org', org.orgId]);
  expect(never).toEqual({ code: 0, stderr: '', stdout: 'No health checks of MCP server tools yet.\n\nNo recent status changes.\n' });
  const notYet = await asOperator(['mcp', 'tools', 'tools', '--org', org.orgId]);
  expect(notYet).toMatchObject({ code: 1, stdout: '' });
  expect(notYet.stderr).toMatch(/^error not_discovered: /);
  const missing = await asOperator(['mcp', 'health', 'nope', '--org', org.orgId]);
  expect(missing.stderr).toMatch(/^error not_found: MCP server not found\n/);

  // The checker's writes.
  const base = { orgId: org.orgId, mcp: 'tools', endpointId, region: 'local', consecutiveSuccesses: 0, writtenAt: '2026-03-01T10:05:00.000Z' };
  await health.putState(
    { ...base, status: 'healthy', consecutiveFailures: 0, consecutiveSuccesses: 1, lastCheckAt: '2026-03-01T10:00:00.000Z', lastChangeAt: '2026-03-01T10:00:00.000Z', latencyMs: 42 },
    { endpointId, region: 'local', from: 'unknown', to: 'healthy', at: '2026-03-01T10:00:00.000Z', latencyMs: 42 },
  );
  await health.putState(
    { ...base, status: 'unhealthy', consecutiveFailures: 2, lastCheckAt: '2026-03-01T10:05:00.000Z', lastChangeAt: '2026-03-01T10:05:00.000Z', errorClass: 'connect_refused' },
    { endpointId, region: 'local', from: 'healthy', to: 'unhealthy', at: '2026-03-01T10:05:00.000Z', errorClass: 'connect_refused' },
  );
  await health.putMetadata(org.orgId, 'tools', {
    tools: [{ name: 'echo', description: 'Echoes back the input' }, { name: 'add', description: 'Adds two numbers' }],
    resources: [],
    prompts: [{ name: 'simple_prompt', description: 'A prompt without arguments' }],
    hash: 'c'.repeat(64),
    discoveredAt: '2026-03-01T10:00:00.000Z',
    region: 'local',
  });

  const table = await asOperator(['mcp', 'health', 'tools', '--org', org.orgId]);
  expect(table).toMatchObject({ code: 0, stderr: '' });
  expect(table.stdout).toBe(
    'ENDPOINT             REGION  STATUS     LAST CHECK                LATENCY  ERROR            FAILURES\n' +
      `${endpointId}  local   unhealthy  2026-03-01T10:05:00.000Z  -        connect_refused  2\n` +
      '\n' +
      'Recent status changes (newest first):\n' +
      'AT                        ENDPOINT             REGION  CHANGE                ERROR\n' +
      `2026-03-01T10:05:00.000Z  ${endpointId}  local   healthy -> unhealthy  connect_refused\n` +
      `2026-03-01T10:00:00.000Z  ${endpointId}  local   unknown -> healthy    -\n`,
  );
  const json = ok<{ endpoints: unknown[]; history: unknown[] }>(await asOperator(['mcp', 'health', 'tools', '--org', org.orgId, '--history', '1', '--json']));
  expect(json.endpoints).toEqual([expect.objectContaining({ endpointId, status: 'unhealthy', errorClass: 'connect_refused' })]);
  expect(json.history).toEqual([{ endpointId, region: 'local', from: 'healthy', to: 'unhealthy', at: '2026-03-01T10:05:00.000Z', errorClass: 'connect_refused' }]);

  const tools = await asOperator(['mcp', 'tools', 'tools', '--org', org.orgId]);
  expect(tools).toMatchObject({ code: 0, stderr: '' });
  expect(tools.stdout).toBe(
    `Hash:        ${'c'.repeat(64)}\n` +
      'Discovered:  2026-03-01T10:00:00.000Z (region local)\n' +
      'Contents:    2 tools, 0 resources, 1 prompt\n' +
      '\n' +
      'TOOL  DESCRIPTION\n' +
      'echo  Echoes back the input\n' +
      'add   Adds two numbers\n' +
      '\n' +
      'PROMPT         DESCRIPTION\n' +
      'simple_prompt  A prompt without arguments\n',
  );
  expect(ok<{ hash: string }>(await asOperator(['mcp', 'tools', 'tools', '--org', org.orgId, '--json'])).hash).toBe('c'.repeat(64));
});

test('alert subscriptions: plan gate, add, list, remove; logged rather than emailed locally', async () => {
  const free = ok<{ orgId: string }>(await asOperator(['org', 'create', 'Free Org', '--json']));
  const denied = await asOperator(['alert', 'add', '--email', 'oncall@example.com', '--org', free.orgId]);
  expect(denied).toMatchObject({ code: 1, stdout: '' });
  expect(denied.stderr).toMatch(/^error plan_required: /);

  const org = ok<{ orgId: string }>(await asOperator(['org', 'create', 'Alert Org', '--plan', 'team', '--json']));
  const admin = ok<{ secret: string }>(await asOperator(['key', 'create', 'alerts admin', '--org', org.orgId, '--role', 'admin', '--json']));

  // The org admin key implies its org.
  const added = await withToken(admin.secret, ['alert', 'add', '--email', 'oncall@example.com', '--events', 'status']);
  expect(added).toMatchObject({ code: 0, stderr: '' });
  const id = /\(subscription (al_[a-z2-7]{16})\)/.exec(added.stdout)?.[1] as string;
  expect(added.stdout).toBe(
    `Subscribed oncall@example.com to status alerts of org ${org.orgId} (subscription ${id}).\n` +
      'This server does not send email: `plexmcp serve` logs alerts instead.\n',
  );
  expect(serverLog).toContain(`Alert subscription ${id} for oncall@example.com (local mode: alerts are logged here, not emailed)`);

  const second = ok<{ subscriptionId: string; events: string[] }>(
    await withToken(admin.secret, ['alert', 'add', '--email', 'dev@example.com', '--json']),
  );
  expect(second.events).toEqual(['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled']);
  const dup = await withToken(admin.secret, ['alert', 'add', '--email', 'OnCall@example.com']);
  expect(dup.stderr).toMatch(/^error already_subscribed: /);
  const badEmail = await withToken(admin.secret, ['alert', 'add', '--email', 'not-an-address']);
  expect(badEmail).toMatchObject({ code: 1 });
  expect(badEmail.stderr).toMatch(/^error validation_failed: Request validation failed\n {2}address: /);

  const list = await withToken(admin.secret, ['alert', 'list']);
  expect(list).toMatchObject({ code: 0, stderr: '' });
  expect(list.stdout).toMatch(new RegExp(
    `^SUBSCRIPTION ID +TYPE +ADDRESS +EVENTS +CREATED\n${id} +email +oncall@example.com +status +\\S+Z\n${second.subscriptionId} +email +dev@example.com +status, tools, webhooks +\\S+Z\n$`,
  ));

  expect(await withToken(admin.secret, ['alert', 'remove', id])).toEqual({ code: 0, stderr: '', stdout: `Removed alert subscription ${id} from org ${org.orgId}.\n` });
  const gone = await withToken(admin.secret, ['alert', 'remove', id]);
  expect(gone.stderr).toMatch(/^error not_found: Alert subscription not found\n/);
  const after = ok<{ items: { subscriptionId: string }[] }>(await asOperator(['alert', 'list', '--org', org.orgId, '--json']));
  expect(after.items.map((s) => s.subscriptionId)).toEqual([second.subscriptionId]);

  // Another org's admin key cannot see them.
  const other = await asOperator(['alert', 'list', '--org', free.orgId]);
  expect(other.stdout).toBe(`No alert subscriptions in org ${free.orgId}.\n`);
  const foreign = await withToken(admin.secret, ['alert', 'list', '--org', free.orgId]);
  expect(foreign.stderr).toMatch(/^error forbidden_org: /);
});
