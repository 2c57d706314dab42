import { z } from 'zod';
import { HEALTH_STATUSES, type HealthEvent, type ProbeErrorClass } from '../health/model';
import { KEY_ROLES } from '../model';
import type { PlexEvent } from './model';

/**
 * Every event type PlexMCP puts on its bus, with one zod schema each. The schemas validate
 * (`parseEvent`) and generate the published JSON Schemas (`eventSchemas()`), so the two cannot
 * drift; docs/events.md documents each type and a test checks it lists exactly these.
 *
 * Schemas are exact (`strictObject`): an event carrying a field the catalog does not know is
 * refused, so a producer that adds a field without adding it here fails its tests. Fields are
 * only ever added (never renamed or removed) within `v1`; see docs/events.md.
 *
 * This module imports zod: keep it out of the gateway's bundle (the gateway's own events are
 * built without it, and its tests parse them here).
 */

/** The version of the catalog the JSON Schemas are published under (their `$id`). */
export const CATALOG_VERSION = 'v1';

const orgId = z.string().min(1).max(128).describe('The organisation the event belongs to');
const at = z.iso.datetime().describe('When it happened (ISO 8601, UTC)');
const slug = z.string().min(1).max(63).describe('The MCP server slug');
const keyId = z.string().min(1).max(128).describe('The API key id');
const sha256Hex = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits');
const names = z.array(z.string().max(256));

/** The probe failure classes (lambda/core/health/model.ts), as values; checked against the type below. */
const PROBE_ERROR_CLASSES = [
  'connect_refused',
  'connect_timeout',
  'dns',
  'forbidden_address',
  'tls',
  'timeout',
  'http_status',
  'auth_rejected',
  'redirect',
  'too_large',
  'invalid_response',
  'protocol_error',
  'partial',
  'unknown',
] as const satisfies readonly ProbeErrorClass[];
// Fails to compile when ProbeErrorClass gains a member this list lacks.
const probeClassesComplete: Exclude<ProbeErrorClass, (typeof PROBE_ERROR_CLASSES)[number]> extends never ? true : never = true;
void probeClassesComplete;

const event = <T extends string, S extends z.core.$ZodLooseShape>(type: T, description: string, shape: S) =>
  z.strictObject({ type: z.literal(type), orgId, at, ...shape }).meta({ title: type, description });

const EVENT_SCHEMA_LIST = [
  event('mcp.endpoint.status.changed', 'An endpoint of an MCP server changed health status in a region (health monitor).', {
    mcp: slug,
    endpointId: z.string().min(1),
    region: z.string().min(1),
    from: z.enum([...HEALTH_STATUSES, 'unknown']).describe("'unknown' for an endpoint's first check"),
    to: z.enum(HEALTH_STATUSES),
    errorClass: z.enum(PROBE_ERROR_CLASSES).optional(),
  }),
  event('mcp.tools.changed', "An MCP server's discovered tools, resources or prompts changed (health monitor).", {
    mcp: slug,
    region: z.string().min(1),
    previousHash: sha256Hex.optional(),
    hash: sha256Hex,
    added: names.describe('Tool names added'),
    removed: names.describe('Tool names removed'),
    changed: names.describe('Tools whose title, description or input schema changed'),
  }),
  event('mcp.created', 'An MCP server was registered (admin API or CLI).', { mcp: slug }),
  event('mcp.updated', 'An MCP server was changed (admin API or CLI).', {
    mcp: slug,
    fields: z.array(z.string().min(1)).min(1).describe('Names of the fields that changed (values are never included)'),
  }),
  event('mcp.deleted', 'An MCP server was deleted (admin API or CLI).', { mcp: slug }),
  event('key.created', 'An API key was created.', { keyId, name: z.string(), role: z.enum(KEY_ROLES) }),
  event('key.revoked', 'An API key was revoked.', { keyId, name: z.string(), role: z.enum(KEY_ROLES) }),
  event('grant.created', 'An org admin approved an OAuth client for the org on the consent page (a grant, backed by a key).', {
    grantId: z.string().min(1),
    clientId: z.string().min(1).describe('The client: a registered client id or its metadata document URL'),
    clientName: z.string(),
    keyId: keyId.describe("The grant's backing key"),
  }),
  event('grant.revoked', 'An OAuth grant was revoked: its backing key and every token of it.', {
    grantId: z.string().min(1),
    clientId: z.string().min(1),
    keyId,
  }),
  event('key.expiring', 'An API key expires within 7 days (sent once per key).', {
    keyId,
    name: z.string(),
    expiresAt: z.iso.datetime(),
  }),
  event('org.quota.threshold', "The organisation's requests this month reached 80 % or 100 % of its plan's monthly quota (sent once per threshold and month).", {
    threshold: z.union([z.literal(80), z.literal(100)]).describe('Percent of the monthly quota'),
    monthlyRequests: z.number().int().positive().describe("The plan's monthly request quota"),
    used: z.number().int().nonnegative().describe('Requests counted this month when the threshold was seen'),
    month: z
      .string()
      .regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'must be YYYY-MM')
      .describe('The UTC calendar month (YYYY-MM)'),
  }),
  event('audit.digest.created', "A signed audit digest was stored; orgId is its scope ('*' for the deployment-wide digest).", {
    scope: z.string().min(1),
    fromSeq: z.number().int().nonnegative(),
    toSeq: z.number().int().nonnegative(),
    lastHash: sha256Hex,
    digestHash: sha256Hex,
  }),
  event('webhook.endpoint.disabled', 'Delivery disabled a webhook endpoint: it answered 410 Gone, or failed for 5 days.', {
    endpointId: z.string().min(1),
    reason: z.enum(['gone', 'failing']),
    failingSince: z.iso.datetime().optional().describe("When it started failing (reason 'failing')"),
  }),
  event('webhook.test', 'A test event sent to one endpoint on request (`plexmcp webhook test`).', { endpointId: z.string().min(1) }),
] as const;

type Schemas = typeof EVENT_SCHEMA_LIST;
export type EventType = z.infer<Schemas[number]>['type'];

/** Every event type, in catalog order. */
export const EVENT_TYPES = EVENT_SCHEMA_LIST.map((schema) => schema.shape.type.value) as readonly EventType[];

/** The schema of each type, by type. */
export const EVENT_SCHEMAS = Object.fromEntries(EVENT_SCHEMA_LIST.map((schema) => [schema.shape.type.value, schema])) as {
  readonly [S in Schemas[number] as z.infer<S>['type']]: S;
};

/** One event of the catalog, discriminated by `type`. */
export type CatalogEvent = z.infer<Schemas[number]>;
/** The event of one type. */
export type EventOf<T extends EventType> = Extract<CatalogEvent, { type: T }>;

export type EndpointStatusChangedEvent = EventOf<'mcp.endpoint.status.changed'>;
export type ToolsChangedEvent = EventOf<'mcp.tools.changed'>;
export type McpCreatedEvent = EventOf<'mcp.created'>;
export type McpUpdatedEvent = EventOf<'mcp.updated'>;
export type McpDeletedEvent = EventOf<'mcp.deleted'>;
export type KeyCreatedEvent = EventOf<'key.created'>;
export type KeyRevokedEvent = EventOf<'key.revoked'>;
export type KeyExpiringEvent = EventOf<'key.expiring'>;
export type GrantCreatedEvent = EventOf<'grant.created'>;
export type GrantRevokedEvent = EventOf<'grant.revoked'>;
export type QuotaThresholdEvent = EventOf<'org.quota.threshold'>;
export type AuditDigestCreatedEvent = EventOf<'audit.digest.created'>;
export type WebhookEndpointDisabledEvent = EventOf<'webhook.endpoint.disabled'>;
export type WebhookTestEvent = EventOf<'webhook.test'>;

// The health monitor's own type (health/model.ts) and the catalog's describe the same events:
// either direction failing to compile means one of them changed alone.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : never) : never;
type Mutable<T> = { -readonly [K in keyof T]: T[K] extends readonly (infer E)[] ? E[] : T[K] };
const healthTypesAgree: Same<Mutable<HealthEvent>, EndpointStatusChangedEvent | ToolsChangedEvent> = true;
void healthTypesAgree;

const eventUnion = z.discriminatedUnion('type', [...EVENT_SCHEMA_LIST]);

/** A value that is not an event of the catalog; `problems` name fields, never their values. */
export class InvalidEventError extends Error {
  readonly code = 'invalid_event';
  constructor(readonly problems: readonly { path: string; message: string }[]) {
    super(`not a valid PlexMCP event: ${problems.map((p) => `${p.path || '(event)'}: ${p.message}`).join('; ')}`);
    this.name = 'InvalidEventError';
  }
}

/** Validates `value` against the schema of its `type`; throws InvalidEventError (code `invalid_event`). */
export function parseEvent(value: unknown): CatalogEvent {
  const result = eventUnion.safeParse(value);
  if (result.success) return result.data;
  throw new InvalidEventError(result.error.issues.map((issue) => ({ path: issue.path.join('.'), message: issue.message })));
}

/** True when `type` is one of the catalog's types. */
export function isEventType(type: string): type is EventType {
  return Object.hasOwn(EVENT_SCHEMAS, type);
}

/** A catalog event as the bus's flat shape (every catalog event is one). */
export function asPlexEvent(event: CatalogEvent): PlexEvent {
  return event;
}

let jsonSchemas: Readonly<Record<EventType, Record<string, unknown>>> | undefined;

/**
 * The JSON Schema (draft 2020-12) of every type, generated from the zod schemas, each with an
 * `$id` of `urn:plexmcp:events:v1:<type>`. Made once and then shared.
 */
export function eventSchemas(): Readonly<Record<EventType, Record<string, unknown>>> {
  if (!jsonSchemas) {
    const all: Partial<Record<EventType, Record<string, unknown>>> = {};
    for (const schema of EVENT_SCHEMA_LIST) {
      const type = schema.shape.type.value;
      const json = z.toJSONSchema(schema, { target: 'draft-2020-12' }) as Record<string, unknown>;
      all[type] = Object.freeze({ $id: `urn:plexmcp:events:${CATALOG_VERSION}:${type}`, ...json });
    }
    jsonSchemas = Object.freeze(all as Record<EventType, Record<string, unknown>>);
  }
  return jsonSchemas;
}
