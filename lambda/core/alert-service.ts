import { ALERT_PLANS, type AlertSubscription } from './alerts';
import { ApiError, conflict, forbidden, notFound } from './errors';
import type { WebhookEndpointDisabledEvent } from './events/catalog';
import type { PlexEvent, PlexEventPublisher } from './events/model';
import type { HealthEvent } from './health/model';
import { randomId } from './ids';
import type { Org } from './model';

/**
 * Org alert subscriptions (email) and the dispatch of events to them: the health monitor's
 * events and webhook delivery's `webhook.endpoint.disabled`. No AWS, no HTTP: subscriptions are
 * kept by an `AlertStore` and delivered by an `AlertDelivery` (Amazon SNS in AWS, a log line under
 * `plexmcp serve`).
 */

/**
 * The event types an alert subscription can name. A subscription created without `events` gets
 * all of them (a disabled webhook endpoint is something every org admin wants to hear about).
 */
export const ALERT_EVENT_TYPES = ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'] as const;
export type AlertEventType = (typeof ALERT_EVENT_TYPES)[number];

/** An event that alerts are sent for (the catalog's shapes; type `AlertEventType`). */
export type AlertEvent = HealthEvent | WebhookEndpointDisabledEvent;

const ALERT_TYPES: ReadonlySet<string> = new Set(ALERT_EVENT_TYPES);

/**
 * True when alerts are sent for events of this event's type. The producers are PlexMCP's own
 * (the health monitor, WebhookService), so the type decides the shape; `formatAlert` still treats
 * every field as untrusted text.
 */
export function isAlertEvent(event: PlexEvent): event is PlexEvent & AlertEvent {
  return ALERT_TYPES.has(event.type);
}

/** An org has at most this many subscriptions. */
export const MAX_ALERT_SUBSCRIPTIONS_PER_ORG = 20;

/** Persistence of subscriptions (the registry table: pk `ORG#<orgId>`, sk `ALERT#<subscriptionId>`). */
export interface AlertStore {
  listSubscriptions(orgId: string): Promise<AlertSubscription[]>;
  getSubscription(orgId: string, subscriptionId: string): Promise<AlertSubscription | undefined>;
  /** Creates the record; false when a record with that id already exists. */
  createSubscription(subscription: AlertSubscription): Promise<boolean>;
  /** False when there was nothing to delete. */
  deleteSubscription(orgId: string, subscriptionId: string): Promise<boolean>;
}

/**
 * Where alerts go. `subscribe` registers the recipient for the subscription's org and event
 * types and returns the delivery system's id for it (the SNS subscription ARN), if it has one;
 * `publish` sends one event to every recipient subscribed to that org and event type.
 */
export interface AlertDelivery {
  subscribe(subscription: AlertSubscription): Promise<string | undefined>;
  unsubscribe(subscription: AlertSubscription): Promise<void>;
  publish(orgId: string, event: AlertEvent): Promise<void>;
}

/** Thrown by a delivery whose recipient is already registered with different settings. */
export class AddressInUseError extends Error {
  constructor() {
    super('The delivery system already has this address with different settings');
    this.name = 'AddressInUseError';
  }
}

/** Reads an org's plan (the registry). */
export type GetOrg = (orgId: string) => Promise<Pick<Org, 'orgId' | 'plan'> | undefined>;

export interface CreateAlertInput {
  readonly type: 'email';
  readonly address: string;
  readonly events?: readonly AlertEventType[];
}

export interface AlertServiceDeps {
  readonly store: AlertStore;
  /**
   * Where alerts go. Absent when the deployment has no alert topic: the subscription routes then
   * answer 501 `alerts_unavailable` and `dispatch` publishes nothing.
   */
  readonly delivery?: AlertDelivery;
  readonly getOrg: GetOrg;
  readonly now?: () => Date;
  /** Structured records of delivery failures during dispatch. @default console.error as JSON */
  readonly log?: (record: Record<string, unknown>) => void;
}

/** What `dispatch` did with a batch of events. */
export interface DispatchResult {
  readonly published: number;
  /** Not an alert type, or the org is unknown, on a plan without alerts, or has no subscription to that type. */
  readonly skipped: number;
  readonly failed: number;
}

export class AlertService {
  private readonly now: () => Date;
  private readonly log: (record: Record<string, unknown>) => void;

  constructor(private readonly deps: AlertServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.log ?? ((record) => console.error(JSON.stringify(record)));
  }

  /** Whether this deployment can deliver alerts at all. */
  get available(): boolean {
    return this.deps.delivery !== undefined;
  }

  async create(orgId: string, input: CreateAlertInput): Promise<AlertSubscription> {
    const delivery = this.requireDelivery();
    const org = await this.deps.getOrg(orgId);
    if (!org) throw notFound('Organisation');
    if (!ALERT_PLANS.has(org.plan)) {
      throw forbidden('plan_required', `Alerts need one of the plans ${[...ALERT_PLANS].join(', ')}; this organisation is on ${org.plan}`);
    }
    const existing = await this.deps.store.listSubscriptions(orgId);
    const address = input.address.trim();
    if (existing.some((s) => s.address.toLowerCase() === address.toLowerCase())) {
      throw conflict('already_subscribed', 'This address already has an alert subscription in this organisation; remove it first to change its events');
    }
    if (existing.length >= MAX_ALERT_SUBSCRIPTIONS_PER_ORG) {
      throw conflict('too_many_subscriptions', `An organisation has at most ${MAX_ALERT_SUBSCRIPTIONS_PER_ORG} alert subscriptions`);
    }
    const wanted = new Set(input.events && input.events.length > 0 ? input.events : ALERT_EVENT_TYPES);
    const subscription: AlertSubscription = {
      subscriptionId: randomId('al_'),
      orgId,
      type: 'email',
      address,
      events: ALERT_EVENT_TYPES.filter((t) => wanted.has(t)),
      createdAt: this.now().toISOString(),
    };
    let deliveryRef: string | undefined;
    try {
      deliveryRef = await delivery.subscribe(subscription);
    } catch (error) {
      if (error instanceof AddressInUseError) {
        throw conflict('address_in_use', 'This address already receives PlexMCP alerts with other settings; use another address');
      }
      throw error;
    }
    const stored: AlertSubscription = deliveryRef === undefined ? subscription : { ...subscription, deliveryRef };
    try {
      if (!(await this.deps.store.createSubscription(stored))) throw new Error('alert subscription id collision');
    } catch (error) {
      // Without the record nobody could remove the delivery's subscription: undo it.
      await delivery.unsubscribe(stored).catch(() => undefined);
      throw error;
    }
    return stored;
  }

  async list(orgId: string): Promise<AlertSubscription[]> {
    this.requireDelivery();
    if (!(await this.deps.getOrg(orgId))) throw notFound('Organisation');
    const items = await this.deps.store.listSubscriptions(orgId);
    return items.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.subscriptionId.localeCompare(b.subscriptionId));
  }

  /** Removes the delivery's subscription first: a failure there leaves the record for a retry. */
  async remove(orgId: string, subscriptionId: string): Promise<void> {
    const delivery = this.requireDelivery();
    const subscription = await this.deps.store.getSubscription(orgId, subscriptionId);
    if (!subscription) throw notFound('Alert subscription');
    await delivery.unsubscribe(subscription);
    if (!(await this.deps.store.deleteSubscription(orgId, subscriptionId))) throw notFound('Alert subscription');
  }

  /**
   * Publishes each event once (the delivery fans it out to the org's recipients of that event
   * type), but only for orgs on an alert plan that have a subscription to that event type. Events
   * of types that are not alert types are skipped, so a host may hand over whatever it has. A
   * failed publish is logged and does not stop the others; `dispatch` itself never throws.
   * `getOrg` defaults to the service's.
   */
  async dispatch(events: readonly PlexEvent[], getOrg: GetOrg = this.deps.getOrg): Promise<DispatchResult> {
    const delivery = this.deps.delivery;
    let published = 0;
    let skipped = 0;
    let failed = 0;
    if (!delivery) return { published, skipped: events.length, failed };
    const byOrg = new Map<string, AlertEvent[]>();
    for (const event of events) {
      if (!isAlertEvent(event)) {
        skipped++;
        continue;
      }
      byOrg.set(event.orgId, [...(byOrg.get(event.orgId) ?? []), event]);
    }
    for (const [orgId, orgEvents] of byOrg) {
      let subscribed: Set<string>;
      try {
        const org = await getOrg(orgId);
        subscribed = org && ALERT_PLANS.has(org.plan)
          ? new Set((await this.deps.store.listSubscriptions(orgId)).flatMap((s) => s.events))
          : new Set();
      } catch (error) {
        failed += orgEvents.length;
        this.log({ level: 'error', msg: 'alert dispatch: reading the org or its subscriptions failed', orgId, error: errorName(error) });
        continue;
      }
      for (const event of orgEvents) {
        if (!subscribed.has(event.type)) {
          skipped++;
          continue;
        }
        try {
          await delivery.publish(orgId, event);
          published++;
        } catch (error) {
          failed++;
          this.log({ level: 'error', msg: 'alert dispatch: publish failed', orgId, ...subjectOf(event), eventType: event.type, error: errorName(error) });
        }
      }
    }
    return { published, skipped, failed };
  }

  private requireDelivery(): AlertDelivery {
    if (!this.deps.delivery) throw new ApiError(501, 'alerts_unavailable', 'Alerts are not configured in this deployment');
    return this.deps.delivery;
  }
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/** What an event is about, by id, for log records. */
function subjectOf(event: AlertEvent): Record<string, string> {
  return event.type === 'webhook.endpoint.disabled' ? { endpointId: event.endpointId } : { mcp: event.mcp };
}

/**
 * A publisher for hosts whose events never pass through alert dispatch on their way to the bus
 * (webhook delivery: `webhook.endpoint.disabled`): each batch goes to `publisher` (the bus, when
 * there is one) and its alert events to `alerts.dispatch`, each independently of the other, so
 * a bus failure loses no email and no email failure loses the bus event. A bus failure is thrown
 * after the alerts were dispatched (the caller logs it, as PlexEventPublisher's contract says).
 *
 * Hosts whose alert events are dispatched elsewhere must not also use this for them: the health
 * monitor dispatches its own events (its `alert` hook), so a bus listener on every alert type
 * would email those twice.
 */
export function publishWithAlerts(publisher: PlexEventPublisher | undefined, alerts: Pick<AlertService, 'dispatch'>): PlexEventPublisher {
  return {
    async publish(events) {
      const [bus] = await Promise.allSettled([
        publisher ? publisher.publish(events) : Promise.resolve(),
        events.some(isAlertEvent) ? alerts.dispatch(events) : Promise.resolve(),
      ]);
      if (bus.status === 'rejected') throw bus.reason;
    },
  };
}

// ---- alert text ----

/** SNS: a subject is under 100 characters, without line breaks or control characters. */
export const MAX_SUBJECT_LENGTH = 99;
const MAX_NAMES_LISTED = 50;

export interface AlertText {
  readonly subject: string;
  readonly message: string;
}

/**
 * The subject and plain-text body of an alert email. Built only from ids, statuses, error classes
 * and tool names — never URLs, credentials or upstream messages. Tool names come from the upstream,
 * so they are reduced to tool-name characters and shortened. A disabled webhook endpoint is named
 * by its id alone: its URL may carry a token in its path or query, and the event has none anyway.
 */
export function formatAlert(event: AlertEvent): AlertText {
  const lines: string[] = [];
  // What happened comes first in the subject, so that shortening it never loses that.
  let subject: string;
  if (event.type === 'webhook.endpoint.disabled') {
    const endpointId = safeId(event.endpointId);
    const gone = event.reason === 'gone';
    subject = `PlexMCP webhook endpoint disabled: ${truncate(endpointId, 40)} (${gone ? '410 Gone' : 'failing for 5 days'})`;
    lines.push(
      gone
        ? `Webhook endpoint ${endpointId} answered 410 Gone, so delivery disabled it.`
        : `Every delivery to webhook endpoint ${endpointId} failed for 5 days, so delivery disabled it.`,
      '',
      `Organisation:  ${safeId(event.orgId)}`,
      `Endpoint id:   ${endpointId}`,
      `Reason:        ${gone ? 'gone (410 Gone)' : 'failing (no successful delivery for 5 days)'}`,
    );
    if (event.failingSince) lines.push(`Failing since: ${safeId(event.failingSince)}`);
    lines.push(
      `At:            ${safeId(event.at)}`,
      '',
      'No events are delivered to it while it is disabled; deliveries that were pending end as gone.',
      'Once the receiver works again, re-enable it (PATCH /admin/v1/orgs/{orgId}/webhooks/{endpointId}',
      'with {"enabled": true}) and redeliver what it missed.',
    );
  } else if (event.type === 'mcp.endpoint.status.changed') {
    const mcp = safeId(event.mcp);
    subject = `PlexMCP ${event.to}: ${truncate(mcp, 40)} endpoint ${safeId(event.endpointId)} (${safeId(event.region)})`;
    lines.push(
      `An endpoint of MCP server ${mcp} changed status.`,
      '',
      `Organisation:  ${safeId(event.orgId)}`,
      `MCP server:    ${mcp}`,
      `Endpoint id:   ${safeId(event.endpointId)}`,
      `Region:        ${safeId(event.region)}`,
      `Status:        ${event.from} -> ${event.to}`,
    );
    if (event.errorClass) lines.push(`Error class:   ${safeId(event.errorClass)}`);
    lines.push(`At:            ${safeId(event.at)}`);
  } else {
    const mcp = safeId(event.mcp);
    subject = `PlexMCP tools changed: ${truncate(mcp, 40)} (+${event.added.length} -${event.removed.length} ~${event.changed.length})`;
    lines.push(
      `The tools that MCP server ${mcp} offers changed.`,
      '',
      `Organisation:  ${safeId(event.orgId)}`,
      `MCP server:    ${mcp}`,
      `Region:        ${safeId(event.region)}`,
      `Added:         ${names(event.added)}`,
      `Removed:       ${names(event.removed)}`,
      `Changed:       ${names(event.changed)}`,
      `Hash:          ${event.previousHash ? `${safeId(event.previousHash)} -> ` : ''}${safeId(event.hash)}`,
      `At:            ${safeId(event.at)}`,
    );
  }
  lines.push(
    '',
    `You receive this because your organisation subscribed to ${event.type} alerts.`,
    'List or remove subscriptions with `plexmcp alert list` and `plexmcp alert remove <id>`.',
  );
  return { subject: truncate(subject, MAX_SUBJECT_LENGTH), message: `${lines.join('\n')}\n` };
}

/** Ids, statuses and timestamps: printable ASCII only, bounded. */
function safeId(value: string): string {
  return truncate(String(value).replace(/[^\x21-\x7e]/g, '?'), 128);
}

/** Upstream tool names: letters, digits, `_`, `-` and `.` only (no `:` or `/`, so no links), bounded. */
function safeName(value: string): string {
  return truncate(String(value).replace(/[^A-Za-z0-9_.-]/g, '?'), 64);
}

function names(values: readonly string[]): string {
  if (values.length === 0) return 'none';
  const shown = values.slice(0, MAX_NAMES_LISTED).map(safeName).join(', ');
  return values.length > MAX_NAMES_LISTED ? `${shown} and ${values.length - MAX_NAMES_LISTED} more` : shown;
}

function truncate(value: string, max: number): string {
  return value.length <= max ? value : `${value.slice(0, max - 3)}...`;
}
