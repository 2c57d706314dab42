/**
 * What goes on the event bus (EventBridge in AWS, in-process locally): one flat JSON object per
 * event with its type, the org it belongs to and when it happened, plus the type's own fields.
 * Health events (lambda/core/health/model.ts) already have this shape; the catalog
 * (lambda/core/events/catalog.ts) holds a JSON schema per type. Webhooks deliver an event as
 * `{ type, timestamp: at, data: <every other field> }` (Standard Webhooks payload shape).
 */
export interface PlexEvent {
  readonly type: string;
  readonly orgId: string;
  /** ISO 8601 instant. */
  readonly at: string;
  readonly [field: string]: unknown;
}

/** Puts events on the bus. A failure is the caller's to count or retry; it never undoes the change the event reports. */
export interface PlexEventPublisher {
  publish(events: readonly PlexEvent[]): Promise<void>;
}
