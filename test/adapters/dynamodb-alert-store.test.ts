import { DynamoDBDocumentClient, GetCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import type { AlertSubscription } from '../../lambda/core/alerts';
import { DEFAULT_TIMEOUTS } from '../../lambda/core/model';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbAlertStore;
let table: string;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  table = await db.newRegistryTable();
  store = new DynamoDbAlertStore(db.client, table);
});

const ORG_A = 'org_aaaaaaaaaaaaaaaa';
const ORG_B = 'org_bbbbbbbbbbbbbbbb';
const sub = (orgId: string, n: number, extra: Partial<AlertSubscription> = {}): AlertSubscription => ({
  subscriptionId: `al_${String.fromCharCode(97 + n).repeat(16)}`,
  orgId,
  type: 'email',
  address: `a${n}@example.com`,
  events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'],
  createdAt: `2026-03-01T10:0${n}:00.000Z`,
  ...extra,
});

test('item layout: pk ORG#<orgId>, sk ALERT#<subscriptionId>, entity alert; read back without layout attributes', async () => {
  const s = sub(ORG_A, 0, { deliveryRef: 'arn:aws:sns:us-east-1:111122223333:alerts:1' });
  expect(await store.createSubscription(s)).toBe(true);
  const { Item } = await DynamoDBDocumentClient.from(db.client).send(
    new GetCommand({ TableName: table, Key: { pk: `ORG#${ORG_A}`, sk: `ALERT#${s.subscriptionId}` } }),
  );
  expect(Item).toEqual({ pk: `ORG#${ORG_A}`, sk: `ALERT#${s.subscriptionId}`, entity: 'alert', ...s });
  expect(await store.getSubscription(ORG_A, s.subscriptionId)).toEqual(s);
  expect(await store.getSubscription(ORG_B, s.subscriptionId)).toBeUndefined();
});

test('create is conditional: the same id twice is refused and the first record is kept', async () => {
  expect(await store.createSubscription(sub(ORG_A, 1))).toBe(true);
  expect(await store.createSubscription(sub(ORG_A, 1, { address: 'other@example.com' }))).toBe(false);
  expect((await store.getSubscription(ORG_A, sub(ORG_A, 1).subscriptionId))?.address).toBe('a1@example.com');
});

test('list returns only that org’s subscriptions, not its org record or MCP servers', async () => {
  const registry = new DynamoDbRegistryStore(db.client, table);
  const at = '2026-03-01T00:00:00.000Z';
  await registry.createOrg({ orgId: ORG_A, name: 'A', plan: 'pro', ipAllowlist: [], createdAt: at, updatedAt: at });
  await registry.createMcp({
    orgId: ORG_A, slug: 'tools', displayName: 'tools', endpoints: [], upstreamAuth: { type: 'none' }, hasUpstreamSecret: false,
    toolPolicy: { allow: [], deny: [] }, timeouts: DEFAULT_TIMEOUTS, createdAt: at, updatedAt: at,
  }, undefined, 10);
  for (const n of [0, 1, 2]) await store.createSubscription(sub(ORG_A, n));
  await store.createSubscription(sub(ORG_B, 3));
  expect(await store.listSubscriptions(ORG_A)).toEqual([sub(ORG_A, 0), sub(ORG_A, 1), sub(ORG_A, 2)]);
  expect(await store.listSubscriptions(ORG_B)).toEqual([sub(ORG_B, 3)]);
  expect(await store.listSubscriptions('org_cccccccccccccccc')).toEqual([]);
  // ... and the registry's own listing of that partition does not see the alerts.
  expect((await registry.listMcps(ORG_A, { limit: 50 })).items.map((m) => m.slug)).toEqual(['tools']);
  const all = await DynamoDBDocumentClient.from(db.client).send(
    new QueryCommand({ TableName: table, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': `ORG#${ORG_A}` } }),
  );
  expect(all.Items!.map((i) => i.sk).sort()).toEqual(['#ORG', '#USAGE', 'ALERT#al_aaaaaaaaaaaaaaaa', 'ALERT#al_bbbbbbbbbbbbbbbb', 'ALERT#al_cccccccccccccccc', 'MCP#tools']);
});

test('delete: true once, false when nothing was there; only within the org', async () => {
  const s = sub(ORG_A, 4);
  await store.createSubscription(s);
  expect(await store.deleteSubscription(ORG_B, s.subscriptionId)).toBe(false);
  expect(await store.deleteSubscription(ORG_A, s.subscriptionId)).toBe(true);
  expect(await store.deleteSubscription(ORG_A, s.subscriptionId)).toBe(false);
  expect(await store.listSubscriptions(ORG_A)).toEqual([]);
});
