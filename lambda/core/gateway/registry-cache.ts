import { LRUCache } from 'lru-cache';
import type { Org, StoredMcpServer } from '../model';
import type { RegistryStore } from '../registry-store';

export interface RegistryCacheOptions {
  /** How long org and MCP records are used without reading them again; 0 reads them on every request. @default 30_000 */
  readonly ttlMs?: number;
  /** Unknown slugs are remembered this long, so probing them costs no reads. @default 5_000 */
  readonly negativeTtlMs?: number;
  /** @default 10_000 */
  readonly maxEntries?: number;
}

type Cached<T> = { readonly value: T | undefined };

/**
 * Org and MCP records for the data plane, read through a bounded cache so a warm request costs
 * no registry read. Changes (endpoints, plan, allowlist) take effect within `ttlMs`.
 */
export class RegistryCache {
  private readonly cache: LRUCache<string, Cached<unknown>>;
  private readonly negativeTtlMs: number;
  /** lru-cache reads a ttl of 0 as "never expires": 0 must mean "do not cache" instead. */
  private readonly enabled: boolean;

  constructor(
    private readonly store: Pick<RegistryStore, 'getOrg' | 'getMcp'>,
    options: RegistryCacheOptions = {},
  ) {
    const ttlMs = options.ttlMs ?? 30_000;
    this.enabled = ttlMs > 0;
    this.cache = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: Math.max(ttlMs, 1) });
    this.negativeTtlMs = options.negativeTtlMs ?? 5_000;
  }

  getOrg(orgId: string): Promise<Org | undefined> {
    return this.through(`org#${orgId}`, () => this.store.getOrg(orgId));
  }

  getMcp(orgId: string, slug: string): Promise<StoredMcpServer | undefined> {
    return this.through(`mcp#${orgId}#${slug}`, () => this.store.getMcp(orgId, slug));
  }

  private async through<T>(key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    if (!this.enabled) return load();
    const hit = this.cache.get(key) as Cached<T> | undefined;
    if (hit) return hit.value;
    const value = await load();
    if (value === undefined && this.negativeTtlMs <= 0) return value; // a per-entry ttl of 0 would never expire
    this.cache.set(key, { value }, value === undefined ? { ttl: this.negativeTtlMs } : undefined);
    return value;
  }
}
