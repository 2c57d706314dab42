import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { DeliveryStore } from '../core/webhooks/deliveries';
import type { WebhookDispatcher } from '../core/webhooks/dispatcher';
import type { WebhookService } from '../core/webhooks/endpoints';
import { parseQueueMessage, type SqsWebhookQueue } from './sqs-webhook-queue';

/**
 * What the webhook delivery function does with its two triggers (lambda/webhooks/handler.ts
 * wires it): `consume` a batch of the delivery queue — a bus event is fanned out into one
 * delivery per matching endpoint, each queued as a `{deliveryId}` message; a `{deliveryId}`
 * message makes the attempt when it is due and queues the next one with the remaining delay — and
 * `sweep` the deliveries due for longer than the grace period (a message lost to a crash between
 * the store write and the send). The store is the truth, the queue only a wake-up.
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

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
