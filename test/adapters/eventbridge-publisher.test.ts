import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { mockClient } from 'aws-sdk-client-mock';
import { EventBridgePublisher } from '../../lambda/adapters/eventbridge-publisher';
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
