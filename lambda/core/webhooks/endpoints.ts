import { createHash } from 'node:crypto';
import type { AuditChange, AuditValue } from '../audit/entry';
import type { EncryptionContext, EnvelopeCipher } from '../envelope';
import { ApiError, badRequest, conflict, forbidden, type FieldProblem } from '../errors';
import type { PlexEvent, PlexEventPublisher } from '../events/model';
import { randomId } from '../ids';
import type { EncryptedSecret, Org } from '../model';
import { effectivePlan } from '../plans';
import { checkEndpointUrl, type UrlPolicy } from '../url-policy';
import type { Delivery, DeliveryStore } from './deliveries';
import type { EndpointTarget } from './dispatcher';
import { recordEndpointOutcome, type AttemptOutcome, type DisableReason } from './schedule';
import { generateMessageId, generateSecret } from './signing';

/**
 * Webhook endpoints of an organisation and everything the admin API does with them: create
 * (the signing secret is returned once and stored only encrypted), list, update, remove, rotate
 * the secret with an overlap window, send a test event, list deliveries and redeliver one. The
 * delivery side (fan-out, dispatcher hooks) is here too, so the admin API, the local worker and
 * the Lambda consumer share one implementation. No AWS, no HTTP.
 */

export interface WebhookEndpoint {
  readonly orgId: string;
  /** `whe_<16 base32>`. */
  readonly endpointId: string;
  /** Normalized by the URL policy. */
  readonly url: string;
  /** Event types delivered (exact types or a `prefix.*` pattern); empty means every type. */
  readonly eventTypes: readonly string[];
  readonly enabled: boolean;
  readonly description?: string;
  /** ISO 8601. */
  readonly createdAt: string;
  readonly updatedAt: string;
  /** Why delivery disabled it (absent when an admin did, or when it is enabled). */
  readonly disabledReason?: DisableReason;
  /** ISO 8601: when its current run of failed attempts began. */
  readonly failingSince?: string;
}

/** What the store keeps: the endpoint plus its encrypted secrets and a version for conditional writes. */
export interface StoredWebhookEndpoint extends WebhookEndpoint {
  readonly secret: EncryptedSecret;
  /** The secret before the last rotation, still signing until previousSecretExpiresAt. */
  readonly previousSecret?: EncryptedSecret;
  /** ISO 8601. */
  readonly previousSecretExpiresAt?: string;
  /** Starts at 1; every write increments it (optimistic concurrency). */
  readonly version: number;
}

export type CreateEndpointResult = 'created' | 'limit_reached' | 'exists';

export interface WebhookEndpointStore {
  /** Stores a new endpoint unless the org already has `max` of them (enforced by a condition). */
  create(endpoint: StoredWebhookEndpoint, max: number): Promise<CreateEndpointResult>;
  get(orgId: string, endpointId: string): Promise<StoredWebhookEndpoint | undefined>;
  /** Every endpoint of the org (at most the plan's limit), in creation order. */
  list(orgId: string): Promise<StoredWebhookEndpoint[]>;
  /** Writes `endpoint` (whose version is expectedVersion + 1) if the stored version is expectedVersion. */
  replace(endpoint: StoredWebhookEndpoint, expectedVersion: number): Promise<boolean>;
  /** False when there was nothing to delete. */
  delete(orgId: string, endpointId: string): Promise<boolean>;
}

export const ENDPOINT_ID_PREFIX = 'whe_';
export const ENDPOINT_ID_PATTERN = /^whe_[a-z2-7]{16}$/;
export const DEFAULT_ROTATION_OVERLAP_SECONDS = 24 * 60 * 60;
/** A rotation's overlap is at most 7 days: an old secret must not live on indefinitely. */
export const MAX_ROTATION_OVERLAP_SECONDS = 7 * 24 * 60 * 60;
export const MAX_EVENT_TYPES = 50;
export const MAX_DESCRIPTION_LENGTH = 256;
export const TEST_EVENT_TYPE = 'webhook.test';
export const ENDPOINT_DISABLED_EVENT_TYPE = 'webhook.endpoint.disabled';
/** An event type or a `prefix.*` pattern: lower-case dotted words. */
const EVENT_TYPE_PATTERN = /^(?:[a-z][a-z0-9_]*)(?:\.[a-z][a-z0-9_]*)*(?:\.\*)?$|^\*$/;

export interface CreateWebhookInput {
  readonly url: string;
  readonly eventTypes?: readonly string[];
  /** @default true */
  readonly enabled?: boolean;
  readonly description?: string;
}

export interface UpdateWebhookInput {
  readonly url?: string;
  readonly eventTypes?: readonly string[];
  /** true re-enables an endpoint delivery disabled (clears disabledReason and failingSince). */
  readonly enabled?: boolean;
  /** null removes it. */
  readonly description?: string | null;
}

export interface DeliveryPage {
  readonly limit?: number;
  /** From a previous page's `cursor`. */
  readonly cursor?: string;
}

/** A delivery as the admin API shows it: its attempts, never its body. */
export interface DeliveryView {
  readonly deliveryId: string;
  readonly endpointId: string;
  readonly eventType: string;
  readonly state: Delivery['state'];
  readonly attempts: number;
  /** ISO 8601; only while pending. */
  readonly nextAttemptAt?: string;
  readonly enqueuedAt: string;
  readonly redeliveries: number;
  readonly attemptLog: readonly { at: string; status?: number; latencyMs: number; errorClass?: string }[];
}

export interface DeliveryListPage {
  readonly items: DeliveryView[];
  readonly cursor?: string;
}

/** How deliveries leave the fan-out: the store alone (local worker, sweep) or also a queue message (AWS). */
export type DeliveryEnqueued = (delivery: Delivery) => Promise<void>;

export interface WebhookServiceDeps {
  readonly endpoints: WebhookEndpointStore;
  readonly deliveries: DeliveryStore;
  readonly cipher: EnvelopeCipher;
  /** The MCP endpoint URL policy (https only and public addresses in AWS). */
  readonly urlPolicy: UrlPolicy;
  /**
   * The org's `maxWebhookEndpoints` plan limit (0: its plan has no webhooks); undefined when the
   * org does not exist.
   */
  readonly limitFor: (orgId: string) => Promise<number | undefined>;
  /** Where `webhook.endpoint.disabled` goes (the event bus). */
  readonly events?: PlexEventPublisher;
  /** Called for every delivery created (fan-out, test, redeliver): the AWS host queues a message. */
  readonly onEnqueued?: DeliveryEnqueued;
  readonly now?: () => Date;
  /** How long decrypted secrets are kept in memory for the dispatcher. @default 60 s */
  readonly secretCacheMs?: number;
  /** Structured records of background failures. @default console.error as JSON */
  readonly log?: (record: Record<string, unknown>) => void;
}

export const DEFAULT_DELIVERY_PAGE = 50;
export const MAX_DELIVERY_PAGE = 100;

export class WebhookService {
  private readonly now: () => Date;
  private readonly log: (record: Record<string, unknown>) => void;
  private readonly secretCacheMs: number;
  private readonly targets = new Map<string, { version: number; until: number; target: EndpointTarget | undefined; failing: boolean }>();

  constructor(private readonly deps: WebhookServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.log = deps.log ?? ((record) => console.error(JSON.stringify(record)));
    this.secretCacheMs = deps.secretCacheMs ?? 60_000;
  }

  // ---- admin API ----

  /** Creates an endpoint; the secret is in the answer and nowhere else in plaintext, ever. */
  async create(orgId: string, input: CreateWebhookInput): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
    const limit = await this.limit(orgId);
    if (limit <= 0) throw forbidden('plan_required', 'Webhooks need a plan that includes them; this organisation’s plan has none');
    const problems: FieldProblem[] = [];
    const url = await this.checkUrl(input.url, problems);
    const eventTypes = checkEventTypes(input.eventTypes ?? [], problems);
    const description = checkDescription(input.description, problems);
    if (problems.length > 0 || url === undefined) throw badRequest('validation_failed', 'Request validation failed', problems);
    const endpointId = randomId(ENDPOINT_ID_PREFIX);
    const secret = generateSecret();
    const at = this.now().toISOString();
    const stored: StoredWebhookEndpoint = {
      orgId,
      endpointId,
      url,
      eventTypes,
      enabled: input.enabled ?? true,
      ...(description !== undefined ? { description } : {}),
      createdAt: at,
      updatedAt: at,
      secret: await this.deps.cipher.encrypt(secret, webhookSecretContext(orgId, endpointId)),
      version: 1,
    };
    const result = await this.deps.endpoints.create(stored, limit);
    if (result === 'limit_reached') {
      throw conflict('too_many_webhooks', `This organisation’s plan allows at most ${limit} webhook endpoints`);
    }
    if (result === 'exists') throw new Error('webhook endpoint id collision');
    return { endpoint: publicEndpoint(stored), secret };
  }

  async list(orgId: string): Promise<WebhookEndpoint[]> {
    await this.limit(orgId);
    const items = await this.deps.endpoints.list(orgId);
    return items.map(publicEndpoint).sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.endpointId.localeCompare(b.endpointId));
  }

  async get(orgId: string, endpointId: string): Promise<WebhookEndpoint> {
    return publicEndpoint(await this.getStored(orgId, endpointId));
  }

  async update(orgId: string, endpointId: string, input: UpdateWebhookInput): Promise<{ before: WebhookEndpoint; after: WebhookEndpoint }> {
    const problems: FieldProblem[] = [];
    const url = input.url !== undefined ? await this.checkUrl(input.url, problems) : undefined;
    const eventTypes = input.eventTypes !== undefined ? checkEventTypes(input.eventTypes, problems) : undefined;
    const description = input.description === null ? null : checkDescription(input.description, problems);
    if (problems.length > 0) throw badRequest('validation_failed', 'Request validation failed', problems);
    if (input.enabled === true && (await this.limit(orgId)) <= 0) {
      throw forbidden('plan_required', 'Webhooks need a plan that includes them; this organisation’s plan has none');
    }
    const { before, after } = await this.mutate(orgId, endpointId, (current) => {
      const next: Record<string, unknown> = { ...current, updatedAt: this.now().toISOString() };
      if (url !== undefined) next.url = url;
      if (eventTypes !== undefined) next.eventTypes = eventTypes;
      if (description === null) delete next.description;
      else if (description !== undefined) next.description = description;
      if (input.enabled !== undefined) {
        next.enabled = input.enabled;
        // Re-enabling starts afresh; disabling by hand is not delivery's verdict.
        delete next.disabledReason;
        if (input.enabled) delete next.failingSince;
      }
      return next as unknown as StoredWebhookEndpoint;
    });
    return { before: publicEndpoint(before), after: publicEndpoint(after) };
  }

  async remove(orgId: string, endpointId: string): Promise<WebhookEndpoint> {
    const current = await this.getStored(orgId, endpointId);
    if (!(await this.deps.endpoints.delete(orgId, endpointId))) throw webhookNotFound();
    this.targets.delete(cacheKey(orgId, endpointId));
    // Pending deliveries find no endpoint when due and end as `gone` (endpoint_unavailable).
    return publicEndpoint(current);
  }

  /**
   * A new secret; the previous one keeps signing (a second signature) for `overlapSeconds`, so
   * receivers can switch without missing a delivery. 0 drops the old secret at once.
   */
  async rotateSecret(orgId: string, endpointId: string, options: { overlapSeconds?: number } = {}): Promise<{ secret: string; previousSecretExpiresAt?: string }> {
    const overlap = options.overlapSeconds ?? DEFAULT_ROTATION_OVERLAP_SECONDS;
    if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_ROTATION_OVERLAP_SECONDS) {
      throw badRequest('validation_failed', 'Request validation failed', [
        { path: 'overlapSeconds', message: `must be a whole number of seconds from 0 to ${MAX_ROTATION_OVERLAP_SECONDS}` },
      ]);
    }
    const secret = generateSecret();
    const encrypted = await this.deps.cipher.encrypt(secret, webhookSecretContext(orgId, endpointId));
    const now = this.now();
    const expiresAt = overlap > 0 ? new Date(now.getTime() + overlap * 1000).toISOString() : undefined;
    await this.mutate(orgId, endpointId, (current) => {
      const next: Record<string, unknown> = { ...current, secret: encrypted, updatedAt: now.toISOString() };
      delete next.previousSecret;
      delete next.previousSecretExpiresAt;
      if (expiresAt) {
        next.previousSecret = current.secret;
        next.previousSecretExpiresAt = expiresAt;
      }
      return next as unknown as StoredWebhookEndpoint;
    });
    return { secret, ...(expiresAt ? { previousSecretExpiresAt: expiresAt } : {}) };
  }

  /** Queues a `webhook.test` event to this endpoint only. */
  async sendTest(orgId: string, endpointId: string): Promise<DeliveryView> {
    const endpoint = await this.getStored(orgId, endpointId);
    if (!endpoint.enabled) throw conflict('webhook_disabled', 'This webhook endpoint is disabled; enable it first');
    const now = this.now();
    const event: PlexEvent = { type: TEST_EVENT_TYPE, orgId, at: now.toISOString(), endpointId };
    const delivery = await this.deps.deliveries.enqueue({
      id: generateMessageId(),
      orgId,
      endpointId,
      eventType: event.type,
      body: webhookPayload(event),
      nextAttemptAt: now.getTime(),
      enqueuedAt: now.getTime(),
    });
    await this.enqueued(delivery);
    return deliveryView(delivery);
  }

  async listDeliveries(orgId: string, endpointId: string, page: DeliveryPage = {}): Promise<DeliveryListPage> {
    await this.getStored(orgId, endpointId);
    const limit = page.limit ?? DEFAULT_DELIVERY_PAGE;
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_DELIVERY_PAGE) {
      throw badRequest('validation_failed', 'Request validation failed', [{ path: 'limit', message: `must be from 1 to ${MAX_DELIVERY_PAGE}` }]);
    }
    let before: number | undefined;
    let beforeId: string | undefined;
    if (page.cursor !== undefined) {
      const decoded = decodeCursor(page.cursor, endpointId);
      if (!decoded) throw badRequest('invalid_cursor', 'The cursor is not valid for this list');
      ({ before, beforeId } = decoded);
    }
    // One extra item tells whether there is a next page.
    const items = await this.deps.deliveries.listPage(endpointId, { limit: limit + 1, ...(before !== undefined ? { before, beforeId: beforeId! } : {}) });
    const shown = items.slice(0, limit).filter((d) => d.orgId === orgId);
    const last = items.length > limit ? items[limit - 1] : undefined;
    return { items: shown.map(deliveryView), ...(last ? { cursor: encodeCursor(endpointId, last) } : {}) };
  }

  /** Queues a failed or gone delivery again: a new series of attempts with the same webhook-id. */
  async redeliver(orgId: string, deliveryId: string): Promise<DeliveryView> {
    const delivery = await this.deps.deliveries.get(deliveryId);
    if (!delivery || delivery.orgId !== orgId) throw new ApiError(404, 'delivery_not_found', 'Webhook delivery not found');
    if (delivery.state === 'pending' || delivery.state === 'delivered') {
      throw conflict('delivery_not_failed', `This delivery is ${delivery.state}; only failed or gone deliveries can be redelivered`);
    }
    const endpoint = await this.deps.endpoints.get(orgId, delivery.endpointId);
    if (!endpoint) throw webhookNotFound();
    if (!endpoint.enabled) throw conflict('webhook_disabled', 'This webhook endpoint is disabled; enable it first');
    const again = await this.deps.deliveries.redeliver(deliveryId, delivery.state, delivery.attempt, this.now().getTime());
    if (!again) throw conflict('delivery_changed', 'The delivery changed meanwhile; list it again');
    await this.enqueued(again);
    return deliveryView(again);
  }

  // ---- delivery side ----

  /**
   * Creates one delivery per enabled endpoint of the event's org whose filter matches. Ids are
   * derived from (event key, endpoint), so fanning the same event out twice (a redelivered bus
   * message) creates nothing new. `eventKey` defaults to a hash of the event's content; the
   * EventBridge host passes the bus event id.
   */
  async fanOut(event: PlexEvent, eventKey: string = eventContentKey(event)): Promise<Delivery[]> {
    if (event.type === TEST_EVENT_TYPE) return []; // only ever sent by sendTest, to one endpoint
    const limit = await this.deps.limitFor(event.orgId);
    // An org that is gone or was moved to a plan without webhooks gets nothing.
    if (limit === undefined || limit <= 0) return [];
    const endpoints = (await this.deps.endpoints.list(event.orgId)).filter((e) => e.enabled && matchesEventType(e.eventTypes, event.type));
    if (endpoints.length === 0) return [];
    const body = webhookPayload(event);
    const at = this.now().getTime();
    const out: Delivery[] = [];
    for (const endpoint of endpoints) {
      const { delivery, created } = await this.deps.deliveries.add({
        id: fanOutMessageId(eventKey, endpoint.endpointId),
        orgId: event.orgId,
        endpointId: endpoint.endpointId,
        eventType: event.type,
        body,
        nextAttemptAt: at,
        enqueuedAt: at,
      });
      // A delivery that already existed (the same event again) is not queued a second time.
      if (created) await this.enqueued(delivery);
      out.push(delivery);
    }
    return out;
  }

  /**
   * The dispatcher's `secretsFor`: the URL and the secrets that sign now (current first, then the
   * previous one during an overlap); undefined when the endpoint is removed or disabled. Cached
   * for secretCacheMs so that a busy endpoint does not cost a decryption per attempt.
   */
  async target(endpointId: string, orgId: string): Promise<EndpointTarget | undefined> {
    const key = cacheKey(orgId, endpointId);
    const nowMs = this.now().getTime();
    const cached = this.targets.get(key);
    if (cached && cached.until > nowMs) return cached.target;
    const endpoint = await this.deps.endpoints.get(orgId, endpointId);
    let target: EndpointTarget | undefined;
    let until = nowMs + this.secretCacheMs;
    if (endpoint && endpoint.enabled) {
      const context = webhookSecretContext(orgId, endpointId);
      const secrets = [await this.deps.cipher.decrypt(endpoint.secret, context)];
      if (endpoint.previousSecret && endpoint.previousSecretExpiresAt) {
        const expires = Date.parse(endpoint.previousSecretExpiresAt);
        if (expires > nowMs) {
          secrets.push(await this.deps.cipher.decrypt(endpoint.previousSecret, context));
          until = Math.min(until, expires); // stop signing with it on time
        }
      }
      target = { url: endpoint.url, secrets };
    }
    this.targets.set(key, { version: endpoint?.version ?? 0, until, target, failing: endpoint?.failingSince !== undefined });
    return target;
  }

  /**
   * The dispatcher's `onOutcome`: folds one attempt into the endpoint's failure state (the
   * 5-day rule and 410 Gone, schedule.ts). Writes only when the state changes, so a healthy
   * endpoint costs no write per delivery. Publishes `webhook.endpoint.disabled` once when delivery
   * disables an endpoint.
   */
  async recordOutcome(orgId: string, endpointId: string, outcome: AttemptOutcome, at: number): Promise<void> {
    const key = cacheKey(orgId, endpointId);
    const cached = this.targets.get(key);
    // Known healthy and delivered again: nothing to write.
    if (outcome === 'delivered' && cached && !cached.failing) return;
    let disabled: { endpoint: StoredWebhookEndpoint; reason: DisableReason } | undefined;
    try {
      await this.mutate(orgId, endpointId, (current) => {
        // Reset per try: a try that lost the race to another disabler must not publish too.
        disabled = undefined;
        if (!current.enabled) return undefined;
        const state = current.failingSince !== undefined ? { failingSince: Date.parse(current.failingSince) } : {};
        const folded = recordEndpointOutcome(state, outcome, at);
        const failingSince = folded.state.failingSince !== undefined ? new Date(folded.state.failingSince).toISOString() : undefined;
        if (!folded.disable && failingSince === current.failingSince) return undefined;
        const next: Record<string, unknown> = { ...current, updatedAt: this.now().toISOString() };
        if (failingSince === undefined) delete next.failingSince;
        else next.failingSince = failingSince;
        if (folded.disable) {
          next.enabled = false;
          next.disabledReason = folded.disable;
          disabled = { endpoint: next as unknown as StoredWebhookEndpoint, reason: folded.disable };
        }
        return next as unknown as StoredWebhookEndpoint;
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === 'webhook_not_found') return;
      throw error;
    }
    const entry = this.targets.get(key);
    if (entry) entry.failing = outcome !== 'delivered';
    if (disabled) {
      this.targets.delete(key);
      const event: PlexEvent = {
        type: ENDPOINT_DISABLED_EVENT_TYPE,
        orgId,
        at: new Date(at).toISOString(),
        endpointId,
        reason: disabled.reason,
        ...(disabled.endpoint.failingSince ? { failingSince: disabled.endpoint.failingSince } : {}),
      };
      try {
        await this.deps.events?.publish([event]);
      } catch (error) {
        // The endpoint is disabled either way; the event is best effort (the bus's own contract).
        this.log({ level: 'error', msg: 'webhook: publishing the disabled event failed', orgId, endpointId, error: errorName(error) });
      }
    }
  }

  // ---- helpers ----

  private async limit(orgId: string): Promise<number> {
    const limit = await this.deps.limitFor(orgId);
    if (limit === undefined) throw new ApiError(404, 'not_found', 'Organisation not found');
    return limit;
  }

  private async getStored(orgId: string, endpointId: string): Promise<StoredWebhookEndpoint> {
    if (!ENDPOINT_ID_PATTERN.test(endpointId)) throw webhookNotFound();
    const endpoint = await this.deps.endpoints.get(orgId, endpointId);
    if (!endpoint) throw webhookNotFound();
    return endpoint;
  }

  private async checkUrl(raw: string, problems: FieldProblem[]): Promise<string | undefined> {
    if (typeof raw !== 'string') {
      problems.push({ path: 'url', message: 'is required' });
      return undefined;
    }
    const checked = await checkEndpointUrl(raw, 'url', this.deps.urlPolicy);
    if ('problem' in checked) {
      problems.push({ path: 'url', message: checked.problem.message.replace('; use upstreamAuth', '') });
      return undefined;
    }
    return checked.url;
  }

  /**
   * Read, change, write on condition of the version read; a lost race reads again (a few times).
   * `change` returning undefined means nothing to write.
   */
  private async mutate(
    orgId: string,
    endpointId: string,
    change: (current: StoredWebhookEndpoint) => StoredWebhookEndpoint | undefined,
  ): Promise<{ before: StoredWebhookEndpoint; after: StoredWebhookEndpoint }> {
    for (let i = 0; i < 5; i++) {
      const current = await this.getStored(orgId, endpointId);
      const next = change(current);
      if (!next) return { before: current, after: current };
      const after = { ...next, version: current.version + 1 };
      if (await this.deps.endpoints.replace(after, current.version)) {
        this.targets.delete(cacheKey(orgId, endpointId));
        return { before: current, after };
      }
    }
    throw conflict('webhook_changed', 'The webhook endpoint is being changed concurrently; try again');
  }

  private async enqueued(delivery: Delivery): Promise<void> {
    await this.deps.onEnqueued?.(delivery);
  }
}

// ---- pure helpers ----

export const webhookNotFound = () => new ApiError(404, 'webhook_not_found', 'Webhook endpoint not found');

/** What a webhook signing secret is bound to: it decrypts for this org and endpoint only. */
export function webhookSecretContext(orgId: string, endpointId: string): EncryptionContext {
  return { purpose: 'plexmcp:webhook-secret', orgId, webhook: endpointId };
}

/** The endpoint without its secrets and version: what the API returns. */
export function publicEndpoint(stored: StoredWebhookEndpoint): WebhookEndpoint {
  return {
    orgId: stored.orgId,
    endpointId: stored.endpointId,
    url: stored.url,
    eventTypes: [...stored.eventTypes],
    enabled: stored.enabled,
    ...(stored.description !== undefined ? { description: stored.description } : {}),
    createdAt: stored.createdAt,
    updatedAt: stored.updatedAt,
    ...(stored.disabledReason !== undefined ? { disabledReason: stored.disabledReason } : {}),
    ...(stored.failingSince !== undefined ? { failingSince: stored.failingSince } : {}),
  };
}

/** True when an endpoint with filter `eventTypes` wants events of `type` (empty or `*`: all; `mcp.*`: a prefix). */
export function matchesEventType(eventTypes: readonly string[], type: string): boolean {
  if (eventTypes.length === 0) return true;
  return eventTypes.some((pattern) =>
    pattern === '*' || pattern === type || (pattern.endsWith('.*') && type.startsWith(pattern.slice(0, -1))),
  );
}

/** The body sent: `{type, timestamp, data}` (Standard Webhooks), data = every other field of the event. */
export function webhookPayload(event: PlexEvent): string {
  const { type, at, ...data } = event;
  return JSON.stringify({ type, timestamp: at, data });
}

/** A key for an event from its content, for bus hosts that give events no id of their own. */
export function eventContentKey(event: PlexEvent): string {
  return createHash('sha256').update(stableJson(event)).digest('hex');
}

/** The message id of (event, endpoint): the same every time that event is fanned out to that endpoint. */
export function fanOutMessageId(eventKey: string, endpointId: string): string {
  return `msg_${createHash('sha256').update(`${eventKey}\n${endpointId}`).digest('hex').slice(0, 32)}`;
}

/** The API view of a delivery: never its body. */
export function deliveryView(delivery: Delivery): DeliveryView {
  return {
    deliveryId: delivery.id,
    endpointId: delivery.endpointId,
    eventType: delivery.eventType,
    state: delivery.state,
    attempts: delivery.attempt,
    ...(delivery.state === 'pending' ? { nextAttemptAt: new Date(delivery.nextAttemptAt).toISOString() } : {}),
    enqueuedAt: new Date(delivery.enqueuedAt).toISOString(),
    redeliveries: delivery.redeliveries ?? 0,
    attemptLog: delivery.attempts.map((a) => ({
      at: new Date(a.at).toISOString(),
      ...(a.status !== undefined ? { status: a.status } : {}),
      latencyMs: a.latencyMs,
      ...(a.errorClass !== undefined ? { errorClass: a.errorClass } : {}),
    })),
  };
}

/** The non-secret fields of an endpoint for the audit log; a URL's query string (often a token) is not recorded. */
export function endpointAuditFields(endpoint: WebhookEndpoint): Record<string, AuditValue> {
  return {
    url: redactUrl(endpoint.url),
    eventTypes: [...endpoint.eventTypes],
    enabled: endpoint.enabled,
    description: endpoint.description ?? null,
    disabledReason: endpoint.disabledReason ?? null,
  };
}

/**
 * The audit changes between two states of an endpoint (undefined before: created; undefined
 * after: removed). A rotation records only `{field: 'secret', secret: true}`.
 */
export function endpointAuditChanges(
  before: WebhookEndpoint | undefined,
  after: WebhookEndpoint | undefined,
  options: { secretChanged?: boolean } = {},
): AuditChange[] {
  const old = before ? endpointAuditFields(before) : {};
  const now = after ? endpointAuditFields(after) : {};
  const changes: AuditChange[] = [];
  for (const field of ['url', 'eventTypes', 'enabled', 'description', 'disabledReason']) {
    const o = old[field];
    const n = now[field];
    if (JSON.stringify(o) === JSON.stringify(n)) continue;
    changes.push({ field, ...(o !== undefined ? { old: o } : {}), ...(n !== undefined ? { new: n } : {}) });
  }
  if (options.secretChanged || (!before && after)) changes.push({ field: 'secret', secret: true });
  return changes;
}

function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return parsed.search ? `${parsed.origin}${parsed.pathname}?…` : `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}

function checkEventTypes(input: readonly string[], problems: FieldProblem[]): string[] {
  if (!Array.isArray(input)) {
    problems.push({ path: 'eventTypes', message: 'must be a list of event types' });
    return [];
  }
  if (input.length > MAX_EVENT_TYPES) problems.push({ path: 'eventTypes', message: `must have at most ${MAX_EVENT_TYPES} entries` });
  input.forEach((t, i) => {
    if (typeof t !== 'string' || t.length > 128 || !EVENT_TYPE_PATTERN.test(t)) {
      problems.push({ path: `eventTypes.${i}`, message: 'must be an event type such as key.revoked or a pattern such as mcp.*' });
    }
  });
  return [...new Set(input)].sort();
}

function checkDescription(input: string | undefined, problems: FieldProblem[]): string | undefined {
  if (input === undefined) return undefined;
  if (typeof input !== 'string' || input.length > MAX_DESCRIPTION_LENGTH || hasControlCharacter(input)) {
    problems.push({ path: 'description', message: `must be at most ${MAX_DESCRIPTION_LENGTH} characters without control characters` });
    return undefined;
  }
  return input;
}

function hasControlCharacter(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}

function cacheKey(orgId: string, endpointId: string): string {
  return `${orgId}\n${endpointId}`;
}

/** Cursor: base64url JSON of the last item's position, bound to the endpoint it lists. */
function encodeCursor(endpointId: string, last: Delivery): string {
  return Buffer.from(JSON.stringify({ e: endpointId, t: last.enqueuedAt, i: last.id })).toString('base64url');
}

function decodeCursor(cursor: string, endpointId: string): { before: number; beforeId: string } | undefined {
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { e?: unknown; t?: unknown; i?: unknown };
    if (parsed.e !== endpointId || typeof parsed.t !== 'number' || typeof parsed.i !== 'string') return undefined;
    return { before: parsed.t, beforeId: parsed.i };
  } catch {
    return undefined;
  }
}

function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}

function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}

/**
 * `limitFor` from the registry: the org's effective `maxWebhookEndpoints` (plan, then operator
 * overrides); undefined for an unknown org. A plan table without the limit counts as 0 (no
 * webhooks), so nothing is allowed by accident.
 */
export function limitFromPlan(
  getOrg: (orgId: string) => Promise<Pick<Org, 'plan' | 'planOverrides'> | undefined>,
): (orgId: string) => Promise<number | undefined> {
  return async (orgId) => {
    const org = await getOrg(orgId);
    if (!org) return undefined;
    const limit = (effectivePlan(org) as Partial<Record<'maxWebhookEndpoints', number>>).maxWebhookEndpoints;
    return typeof limit === 'number' && Number.isFinite(limit) ? limit : 0;
  };
}
