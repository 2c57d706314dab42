import type { EventPublisher, HealthEvent } from '../core/health/model';

/**
 * The local stand-in for the EventBridge bus: subscribers in this process get every event as it
 * is published; the latest events are kept for inspection.
 */
export class InProcessEventBus implements EventPublisher {
  private readonly listeners = new Set<(event: HealthEvent) => void>();
  private readonly latest: HealthEvent[] = [];

  constructor(private readonly keep = 1_000) {}

  async publish(events: HealthEvent[]): Promise<void> {
    for (const event of events) {
      this.latest.push(event);
      if (this.latest.length > this.keep) this.latest.shift();
      for (const listener of this.listeners) {
        try {
          listener(event);
        } catch {
          // A failing subscriber must not stop the others or the checker.
        }
      }
    }
  }

  subscribe(listener: (event: HealthEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  recent(): readonly HealthEvent[] {
    return this.latest;
  }
}
