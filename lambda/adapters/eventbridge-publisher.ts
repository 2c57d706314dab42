import { type EventBridgeClient, PutEventsCommand, type PutEventsRequestEntry } from '@aws-sdk/client-eventbridge';
import type { EventPublisher, HealthEvent } from '../core/health/model';

/** The `source` of every PlexMCP health event on the bus (docs/health.md). */
export const HEALTH_EVENT_SOURCE = 'plexmcp.health';
/** PutEvents takes at most 10 entries per call. */
const BATCH = 10;

/**
 * Health events onto an EventBridge bus: `source` plexmcp.health, `detail-type` the event type,
 * `detail` the event. Entries that EventBridge reports as failed are retried once; if any still
 * fail, the publish fails (the checker counts it and the events of the next change go out anyway).
 */
export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly busName: string,
  ) {}

  async publish(events: HealthEvent[]): Promise<void> {
    const entries: PutEventsRequestEntry[] = events.map((event) => ({
      EventBusName: this.busName,
      Source: HEALTH_EVENT_SOURCE,
      DetailType: event.type,
      Detail: JSON.stringify(event),
      Time: new Date(event.at),
    }));
    for (let i = 0; i < entries.length; i += BATCH) {
      let batch = entries.slice(i, i + BATCH);
      for (let attempt = 0; attempt < 2 && batch.length > 0; attempt++) {
        const out = await this.client.send(new PutEventsCommand({ Entries: batch }));
        batch = out.FailedEntryCount ? batch.filter((_, j) => out.Entries?.[j]?.ErrorCode) : [];
      }
      if (batch.length > 0) throw new Error(`${batch.length} health events were not accepted by EventBridge`);
    }
  }
}
