import type { PlexEvent, PlexEventPublisher } from '../core/events/model';
import type { EventPublisher, HealthEvent } from '../core/health/model';

const HEALTH_TYPES: ReadonlySet<string> = new Set<HealthEvent['type']>(['mcp.endpoint.status.changed', 'mcp.tools.changed']);
const isHealthEvent = (event: PlexEvent): event is PlexEvent & HealthEvent => HEALTH_TYPES.has(event.type);

/**
 * The local stand-in for the EventBridge bus: subscribers in this process get every event as it
 * is published (health, admin, quota, audit, webhook events alike); the latest are kept for
 * inspection.
 *
 * `subscribe` and `recent` are the health monitor's view (health events only), as `plexmcp serve`
 * and the health tests read it; `subscribeAll` and `recentEvents` see everything.
 */
export class InProcessEventBus implements PlexEventPublisher, EventPublisher {
  private readonly listeners = new Set<(event: PlexEvent) => void>();
  private readonly latest: PlexEvent[] = [];

  constructor(private readonly keep = 1_000) {}

  async publish(events: readonly PlexEvent[]): Promise<void> {
    for (const event of events) {
      this.latest.push(event);
      if (this.latest.length > this.keep) this.latest.shift();
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch {
          // A failing subscriber must not stop the others or the publisher.
        }
      }
    }
  }

  /** Every event, of every type (or only `types`, when given). Returns the unsubscribe function. */
  subscribeAll(listener: (event: PlexEvent) => void, types?: readonly string[]): () => void {
    const only = types && new Set(types);
    const wrapped = only ? (event: PlexEvent) => void (only.has(event.type) && listener(event)) : listener;
    this.listeners.add(wrapped);
    return () => this.listeners.delete(wrapped);
  }

  /** Health events only (`mcp.endpoint.status.changed`, `mcp.tools.changed`). */
  subscribe(listener: (event: HealthEvent) => void): () => void {
    return this.subscribeAll((event) => {
      if (isHealthEvent(event)) listener(event);
    });
  }

  /** The latest health events. */
  recent(): readonly HealthEvent[] {
    return this.latest.filter(isHealthEvent);
  }

  /** The latest events of every type, oldest first. */
  recentEvents(): readonly PlexEvent[] {
    return this.latest;
  }
}
