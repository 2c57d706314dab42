import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../lambda/adapters/dynamodb-delivery-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../../lambda/adapters/dynamodb-webhook-endpoints';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { WebhookService } from '../../lambda/core/webhooks/endpoints';
import { ReplicaEndpointStore } from '../../lambda/core/webhooks/replica-endpoints';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

/**
 * The delivery function's view of the webhook endpoints global table in a replica region
 * (ReplicaEndpointStore, lambda/core/webhooks/replica-endpoints.ts), on the real engine: two tables stand for
 * the writer region's table and this region's replica, and "replication" is an explicit copy, so
 * the lag that a real global table has at some moment is here for as long as the test wants.
 */
const ORG = 'org_aaaaaaaaaaaaaaaa';

let db: TestDynamoDb;
let dir: string;
beforeAll(async () => {
  db = await startTestDynamoDb();
  dir = mkdtempSync(join(tmpdir(), 'plexmcp-webhook-replica-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

async function regions() {
  const [writerTable, replicaTable, deliveriesTable] = [`whe-writer-${randomUUID()}`, `whe-replica-${randomUUID()}`, `whd-${randomUUID()}`];
  await Promise.all([ensureWebhookEndpointTable(db.client, writerTable), ensureWebhookEndpointTable(db.client, replicaTable), ensureDeliveryTable(db.client, deliveriesTable)]);
  const clock = { now: Date.parse('2026-12-01T10:00:00.000Z') };
  const writer = new DynamoDbWebhookEndpointStore(db.client, writerTable, () => clock.now);
  const replicaStore = new DynamoDbWebhookEndpointStore(db.client, replicaTable, () => clock.now);
  const doc = DynamoDBDocumentClient.from(db.client);
  // The same key file in both "regions", as the multi-Region credentials key is one key.
  const cipher = new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key')));
  const deps = {
    deliveries: new DynamoDbDeliveryStore(db.client, deliveriesTable),
    cipher,
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
    limitFor: async () => 5,
    now: () => new Date(clock.now),
    log: () => undefined,
  };
  // The primary's admin API: every endpoint change in the writer region.
  const admin = new WebhookService({ ...deps, endpoints: writer });
  const store = new ReplicaEndpointStore(replicaStore, writer, { now: () => clock.now, writerReadsForMs: 10_000 });
  // This region's delivery function.
  const delivery = new WebhookService({ ...deps, endpoints: store });
  const item = async (table: string, endpointId: string) =>
    (await doc.send(new GetCommand({ TableName: table, Key: { pk: `ORG#${ORG}`, sk: `WHE#${endpointId}` }, ConsistentRead: true }))).Item;
  /** Global table replication of one endpoint item, when the test says so. */
  const replicate = async (endpointId: string) => {
    await doc.send(new PutCommand({ TableName: replicaTable, Item: (await item(writerTable, endpointId))! }));
  };
  return { clock, admin, delivery, store, replicate, item, writerTable, replicaTable };
}

describe('ReplicaEndpointStore (delivery function in a replica region)', () => {
  test('an endpoint registered in another region reaches this region\'s fan-out once replicated, and is signed with the secret encrypted there', async () => {
    const r = await regions();
    const { endpoint, secret } = await r.admin.create(ORG, { url: 'http://127.0.0.1:9/hook', eventTypes: ['key.revoked'] });
    const event = { type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId: 'key_1' } as const;
    // Not replicated yet: fan-out reads the replica only (an event raised at this moment may miss it).
    expect(await r.delivery.fanOut(event, 'ev-1')).toEqual([]);
    await r.replicate(endpoint.endpointId);
    const out = await r.delivery.fanOut(event, 'ev-2');
    expect(out.map((d) => d.endpointId)).toEqual([endpoint.endpointId]);
    // The secret decrypts here (the context names org and endpoint, not a region).
    const target = await r.delivery.target(endpoint.endpointId, ORG);
    expect(target).toEqual({ url: 'http://127.0.0.1:9/hook', secrets: [secret] });
  });

  test('an endpoint the replica does not have yet is read from the writer region (a test event right after the create is not lost as gone)', async () => {
    const r = await regions();
    const { endpoint, secret } = await r.admin.create(ORG, { url: 'http://127.0.0.1:9/hook' });
    expect(await r.item(r.replicaTable, endpoint.endpointId)).toBeUndefined();
    expect(await r.delivery.target(endpoint.endpointId, ORG)).toEqual({ url: 'http://127.0.0.1:9/hook', secrets: [secret] });
    // Removed everywhere: nothing to send to.
    await r.admin.remove(ORG, endpoint.endpointId);
    expect(await r.store.get(ORG, endpoint.endpointId)).toBeUndefined();
  });

  test('the failure state is written in the writer region, over a change the replica has not seen yet; the replica is never written', async () => {
    const r = await regions();
    const { endpoint } = await r.admin.create(ORG, { url: 'http://127.0.0.1:9/old' });
    await r.replicate(endpoint.endpointId); // version 1 in both
    // The admin API changes the URL in the writer region; the replica still has version 1.
    await r.admin.update(ORG, endpoint.endpointId, { url: 'http://127.0.0.1:9/new' });
    r.clock.now += 1000;
    await r.delivery.recordOutcome(ORG, endpoint.endpointId, 'retry', r.clock.now);

    const written = await r.item(r.writerTable, endpoint.endpointId);
    // The lost race against version 1 was read again from the writer: the admin's URL survives.
    expect(written).toMatchObject({ url: 'http://127.0.0.1:9/new', failingSince: new Date(r.clock.now).toISOString(), version: 3 });
    const replica = await r.item(r.replicaTable, endpoint.endpointId);
    expect(replica).toMatchObject({ url: 'http://127.0.0.1:9/old', version: 1 });
    expect(replica).not.toHaveProperty('failingSince');
  });

  test('a written endpoint is read from the writer for writerReadsForMs, then from the replica again', async () => {
    const r = await regions();
    const { endpoint } = await r.admin.create(ORG, { url: 'http://127.0.0.1:9/a' });
    await r.replicate(endpoint.endpointId);
    await r.delivery.recordOutcome(ORG, endpoint.endpointId, 'retry', r.clock.now); // a write: version 2 in the writer
    expect((await r.store.get(ORG, endpoint.endpointId))?.version).toBe(2);
    r.clock.now += 10_001;
    // Replication has not happened (in this test): the replica's version 1 is what reads see again.
    expect((await r.store.get(ORG, endpoint.endpointId))?.version).toBe(1);
  });
});
