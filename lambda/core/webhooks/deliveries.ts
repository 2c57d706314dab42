/**
 * The persisted webhook delivery: one event on its way to one endpoint, with every attempt made
 * so far. The queue is a store (DynamoDB in AWS and locally, through the embedded engine), so
 * pending deliveries survive a restart of `plexmcp serve`.
 */

/** pending: an attempt is due at nextAttemptAt; the others are final. */
export type DeliveryState = 'pending' | 'delivered' | 'failed' | 'gone';

/**
 * Stable error classes of an attempt: the sender's (see webhook-sender.ts) plus
 * `endpoint_unavailable`, for an endpoint that was removed or disabled while the delivery waited.
 */
export type DeliveryErrorClass = string;

/** One attempt as recorded: never request or response bodies, never secrets. */
export interface AttemptRecord {
  /** When the attempt was sent (epoch ms). */
  readonly at: number;
  /** The receiver's status, when it answered. */
  readonly status?: number;
  readonly latencyMs: number;
  readonly errorClass?: DeliveryErrorClass;
}

/** Only the last attempts are kept on the item, so a redelivered message cannot grow it without bound. */
export const MAX_RECORDED_ATTEMPTS = 20;

export interface Delivery {
  /** The message id (`msg_…`), also the `webhook-id` header: the same on every attempt. */
  readonly id: string;
  readonly orgId: string;
  readonly endpointId: string;
  readonly eventType: string;
  /** The exact JSON text that is signed and sent. */
  readonly body: string;
  /** Attempts made so far (0 when enqueued). */
  readonly attempt: number;
  /** When the next attempt is due (epoch ms); meaningful while pending. */
  readonly nextAttemptAt: number;
  readonly state: DeliveryState;
  /** When the delivery was enqueued (epoch ms); orders list(). */
  readonly enqueuedAt: number;
  /** The last MAX_RECORDED_ATTEMPTS attempts, oldest first. */
  readonly attempts: readonly AttemptRecord[];
  /** How often it was redelivered by hand. @default 0 */
  readonly redeliveries?: number;
  /**
   * `attempt` when the current series of attempts began (0, or the count at the last
   * redelivery): the retry schedule counts from here. @default 0
   */
  readonly seriesStart?: number;
}

export interface NewDelivery {
  readonly id: string;
  readonly orgId: string;
  readonly endpointId: string;
  readonly eventType: string;
  readonly body: string;
  /** When the first attempt is due (the schedule's first delay after the event: immediately). */
  readonly nextAttemptAt: number;
  readonly enqueuedAt: number;
}

/** What follows an attempt: another one at nextAttemptAt, or a final state. */
export type NextState =
  | { readonly state: 'pending'; readonly nextAttemptAt: number }
  | { readonly state: 'delivered' | 'failed' | 'gone' };

export interface DeliveryStore {
  /** Stores a new pending delivery; enqueueing the same id twice keeps the first (idempotent). */
  enqueue(delivery: NewDelivery): Promise<Delivery>;
  /** As enqueue, and says whether this call created it (false: the id was there already). */
  add(delivery: NewDelivery): Promise<{ delivery: Delivery; created: boolean }>;
  /** Pending deliveries with nextAttemptAt <= now, earliest first, at most `limit`. */
  due(now: number, limit: number): Promise<Delivery[]>;
  /**
   * Takes a due delivery for one attempt: moves its nextAttemptAt to leaseUntil, on condition
   * that it is still pending at `expectedAttempt` with the nextAttemptAt that was read. Only one
   * of several dispatchers that read the same due delivery wins; if the winner dies mid-attempt,
   * the delivery is due again at leaseUntil. False when another dispatcher took it.
   */
  claim(id: string, expectedAttempt: number, seenNextAttemptAt: number, leaseUntil: number): Promise<boolean>;
  /**
   * Records attempt number expectedAttempt + 1 and the state that follows, on condition that the
   * delivery is still pending at `expectedAttempt`: the same attempt is never recorded twice.
   * False when the condition failed (someone else recorded it first).
   */
  recordAttempt(id: string, expectedAttempt: number, outcome: AttemptRecord, next: NextState): Promise<boolean>;
  get(id: string): Promise<Delivery | undefined>;
  /** An endpoint's deliveries, newest first, at most `limit`. */
  list(endpointId: string, limit?: number): Promise<Delivery[]>;
  /**
   * A page of an endpoint's deliveries, newest first: those enqueued before (`before`,
   * `beforeId`) — the last item of the previous page — or from the newest.
   */
  listPage(endpointId: string, page: { limit: number; before?: number; beforeId?: string }): Promise<Delivery[]>;
  /**
   * Starts a new series of attempts for a final (failed or gone) delivery: pending again, due at
   * `now`, the same id (receivers deduplicate on it). Conditional on the state and attempt count
   * that were read; undefined when the delivery changed meanwhile.
   */
  redeliver(id: string, expectedState: 'failed' | 'gone', expectedAttempt: number, now: number): Promise<Delivery | undefined>;
}

/** Appends an attempt and keeps only the last MAX_RECORDED_ATTEMPTS. */
export function appendAttempt(attempts: readonly AttemptRecord[], outcome: AttemptRecord): AttemptRecord[] {
  return [...attempts, outcome].slice(-MAX_RECORDED_ATTEMPTS);
}
