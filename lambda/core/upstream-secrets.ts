import { LRUCache } from 'lru-cache';
import { upstreamSecretContext, type EnvelopeCipher } from './envelope';
import type { StoredMcpServer } from './model';

/**
 * Decrypts MCP servers' upstream credentials once per record version and keeps them in memory
 * (5 minutes, bounded): the gateway and the health checker need them for every upstream call.
 */
export function cachedSecretRevealer(cipher: Pick<EnvelopeCipher, 'decrypt'>): (mcp: StoredMcpServer) => Promise<string | undefined> {
  const secrets = new LRUCache<string, { value: string }>({ max: 10_000, ttl: 300_000 });
  return async (mcp) => {
    if (!mcp.upstreamSecret) return undefined;
    // Keyed by the record's version, so a changed credential is never served from the cache.
    const cacheKey = `${mcp.orgId}#${mcp.slug}#${mcp.updatedAt}`;
    const hit = secrets.get(cacheKey);
    if (hit) return hit.value;
    const value = await cipher.decrypt(mcp.upstreamSecret, upstreamSecretContext(mcp.orgId, mcp.slug));
    secrets.set(cacheKey, { value });
    return value;
  };
}
