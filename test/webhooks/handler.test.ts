import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../lambda/adapters/dynamodb-delivery-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../../lambda/adapters/dynamodb-webhook-endpoints';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { delaySecondsUntil, parseQueueMessage, SqsWebhookQueue } from '../../lambda/adapters/sqs-webhook-queue';
import { WebhookSender } from '../../lambda/adapters/webhook-sender';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import type { PlexEvent } from '../../lambda/core/events/model';
import { WebhookDispatcher } from '../../lambda/core/webhooks/dispatcher';
import { WebhookService } from '../../lambda/core/webhooks/endpoints';
import { webhookConsumer } from '../../lambda/webhooks/handler';
import { loopbackReceiver } from '../core/webhooks/loopback-receiver';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const ORG = 'org_aaaaaaaaaaaaaaaa';
const BROKEN = 'org_bbbbbbbbbbbbbbbb';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/plexmcp-webhooks';
const sqsMock = mockClient(SQSClient);

let db: TestDynamoDb;
let dir: string;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  db = await startTestDynamoDb();
  dir = mkdtempSync(join(tmpdir(), 'plexmcp-webhook-handler-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});
beforeEach(() => {
  sqsMock.reset();
  sqsMock.on(SendMessageCommand).resolves({ MessageId: 'm' });
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup() {
  const endpointsTable = `webhook-endpoints-${randomUUID()}`;
  const deliveriesTable = `deliveries-${randomUUID()}`;
  await Promise.all([ensureWebhookEndpointTable(db.client, endpointsTable), ensureDeliveryTable(db.client, deliveriesTable)]);
  const clock = { now: Date.parse('2026-12-01T10:00:00.000Z') };
  const now = () => clock.now;
  const deliveries = new DynamoDbDeliveryStore(db.client, deliveriesTable);
  const queue = new SqsWebhookQueue(new SQSClient({ region: 'eu-west-1' }), QUEUE_URL, now);
  const service = new WebhookService({
    endpoints: new DynamoDbWebhookEndpointStore(db.client, endpointsTable, now),
    deliveries,
    cipher: new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key'))),
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
    limitFor: async (orgId) => {
      if (orgId === BROKEN) throw new Error('registry unavailable');
      return 5;
    },
    onEnqueued: (d) => queue.schedule(d.id, d.nextAttemptAt),
    now: () => new Date(clock.now),
    log: () => undefined,
  });
  const sender = new WebhookSender({ allowLoopback: true });
  open.push(sender);
  // The real Standard Webhooks schedule: the clock, not the test, waits.
  const dispatcher = new WebhookDispatcher({
    store: deliveries,
    send: (req) => sender.send(req),
    secretsFor: (endpointId, orgId) => service.target(endpointId, orgId),
    onOutcome: (d, outcome, at) => service.recordOutcome(d.orgId, d.endpointId, outcome, at),
    now,
  });
  const consumer = webhookConsumer({ service, dispatcher, deliveries, queue, now });
  return { clock, service, deliveries, consumer };
}

let seq = 0;
const sqsEvent = (...bodies: unknown[]): SQSEvent => ({
  Records: bodies.map((body) => ({
    messageId: `m-${++seq}`,
    receiptHandle: 'r',
    body: JSON.stringify(body),
    attributes: {} as never,
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: 'arn:aws:sqs:eu-west-1:111122223333:plexmcp-webhooks',
    awsRegion: 'eu-west-1',
  })),
});

/** What the EventBridge rule's SQS target writes for one bus event. */
const busMessage = (event: PlexEvent, id: string = randomUUID()) => ({
  version: '0',
  id,
  'detail-type': event.type,
  source: 'plexmcp.admin',
  account: '111122223333',
  time: event.at,
  region: 'eu-west-1',
  resources: [],
  detail: event,
});

const sent = () => sqsMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input);

test('a bus event is fanned out into one {deliveryId} message per matching endpoint; the same bus message again sends nothing', async () => {
  const s = await setup();
  const a = await s.service.create(ORG, { url: 'http://127.0.0.1:9/a', eventTypes: ['key.*'] });
  await s.service.create(ORG, { url: 'http://127.0.0.1:9/b', eventTypes: ['mcp.*'] });
  const event: PlexEvent = { type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId: 'key_1', name: 'ci' };
  const message = busMessage(event, 'evt-1');
  expect(await s.consumer.consume(sqsEvent(message))).toMatchObject({ batchItemFailures: [] });
  const [delivery] = (await s.service.listDeliveries(ORG, a.endpoint.endpointId)).items;
  expect(sent()).toEqual([{ QueueUrl: QUEUE_URL, MessageBody: JSON.stringify({ deliveryId: delivery!.deliveryId }), DelaySeconds: 0 }]);
  sqsMock.resetHistory();
  expect(await s.consumer.consume(sqsEvent(message))).toMatchObject({ batchItemFailures: [] });
  expect(sent()).toEqual([]);
});

test('fail twice then succeed on the real schedule: attempts at +0, +5 s, +5 min, each next one queued with its delay', async () => {
  const s = await setup();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], (n) => (n <= 2 ? 500 : 200));
  open.push(rx);
  const created = await s.service.create(ORG, { url: rx.url });
  secret = created.secret;
  await s.consumer.consume(sqsEvent(busMessage({ type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId: 'key_1', name: 'ci' })));
  const id = (JSON.parse(sent()[0]!.MessageBody!) as { deliveryId: string }).deliveryId;
  const message = { deliveryId: id };

  sqsMock.resetHistory();
  await s.consumer.consume(sqsEvent(message));
  expect(rx.received).toHaveLength(1);
  // 5 s after the attempt ended (its latency, a few ms, rounds the delay up to the next second).
  const due = (await s.deliveries.get(id))!.nextAttemptAt;
  expect(due - s.clock.now).toBeGreaterThanOrEqual(5_000);
  expect(sent()).toEqual([{ QueueUrl: QUEUE_URL, MessageBody: JSON.stringify(message), DelaySeconds: delaySecondsUntil(due, s.clock.now) }]);
  expect([5, 6]).toContain(sent()[0]!.DelaySeconds);

  // A message that arrives early (a duplicate) neither attempts nor loses the delivery.
  sqsMock.resetHistory();
  await s.consumer.consume(sqsEvent(message));
  expect(rx.received).toHaveLength(1);
  expect(sent()).toEqual([{ QueueUrl: QUEUE_URL, MessageBody: JSON.stringify(message), DelaySeconds: delaySecondsUntil(due, s.clock.now) }]);

  sqsMock.resetHistory();
  s.clock.now += 5_000 + 1_000; // the attempt's latency counts too
  await s.consumer.consume(sqsEvent(message));
  expect(rx.received).toHaveLength(2);
  expect(sent()).toEqual([{ QueueUrl: QUEUE_URL, MessageBody: JSON.stringify(message), DelaySeconds: expect.any(Number) }]);
  expect([300, 301]).toContain(sent()[0]!.DelaySeconds);

  sqsMock.resetHistory();
  s.clock.now += 301_000;
  await s.consumer.consume(sqsEvent(message));
  expect(rx.received).toHaveLength(3);
  expect(rx.unverified).toBe(0);
  expect(sent()).toEqual([]); // delivered: nothing more to queue
  expect(await s.deliveries.get(id)).toMatchObject({ state: 'delivered', attempt: 3 });
  // A late duplicate of a delivered delivery is dropped.
  await s.consumer.consume(sqsEvent(message));
  expect(rx.received).toHaveLength(3);
});

test('a wait longer than 15 minutes is a chain of 900 s messages until the attempt is due', async () => {
  const s = await setup();
  const created = await s.service.create(ORG, { url: 'http://127.0.0.1:9/x' });
  const [d] = await s.service.fanOut({ type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId: 'k', name: 'n' });
  // As if the schedule had put the next attempt 40 minutes away.
  await s.deliveries.claim(d!.id, 0, d!.nextAttemptAt, s.clock.now + 40 * 60_000);
  sqsMock.resetHistory();
  await s.consumer.consume(sqsEvent({ deliveryId: d!.id }));
  s.clock.now += 900_000;
  await s.consumer.consume(sqsEvent({ deliveryId: d!.id }));
  s.clock.now += 900_000;
  await s.consumer.consume(sqsEvent({ deliveryId: d!.id }));
  expect(sent().map((m) => m.DelaySeconds)).toEqual([900, 900, 600]);
  expect((await s.service.listDeliveries(ORG, created.endpoint.endpointId)).items[0]).toMatchObject({ attempts: 0, state: 'pending' });
});

test('partial batch failure: only the record that failed is reported; unreadable messages are dropped, not retried', async () => {
  const s = await setup();
  await s.service.create(ORG, { url: 'http://127.0.0.1:9/x' });
  const good = busMessage({ type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId: 'k', name: 'n' });
  const broken = busMessage({ type: 'key.revoked', orgId: BROKEN, at: '2026-12-01T10:00:00.000Z', keyId: 'k', name: 'n' });
  const batch = sqsEvent(good, broken, 'not json at all', { some: 'thing' });
  const out = await s.consumer.consume(batch);
  expect(out.batchItemFailures).toEqual([{ itemIdentifier: batch.Records[1]!.messageId }]);
  expect(out.summary).toMatchObject({ events: 2, failed: 1, dropped: 2 });
  // A queue that refuses the send fails that record too (it comes back; the store already has the delivery).
  sqsMock.on(SendMessageCommand).rejects(new Error('throttled'));
  const again = sqsEvent(busMessage({ type: 'key.created', orgId: ORG, at: '2026-12-01T10:00:01.000Z', keyId: 'k2', name: 'n' }));
  expect((await s.consumer.consume(again)).batchItemFailures).toEqual([{ itemIdentifier: again.Records[0]!.messageId }]);
});

test('the sweep queues deliveries due for longer than the grace period (their message was lost), in SendMessageBatch calls of 10', async () => {
  const s = await setup();
  await s.service.create(ORG, { url: 'http://127.0.0.1:9/x' });
  const ids: string[] = [];
  for (let i = 0; i < 12; i++) {
    ids.push(...(await s.service.fanOut({ type: 'key.revoked', orgId: ORG, at: `2026-12-01T10:00:${String(i).padStart(2, '0')}.000Z`, keyId: `k${i}`, name: 'n' })).map((d) => d.id));
  }
  expect(await s.consumer.sweep()).toEqual({ queued: 0 }); // within the grace period: their messages may be on the way
  s.clock.now += 121_000;
  expect(await s.consumer.sweep()).toEqual({ queued: 12 });
  const batches = sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
  expect(batches.map((b) => b.Entries!.length)).toEqual([10, 2]);
  expect(batches.flatMap((b) => b.Entries!.map((e) => JSON.parse(e.MessageBody!).deliveryId)).sort()).toEqual([...ids].sort());
  expect(batches.every((b) => b.QueueUrl === QUEUE_URL && b.Entries!.every((e) => e.DelaySeconds === 0))).toBe(true);
});

test('queue message parsing and delays', () => {
  expect(parseQueueMessage('{"deliveryId":"msg_abc"}')).toEqual({ kind: 'delivery', deliveryId: 'msg_abc' });
  expect(parseQueueMessage('{"deliveryId":"nope"}')).toBeUndefined();
  const event = { type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z' };
  expect(parseQueueMessage(JSON.stringify(busMessage(event, 'e1')))).toEqual({ kind: 'event', event, eventId: 'e1' });
  expect(parseQueueMessage(JSON.stringify({ ...busMessage(event), source: 'aws.events' }))).toBeUndefined();
  expect(parseQueueMessage(JSON.stringify({ ...busMessage(event), 'detail-type': 'other' }))).toBeUndefined();
  expect(delaySecondsUntil(1_000, 0)).toBe(1);
  expect(delaySecondsUntil(1_001, 0)).toBe(2);
  expect(delaySecondsUntil(-5, 0)).toBe(0);
  expect(delaySecondsUntil(10_000_000, 0)).toBe(900);
});
