import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../adapters/dynamodb-delivery-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../adapters/dynamodb-webhook-endpoints';
import { WebhookSender } from '../adapters/webhook-sender';
import { type AlertService, publishWithAlerts } from '../core/alert-service';
import type { EnvelopeCipher } from '../core/envelope';
import type { PlexEvent, PlexEventPublisher } from '../core/events/model';
import type { UrlPolicy } from '../core/url-policy';
import type { DeliveryStore } from '../core/webhooks/deliveries';
import { WebhookDispatcher, type SendRequest, type SendResult } from '../core/webhooks/dispatcher';
import { ENDPOINT_DISABLED_EVENT_TYPE, WebhookService } from '../core/webhooks/endpoints';
import type { InProcessEventBus } from './event-bus';

/**
 * Webhook delivery under `plexmcp serve`: subscribes to the in-process bus, fans every event out
 * into the embedded store (WebhookService.fanOut), and runs the dispatcher over the store's due
 * index when a delivery comes due. Pending deliveries live in the store, not in memory, so
 * stopping the process (or crashing) loses none: the next worker over the same store delivers
 * them, and one that was mid-attempt comes due again when its claim's lease ends.
 *
 * An idle worker does not poll the store every second: it wakes at the due times it knows —
 * deliveries this process created (fan-out, test, redeliver: `notify`), retries it scheduled (the
 * store's recordAttempt, observed), and at start the earliest pending delivery left by an
 * earlier process — and otherwise every `pollIntervalMs` as a safety net.
 */

/**
 * What the worker needs of a bus: every event. InProcessEventBus's `subscribeAll` is used when
 * present (its `subscribe` is the health monitor's view: health events only).
 */
export type EventSubscription =
  | { subscribeAll(listener: (event: PlexEvent) => void): () => void }
  | { subscribe(listener: (event: PlexEvent) => void): () => void };

export interface WebhookWorkerOptions {
  readonly bus: EventSubscription;
  readonly service: WebhookService;
  readonly deliveries: DeliveryStore;
  /** One attempt (WebhookSender.send). */
  readonly send: (req: SendRequest) => Promise<SendResult>;
  /** Replaces the Standard Webhooks schedule (tests shorten it). */
  readonly schedule?: readonly number[];
  /** The safety-net poll of the due index, between the due times the worker knows. @default 30 s */
  readonly pollIntervalMs?: number;
  /** Deliveries per dispatcher pass. @default 10 */
  readonly batchSize?: number;
  /** Passes per tick at most, so one tick is bounded however long the queue. @default 10 */
  readonly maxPassesPerTick?: number;
  /** How long a claim holds a delivery. @default the dispatcher's 60 s */
  readonly leaseMs?: number;
  readonly now?: () => number;
  /** Structured records of failures. @default console.error as JSON */
  readonly log?: (record: Record<string, unknown>) => void;
}

export class WebhookWorker {
  private readonly dispatcher: WebhookDispatcher;
  private readonly pollIntervalMs: number;
  private readonly batchSize: number;
  private readonly maxPassesPerTick: number;
  private readonly log: (record: Record<string, unknown>) => void;
  private unsubscribe?: () => void;
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  /** A tick was asked for while one ran (a new event): run again right after. */
  private again = false;
  private readonly fanOuts = new Set<Promise<void>>();
  private stopped = true;
  /** Due times (epoch ms) of pending deliveries this worker knows about; bounded (the poll covers the rest). */
  private readonly dueTimes = new Set<number>();
  private readonly now: () => number;

  constructor(private readonly options: WebhookWorkerOptions) {
    this.pollIntervalMs = options.pollIntervalMs ?? 30_000;
    this.now = options.now ?? Date.now;
    this.batchSize = options.batchSize ?? 10;
    this.maxPassesPerTick = options.maxPassesPerTick ?? 10;
    this.log = options.log ?? ((record) => console.error(JSON.stringify(record)));
    if (!(this.pollIntervalMs > 0)) throw new RangeError('pollIntervalMs must be > 0');
    this.dispatcher = new WebhookDispatcher({
      store: this.observing(options.deliveries),
      send: options.send,
      secretsFor: (endpointId, orgId) => options.service.target(endpointId, orgId),
      onOutcome: (d, outcome, at) => options.service.recordOutcome(d.orgId, d.endpointId, outcome, at),
      batchSize: this.batchSize,
      log: this.log,
      ...(options.schedule ? { schedule: options.schedule } : {}),
      ...(options.leaseMs !== undefined ? { leaseMs: options.leaseMs } : {}),
      ...(options.now ? { now: options.now } : {}),
    });
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    const bus = this.options.bus;
    const listener = (event: PlexEvent) => this.onEvent(event);
    this.unsubscribe = 'subscribeAll' in bus ? bus.subscribeAll(listener) : bus.subscribe(listener);
    // Deliveries left pending by an earlier process: a pass for those due now, and a wake-up at
    // the earliest of the others.
    this.kick();
    void this.options.deliveries
      .due(Number.MAX_SAFE_INTEGER, 1)
      .then(([earliest]) => earliest && this.notify(earliest.nextAttemptAt))
      .catch((error: unknown) => this.log({ level: 'error', msg: 'webhooks: pending deliveries not read', error: errorName(error) }));
  }

  /** A delivery is due at `at` (epoch ms): the worker wakes then (at once if it is due). */
  notify(at: number): void {
    if (this.stopped) return;
    if (at <= this.now()) return this.kick();
    if (this.dueTimes.size < MAX_KNOWN_DUE_TIMES) this.dueTimes.add(at);
    if (!this.running) this.schedule();
  }

  /** The store as the dispatcher uses it, telling the worker when a retry it records is due. */
  private observing(store: DeliveryStore): DeliveryStore {
    return Object.assign(Object.create(store) as DeliveryStore, {
      recordAttempt: async (...args: Parameters<DeliveryStore['recordAttempt']>) => {
        const recorded = await store.recordAttempt(...args);
        const next = args[3];
        if (recorded && next.state === 'pending') this.notify(next.nextAttemptAt);
        return recorded;
      },
    });
  }

  /** Sets the timer for the earliest known due time, or the safety-net poll. */
  private schedule(): void {
    const now = this.now();
    // A time that passed while a tick ran wakes the worker at once; the wake-up covers every time up to it.
    const wakeAt = Math.min(now + this.pollIntervalMs, ...this.dueTimes);
    for (const at of this.dueTimes) if (at <= wakeAt) this.dueTimes.delete(at);
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => this.kick(), Math.max(0, wakeAt - now));
    this.timer.unref();
  }

  /** Stops taking events and polling, and waits for the fan-outs and the attempt in progress. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.fanOuts]);
    await this.running;
  }

  private onEvent(event: PlexEvent): void {
    const work = this.options.service
      .fanOut(event)
      .then((created) => {
        for (const delivery of created) this.notify(delivery.nextAttemptAt);
      })
      .catch((error: unknown) => {
        // The event is not in the store: it is not delivered. Logged with ids only.
        this.log({ level: 'error', msg: 'webhooks: fan-out failed', orgId: event.orgId, eventType: event.type, error: errorName(error) });
      });
    this.fanOuts.add(work);
    void work.finally(() => this.fanOuts.delete(work));
  }

  /** Runs a tick now (or right after the current one), then polls again after the interval. */
  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.running = this.tick().finally(() => {
      this.running = undefined;
      if (this.stopped) return;
      if (this.again) {
        this.again = false;
        this.kick();
        return;
      }
      this.schedule();
    });
  }

  private async tick(): Promise<void> {
    try {
      for (let pass = 0; pass < this.maxPassesPerTick && !this.stopped; pass++) {
        const recorded = await this.dispatcher.runOnce();
        // A short pass means the due index is empty for now.
        if (recorded < this.batchSize) break;
      }
    } catch (error) {
      this.log({ level: 'error', msg: 'webhooks: dispatcher pass failed', error: errorName(error) });
    }
  }
}

const MAX_KNOWN_DUE_TIMES = 10_000;

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

export interface LocalWebhooksOptions {
  readonly client: DynamoDBClient;
  readonly endpointsTable: string;
  readonly deliveriesTable: string;
  readonly cipher: EnvelopeCipher;
  /** The MCP endpoint URL policy of this `serve` (loopback allowed locally). */
  readonly urlPolicy: UrlPolicy;
  /** The org's `maxWebhookEndpoints` (effectivePlan); undefined for an unknown org. */
  readonly limitFor: (orgId: string) => Promise<number | undefined>;
  /** The in-process bus: events in, and `webhook.endpoint.disabled` out. */
  readonly bus: EventSubscription & PlexEventPublisher;
  /**
   * The org alert emails (serve's AlertService): `webhook.endpoint.disabled` is dispatched to the
   * org's subscribers as it is published, the same way as the AWS delivery function does. Omitted:
   * the event only goes on the bus.
   */
  readonly alerts?: Pick<AlertService, 'dispatch'>;
  readonly schedule?: readonly number[];
  readonly pollIntervalMs?: number;
  /** Attempt timeout (tests shorten it). @default 15 s */
  readonly attemptTimeoutMs?: number;
  readonly log?: (record: Record<string, unknown>) => void;
}

export interface LocalWebhooks {
  /** For the admin API's webhook routes. */
  readonly service: WebhookService;
  readonly worker: WebhookWorker;
  /** Stops the worker and closes the sender's connections. */
  close(): Promise<void>;
}

/**
 * Sends each `webhook.endpoint.disabled` on the in-process bus to the org's alert subscribers:
 * for a `plexmcp serve` whose AlertService is made after its webhooks (the admin runtime takes
 * the webhook service). Only that type: the health monitor dispatches its own events, so
 * listening to every alert type here would email those twice. Use this or createLocalWebhooks'
 * `alerts`, not both. Returns the unsubscribe function.
 */
export function alertOnDisabledEndpoints(
  bus: Pick<InProcessEventBus, 'subscribeAll'>,
  alerts: Pick<AlertService, 'dispatch'>,
  log: (record: Record<string, unknown>) => void = (record) => console.error(JSON.stringify(record)),
): () => void {
  return bus.subscribeAll((event) => {
    // dispatch logs its own failures and does not throw; this catch is for a broken AlertService.
    alerts.dispatch([event]).catch((error: unknown) => {
      log({ level: 'error', msg: 'webhooks: alert dispatch failed', orgId: event.orgId, eventType: event.type, error: errorName(error) });
    });
  }, [ENDPOINT_DISABLED_EVENT_TYPE]);
}

/**
 * Everything `plexmcp serve` needs for webhooks in one call: the two tables in the embedded
 * engine (created if missing), the stores, the sender, the service and the worker (started).
 */
export async function createLocalWebhooks(options: LocalWebhooksOptions): Promise<LocalWebhooks> {
  await Promise.all([
    ensureWebhookEndpointTable(options.client, options.endpointsTable),
    ensureDeliveryTable(options.client, options.deliveriesTable),
  ]);
  const deliveries = new DynamoDbDeliveryStore(options.client, options.deliveriesTable);
  // The service's queued deliveries wake the worker, which is made after it (it needs the service).
  const wake: { worker?: WebhookWorker } = {};
  const service: WebhookService = new WebhookService({
    endpoints: new DynamoDbWebhookEndpointStore(options.client, options.endpointsTable),
    deliveries,
    cipher: options.cipher,
    urlPolicy: options.urlPolicy,
    limitFor: options.limitFor,
    events: options.alerts ? publishWithAlerts(options.bus, options.alerts) : options.bus,
    // Test sends and redeliveries made through the admin API wake the worker at once.
    onEnqueued: async (delivery): Promise<void> => wake.worker?.notify(delivery.nextAttemptAt),
    ...(options.log ? { log: options.log } : {}),
  });
  const sender = new WebhookSender({
    allowLoopback: options.urlPolicy.allowLoopback,
    resolve: options.urlPolicy.resolve,
    ...(options.attemptTimeoutMs !== undefined ? { timeoutMs: options.attemptTimeoutMs } : {}),
  });
  const worker = new WebhookWorker({
    bus: options.bus,
    service,
    deliveries,
    send: (req) => sender.send(req),
    ...(options.schedule ? { schedule: options.schedule } : {}),
    ...(options.pollIntervalMs !== undefined ? { pollIntervalMs: options.pollIntervalMs } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  wake.worker = worker;
  worker.start();
  let closing: Promise<void> | undefined;
  return {
    service,
    worker,
    close: () => (closing ??= worker.stop().then(() => sender.close())),
  };
}
