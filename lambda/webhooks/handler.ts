import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import type { SNSClient } from '@aws-sdk/client-sns';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy from '@middy/core';
import type { ScheduledEvent, SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { dynamodb, dynamodbFor, kms, requiredEnv } from '../adapters/aws-clients';
import { systemResolver } from '../adapters/dns-resolver';
import { DynamoDbAlertStore } from '../adapters/dynamodb-alert-store';
import { DynamoDbDeliveryStore } from '../adapters/dynamodb-delivery-store';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { DynamoDbWebhookEndpointStore } from '../adapters/dynamodb-webhook-endpoints';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { alertDeliveryFromEnv } from '../adapters/sns-alerts';
import { SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import { webhookConsumer } from '../adapters/webhook-consumer';
import { WebhookSender } from '../adapters/webhook-sender';
import { AlertService, type GetOrg, publishWithAlerts } from '../core/alert-service';
import { EnvelopeCipher } from '../core/envelope';
import type { PlexEventPublisher } from '../core/events/model';
import { WebhookDispatcher } from '../core/webhooks/dispatcher';
import { limitFromPlan, WebhookService } from '../core/webhooks/endpoints';
import { ReplicaEndpointStore } from '../core/webhooks/replica-endpoints';

/**
 * The webhook delivery function. Two triggers:
 * - the delivery queue (SQS event source, ReportBatchItemFailures): a bus event (EventBridge rule
 *   → SQS) is fanned out into one delivery per matching endpoint, each queued as a
 *   `{deliveryId}` message; a `{deliveryId}` message makes the attempt when it is due, then queues
 *   the next one with the remaining delay (≤ 900 s, so long waits are a chain of messages). A
 *   record that throws is reported as failed alone and comes back after the visibility timeout;
 *   after maxReceiveCount it lands in the dead-letter queue.
 * - the sweep schedule (EventBridge Scheduler / rule): deliveries that have been due for longer
 *   than the grace period — their message was lost to a crash between the store write and the
 *   send — are queued again. The store is the truth, the queue only a wake-up.
 */


// ---- the Lambda function ----

const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-webhooks';
const logger = new Logger({ serviceName });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'PlexMCP', serviceName });

let consumer: ReturnType<typeof webhookConsumer> | undefined;

/** Built on first use from the environment the construct (lib/webhook-delivery.ts) sets. */
function consumerFromEnv(): ReturnType<typeof webhookConsumer> {
  if (consumer) return consumer;
  const deliveries = new DynamoDbDeliveryStore(dynamodb, requiredEnv('PLEXMCP_WEBHOOK_DELIVERIES_TABLE'));
  const queue = new SqsWebhookQueue(new SQSClient({}), requiredEnv('PLEXMCP_WEBHOOK_QUEUE_URL'));
  const registry = new DynamoDbRegistryStore(dynamodb, requiredEnv('PLEXMCP_REGISTRY_TABLE'));
  const urlPolicy = { allowLoopback: false, resolve: systemResolver };
  // The endpoints global table: this region's replica for reads, the writer region
  // (PLEXMCP_WEBHOOK_ENDPOINTS_REGION, the primary's) for writes. Same region: one store.
  const endpointsTable = requiredEnv('PLEXMCP_WEBHOOK_ENDPOINTS_TABLE');
  const writerClient = dynamodbFor(process.env.PLEXMCP_WEBHOOK_ENDPOINTS_REGION);
  const localEndpoints = new DynamoDbWebhookEndpointStore(dynamodb, endpointsTable);
  const endpoints =
    writerClient === dynamodb ? localEndpoints : new ReplicaEndpointStore(localEndpoints, new DynamoDbWebhookEndpointStore(writerClient, endpointsTable));
  const service = new WebhookService({
    endpoints,
    deliveries,
    cipher: new EnvelopeCipher(new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID'))),
    urlPolicy,
    limitFor: limitFromPlan((orgId) => registry.getOrg(orgId)),
    onEnqueued: (d) => queue.schedule(d.id, d.nextAttemptAt),
    events: endpointEvents(process.env, {
      dynamodb,
      registryTable: requiredEnv('PLEXMCP_REGISTRY_TABLE'),
      getOrg: (orgId) => registry.getOrg(orgId),
      log: (record) => logger.error(String(record.msg ?? 'webhook alerts'), record),
    }),
    log: (record) => logger.error(String(record.msg ?? 'webhooks'), record),
  });
  // AWS: https to public addresses only, checked before and at connect time.
  const sender = new WebhookSender({ allowLoopback: false, resolve: systemResolver });
  const dispatcher = new WebhookDispatcher({
    store: deliveries,
    send: (req) => sender.send(req),
    secretsFor: (endpointId, orgId) => service.target(endpointId, orgId),
    onOutcome: (d, outcome, at) => service.recordOutcome(d.orgId, d.endpointId, outcome, at),
    log: (record) => logger.error(String(record.msg ?? 'webhooks'), record),
  });
  consumer = webhookConsumer({
    service,
    dispatcher,
    deliveries,
    queue,
    log: (level, msg, fields) => logger[level](msg, fields),
  });
  return consumer;
}

/**
 * Where this function's events (`webhook.endpoint.disabled`) go: the bus (PLEXMCP_EVENT_BUS_NAME,
 * when set) for webhooks and other consumers, and the org's alert emails (SNS on
 * PLEXMCP_ORG_ALERTS_TOPIC_ARN, when set; AlertService checks plan and subscriptions). The emails
 * are sent from here rather than by a bus rule to the topic: the topic's subscriptions filter on
 * the `orgId`/`eventType` message attributes, which EventBridge's SNS target cannot set, and
 * the plan check would be lost.
 */
export function endpointEvents(
  env: NodeJS.ProcessEnv,
  deps: {
    readonly dynamodb: DynamoDBClient;
    readonly registryTable: string;
    readonly getOrg: GetOrg;
    readonly eventBridge?: EventBridgeClient;
    readonly sns?: SNSClient;
    readonly log?: (record: Record<string, unknown>) => void;
  },
): PlexEventPublisher {
  const bus = env.PLEXMCP_EVENT_BUS_NAME
    ? new EventBridgePublisher(deps.eventBridge ?? new EventBridgeClient({}), env.PLEXMCP_EVENT_BUS_NAME)
    : undefined;
  const alerts = new AlertService({
    store: new DynamoDbAlertStore(deps.dynamodb, deps.registryTable),
    delivery: alertDeliveryFromEnv(env, deps.sns),
    getOrg: deps.getOrg,
    ...(deps.log ? { log: deps.log } : {}),
  });
  return publishWithAlerts(bus, alerts);
}

type Trigger = SQSEvent | ScheduledEvent;

export async function handle(event: Trigger): Promise<SQSBatchResponse | { queued: number }> {
  const c = consumerFromEnv();
  if ('Records' in event) {
    const { batchItemFailures, summary } = await c.consume(event);
    logger.info('webhook batch', { ...summary });
    metrics.addMetric('WebhookAttempts', MetricUnit.Count, summary.attempts);
    metrics.addMetric('WebhookEventsFannedOut', MetricUnit.Count, summary.events);
    metrics.addMetric('WebhookMessagesFailed', MetricUnit.Count, summary.failed);
    return { batchItemFailures };
  }
  const swept = await c.sweep();
  logger.info('webhook sweep', swept);
  metrics.addMetric('WebhookDeliveriesSwept', MetricUnit.Count, swept.queued);
  return swept;
}

export const handler = middy<Trigger, SQSBatchResponse | { queued: number }>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .handler(handle);
