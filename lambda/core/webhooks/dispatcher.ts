import type { Delivery, DeliveryStore, NextState } from './deliveries';
import { classify, nextStep, RETRY_SCHEDULE_MS, type AttemptOutcome } from './schedule';

/**
 * Takes due deliveries from the store and makes one attempt each.
 *
 * Per delivery: claim it (a conditional write that moves nextAttemptAt to now + lease), send,
 * classify with schedule.ts, then record the attempt and the next state with a conditional write
 * on the attempt number. Two dispatchers that read the same due delivery therefore send it at
 * most once per attempt: only one claim succeeds. Delivery is at-least-once, not exactly-once:
 * a dispatcher that dies after sending but before recording leaves the delivery to come due
 * again when its lease ends, and it is sent again with the same `webhook-id` (receivers
 * deduplicate on it, as the Standard Webhooks specification asks).
 */

/** What the dispatcher hands the sender (WebhookSender.send has this shape). */
export interface SendRequest {
  readonly url: string;
  readonly id: string;
  readonly body: string;
  readonly secrets: readonly string[];
}

export interface SendResult {
  readonly status?: number;
  readonly latencyMs: number;
  readonly errorClass?: string;
  readonly retryAfter?: string;
}

/** Where an endpoint's deliveries go and the secrets that sign them (current first). */
export interface EndpointTarget {
  readonly url: string;
  readonly secrets: readonly string[];
}

export interface WebhookDispatcherOptions {
  readonly store: DeliveryStore;
  readonly send: (req: SendRequest) => Promise<SendResult>;
  /** The endpoint's URL and secrets; undefined when it was removed or disabled. */
  readonly secretsFor: (endpointId: string, orgId: string) => Promise<EndpointTarget | undefined>;
  /**
   * Told each recorded attempt's outcome (the endpoint's failure state: 410 Gone and the 5-day
   * rule, WebhookService.recordOutcome). A failure here is logged, never undoes the attempt.
   */
  readonly onOutcome?: (delivery: Pick<Delivery, 'id' | 'orgId' | 'endpointId'>, outcome: AttemptOutcome, at: number) => Promise<void>;
  /** Structured records of hook failures. @default console.error as JSON */
  readonly log?: (record: Record<string, unknown>) => void;
  /** Replaces RETRY_SCHEDULE_MS (tests shorten it). */
  readonly schedule?: readonly number[];
  /** Clock (epoch ms). */
  readonly now?: () => number;
  /** How long a claim holds a delivery; must exceed one attempt (15 s). Default 60 s. */
  readonly leaseMs?: number;
  /** Deliveries taken per runOnce. Default 10. */
  readonly batchSize?: number;
}

export const DEFAULT_LEASE_MS = 60_000;

export class WebhookDispatcher {
  private readonly now: () => number;
  private readonly schedule: readonly number[];
  private readonly leaseMs: number;
  private readonly batchSize: number;
  private readonly log: (record: Record<string, unknown>) => void;

  constructor(private readonly options: WebhookDispatcherOptions) {
    this.log = options.log ?? ((record) => console.error(JSON.stringify(record)));
    this.now = options.now ?? Date.now;
    this.schedule = options.schedule ?? RETRY_SCHEDULE_MS;
    this.leaseMs = options.leaseMs ?? DEFAULT_LEASE_MS;
    this.batchSize = options.batchSize ?? 10;
  }

  /** One pass over the due deliveries. Returns the number of attempts recorded. */
  async runOnce(): Promise<number> {
    const due = await this.options.store.due(this.now(), this.batchSize);
    const recorded = await Promise.all(due.map((d) => this.attempt(d)));
    return recorded.filter(Boolean).length;
  }

  /**
   * One attempt of one delivery, if it is due (the SQS host calls this for the delivery a message
   * names). Returns whether an attempt was recorded: false when the delivery is not due, not
   * pending, or another dispatcher claimed it.
   */
  async attemptOne(id: string): Promise<boolean> {
    const delivery = await this.options.store.get(id);
    if (!delivery || delivery.state !== 'pending' || delivery.nextAttemptAt > this.now()) return false;
    return this.attempt(delivery);
  }

  private async attempt(delivery: Delivery): Promise<boolean> {
    const { id, endpointId, body, attempt: made, nextAttemptAt: seenNextAttemptAt } = delivery;
    const { store } = this.options;
    if (!(await store.claim(id, made, seenNextAttemptAt, this.now() + this.leaseMs))) return false;
    const target = await this.options.secretsFor(endpointId, delivery.orgId);
    const at = this.now();
    if (!target) {
      // The endpoint is gone or disabled: nothing to send to, and retrying will not change that.
      return store.recordAttempt(id, made, { at, latencyMs: 0, errorClass: 'endpoint_unavailable' }, { state: 'gone' });
    }
    const result = await this.options.send({ url: target.url, id, body, secrets: target.secrets });
    // The schedule counts from the start of the current series (a redelivery starts a new one).
    const step = nextStep(made + 1 - (delivery.seriesStart ?? 0), result, { schedule: this.schedule, now: this.now() });
    const next: NextState =
      step.kind === 'retry'
        ? { state: 'pending', nextAttemptAt: at + result.latencyMs + step.delayMs }
        : { state: step.kind === 'exhausted' ? 'failed' : step.kind };
    const recorded = await store.recordAttempt(
      id,
      made,
      {
        at,
        latencyMs: result.latencyMs,
        ...(result.status !== undefined ? { status: result.status } : {}),
        ...(result.errorClass !== undefined ? { errorClass: result.errorClass } : {}),
      },
      next,
    );
    if (recorded && this.options.onOutcome) {
      try {
        await this.options.onOutcome(delivery, classify(result), at);
      } catch (error) {
        this.log({ level: 'error', msg: 'webhook dispatcher: recording the endpoint outcome failed', endpointId, error: error instanceof Error ? error.name : typeof error });
      }
    }
    return recorded;
  }
}
