import { LRUCache } from 'lru-cache';
import type { StoredMcpServer } from '../model';
import type { HealthStatus } from './model';
import type { HealthStore } from './store';

/**
 * The gateway's view of the health monitor's results in its region: the stored endpoint
 * statuses of an MCP, read once per `ttlMs` (one Query, off the warm path), so a status change
 * reaches routing within one check interval plus `ttlMs`.
 */
export class StoredHealthView {
  private readonly cache: LRUCache<string, ReadonlyMap<string, HealthStatus>>;

  constructor(
    private readonly store: Pick<HealthStore, 'getStates'>,
    private readonly region: string,
    ttlMs = 15_000,
  ) {
    this.cache = new LRUCache({ max: 10_000, ttl: Math.max(ttlMs, 1) });
  }

  async statuses(mcp: StoredMcpServer): Promise<ReadonlyMap<string, HealthStatus>> {
    const key = `${mcp.orgId}#${mcp.slug}`;
    const hit = this.cache.get(key);
    if (hit) return hit;
    let statuses: ReadonlyMap<string, HealthStatus>;
    try {
      const states = await this.store.getStates(mcp.orgId, mcp.slug, this.region);
      statuses = new Map(states.map((s) => [s.endpointId, s.status]));
    } catch {
      statuses = new Map(); // no view: route on passive health alone rather than fail requests
    }
    this.cache.set(key, statuses);
    return statuses;
  }
}
