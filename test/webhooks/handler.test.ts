import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { PublishCommand, SNSClient } from '@aws-sdk/client-sns';
import { SendMessageBatchCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSEvent } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../lambda/adapters/dynamodb-delivery-store';
import { ensureRegistryTable } from '../../lambda/adapters/dynamodb-registry-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../../lambda/adapters/dynamodb-webhook-endpoints';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { delaySecondsUntil, parseQueueMessage, SqsWebhookQueue } from '../../lambda/adapters/sqs-webhook-queue';
import { WebhookSender } from '../../lambda/adapters/webhook-sender';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { parseEvent } from '../../lambda/core/events/catalog';
import type { PlexEvent, PlexEventPublisher } from '../../lambda/core/events/model';
import { WebhookDispatcher } from '../../lambda/core/webhooks/dispatcher';
import { WebhookService } from '../../lambda/core/webhooks/endpoints';
import { webhookConsumer } from '../../lambda/adapters/webhook-consumer';
import { endpointEvents } from '../../lambda/webhooks/handler';
import { loopbackReceiver } from '../core/webhooks/loopback-receiver';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const ORG = 'org_aaaaaaaaaaaaaaaa';
const BROKEN = 'org_bbbbbbbbbbbbbbbb';
const QUEUE_URL = 'https://sqs.eu-west-1.amazonaws.com/111122223333/plexmcp-webhooks';
const sqsMock = mockClient(SQSClient);
// SNS and EventBridge have no local engine: mocked, with the exact requests asserted.
const snsMock = mockClient(SNSClient);
const eventBridgeMock = mockClient(EventBridgeClient);
const TOPIC = 'arn:aws:sns:eu-west-1:111122223333:plexmcp-org-alerts';
const BUS = 'plexmcp-events';

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
  snsMock.reset();
  snsMock.on(PublishCommand).resolves({ MessageId: 'sns-1' });
  eventBridgeMock.reset();
  eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-1' }] });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

async function setup(events?: PlexEventPublisher) {
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
    ...(events ? { events } : {}),
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

test('an endpoint failing for 5 days is disabled: the event goes on the bus and one alert email to the org\'s subscribers via SNS (id, reason, failingSince; no URL or secret)', async () => {
  const registryTable = `registry-${randomUUID()}`;
  await ensureRegistryTable(db.client, registryTable);
  // As the admin function stored it: a confirmed SNS subscription of every alert type.
  const store = new DynamoDbAlertStore(db.client, registryTable);
  await store.createSubscription({
    subscriptionId: 'al_aaaaaaaaaaaaaaaa', orgId: ORG, type: 'email', address: 'ops@example.com',
    events: ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'], createdAt: '2026-11-01T00:00:00.000Z',
    deliveryRef: `${TOPIC}:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`,
  });
  const events = endpointEvents(
    { PLEXMCP_ORG_ALERTS_TOPIC_ARN: TOPIC, PLEXMCP_EVENT_BUS_NAME: BUS },
    {
      dynamodb: db.client,
      registryTable,
      getOrg: async (orgId) => ({ orgId, plan: 'pro' }),
      sns: new SNSClient({ region: 'eu-west-1' }),
      eventBridge: new EventBridgeClient({ region: 'eu-west-1' }),
      log: () => undefined,
    },
  );
  const s = await setup(events);
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], () => 503);
  open.push(rx);
  const created = await s.service.create(ORG, { url: rx.url, eventTypes: ['key.*'] });
  secret = created.secret;
  const endpointId = created.endpoint.endpointId;
  const attemptFor = async (keyId: string) => {
    sqsMock.resetHistory();
    await s.consumer.consume(sqsEvent(busMessage({ type: 'key.revoked', orgId: ORG, at: new Date(s.clock.now).toISOString(), keyId, name: 'ci' })));
    const message = JSON.parse(sent()[0]!.MessageBody!) as { deliveryId: string };
    await s.consumer.consume(sqsEvent(message));
  };

  const failingSince = new Date(s.clock.now).toISOString();
  await attemptFor('key_1');
  expect(rx.requests).toBe(1);
  expect(snsMock.calls()).toHaveLength(0);
  // Another event 5 days later, its first attempt failing too: that one disables the endpoint.
  s.clock.now += 5 * 24 * 3_600_000;
  const at = new Date(s.clock.now).toISOString();
  await attemptFor('key_2');
  expect(rx.requests).toBe(2);
  expect(await s.service.get(ORG, endpointId)).toMatchObject({ enabled: false, disabledReason: 'failing' });

  const event = { type: 'webhook.endpoint.disabled', orgId: ORG, at, endpointId, reason: 'failing', failingSince };
  expect(parseEvent(event)).toEqual(event);
  expect(eventBridgeMock.commandCalls(PutEventsCommand).map((c) => c.args[0].input)).toEqual([
    { Entries: [{ EventBusName: BUS, Source: 'plexmcp.webhooks', DetailType: 'webhook.endpoint.disabled', Detail: JSON.stringify(event), Time: new Date(at) }] },
  ]);
  const published = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
  expect(published).toEqual([
    {
      TopicArn: TOPIC,
      Subject: `PlexMCP webhook endpoint disabled: ${endpointId} (failing for 5 days)`,
      Message: [
        `Every delivery to webhook endpoint ${endpointId} failed for 5 days, so delivery disabled it.`,
        '',
        `Organisation:  ${ORG}`,
        `Endpoint id:   ${endpointId}`,
        'Reason:        failing (no successful delivery for 5 days)',
        `Failing since: ${failingSince}`,
        `At:            ${at}`,
        '',
        'No events are delivered to it while it is disabled; deliveries that were pending end as gone.',
        'Once the receiver works again, re-enable it (PATCH /admin/v1/orgs/{orgId}/webhooks/{endpointId}',
        'with {"enabled": true}) and redeliver what it missed.',
        '',
        'You receive this because your organisation subscribed to webhook.endpoint.disabled alerts.',
        'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.',
        '',
      ].join('\n'),
      MessageAttributes: {
        orgId: { DataType: 'String', StringValue: ORG },
        eventType: { DataType: 'String', StringValue: 'webhook.endpoint.disabled' },
      },
    },
  ]);
  const text = JSON.stringify(published);
  expect(text).not.toContain(rx.url);
  expect(text).not.toContain('127.0.0.1');
  expect(text).not.toContain(secret);
  expect(text).not.toContain('whsec_');
});

test('the bus refusing the disabled event still sends the email; an org with no subscription to it gets none', async () => {
  const registryTable = `registry-${randomUUID()}`;
  await ensureRegistryTable(db.client, registryTable);
  const store = new DynamoDbAlertStore(db.client, registryTable);
  await store.createSubscription({
    subscriptionId: 'al_bbbbbbbbbbbbbbbb', orgId: ORG, type: 'email', address: 'ops@example.com',
    events: ['webhook.endpoint.disabled'], createdAt: '2026-11-01T00:00:00.000Z',
  });
  await store.createSubscription({
    subscriptionId: 'al_cccccccccccccccc', orgId: BROKEN, type: 'email', address: 'other@example.com',
    events: ['mcp.endpoint.status.changed'], createdAt: '2026-11-01T00:00:00.000Z',
  });
  eventBridgeMock.on(PutEventsCommand).rejects(new Error('throttled'));
  const events = endpointEvents(
    { PLEXMCP_ORG_ALERTS_TOPIC_ARN: TOPIC, PLEXMCP_EVENT_BUS_NAME: BUS },
    { dynamodb: db.client, registryTable, getOrg: async (orgId) => ({ orgId, plan: 'team' }), sns: new SNSClient({ region: 'eu-west-1' }), eventBridge: new EventBridgeClient({ region: 'eu-west-1' }), log: () => undefined },
  );
  const gone = (orgId: string) => ({ type: 'webhook.endpoint.disabled', orgId, at: '2026-12-01T10:00:00.000Z', endpointId: 'wh_dddddddddddddddd', reason: 'gone' });
  await expect(events.publish([gone(ORG), gone(BROKEN)])).rejects.toThrow('throttled');
  expect(snsMock.commandCalls(PublishCommand).map((c) => [c.args[0].input.Subject, c.args[0].input.MessageAttributes?.orgId?.StringValue])).toEqual([
    ['PlexMCP webhook endpoint disabled: wh_dddddddddddddddd (410 Gone)', ORG],
  ]);
  // Without the topic (no PLEXMCP_ORG_ALERTS_TOPIC_ARN) nothing is emailed, and the bus still gets the event.
  eventBridgeMock.reset();
  eventBridgeMock.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [{ EventId: 'e-2' }] });
  snsMock.resetHistory();
  const noTopic = endpointEvents({ PLEXMCP_EVENT_BUS_NAME: BUS }, { dynamodb: db.client, registryTable, getOrg: async (orgId) => ({ orgId, plan: 'team' }), sns: new SNSClient({ region: 'eu-west-1' }), eventBridge: new EventBridgeClient({ region: 'eu-west-1' }) });
  await noTopic.publish([gone(ORG)]);
  expect(snsMock.calls()).toHaveLength(0);
  expect(eventBridgeMock.commandCalls(PutEventsCommand)).toHaveLength(1);
});
