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
import { parseQueueMessage, SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import { WebhookSender } from '../adapters/webhook-sender';
import { AlertService, type GetOrg, publishWithAlerts } from '../core/alert-service';
import { EnvelopeCipher } from '../core/envelope';
import type { PlexEventPublisher } from '../core/events/model';
import type { DeliveryStore } from '../core/webhooks/deliveries';
import { WebhookDispatcher } from '../core/webhooks/dispatcher';
import { type CreateEndpointResult, limitFromPlan, type StoredWebhookEndpoint, type WebhookEndpointStore, WebhookService } from '../core/webhooks/endpoints';

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

export interface WebhookConsumerDeps {
  readonly service: WebhookService;
  readonly dispatcher: WebhookDispatcher;
  readonly deliveries: DeliveryStore;
  readonly queue: Pick<SqsWebhookQueue, 'schedule' | 'scheduleAll'>;
  readonly now?: () => number;
  /** A delivery due for longer than this without an attempt is swept. @default 120 s */
  readonly sweepGraceMs?: number;
  /** Deliveries queued per sweep at most. @default 100 */
  readonly sweepLimit?: number;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string, fields: Record<string, unknown>) => void;
}

export interface ConsumeSummary {
  readonly events: number;
  readonly attempts: number;
  readonly requeued: number;
  readonly dropped: number;
  readonly failed: number;
}

export function webhookConsumer(deps: WebhookConsumerDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.log ?? (() => undefined);
  const graceMs = deps.sweepGraceMs ?? 120_000;
  const sweepLimit = deps.sweepLimit ?? 100;

  /** One delivery message: attempt it if due, then queue what comes next. */
  async function delivery(deliveryId: string, counts: { attempts: number; requeued: number; dropped: number }): Promise<void> {
    const current = await deps.deliveries.get(deliveryId);
    if (!current || current.state !== 'pending') {
      counts.dropped++; // final (or unknown): nothing to do
      return;
    }
    if (current.nextAttemptAt > now()) {
      // Not due yet: a wait longer than SQS's 15-minute delay, or a claim's lease.
      await deps.queue.schedule(deliveryId, current.nextAttemptAt);
      counts.requeued++;
      return;
    }
    const recorded = await deps.dispatcher.attemptOne(deliveryId);
    if (!recorded) {
      // Another invocation claimed it (a duplicate message): that one queues the next attempt.
      counts.dropped++;
      return;
    }
    counts.attempts++;
    const after = await deps.deliveries.get(deliveryId);
    if (after?.state === 'pending') {
      await deps.queue.schedule(deliveryId, after.nextAttemptAt);
      counts.requeued++;
    }
  }

  async function consume(event: SQSEvent): Promise<SQSBatchResponse & { summary: ConsumeSummary }> {
    const counts = { events: 0, attempts: 0, requeued: 0, dropped: 0, failed: 0 };
    const batchItemFailures: { itemIdentifier: string }[] = [];
    await Promise.all(
      event.Records.map(async (record) => {
        const message = parseQueueMessage(record.body);
        if (!message) {
          // Not ours or malformed: retrying cannot help, and the DLQ is for failures.
          counts.dropped++;
          log('warn', 'webhooks: unreadable queue message dropped', { messageId: record.messageId });
          return;
        }
        try {
          if (message.kind === 'event') {
            counts.events++;
            // The EventBridge event id keys the deliveries: a redelivered message creates none anew.
            await deps.service.fanOut(message.event, message.eventId);
          } else {
            await delivery(message.deliveryId, counts);
          }
        } catch (error) {
          counts.failed++;
          batchItemFailures.push({ itemIdentifier: record.messageId });
          log('error', 'webhooks: queue message failed', { messageId: record.messageId, kind: message.kind, error: errorName(error) });
        }
      }),
    );
    return { batchItemFailures, summary: counts };
  }

  /** Queues deliveries that have been due for longer than the grace period. */
  async function sweep(): Promise<{ queued: number }> {
    const due = await deps.deliveries.due(now() - graceMs, sweepLimit);
    if (due.length > 0) await deps.queue.scheduleAll(due.map((d) => ({ deliveryId: d.id, dueAt: now() })));
    return { queued: due.length };
  }

  return { consume, sweep };
}

/**
 * The delivery function's view of the webhook endpoints global table. Reads go to this region's
 * replica: fan-out and signing cost no cross-region call and keep working while the writer region
 * is unreachable. Writes (the failure state and disabling, through `recordOutcome`) go to the
 * writer region, where the admin API makes every change: a conditional write decides within one
 * region only, and a global table resolves concurrent writes to one item in two regions by last
 * writer wins, so a write here could silently undo an admin change made there (its `replace` puts
 * the whole item).
 *
 * The replica lags the writer (typically under a second). Two reads therefore go to the writer:
 * - an endpoint the replica does not have: it may have just been created (a test event queued
 *   right after the create), and a miss would end its delivery as `gone`;
 * - any endpoint this instance wrote or failed to write within `writerReadsForMs`: after a lost
 *   race (the replica's version is behind the writer's) the next read must see the writer's item,
 *   or every retry of the read-change-write would lose again.
 * A list (fan-out) always reads the replica: an endpoint created a moment ago may miss an event
 * raised in another region at that moment, as with any replicated configuration.
 */
export class ReplicaEndpointStore implements WebhookEndpointStore {
  private readonly writerReadsUntil = new Map<string, number>();
  private readonly now: () => number;
  private readonly writerReadsForMs: number;

  constructor(
    private readonly replica: WebhookEndpointStore,
    private readonly writer: WebhookEndpointStore,
    options: { readonly now?: () => number; readonly writerReadsForMs?: number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.writerReadsForMs = options.writerReadsForMs ?? 10_000;
  }

  async get(orgId: string, endpointId: string): Promise<StoredWebhookEndpoint | undefined> {
    const key = `${orgId}/${endpointId}`;
    const until = this.writerReadsUntil.get(key);
    if (until !== undefined) {
      if (until > this.now()) return this.writer.get(orgId, endpointId);
      this.writerReadsUntil.delete(key);
    }
    return (await this.replica.get(orgId, endpointId)) ?? this.writer.get(orgId, endpointId);
  }

  list(orgId: string): Promise<StoredWebhookEndpoint[]> {
    return this.replica.list(orgId);
  }

  async replace(endpoint: StoredWebhookEndpoint, expectedVersion: number): Promise<boolean> {
    this.readFromWriter(endpoint.orgId, endpoint.endpointId);
    return this.writer.replace(endpoint, expectedVersion);
  }

  async create(endpoint: StoredWebhookEndpoint, max: number): Promise<CreateEndpointResult> {
    this.readFromWriter(endpoint.orgId, endpoint.endpointId);
    return this.writer.create(endpoint, max);
  }

  async delete(orgId: string, endpointId: string): Promise<boolean> {
    this.readFromWriter(orgId, endpointId);
    return this.writer.delete(orgId, endpointId);
  }

  private readFromWriter(orgId: string, endpointId: string): void {
    const now = this.now();
    // Bounded: expired marks are dropped before the map grows past a warm instance's working set.
    if (this.writerReadsUntil.size >= 1000) {
      for (const [key, until] of this.writerReadsUntil) if (until <= now) this.writerReadsUntil.delete(key);
    }
    this.writerReadsUntil.set(`${orgId}/${endpointId}`, now + this.writerReadsForMs);
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

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
