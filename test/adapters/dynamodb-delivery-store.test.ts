import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import {
  DEFAULT_DELIVERY_RETENTION_MS,
  DUE_SHARDS,
  DynamoDbDeliveryStore,
  ensureDeliveryTable,
} from '../../lambda/adapters/dynamodb-delivery-store';
import { MAX_RECORDED_ATTEMPTS, type NewDelivery } from '../../lambda/core/webhooks/deliveries';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let table: string;
let store: DynamoDbDeliveryStore;
const raw = (id: string) =>
  DynamoDBDocumentClient.from(db.client).send(new GetCommand({ TableName: table, Key: { id }, ConsistentRead: true })).then((o) => o.Item);

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  table = `deliveries-${randomUUID()}`;
  await ensureDeliveryTable(db.client, table);
  store = new DynamoDbDeliveryStore(db.client, table);
});

const T0 = Date.parse('2026-12-01T00:00:00.000Z');
let n = 0;
const delivery = (extra: Partial<NewDelivery> = {}): NewDelivery => {
  n += 1;
  return { id: `msg_${n}_${randomUUID()}`, orgId: 'org_1', endpointId: 'whe_1', eventType: 'key.revoked', body: '{"type":"key.revoked"}', nextAttemptAt: T0, enqueuedAt: T0 + n, ...extra };
};

test('enqueue is idempotent on the id: the first one stands', async () => {
  const d = delivery();
  expect(await store.enqueue(d)).toMatchObject({ ...d, attempt: 0, state: 'pending', attempts: [] });
  expect(await store.enqueue({ ...d, body: '{"other":true}' })).toMatchObject({ body: d.body });
  expect((await raw(d.id))?.dueShard).toMatch(new RegExp(`^DUE#[0-${DUE_SHARDS - 1}]$`));
});

test('due: pending deliveries with nextAttemptAt <= now, earliest first, bounded; final ones leave the index', async () => {
  const ids = [];
  for (let i = 0; i < 12; i++) ids.push((await store.enqueue(delivery({ nextAttemptAt: T0 + i * 10 }))).id);
  const due = await store.due(T0 + 55, 4);
  expect(due.map((d) => d.id)).toEqual(ids.slice(0, 4));
  expect((await store.due(T0 + 55, 100)).map((d) => d.id)).toEqual(ids.slice(0, 6));
  expect(await store.recordAttempt(ids[0]!, 0, { at: T0, latencyMs: 3, status: 200 }, { state: 'delivered' })).toBe(true);
  expect((await store.due(T0 + 55, 100)).map((d) => d.id)).toEqual(ids.slice(1, 6));
  expect((await raw(ids[0]!))?.dueShard).toBeUndefined();
});

test('claim and recordAttempt are conditional: a stale claim or a second record of the same attempt loses', async () => {
  const d = await store.enqueue(delivery());
  expect(await store.claim(d.id, 0, T0, T0 + 60_000)).toBe(true);
  expect(await store.claim(d.id, 0, T0, T0 + 60_000)).toBe(false); // nextAttemptAt moved on
  expect(await store.recordAttempt(d.id, 0, { at: T0, latencyMs: 5, status: 500, errorClass: 'http_status' }, { state: 'pending', nextAttemptAt: T0 + 5000 })).toBe(true);
  expect(await store.recordAttempt(d.id, 0, { at: T0, latencyMs: 5, status: 500 }, { state: 'pending', nextAttemptAt: T0 + 5000 })).toBe(false);
  expect(await store.get(d.id)).toMatchObject({ attempt: 1, nextAttemptAt: T0 + 5000, state: 'pending', attempts: [{ at: T0, latencyMs: 5, status: 500, errorClass: 'http_status' }] });
});

test(`only the last ${MAX_RECORDED_ATTEMPTS} attempts are kept; a final state sets the TTL`, async () => {
  const d = await store.enqueue(delivery());
  for (let i = 0; i < MAX_RECORDED_ATTEMPTS + 3; i++) {
    expect(await store.recordAttempt(d.id, i, { at: T0 + i, latencyMs: i, status: 500 }, { state: 'pending', nextAttemptAt: T0 + i + 1 })).toBe(true);
  }
  expect(await store.recordAttempt(d.id, MAX_RECORDED_ATTEMPTS + 3, { at: T0 + 99, latencyMs: 1, status: 500 }, { state: 'failed' })).toBe(true);
  const stored = (await store.get(d.id))!;
  expect(stored.attempts).toHaveLength(MAX_RECORDED_ATTEMPTS);
  expect(stored.attempts.at(-1)).toEqual({ at: T0 + 99, latencyMs: 1, status: 500 });
  expect(stored).not.toHaveProperty('expiresAt');
  expect((await raw(d.id))?.expiresAt).toBe(Math.ceil((T0 + 99 + DEFAULT_DELIVERY_RETENTION_MS) / 1000));
});

test('redeliver: only a final delivery in the state and attempt count read; back in the due index as a new series, TTL removed', async () => {
  const d = await store.enqueue(delivery());
  expect(await store.redeliver(d.id, 'failed', 0, T0)).toBeUndefined(); // still pending
  await store.recordAttempt(d.id, 0, { at: T0, latencyMs: 1, status: 500 }, { state: 'failed' });
  expect(await store.redeliver(d.id, 'gone', 1, T0)).toBeUndefined(); // wrong state
  expect(await store.redeliver(d.id, 'failed', 0, T0)).toBeUndefined(); // wrong attempt count
  const again = await store.redeliver(d.id, 'failed', 1, T0 + 1000);
  expect(again).toMatchObject({ state: 'pending', nextAttemptAt: T0 + 1000, attempt: 1, seriesStart: 1, redeliveries: 1 });
  expect(again).not.toHaveProperty('expiresAt');
  expect((await raw(d.id))?.expiresAt).toBeUndefined();
  expect((await store.due(T0 + 1000, 10)).map((x) => x.id)).toEqual([d.id]);
  // Two racing redeliveries of the same read: one wins.
  await store.recordAttempt(d.id, 1, { at: T0, latencyMs: 1, status: 500 }, { state: 'failed' });
  const raced = await Promise.all([store.redeliver(d.id, 'failed', 2, T0), store.redeliver(d.id, 'failed', 2, T0)]);
  expect(raced.filter(Boolean)).toHaveLength(1);
  expect((await store.get(d.id))?.redeliveries).toBe(2);
});

test('list and listPage: an endpoint’s deliveries newest first, pages exact even when enqueuedAt ties', async () => {
  const same = T0 + 500;
  const made = [];
  for (let i = 0; i < 5; i++) made.push(await store.enqueue(delivery({ enqueuedAt: i < 3 ? same : same + i })));
  await store.enqueue(delivery({ endpointId: 'whe_2' }));
  const all = await store.list('whe_1');
  expect(all.map((d) => d.id).sort()).toEqual(made.map((d) => d.id).sort());
  const seen: string[] = [];
  let page = await store.listPage('whe_1', { limit: 2 });
  for (let i = 0; i < 5 && page.length > 0; i++) {
    seen.push(...page.map((d) => d.id));
    const last = page.at(-1)!;
    page = await store.listPage('whe_1', { limit: 2, before: last.enqueuedAt, beforeId: last.id });
  }
  expect(seen).toEqual(all.map((d) => d.id));
  expect(new Set(seen).size).toBe(5);
});
