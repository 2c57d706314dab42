/**
 * Phase 1: who is calling, from the headers alone (the body is not read for a caller that is
 * refused). Keys that just failed are remembered briefly, so repeating a bad key costs a lookup in
 * memory, not a store read and an Argon2id verification.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { looksLikeApiKey } from '../api-keys';
import { ApiError } from '../errors';
import type { ApiKey } from '../model';
import { GatewayError } from './errors';
import type { RequestHeaders } from './exchange';

export interface FailedKeyCacheOptions {
  /** How long a key that failed is refused without checking it again (short: a key created in another region may not have replicated yet). @default 10_000 */
  readonly ttlMs?: number;
  /** Most failed keys remembered (a cache of its own: failures never evict verified keys). @default 10_000 */
  readonly maxEntries?: number;
}

/** Presented keys that failed authentication recently, by SHA-256 (never the key itself). */
export class FailedKeyCache {
  private readonly failed: LRUCache<string, true>;

  constructor(options: FailedKeyCacheOptions = {}) {
    this.failed = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: Math.max(1, options.ttlMs ?? 10_000) });
  }

  has(presented: string): boolean {
    // Usually nothing failed lately: no hash to compute.
    return this.failed.size > 0 && this.failed.has(fingerprint(presented));
  }

  add(presented: string): void {
    this.failed.set(fingerprint(presented), true);
  }
}

function fingerprint(presented: string): string {
  return hash('sha256', presented, 'base64url');
}

/** `Authorization: Bearer pmcp_…` or `X-API-Key: pmcp_…`, or undefined. */
export function presentedKey(headers: RequestHeaders): string | undefined {
  const authorization = headers.get('authorization');
  const bearer = authorization && /^Bearer\s+(\S+)$/i.exec(authorization)?.[1];
  const presented = bearer || headers.get('x-api-key');
  return presented && looksLikeApiKey(presented) ? presented : undefined;
}

/**
 * The caller's key, or 401 `invalid_api_key`. Store failures are not authentication failures:
 * they propagate (and become 503 `store_unavailable`) and are never remembered as failed keys.
 */
export async function authenticateCaller(
  headers: RequestHeaders,
  verify: (presented: string) => Promise<ApiKey>,
  failed: FailedKeyCache,
): Promise<ApiKey> {
  const presented = presentedKey(headers);
  if (!presented || failed.has(presented)) throw new GatewayError('invalid_api_key');
  try {
    return await verify(presented);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      failed.add(presented);
      throw new GatewayError('invalid_api_key');
    }
    throw error;
  }
}
