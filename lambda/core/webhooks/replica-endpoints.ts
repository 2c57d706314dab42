import type { CreateEndpointResult, StoredWebhookEndpoint, WebhookEndpointStore } from './endpoints';

/**
 * The delivery function's view of the webhook endpoints global table. Reads go to this region's
 * replica: fan-out and signing cost no cross-region call and keep working while the writer region
 * is unreachable. Writes (the failure state and disabling, through `recordOutcome`) go to the
 * writer region, where the admin API makes every change: a conditional write decides within one
 * region only, and a global table resolves concurrent writes to one item in two regions by last
 * writer wins, so a write here could silently undo an admin change made there (its `replace` puts
 * the whole item).
 *
 * The replica lags the writer (typically under a second). Two reads therefore go to the writer:
 * - an endpoint the replica does not have: it may have just been created (a test event queued
 *   right after the create), and a miss would end its delivery as `gone`;
 * - any endpoint this instance wrote or failed to write within `writerReadsForMs`: after a lost
 *   race (the replica's version is behind the writer's) the next read must see the writer's item,
 *   or every retry of the read-change-write would lose again.
 * A list (fan-out) always reads the replica: an endpoint created a moment ago may miss an event
 * raised in another region at that moment, as with any replicated configuration.
 */
export class ReplicaEndpointStore implements WebhookEndpointStore {
  private readonly writerReadsUntil = new Map<string, number>();
  private readonly now: () => number;
  private readonly writerReadsForMs: number;

  constructor(
    private readonly replica: WebhookEndpointStore,
    private readonly writer: WebhookEndpointStore,
    options: { readonly now?: () => number; readonly writerReadsForMs?: number } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.writerReadsForMs = options.writerReadsForMs ?? 10_000;
  }

  async get(orgId: string, endpointId: string): Promise<StoredWebhookEndpoint | undefined> {
    const key = `${orgId}/${endpointId}`;
    const until = this.writerReadsUntil.get(key);
    if (until !== undefined) {
      if (until > this.now()) return this.writer.get(orgId, endpointId);
      this.writerReadsUntil.delete(key);
    }
    return (await this.replica.get(orgId, endpointId)) ?? this.writer.get(orgId, endpointId);
  }

  list(orgId: string): Promise<StoredWebhookEndpoint[]> {
    return this.replica.list(orgId);
  }

  async replace(endpoint: StoredWebhookEndpoint, expectedVersion: number): Promise<boolean> {
    this.readFromWriter(endpoint.orgId, endpoint.endpointId);
    return this.writer.replace(endpoint, expectedVersion);
  }

  async create(endpoint: StoredWebhookEndpoint, max: number): Promise<CreateEndpointResult> {
    this.readFromWriter(endpoint.orgId, endpoint.endpointId);
    return this.writer.create(endpoint, max);
  }

  async delete(orgId: string, endpointId: string): Promise<boolean> {
    this.readFromWriter(orgId, endpointId);
    return this.writer.delete(orgId, endpointId);
  }

  private readFromWriter(orgId: string, endpointId: string): void {
    const now = this.now();
    // Bounded: expired marks are dropped before the map grows past a warm instance's working set.
    if (this.writerReadsUntil.size >= 1000) {
      for (const [key, until] of this.writerReadsUntil) if (until <= now) this.writerReadsUntil.delete(key);
    }
    this.writerReadsUntil.set(`${orgId}/${endpointId}`, now + this.writerReadsForMs);
  }
}
