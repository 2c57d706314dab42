import { hash, randomBytes } from 'node:crypto';
import * as argon2 from 'argon2';
import { LRUCache } from 'lru-cache';
import { ApiError } from './errors';
import { randomId } from './ids';
import type { ApiKey, StoredApiKey } from './model';

/**
 * API key format: `pmcp_<keyId>_<secret>`.
 * - `pmcp_` is a fixed, recognizable prefix so secret scanners can find leaked keys.
 * - `keyId` is the public id (16 lower-case base32 characters) used to find the key record.
 * - `secret` is 32 random bytes (256 bits) in base64url (43 characters). Only its Argon2id hash
 *   is stored.
 */
export const API_KEY_PREFIX = 'pmcp_';
const API_KEY_PATTERN = /^pmcp_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;

/**
 * Argon2id parameters: OWASP's minimum recommendation (m = 19 MiB, t = 2, p = 1). The hash
 * string records them, so raising them later keeps old hashes verifiable.
 */
export const ARGON2_PARAMS = { type: argon2.argon2id, memoryCost: 19_456, timeCost: 2, parallelism: 1 } as const;

export interface ParsedApiKey {
  readonly keyId: string;
  readonly secret: string;
}

export function parseApiKey(presented: string): ParsedApiKey | undefined {
  const match = API_KEY_PATTERN.exec(presented);
  return match ? { keyId: match[1]!, secret: match[2]! } : undefined;
}

export function looksLikeApiKey(token: string): boolean {
  return token.startsWith(API_KEY_PREFIX);
}

export interface NewApiKeySecret {
  readonly keyId: string;
  /** The full key, shown to its owner exactly once. */
  readonly fullKey: string;
  readonly secretHash: string;
}

/** Makes a new key; `keyId` may be fixed (idempotent creates), otherwise it is random. */
export async function generateApiKey(keyId: string = randomId('')): Promise<NewApiKeySecret> {
  const secret = randomBytes(32).toString('base64url');
  return { keyId, fullKey: `${API_KEY_PREFIX}${keyId}_${secret}`, secretHash: await argon2.hash(secret, ARGON2_PARAMS) };
}

/** A hash of a valid key's secret that no real secret matches; verified when the key id is unknown. */
let decoyHash: Promise<string> | undefined;
function decoy(): Promise<string> {
  decoyHash ??= argon2.hash(randomBytes(32).toString('base64url'), ARGON2_PARAMS);
  return decoyHash;
}

/**
 * Verifies `secret` against an Argon2id hash. argon2 compares in constant time; an unknown key
 * id still costs one verification against a decoy so that timing does not reveal which key ids
 * exist.
 */
export async function verifySecret(secretHash: string | undefined, secret: string): Promise<boolean> {
  if (secretHash === undefined) {
    await argon2.verify(await decoy(), secret);
    return false;
  }
  try {
    return await argon2.verify(secretHash, secret);
  } catch {
    return false;
  }
}

export interface VerifiedKeyCacheOptions {
  /** How long a verified key is trusted without reading its record again; 0 caches nothing. @default 60_000 */
  readonly ttlMs?: number;
  /** Most keys held. @default 10_000 */
  readonly maxEntries?: number;
}

interface CachedVerification {
  readonly key: StoredApiKey;
  /** Worked out from `key` once, on first use, instead of on every request it serves. */
  view?: ApiKey;
  expiresAtMs?: number;
  lastUsedAtMs?: number;
}

/**
 * Verified keys, keyed by SHA-256 of the presented key (never the key itself), bounded in time
 * and size. A hit skips Argon2 entirely; a revoked or expired key stops working within `ttlMs`.
 */
export class VerifiedKeyCache {
  private readonly cache: LRUCache<string, CachedVerification>;
  readonly ttlMs: number;

  constructor(options: VerifiedKeyCacheOptions = {}) {
    this.ttlMs = options.ttlMs ?? 60_000;
    // lru-cache reads a ttl of 0 as "never expires"; here 0 means "trust nothing" (set() is a no-op).
    this.cache = new LRUCache({ max: options.maxEntries ?? 10_000, ttl: Math.max(this.ttlMs, 1), ttlAutopurge: false });
  }

  static fingerprint(presented: string): string {
    return hash('sha256', presented, 'base64url');
  }

  get(presented: string): StoredApiKey | undefined {
    return this.entry(presented)?.key;
  }

  /** The cached verification itself (the authenticator keeps what it derives from the record on it). */
  entry(presented: string): CachedVerification | undefined {
    return this.cache.get(VerifiedKeyCache.fingerprint(presented));
  }

  set(presented: string, key: StoredApiKey): void {
    if (this.ttlMs <= 0) return;
    this.cache.set(VerifiedKeyCache.fingerprint(presented), { key });
  }

  /** Replaces a cached record without extending its lifetime; does nothing if it is not cached. */
  update(presented: string, key: StoredApiKey): void {
    const fingerprint = VerifiedKeyCache.fingerprint(presented);
    if (this.cache.has(fingerprint)) this.cache.set(fingerprint, { key }, { noUpdateTTL: true });
  }

  delete(presented: string): void {
    this.cache.delete(VerifiedKeyCache.fingerprint(presented));
  }

  get size(): number {
    return this.cache.size;
  }
}

export interface KeyLookup {
  getKey(keyId: string): Promise<StoredApiKey | undefined>;
  touchKey(keyId: string, at: string): Promise<void>;
}

export interface ApiKeyAuthenticatorOptions {
  readonly cache?: VerifiedKeyCache;
  /**
   * Re-read the key record on every request (revocation takes effect at once), using the cache
   * only to skip Argon2. The admin API does this; the gateway trusts the cache within its bound.
   * @default false
   */
  readonly alwaysReadRecord?: boolean;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
  /** `lastUsedAt` is written at most this often per key. @default 60_000 */
  readonly touchIntervalMs?: number;
  /**
   * Where the `lastUsedAt` write goes. The data plane defers it off the request path (one
   * store round trip per warm request is the budget); by default it is awaited.
   */
  readonly defer?: (work: Promise<void>) => void;
  /** How a secret is checked against its hash (the gateway bounds how many run at once). @default verifySecret */
  readonly verify?: typeof verifySecret;
}

/** Turns a presented API key into the key's record, or throws 401 `invalid_api_key`. */
export class ApiKeyAuthenticator {
  private readonly cache: VerifiedKeyCache;
  private readonly now: () => number;
  private readonly touchIntervalMs: number;

  constructor(
    private readonly store: KeyLookup,
    private readonly options: ApiKeyAuthenticatorOptions = {},
  ) {
    this.cache = options.cache ?? new VerifiedKeyCache();
    this.now = options.now ?? Date.now;
    this.touchIntervalMs = options.touchIntervalMs ?? 60_000;
  }

  async authenticate(presented: string): Promise<ApiKey> {
    const now = this.now();
    // Only keys that parsed and verified are ever cached, so a hit needs neither again.
    let entry = this.options.alwaysReadRecord ? undefined : this.cache.entry(presented);
    if (!entry) {
      const parsed = parseApiKey(presented);
      if (!parsed) throw invalidKey();
      const cached = this.cache.get(presented);
      const record = await this.store.getKey(parsed.keyId);
      const alreadyVerified = cached !== undefined && record !== undefined && cached.secretHash === record.secretHash;
      if (!alreadyVerified && !(await (this.options.verify ?? verifySecret)(record?.secretHash, parsed.secret))) {
        throw invalidKey();
      }
      if (!record) throw invalidKey();
      this.cache.set(presented, record);
      entry = { key: record };
    }

    const record = entry.key;
    entry.expiresAtMs ??= record.expiresAt === undefined ? Infinity : Date.parse(record.expiresAt);
    // A grant's backing key (lambda/core/oauth/grants.ts) works only through its OAuth tokens:
    // its secret is never shown, and it is refused here even if it were presented.
    if (record.revokedAt !== undefined || entry.expiresAtMs <= now || record.oauth !== undefined) {
      this.cache.delete(presented);
      throw invalidKey();
    }
    entry.lastUsedAtMs ??= record.lastUsedAt === undefined ? -Infinity : Date.parse(record.lastUsedAt);
    // Most requests have nothing to write: no promise, nothing deferred.
    if (!(now - entry.lastUsedAtMs < this.touchIntervalMs)) {
      const touching = this.touch(presented, record, now);
      if (this.options.defer) this.options.defer(touching);
      else await touching;
    }
    return (entry.view ??= publicKey(record));
  }

  private async touch(presented: string, record: StoredApiKey, now: number): Promise<void> {
    const at = new Date(now).toISOString();
    // Recorded in the cache first, so concurrent requests do not all write it.
    this.cache.update(presented, { ...record, lastUsedAt: at });
    try {
      await this.store.touchKey(record.keyId, at);
    } catch {
      // lastUsedAt is informational; a failed write must not fail the caller's request.
    }
  }
}

function invalidKey() {
  return new ApiError(401, 'invalid_api_key', 'The API key is missing, malformed, unknown, expired or revoked');
}

/** The key record without its hash. */
export function publicKey(record: StoredApiKey): ApiKey {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { secretHash, ...rest } = record;
  return rest;
}
