import {
  InvalidParameterException,
  NotFoundException,
  PublishCommand,
  SNSClient,
  SubscribeCommand,
  UnsubscribeCommand,
} from '@aws-sdk/client-sns';
import { AddressInUseError, type AlertDelivery, type AlertEvent, type AlertEventType, formatAlert } from '../core/alert-service';
import type { AlertSubscription } from '../core/alerts';

/**
 * Alert emails through one SNS topic shared by every org. Each subscription is an SNS email
 * subscription whose filter policy (on message attributes) admits only its org and event types;
 * each event is published once, with `orgId` and `eventType` attributes, and SNS fans it out.
 * SNS sends the recipient a confirmation email first; nothing is delivered until they confirm.
 */
export class SnsAlertDelivery implements AlertDelivery {
  constructor(
    private readonly sns: SNSClient,
    private readonly topicArn: string,
  ) {}

  async subscribe(subscription: AlertSubscription): Promise<string | undefined> {
    try {
      const out = await this.sns.send(
        new SubscribeCommand({
          TopicArn: this.topicArn,
          Protocol: 'email',
          Endpoint: subscription.address,
          Attributes: { FilterPolicy: JSON.stringify({ orgId: [subscription.orgId], eventType: subscription.events }) },
          ReturnSubscriptionArn: true,
        }),
      );
      return out.SubscriptionArn;
    } catch (error) {
      // One SNS subscription per topic, protocol and address: the same address with another
      // filter policy (another org, other events) is refused.
      if (error instanceof InvalidParameterException && /already exists/i.test(error.message)) throw new AddressInUseError();
      throw error;
    }
  }

  async unsubscribe(subscription: AlertSubscription): Promise<void> {
    const arn = subscription.deliveryRef;
    // 'pending confirmation' (or nothing) is not an ARN: SNS drops unconfirmed subscriptions itself.
    if (!arn || !arn.startsWith('arn:')) return;
    try {
      await this.sns.send(new UnsubscribeCommand({ SubscriptionArn: arn }));
    } catch (error) {
      if (!(error instanceof NotFoundException)) throw error; // already gone
    }
  }

  async publish(orgId: string, event: AlertEvent): Promise<void> {
    const { subject, message } = formatAlert(event);
    await this.sns.send(
      new PublishCommand({
        TopicArn: this.topicArn,
        Subject: subject,
        Message: message,
        MessageAttributes: {
          orgId: { DataType: 'String', StringValue: orgId },
          eventType: { DataType: 'String', StringValue: event.type },
        },
      }),
    );
  }
}

/** The environment variable naming the org alerts topic of a deployment. */
export const ORG_ALERTS_TOPIC_ENV = 'PLEXMCP_ORG_ALERTS_TOPIC_ARN';

/**
 * The alert delivery of a Lambda: SNS on the topic named by `PLEXMCP_ORG_ALERTS_TOPIC_ARN`, or
 * none when it is unset (the alert routes then answer 501 `alerts_unavailable` and dispatch
 * publishes nothing). Used by the admin Lambda, the health checker and the webhook delivery
 * function (`webhook.endpoint.disabled`).
 */
export function alertDeliveryFromEnv(env: NodeJS.ProcessEnv = process.env, sns?: SNSClient): SnsAlertDelivery | undefined {
  const topicArn = env[ORG_ALERTS_TOPIC_ENV];
  return topicArn ? new SnsAlertDelivery(sns ?? new SNSClient({}), topicArn) : undefined;
}

/** An alert as `LocalAlertDelivery` recorded it. */
export interface LocalAlert {
  readonly orgId: string;
  readonly eventType: AlertEventType;
  readonly subject: string;
  readonly message: string;
}

/**
 * Alerts under `plexmcp serve`: nothing is emailed; each published alert is kept in memory
 * (`delivered`) and logged as one line.
 */
export class LocalAlertDelivery implements AlertDelivery {
  readonly delivered: LocalAlert[] = [];

  constructor(private readonly log: (line: string) => void = (line) => console.log(line)) {}

  async subscribe(subscription: AlertSubscription): Promise<string | undefined> {
    this.log(`Alert subscription ${subscription.subscriptionId} for ${subscription.address} (local mode: alerts are logged here, not emailed)`);
    return undefined;
  }

  async unsubscribe(): Promise<void> {}

  async publish(orgId: string, event: AlertEvent): Promise<void> {
    const { subject, message } = formatAlert(event);
    this.delivered.push({ orgId, eventType: event.type, subject, message });
    this.log(`Alert for org ${orgId}: ${subject}`);
  }
}
