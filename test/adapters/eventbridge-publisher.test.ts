import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgePublisher, eventSourceOf, SignedEventBridgePublisher, UnknownEventSourceError } from '../../lambda/adapters/eventbridge-publisher';
import { EVENT_TYPES } from '../../lambda/core/events/catalog';
import type { PlexEvent } from '../../lambda/core/events/model';
import type { HealthEvent } from '../../lambda/core/health/model';

const eventbridge = mockClient(EventBridgeClient);
beforeEach(() => eventbridge.reset());

const statusEvent = (i: number): HealthEvent => ({
  type: 'mcp.endpoint.status.changed',
  orgId: 'org_a',
  mcp: 'tools',
  endpointId: `ep_${i}`,
  region: 'eu-west-1',
  from: 'healthy',
  to: 'unhealthy',
  errorClass: 'connect_refused',
  at: '2026-11-25T10:00:00.000Z',
});

test('puts each event on the bus with source, detail-type and detail, 10 per call', async () => {
  eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
  const events = Array.from({ length: 12 }, (_, i) => statusEvent(i));
  await new EventBridgePublisher(new EventBridgeClient({}), 'plexmcp').publish(events);
  const calls = eventbridge.commandCalls(PutEventsCommand);
  expect(calls.map((c) => c.args[0].input.Entries!.length)).toEqual([10, 2]);
  expect(calls[0]!.args[0].input.Entries![0]).toStrictEqual({
    EventBusName: 'plexmcp',
    Source: 'plexmcp.health',
    DetailType: 'mcp.endpoint.status.changed',
    Detail: JSON.stringify(events[0]),
    Time: new Date('2026-11-25T10:00:00.000Z'),
  });
});

test('retries only the entries EventBridge reports as failed, once, then fails', async () => {
  eventbridge
    .on(PutEventsCommand)
    .resolvesOnce({ FailedEntryCount: 1, Entries: [{ EventId: '1' }, { ErrorCode: 'ThrottlingException' }, { EventId: '3' }] })
    .resolvesOnce({ FailedEntryCount: 0, Entries: [{ EventId: '2' }] });
  await new EventBridgePublisher(new EventBridgeClient({}), 'plexmcp').publish([statusEvent(1), statusEvent(2), statusEvent(3)]);
  const calls = eventbridge.commandCalls(PutEventsCommand);
  expect(calls).toHaveLength(2);
  expect(JSON.parse(calls[1]!.args[0].input.Entries![0]!.Detail!).endpointId).toBe('ep_2');

  eventbridge.reset();
  eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] });
  await expect(new EventBridgePublisher(new EventBridgeClient({}), 'plexmcp').publish([statusEvent(1)])).rejects.toThrow('not accepted');
  expect(eventbridge.commandCalls(PutEventsCommand)).toHaveLength(2);
});

describe('any PlexEvent, with the source of its family', () => {
  const at = '2026-11-25T10:00:00.000Z';
  const cases: [string, string][] = [
    ['mcp.endpoint.status.changed', 'plexmcp.health'],
    ['mcp.tools.changed', 'plexmcp.health'],
    ['mcp.created', 'plexmcp.admin'],
    ['mcp.updated', 'plexmcp.admin'],
    ['mcp.deleted', 'plexmcp.admin'],
    ['key.created', 'plexmcp.admin'],
    ['key.revoked', 'plexmcp.admin'],
    ['key.expiring', 'plexmcp.admin'],
    ['grant.created', 'plexmcp.oauth'],
    ['grant.revoked', 'plexmcp.oauth'],
    ['org.quota.threshold', 'plexmcp.quota'],
    ['audit.digest.created', 'plexmcp.audit'],
    ['webhook.endpoint.disabled', 'plexmcp.webhooks'],
    ['webhook.test', 'plexmcp.webhooks'],
  ];

  test('every catalog type has a source, as the table says', () => {
    expect(cases.map(([type]) => type).sort()).toEqual([...EVENT_TYPES].sort());
    for (const [type, source] of cases) expect([type, eventSourceOf(type)]).toEqual([type, source]);
  });

  test('one PutEvents entry per event: source by family, detail-type the type, detail the event, time its at', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const events: PlexEvent[] = [
      { type: 'key.revoked', orgId: 'org_a', at, keyId: 'k1', name: 'ci', role: 'member' },
      { type: 'org.quota.threshold', orgId: 'org_a', at, threshold: 80, monthlyRequests: 10, used: 8, month: '2026-11' },
      { type: 'audit.digest.created', orgId: '*', at, scope: '*', fromSeq: 1, toSeq: 2, lastHash: 'a'.repeat(64), digestHash: 'b'.repeat(64) },
      { type: 'webhook.endpoint.disabled', orgId: 'org_a', at, endpointId: 'whe_1', reason: 'gone' },
    ];
    await new EventBridgePublisher(new EventBridgeClient({}), 'plexmcp').publish(events);
    const calls = eventbridge.commandCalls(PutEventsCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input.Entries).toStrictEqual(
      events.map((event, i) => ({
        EventBusName: 'plexmcp',
        Source: ['plexmcp.admin', 'plexmcp.quota', 'plexmcp.audit', 'plexmcp.webhooks'][i],
        DetailType: event.type,
        Detail: JSON.stringify(event),
        Time: new Date(at),
      })),
    );
  });

  test('a type no family claims is refused before anything is sent', async () => {
    eventbridge.on(PutEventsCommand).resolves({ FailedEntryCount: 0, Entries: [] });
    const publisher = new EventBridgePublisher(new EventBridgeClient({}), 'plexmcp');
    await expect(publisher.publish([{ type: 'org.created', orgId: 'o', at }])).rejects.toMatchObject({ code: 'unknown_event_source' });
    await expect(publisher.publish([{ type: 'billing.invoice', orgId: 'o', at }])).rejects.toBeInstanceOf(UnknownEventSourceError);
    expect(eventbridge.commandCalls(PutEventsCommand)).toHaveLength(0);
  });
});

describe('SignedEventBridgePublisher (the gateway: no EventBridge SDK client)', () => {
  interface Seen {
    readonly method: string;
    readonly url: string;
    readonly headers: Record<string, string | string[] | undefined>;
    readonly body: { Entries: Record<string, unknown>[] };
  }
  let server: Server;
  let seen: Seen[];
  let answers: ((body: Seen['body']) => [number, unknown])[];
  let endpoint: string;

  beforeAll(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, body });
        const [status, payload] = (answers.shift() ?? ((b) => [200, { FailedEntryCount: 0, Entries: b.Entries.map((_, i) => ({ EventId: `e${i}` })) }]))(body);
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(payload));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
  beforeEach(() => {
    seen = [];
    answers = [];
  });

  const dynamodb = new DynamoDBClient({ region: 'eu-west-1', credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'not-a-secret' } });
  const threshold: PlexEvent = { type: 'org.quota.threshold', orgId: 'org_a', at: '2026-11-25T10:00:00.000Z', threshold: 100, monthlyRequests: 10, used: 10, month: '2026-11' };

  test('sends the exact PutEvents request, SigV4-signed for events in the DynamoDB client\'s region', async () => {
    const publisher = await SignedEventBridgePublisher.fromClient(dynamodb, 'plexmcp-bus', { env: { AWS_ENDPOINT_URL_EVENTBRIDGE: endpoint } });
    await publisher.publish([threshold]);
    expect(seen).toHaveLength(1);
    const [request] = seen;
    expect(request!.method).toBe('POST');
    expect(request!.url).toBe('/');
    expect(request!.headers['x-amz-target']).toBe('AWSEvents.PutEvents');
    expect(request!.headers['content-type']).toBe('application/x-amz-json-1.1');
    expect(String(request!.headers.authorization)).toMatch(
      /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/events\/aws4_request, SignedHeaders=[a-z0-9;-]*\bx-amz-target\b[a-z0-9;-]*, Signature=[0-9a-f]{64}$/,
    );
    expect(request!.body).toStrictEqual({
      Entries: [
        { EventBusName: 'plexmcp-bus', Source: 'plexmcp.quota', DetailType: 'org.quota.threshold', Detail: JSON.stringify(threshold), Time: Date.parse(threshold.at) / 1000 },
      ],
    });
  });

  test('retries the failed entries once, then fails; an error answer fails with its type only', async () => {
    const publisher = await SignedEventBridgePublisher.fromClient(dynamodb, 'plexmcp-bus', { endpoint });
    const second = { ...threshold, threshold: 80, used: 8 };
    answers.push(() => [200, { FailedEntryCount: 1, Entries: [{ EventId: 'e0' }, { ErrorCode: 'ThrottlingException' }] }]);
    await publisher.publish([threshold, second]);
    expect(seen.map((s) => s.body.Entries.map((e) => JSON.parse(String(e.Detail)).threshold))).toEqual([[100, 80], [80]]);

    seen = [];
    answers.push(() => [200, { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] }], () => [200, { FailedEntryCount: 1, Entries: [{ ErrorCode: 'InternalFailure' }] }]);
    await expect(publisher.publish([threshold])).rejects.toThrow('not accepted');
    expect(seen).toHaveLength(2);

    answers.push(() => [400, { __type: 'com.amazon.coral.service#ResourceNotFoundException', message: 'Event bus plexmcp-bus does not exist.' }]);
    await expect(publisher.publish([threshold])).rejects.toThrow(/^EventBridge PutEvents failed: ResourceNotFoundException \(400\)$/);
  });
});
