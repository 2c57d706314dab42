import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import type { PlexEvent } from '../core/events/model';

/**
 * The webhook delivery queue in AWS (SQS). Two kinds of message share it:
 * - a bus event, as the EventBridge rule's SQS target writes it (`{id, source, detail-type,
 *   detail, ...}`), to be fanned out;
 * - `{"deliveryId": "msg_…"}`, one attempt of one delivery when it is due.
 * The retry schedule is carried by message delays: SQS delays at most 15 minutes, so a longer
 * wait is a chain of messages, each re-queued with the remaining delay until the attempt is due.
 * The store, not the queue, is the truth: a lost message only delays a delivery until the sweep
 * finds it in the due index.
 */
export const MAX_DELAY_SECONDS = 900;
/** SendMessageBatch takes at most 10 entries. */
const BATCH = 10;

export type QueueMessage =
  | { readonly kind: 'event'; readonly event: PlexEvent; readonly eventId: string }
  | { readonly kind: 'delivery'; readonly deliveryId: string };

/** The delay for an attempt due at `dueAt` (epoch ms): whole seconds, 0 to 900. */
export function delaySecondsUntil(dueAt: number, now: number): number {
  return Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.ceil((dueAt - now) / 1000)));
}

/** Reads a message body; undefined for anything that is neither kind (it is dropped, not retried). */
export function parseQueueMessage(body: string): QueueMessage | undefined {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!value || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  if (typeof v.deliveryId === 'string' && /^msg_[\x21-\x2b\x2d-\x7e]{1,252}$/.test(v.deliveryId)) {
    return { kind: 'delivery', deliveryId: v.deliveryId };
  }
  const detail = v.detail as Record<string, unknown> | undefined;
  if (
    typeof v.id === 'string' &&
    typeof v.source === 'string' &&
    v.source.startsWith('plexmcp.') &&
    detail &&
    typeof detail === 'object' &&
    typeof detail.type === 'string' &&
    typeof detail.orgId === 'string' &&
    typeof detail.at === 'string' &&
    detail.type === v['detail-type']
  ) {
    return { kind: 'event', event: detail as PlexEvent, eventId: v.id };
  }
  return undefined;
}

export class SqsWebhookQueue {
  constructor(
    private readonly sqs: SQSClient,
    private readonly queueUrl: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** One message for a delivery's attempt due at `dueAt` (a capped delay when it is further off). */
  async schedule(deliveryId: string, dueAt: number): Promise<void> {
    await this.sqs.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify({ deliveryId }),
        DelaySeconds: delaySecondsUntil(dueAt, this.now()),
      }),
    );
  }

  /** Several at once, in batches of 10; throws if any entry failed (the caller's message is then retried). */
  async scheduleAll(items: readonly { deliveryId: string; dueAt: number }[]): Promise<void> {
    for (let i = 0; i < items.length; i += BATCH) {
      const chunk = items.slice(i, i + BATCH);
      const out = await this.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: this.queueUrl,
          Entries: chunk.map((item, j) => ({
            Id: String(j),
            MessageBody: JSON.stringify({ deliveryId: item.deliveryId }),
            DelaySeconds: delaySecondsUntil(item.dueAt, this.now()),
          })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) throw new Error(`SQS refused ${out.Failed.length} of ${chunk.length} delivery messages`);
    }
  }
}
