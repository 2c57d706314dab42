import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  COUNTER_SETTLE_MS,
  DynamoDbWebhookEndpointStore,
  ensureWebhookEndpointTable,
} from '../../lambda/adapters/dynamodb-webhook-endpoints';
import type { StoredWebhookEndpoint } from '../../lambda/core/webhooks/endpoints';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let table: string;
let clock: number;
let store: DynamoDbWebhookEndpointStore;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  table = `webhook-endpoints-${randomUUID()}`;
  await ensureWebhookEndpointTable(db.client, table);
  clock = Date.parse('2026-03-01T00:00:00.000Z');
  store = new DynamoDbWebhookEndpointStore(db.client, table, () => clock);
});

const ORG_A = 'org_aaaaaaaaaaaaaaaa';
const ORG_B = 'org_bbbbbbbbbbbbbbbb';
let n = 0;
const endpoint = (orgId: string, extra: Partial<StoredWebhookEndpoint> = {}): StoredWebhookEndpoint => {
  n += 1;
  return {
    orgId,
    endpointId: `whe_${String(n).padStart(16, 'a').replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!)}`,
    url: 'https://hooks.example.com/plexmcp',
    eventTypes: [],
    enabled: true,
    createdAt: new Date(clock + n).toISOString(),
    updatedAt: new Date(clock + n).toISOString(),
    secret: { provider: 'local', wrappedKey: 'd3JhcHBlZA==', iv: 'aXY=', ciphertext: 'Y3Q=', tag: 'dGFn' },
    version: 1,
    ...extra,
  };
};

test('item layout: pk ORG#<orgId>, sk WHE#<endpointId>, read back without layout attributes; orgs are separate', async () => {
  const e = endpoint(ORG_A, { description: 'ops', eventTypes: ['key.revoked'] });
  expect(await store.create(e, 5)).toBe('created');
  const { Item } = await DynamoDBDocumentClient.from(db.client).send(
    new GetCommand({ TableName: table, Key: { pk: `ORG#${ORG_A}`, sk: `WHE#${e.endpointId}` } }),
  );
  expect(Item).toEqual({ pk: `ORG#${ORG_A}`, sk: `WHE#${e.endpointId}`, ...e });
  expect(await store.get(ORG_A, e.endpointId)).toEqual(e);
  expect(await store.get(ORG_B, e.endpointId)).toBeUndefined();
  expect(await store.list(ORG_B)).toEqual([]);
  expect(await store.counter(ORG_A)).toEqual({ n: 1, changedAt: clock });
});

test('create is conditional: the same id twice is refused, the first stands, and the counter is given back', async () => {
  const e = endpoint(ORG_A);
  expect(await store.create(e, 5)).toBe('created');
  expect(await store.create({ ...e, url: 'https://other.example.com/' }, 5)).toBe('exists');
  expect((await store.get(ORG_A, e.endpointId))?.url).toBe(e.url);
  expect((await store.counter(ORG_A))?.n).toBe(1);
});

test('the cap holds under 30 concurrent creates (limit 5): exactly 5 stored, the counter says 5', async () => {
  const results = await Promise.all(Array.from({ length: 30 }, () => store.create(endpoint(ORG_A), 5)));
  expect(results.filter((r) => r === 'created')).toHaveLength(5);
  expect(results.filter((r) => r === 'limit_reached')).toHaveLength(25);
  expect(await store.list(ORG_A)).toHaveLength(5);
  expect((await store.counter(ORG_A))?.n).toBe(5);
  // Another org has its own cap.
  expect(await store.create(endpoint(ORG_B), 5)).toBe('created');
});

test('list returns every endpoint of the org in creation order (whatever order they were written in)', async () => {
  const made = [endpoint(ORG_A), endpoint(ORG_A), endpoint(ORG_A)];
  for (const e of [...made].reverse()) await store.create(e, 10);
  await store.create(endpoint(ORG_B), 10);
  expect((await store.list(ORG_A)).map((e) => e.endpointId)).toEqual(made.map((e) => e.endpointId));
});

test('replace is conditional on the version read: a stale writer loses', async () => {
  const e = endpoint(ORG_A);
  await store.create(e, 5);
  expect(await store.replace({ ...e, enabled: false, version: 2 }, 1)).toBe(true);
  expect(await store.replace({ ...e, url: 'https://stale.example.com/', version: 2 }, 1)).toBe(false);
  expect(await store.get(ORG_A, e.endpointId)).toMatchObject({ enabled: false, url: e.url, version: 2 });
  // Replacing something that does not exist is refused too (no resurrection of a removed endpoint).
  expect(await store.replace({ ...endpoint(ORG_A), version: 2 }, 1)).toBe(false);
});

test('delete frees a slot; deleting twice is false and does not free a second one', async () => {
  const e = endpoint(ORG_A);
  await store.create(e, 1);
  expect(await store.create(endpoint(ORG_A), 1)).toBe('limit_reached');
  expect(await store.delete(ORG_A, e.endpointId)).toBe(true);
  expect(await store.delete(ORG_A, e.endpointId)).toBe(false);
  expect((await store.counter(ORG_A))?.n).toBe(0);
  expect(await store.create(endpoint(ORG_A), 1)).toBe('created');
});

test('a slot leaked by a crash between the two writes is repaired once the counter has settled, never before', async () => {
  await store.create(endpoint(ORG_A), 2);
  // A create that died after reserving its slot and before writing its endpoint.
  await DynamoDBDocumentClient.from(db.client).send(
    new UpdateCommand({ TableName: table, Key: { pk: `ORG#${ORG_A}`, sk: 'COUNT' }, UpdateExpression: 'SET n = n + :one', ExpressionAttributeValues: { ':one': 1 } }),
  );
  // Right after, the reservation might belong to a create still in flight: no repair.
  expect(await store.create(endpoint(ORG_A), 2)).toBe('limit_reached');
  clock += COUNTER_SETTLE_MS;
  expect(await store.create(endpoint(ORG_A), 2)).toBe('created');
  expect(await store.list(ORG_A)).toHaveLength(2);
  expect((await store.counter(ORG_A))?.n).toBe(2);
  // And the cap still holds after the repair.
  clock += COUNTER_SETTLE_MS;
  expect(await store.create(endpoint(ORG_A), 2)).toBe('limit_reached');
});
