/**
 * Phase 1: who is calling, from the headers alone (the body is not read for a caller that is
 * refused): an API key, or an OAuth access token standing for its grant's backing key. Keys that just failed are remembered briefly, so repeating a bad key costs a lookup in
 * memory, not a store read and an Argon2id verification.
 */
import { hash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { looksLikeApiKey } from '../api-keys';
import { ApiError } from '../errors';
import type { ApiKey } from '../model';
import { GatewayError } from './errors';
import type { RequestHeaders } from './exchange';
import { TokenRefusedError } from '../oauth/token-authenticator';

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

/** A credential as presented: an API key (`pmcp_…`, by its prefix) or an OAuth access token (anything else in `Authorization: Bearer`). */
export type PresentedCredential = { readonly kind: 'api_key'; readonly value: string } | { readonly kind: 'access_token'; readonly value: string };

/**
 * `Authorization: Bearer <value>` or `X-API-Key: pmcp_…`, or undefined when neither is there. A
 * bearer value is an API key when it has the key prefix and an access token otherwise; an access
 * token is accepted only in the Authorization header (RFC 6750 §2.1; the metadata says
 * `bearer_methods_supported: ["header"]`).
 */
export function presentedCredential(headers: RequestHeaders): PresentedCredential | undefined {
  const authorization = headers.get('authorization');
  const bearer = authorization ? /^Bearer\s+(\S+)$/i.exec(authorization)?.[1] : undefined;
  if (bearer) return looksLikeApiKey(bearer) ? { kind: 'api_key', value: bearer } : { kind: 'access_token', value: bearer };
  const header = headers.get('x-api-key');
  return header && looksLikeApiKey(header) ? { kind: 'api_key', value: header } : undefined;
}

/** `Authorization: Bearer pmcp_…` or `X-API-Key: pmcp_…`, or undefined. */
export function presentedKey(headers: RequestHeaders): string | undefined {
  const presented = presentedCredential(headers);
  return presented?.kind === 'api_key' ? presented.value : undefined;
}

/** Who is calling: a key, and for an access token the OAuth scopes it carries (an API key has none to check). */
export interface Caller {
  readonly key: ApiKey;
  /** Undefined for an API key: keys are not scope-checked. */
  readonly scopes?: ReadonlySet<string>;
}

/**
 * The caller, or 401: `invalid_api_key` for a missing credential or a refused API key,
 * `invalid_token` for a refused access token (and for any token when `verifyToken` is absent:
 * this gateway accepts none). Store failures are not authentication failures: they propagate
 * (and become 503 `store_unavailable`) and are never remembered as failed credentials.
 */
export async function authenticateCaller(
  presented: PresentedCredential | undefined,
  verify: (presented: string) => Promise<ApiKey>,
  failed: FailedKeyCache,
  verifyToken?: (token: string) => Promise<Caller>,
): Promise<Caller> {
  if (presented?.kind === 'access_token') {
    if (!verifyToken) throw new GatewayError('invalid_token');
    try {
      return await verifyToken(presented.value);
    } catch (error) {
      if (error instanceof TokenRefusedError) throw new GatewayError('invalid_token');
      throw error;
    }
  }
  if (!presented || failed.has(presented.value)) throw new GatewayError('invalid_api_key');
  try {
    return { key: await verify(presented.value) };
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) {
      failed.add(presented.value);
      throw new GatewayError('invalid_api_key');
    }
    throw error;
  }
}
