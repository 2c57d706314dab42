import {
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { mockClient } from 'aws-sdk-client-mock';
import { alertDeliveryFromEnv, LocalAlertDelivery, SnsAlertDelivery } from '../../lambda/adapters/sns-alerts';
import { AddressInUseError } from '../../lambda/core/alert-service';
import type { AlertSubscription } from '../../lambda/core/alerts';
import type { WebhookEndpointDisabledEvent } from '../../lambda/core/events/catalog';
import type { HealthEvent } from '../../lambda/core/health/model';

// SNS has no local engine, so the client is mocked; the tests check the exact requests.
const snsMock = mockClient(SNSClient);

const TOPIC = 'arn:aws:sns:us-east-1:111122223333:plexmcp-org-alerts';
const SUB_ARN = `${TOPIC}:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0`;
const ORG = 'org_aaaaaaaaaaaaaaaa';

const subscription: AlertSubscription = {
  subscriptionId: 'al_bbbbbbbbbbbbbbbb',
  orgId: ORG,
  type: 'email',
  address: 'oncall@example.com',
  events: ['mcp.endpoint.status.changed'],
  createdAt: '2026-03-01T10:00:00.000Z',
};

const statusEvent: HealthEvent = {
  type: 'mcp.endpoint.status.changed',
  orgId: ORG,
  mcp: 'github',
  endpointId: 'ep_cccccccccccccccc',
  region: 'eu-west-1',
  from: 'healthy',
  to: 'unhealthy',
  errorClass: 'connect_timeout',
  at: '2026-03-01T10:05:00.000Z',
};

const toolsEvent: HealthEvent = {
  type: 'mcp.tools.changed',
  orgId: ORG,
  mcp: 'github',
  region: 'us-east-1',
  previousHash: '1'.repeat(64),
  hash: '2'.repeat(64),
  added: ['create_issue', 'https://evil.example/click-me'],
  removed: ['delete_repo'],
  changed: [],
  at: '2026-03-01T10:06:00.000Z',
};

const disabledEvent: WebhookEndpointDisabledEvent = {
  type: 'webhook.endpoint.disabled',
  orgId: ORG,
  at: '2026-03-06T10:07:00.000Z',
  endpointId: 'wh_dddddddddddddddd',
  reason: 'gone',
};

let delivery: SnsAlertDelivery;

beforeEach(() => {
  snsMock.reset();
  delivery = new SnsAlertDelivery(new SNSClient({ region: 'us-east-1' }), TOPIC);
});
afterAll(() => snsMock.restore());

describe('SnsAlertDelivery', () => {
  test('subscribe: an email subscription filtered to the org and its event types, returning the ARN', async () => {
    snsMock.on(SubscribeCommand).resolves({ SubscriptionArn: SUB_ARN });
    expect(await delivery.subscribe({ ...subscription, events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'] })).toBe(SUB_ARN);
    expect(snsMock.calls()).toHaveLength(1);
    expect(snsMock.commandCalls(SubscribeCommand)[0]!.args[0].input).toStrictEqual({
      TopicArn: TOPIC,
      Protocol: 'email',
      Endpoint: 'oncall@example.com',
      Attributes: {
        FilterPolicy: JSON.stringify({ orgId: [ORG], eventType: ['mcp.endpoint.status.changed', 'mcp.tools.changed'] }),
      },
      ReturnSubscriptionArn: true,
    });
  });

  test('subscribe: the address already subscribed with another filter policy is AddressInUseError; other errors pass through', async () => {
    snsMock.on(SubscribeCommand).rejects(
      new InvalidParameterException({ message: 'Invalid parameter: Attributes Reason: Subscription already exists with different attributes', $metadata: {} }),
    );
    await expect(delivery.subscribe(subscription)).rejects.toBeInstanceOf(AddressInUseError);
    snsMock.on(SubscribeCommand).rejects(new InvalidParameterException({ message: 'Invalid parameter: Email address', $metadata: {} }));
    await expect(delivery.subscribe(subscription)).rejects.toBeInstanceOf(InvalidParameterException);
  });

  test('unsubscribe: by ARN; skipped while pending confirmation or without a ref; an ARN already gone is fine', async () => {
    snsMock.on(UnsubscribeCommand).resolves({});
    await delivery.unsubscribe({ ...subscription, deliveryRef: SUB_ARN });
    expect(snsMock.commandCalls(UnsubscribeCommand).map((c) => c.args[0].input)).toStrictEqual([{ SubscriptionArn: SUB_ARN }]);

    snsMock.reset();
    await delivery.unsubscribe({ ...subscription, deliveryRef: 'pending confirmation' });
    await delivery.unsubscribe(subscription);
    expect(snsMock.calls()).toHaveLength(0);

    snsMock.on(UnsubscribeCommand).rejects(new NotFoundException({ message: 'Subscription does not exist', $metadata: {} }));
    await expect(delivery.unsubscribe({ ...subscription, deliveryRef: SUB_ARN })).resolves.toBeUndefined();
    snsMock.on(UnsubscribeCommand).rejects(new Error('throttled'));
    await expect(delivery.unsubscribe({ ...subscription, deliveryRef: SUB_ARN })).rejects.toThrow('throttled');
  });

  test('publish a status change: subject, readable message and the filter attributes', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-1' });
    await delivery.publish(ORG, statusEvent);
    expect(snsMock.calls()).toHaveLength(1);
    expect(snsMock.commandCalls(PublishCommand)[0]!.args[0].input).toStrictEqual({
      TopicArn: TOPIC,
      Subject: 'PlexMCP unhealthy: github endpoint ep_cccccccccccccccc (eu-west-1)',
      Message:
        'An endpoint of MCP server github changed status.\n' +
        '\n' +
        `Organisation:  ${ORG}\n` +
        'MCP server:    github\n' +
        'Endpoint id:   ep_cccccccccccccccc\n' +
        'Region:        eu-west-1\n' +
        'Status:        healthy -> unhealthy\n' +
        'Error class:   connect_timeout\n' +
        'At:            2026-03-01T10:05:00.000Z\n' +
        '\n' +
        'You receive this because your organisation subscribed to mcp.endpoint.status.changed alerts.\n' +
        'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.\n',
      MessageAttributes: {
        orgId: { DataType: 'String', StringValue: ORG },
        eventType: { DataType: 'String', StringValue: 'mcp.endpoint.status.changed' },
      },
    });
  });

  test('publish a tools change: added and removed tools; upstream names cannot carry links', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-2' });
    await delivery.publish(ORG, toolsEvent);
    const input = snsMock.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toStrictEqual({
      TopicArn: TOPIC,
      Subject: 'PlexMCP tools changed: github (+2 -1 ~0)',
      Message:
        'The tools that MCP server github offers changed.\n' +
        '\n' +
        `Organisation:  ${ORG}\n` +
        'MCP server:    github\n' +
        'Region:        us-east-1\n' +
        'Added:         create_issue, https???evil.example?click-me\n' +
        'Removed:       delete_repo\n' +
        'Changed:       none\n' +
        `Hash:          ${'1'.repeat(64)} -> ${'2'.repeat(64)}\n` +
        'At:            2026-03-01T10:06:00.000Z\n' +
        '\n' +
        'You receive this because your organisation subscribed to mcp.tools.changed alerts.\n' +
        'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.\n',
      MessageAttributes: {
        orgId: { DataType: 'String', StringValue: ORG },
        eventType: { DataType: 'String', StringValue: 'mcp.tools.changed' },
      },
    });
    expect(input.Message).not.toContain('://');
  });

  test('subscribe: a subscription to every type filters on all three', async () => {
    snsMock.on(SubscribeCommand).resolves({ SubscriptionArn: 'pending confirmation' });
    await delivery.subscribe({ ...subscription, events: ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'] });
    expect(snsMock.commandCalls(SubscribeCommand)[0]!.args[0].input.Attributes).toStrictEqual({
      FilterPolicy: JSON.stringify({ orgId: [ORG], eventType: ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'] }),
    });
  });

  test('publish a disabled webhook endpoint (410 Gone): its id and reason, with the eventType attribute the filter policies match', async () => {
    snsMock.on(PublishCommand).resolves({ MessageId: 'm-3' });
    // A URL or secret on the event (no producer sends them) must not reach the email.
    await delivery.publish(ORG, { ...disabledEvent, url: 'https://hooks.example.com/x?token=t0k', secret: 'whsec_AAAA' } as WebhookEndpointDisabledEvent);
    const input = snsMock.commandCalls(PublishCommand)[0]!.args[0].input;
    expect(input).toStrictEqual({
      TopicArn: TOPIC,
      Subject: 'PlexMCP webhook endpoint disabled: wh_dddddddddddddddd (410 Gone)',
      Message:
        'Webhook endpoint wh_dddddddddddddddd answered 410 Gone, so delivery disabled it.\n' +
        '\n' +
        `Organisation:  ${ORG}\n` +
        'Endpoint id:   wh_dddddddddddddddd\n' +
        'Reason:        gone (410 Gone)\n' +
        'At:            2026-03-06T10:07:00.000Z\n' +
        '\n' +
        'No events are delivered to it while it is disabled; deliveries that were pending end as gone.\n' +
        'Once the receiver works again, re-enable it (PATCH /admin/v1/orgs/{orgId}/webhooks/{endpointId}\n' +
        'with {"enabled": true}) and redeliver what it missed.\n' +
        '\n' +
        'You receive this because your organisation subscribed to webhook.endpoint.disabled alerts.\n' +
        'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.\n',
      MessageAttributes: {
        orgId: { DataType: 'String', StringValue: ORG },
        eventType: { DataType: 'String', StringValue: 'webhook.endpoint.disabled' },
      },
    });
    expect(JSON.stringify(input)).not.toMatch(/hooks\.example|t0k|whsec_|:\/\//);
  });

  test('subjects stay under 100 characters on one line', async () => {
    snsMock.on(PublishCommand).resolves({});
    const longSlug = 'a'.repeat(63);
    await delivery.publish(ORG, { ...statusEvent, mcp: longSlug, endpointId: `ep_${'c'.repeat(40)}`, region: 'ap-southeast-2' });
    await delivery.publish(ORG, { ...toolsEvent, mcp: 'x\r\ny', added: Array.from({ length: 120 }, (_, i) => `tool_${i}`) });
    const [long, odd] = snsMock.commandCalls(PublishCommand).map((c) => c.args[0].input);
    expect(long!.Subject).toHaveLength(99);
    expect(long!.Subject).toBe(`PlexMCP unhealthy: ${'a'.repeat(37)}... endpoint ep_${'c'.repeat(24)}...`);
    expect(odd!.Subject).toBe('PlexMCP tools changed: x??y (+120 -1 ~0)');
    expect(odd!.Message).toContain('tool_49 and 70 more\n');
    expect(odd!.Message).not.toContain('tool_50');
  });
});

test('alertDeliveryFromEnv: SNS on the topic in PLEXMCP_ORG_ALERTS_TOPIC_ARN, none without it', async () => {
  expect(alertDeliveryFromEnv({})).toBeUndefined();
  expect(alertDeliveryFromEnv({ PLEXMCP_ORG_ALERTS_TOPIC_ARN: '' })).toBeUndefined();
  snsMock.on(PublishCommand).resolves({});
  const fromEnv = alertDeliveryFromEnv({ PLEXMCP_ORG_ALERTS_TOPIC_ARN: TOPIC }, new SNSClient({ region: 'us-east-1' }));
  expect(fromEnv).toBeInstanceOf(SnsAlertDelivery);
  await fromEnv!.publish(ORG, statusEvent);
  expect(snsMock.commandCalls(PublishCommand)[0]!.args[0].input.TopicArn).toBe(TOPIC);
});

test('LocalAlertDelivery records and logs alerts, sends nothing', async () => {
  const lines: string[] = [];
  const local = new LocalAlertDelivery((line) => lines.push(line));
  expect(await local.subscribe(subscription)).toBeUndefined();
  await local.unsubscribe();
  await local.publish(ORG, statusEvent);
  await local.publish(ORG, disabledEvent);
  expect(local.delivered).toEqual([
    {
      orgId: ORG,
      eventType: 'mcp.endpoint.status.changed',
      subject: 'PlexMCP unhealthy: github endpoint ep_cccccccccccccccc (eu-west-1)',
      message: expect.stringContaining('Status:        healthy -> unhealthy\n'),
    },
    {
      orgId: ORG,
      eventType: 'webhook.endpoint.disabled',
      subject: 'PlexMCP webhook endpoint disabled: wh_dddddddddddddddd (410 Gone)',
      message: expect.stringContaining('Endpoint id:   wh_dddddddddddddddd\nReason:        gone (410 Gone)\n'),
    },
  ]);
  expect(lines).toEqual([
    'Alert subscription al_bbbbbbbbbbbbbbbb for oncall@example.com (local mode: alerts are logged here, not emailed)',
    `Alert for org ${ORG}: PlexMCP unhealthy: github endpoint ep_cccccccccccccccc (eu-west-1)`,
    `Alert for org ${ORG}: PlexMCP webhook endpoint disabled: wh_dddddddddddddddd (410 Gone)`,
  ]);
  expect(snsMock.calls()).toHaveLength(0);
});
