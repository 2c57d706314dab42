import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../../lambda/adapters/dynamodb-delivery-store';
import { WebhookSender } from '../../../lambda/adapters/webhook-sender';
import { localDynamoDbClient } from '../../../lambda/local/dynamodb-engine';
import type { DeliveryState, DeliveryStore } from '../../../lambda/core/webhooks/deliveries';
import { WebhookDispatcher } from '../../../lambda/core/webhooks/dispatcher';
import { generateMessageId, generateSecret } from '../../../lambda/core/webhooks/signing';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

/** A loopback receiver that verifies every request with the standardwebhooks package and counts webhook-ids. */
interface Receiver {
  url: string;
  /** webhook-id -> number of verified requests that carried it. */
  seen: Map<string, number>;
  statuses: number[];
  unverified: number;
  close(): Promise<void>;
}

async function receiver(secret: string, answer: (n: number) => number): Promise<Receiver> {
  const wh = new Webhook(secret);
  const rx = { seen: new Map<string, number>(), statuses: [] as number[], unverified: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      try {
        wh.verify(Buffer.concat(chunks).toString(), req.headers as Record<string, string>);
      } catch {
        rx.unverified += 1;
        res.writeHead(400).end();
        return;
      }
      const id = req.headers['webhook-id'] as string;
      rx.seen.set(id, (rx.seen.get(id) ?? 0) + 1);
      const status = answer(rx.statuses.length + 1);
      rx.statuses.push(status);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    ...rx,
    get unverified() {
      return rx.unverified;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const SCHEDULE = [0, 20, 40, 60, 80]; // the real schedule, shortened
const eventBody = (n: number) => JSON.stringify({ type: 'key.revoked', timestamp: '2026-12-01T00:00:00Z', data: { keyId: `key_${n}` } });

describe('WebhookDispatcher on the DynamoDB delivery store', () => {
  let db: TestDynamoDb;
  const open: { close(): Promise<void> }[] = [];
  const track = <T extends { close(): Promise<void> }>(x: T): T => (open.push(x), x);

  beforeAll(async () => {
    db = await startTestDynamoDb();
  });
  afterAll(async () => {
    await db.close();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((x) => x.close()));
  });

  async function newTable(): Promise<string> {
    const name = `deliveries-${randomUUID()}`;
    await ensureDeliveryTable(db.client, name);
    return name;
  }

  async function enqueue(store: DeliveryStore, n: number, endpointId = 'ep_1'): Promise<string> {
    const id = generateMessageId();
    await store.enqueue({ id, orgId: 'org_1', endpointId, eventType: 'key.revoked', body: eventBody(n), nextAttemptAt: Date.now(), enqueuedAt: Date.now() + n });
    return id;
  }

  function dispatcher(store: DeliveryStore, rx: Receiver, secret: string, sender: WebhookSender, extra: { now?: () => number } = {}) {
    return new WebhookDispatcher({
      store,
      send: (req) => sender.send(req),
      secretsFor: async (endpointId) => (endpointId === 'ep_1' ? { url: rx.url, secrets: [secret] } : undefined),
      schedule: SCHEDULE,
      ...extra,
    });
  }

  /** Runs the dispatchers until every id is final; bounded, so a stuck queue fails the test instead of hanging. */
  async function drain(store: DeliveryStore, ids: string[], run: () => Promise<unknown>): Promise<Map<string, DeliveryState>> {
    const states = new Map<string, DeliveryState>();
    for (let pass = 0; pass < 200; pass++) {
      await run();
      for (const id of ids) states.set(id, (await store.get(id))!.state);
      if ([...states.values()].every((s) => s !== 'pending')) return states;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    return states;
  }

  it('a receiver that fails twice then succeeds gets the event on the third attempt, every attempt recorded', async () => {
    const secret = generateSecret();
    const rx = track(await receiver(secret, (n) => (n <= 2 ? 500 : 200)));
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const store = new DynamoDbDeliveryStore(db.client, await newTable());
    const d = dispatcher(store, rx, secret, sender);
    const id = await enqueue(store, 1);
    const states = await drain(store, [id], () => d.runOnce());
    expect(states.get(id)).toBe('delivered');
    expect(rx.statuses).toEqual([500, 500, 200]);
    expect(rx.seen.get(id)).toBe(3);
    expect(rx.unverified).toBe(0);
    const stored = (await store.get(id))!;
    expect(stored.attempt).toBe(3);
    expect(stored.attempts.map((a) => [a.status, a.errorClass])).toEqual([
      [500, 'http_status'],
      [500, 'http_status'],
      [200, undefined],
    ]);
    // Retries waited for the schedule: the 2nd attempt at least 20 ms after the 1st, the 3rd 40 ms after the 2nd.
    expect(stored.attempts[1]!.at - stored.attempts[0]!.at).toBeGreaterThanOrEqual(20);
    expect(stored.attempts[2]!.at - stored.attempts[1]!.at).toBeGreaterThanOrEqual(40);
    expect((await store.list('ep_1')).map((x) => x.id)).toEqual([id]);
  });

  it('a 410 ends the delivery as gone after one attempt; a receiver that always fails exhausts the schedule', async () => {
    const secret = generateSecret();
    const gone = track(await receiver(secret, () => 410));
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const store = new DynamoDbDeliveryStore(db.client, await newTable());
    const id = await enqueue(store, 1);
    expect((await drain(store, [id], () => dispatcher(store, gone, secret, sender).runOnce())).get(id)).toBe('gone');
    expect(gone.statuses).toEqual([410]);

    const failing = track(await receiver(secret, () => 503));
    const id2 = await enqueue(store, 2);
    expect((await drain(store, [id2], () => dispatcher(store, failing, secret, sender).runOnce())).get(id2)).toBe('failed');
    expect(failing.statuses).toHaveLength(SCHEDULE.length);
    expect(await store.due(Date.now() + 60_000, 10)).toEqual([]);
  });

  it('a delivery for a removed endpoint ends as gone without sending', async () => {
    const secret = generateSecret();
    const rx = track(await receiver(secret, () => 200));
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const store = new DynamoDbDeliveryStore(db.client, await newTable());
    const id = await enqueue(store, 1, 'ep_removed');
    expect((await drain(store, [id], () => dispatcher(store, rx, secret, sender).runOnce())).get(id)).toBe('gone');
    expect(rx.statuses).toEqual([]);
    expect((await store.get(id))!.attempts).toEqual([expect.objectContaining({ errorClass: 'endpoint_unavailable' })]);
  });

  it('restart: pending deliveries enqueued before a stop are delivered by a new store and dispatcher, none lost, none twice', async () => {
    const secret = generateSecret();
    const rx = track(await receiver(secret, () => 204));
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const table = await newTable();

    // Before the "restart": its own client and store; deliveries enqueued, one claimed by a
    // dispatcher that then died mid-attempt (never recorded), none sent.
    const before = localDynamoDbClient(db.endpoint);
    const oldStore = new DynamoDbDeliveryStore(before, table);
    const ids: string[] = [];
    for (let n = 0; n < 6; n++) ids.push(await enqueue(oldStore, n));
    const [claimed] = await oldStore.due(Date.now(), 1);
    expect(await oldStore.claim(claimed!.id, 0, claimed!.nextAttemptAt, Date.now() + 100)).toBe(true);
    before.destroy();
    expect(rx.statuses).toEqual([]);

    // After: a new client, store and dispatcher on the same table.
    const after = localDynamoDbClient(db.endpoint);
    const store = new DynamoDbDeliveryStore(after, table);
    const states = await drain(store, ids, () => dispatcher(store, rx, secret, sender).runOnce());
    after.destroy();
    expect([...states.values()]).toEqual(ids.map(() => 'delivered'));
    expect([...rx.seen.keys()].sort()).toEqual([...ids].sort());
    expect([...rx.seen.values()]).toEqual(ids.map(() => 1));
  });

  it('two dispatchers racing on the same due deliveries send each at most once per attempt', async () => {
    const secret = generateSecret();
    const rx = track(await receiver(secret, () => 200));
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const table = await newTable();
    const clients = [localDynamoDbClient(db.endpoint), localDynamoDbClient(db.endpoint)];
    const stores = clients.map((c) => new DynamoDbDeliveryStore(c, table));
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) ids.push(await enqueue(stores[0]!, n));
    const dispatchers = stores.map((s) => dispatcher(s, rx, secret, sender));
    // Both read the same due list before either claims: only the claim decides who sends.
    const recorded = await Promise.all(dispatchers.map((d) => d.runOnce()));
    expect(recorded[0]! + recorded[1]!).toBe(10);
    const states = await drain(stores[0]!, ids, () => Promise.all(dispatchers.map((d) => d.runOnce())));
    clients.forEach((c) => c.destroy());
    expect([...states.values()]).toEqual(ids.map(() => 'delivered'));
    expect(rx.seen.size).toBe(10);
    expect([...rx.seen.values()]).toEqual(ids.map(() => 1));
    for (const id of ids) expect((await stores[0]!.get(id))!.attempts).toHaveLength(1);
  });

  it('recordAttempt never records the same attempt twice; enqueue is idempotent', async () => {
    const store = new DynamoDbDeliveryStore(db.client, await newTable());
    const id = await enqueue(store, 1);
    const again = await store.enqueue({ id, orgId: 'org_1', endpointId: 'ep_1', eventType: 'x', body: '{}', nextAttemptAt: 0, enqueuedAt: 0 });
    expect(again.body).toBe(eventBody(1));
    const outcome = { at: Date.now(), status: 500, latencyMs: 3, errorClass: 'http_status' };
    const results = await Promise.all([
      store.recordAttempt(id, 0, outcome, { state: 'pending', nextAttemptAt: Date.now() + 1000 }),
      store.recordAttempt(id, 0, outcome, { state: 'delivered' }),
    ]);
    expect(results.filter(Boolean)).toHaveLength(1);
    expect((await store.get(id))!.attempts).toHaveLength(1);
    expect(await store.recordAttempt(id, 0, outcome, { state: 'delivered' })).toBe(false);
  });
});
