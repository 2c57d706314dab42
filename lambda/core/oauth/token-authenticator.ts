/**
 * OAuth access tokens as gateway callers. A token is opaque: the authorization server stored a
 * record for it under its SHA-256, naming the grant's backing key (an ApiKey with `oauth` set).
 * A token is accepted only while its record says it is unexpired, from this deployment's issuer
 * and for this resource (RFC 8707), and while its backing key exists, is neither revoked nor
 * expired and still belongs to the same grant. Then the backing key is the caller, exactly as a
 * presented API key would be: its MCP scope, policies, limits, sessions and usage all apply.
 *
 * Verified tokens are cached briefly (never longer than the key cache keeps a key, nor past the
 * token's expiry), so a revoked grant is refused within the key cache TTL, as a revoked key is;
 * tokens that failed are remembered for a few seconds so that repeating one costs no store read.
 */
import { LRUCache } from 'lru-cache';
import type { ApiKey, StoredApiKey } from '../model';
import { accessTokenHash, type AccessTokenReader, type AccessTokenRecord } from './access-tokens';
import { resourceUri } from './resource-metadata';
import { parseScopes } from './scopes';

/** A caller that presented an access token: its backing key and the scopes the token carries. */
export interface TokenCaller {
  readonly key: ApiKey;
  readonly scopes: ReadonlySet<string>;
  readonly clientId: string;
  readonly grantId: string;
}

/** Why a token was refused (for tests and logs; the client is told only `invalid_token`). */
export type TokenRefusal = 'unknown' | 'expired' | 'wrong_issuer' | 'wrong_audience' | 'key_unusable' | 'grant_mismatch' | 'no_base_url';

export class TokenRefusedError extends Error {
  constructor(readonly reason: TokenRefusal) {
    super(`access token refused: ${reason}`);
    this.name = 'TokenRefusedError';
  }
}

/** Where the token is presented: the deployment's public base URL and the MCP slug of the request. */
export interface TokenTarget {
  readonly baseUrl: string | undefined;
  readonly slug: string;
}

export interface OAuthTokenAuthenticatorOptions {
  readonly tokens: AccessTokenReader;
  /** The registry's key record by keyId (the gateway bounds and guards these reads). */
  readonly getKey: (keyId: string) => Promise<StoredApiKey | ApiKey | undefined>;
  /** Whether `issuer` is this deployment's, for a request whose base URL is `baseUrl`. @default equality */
  readonly isOurIssuer?: (issuer: string, baseUrl: string) => boolean;
  /** How long a verified token is trusted without reading its record and key again; keep it ≤ the key cache TTL. 0 caches nothing. @default 60_000 */
  readonly ttlMs?: number;
  /** How long a token that failed is refused from memory. @default 10_000 */
  readonly failedTtlMs?: number;
  /** Most tokens held (each cache). @default 10_000 */
  readonly maxEntries?: number;
  /** @default Date.now */
  readonly now?: () => number;
  /**
   * Records that the grant's backing key was used (its `lastUsedAt`, which the grant list shows),
   * at most once per `touchIntervalMs` per key, through `defer` (off the request path). @default none
   */
  readonly touchKey?: (keyId: string, at: string) => Promise<void>;
  /** @default 60_000 */
  readonly touchIntervalMs?: number;
  /** Where the touch write goes (the gateway's background work). @default awaited */
  readonly defer?: (work: Promise<void>) => void;
}

interface Verified {
  readonly record: AccessTokenRecord;
  readonly caller: TokenCaller;
  /** The earlier of the token's and the backing key's expiry, in ms. */
  readonly usableUntilMs: number;
}

export class OAuthTokenAuthenticator {
  private readonly verified: LRUCache<string, Verified> | undefined;
  private readonly failed: LRUCache<string, TokenRefusal>;
  /** One read per token at a time: concurrent first requests with one token share it. */
  private readonly inflight = new Map<string, Promise<Verified>>();
  private readonly now: () => number;
  private readonly isOurIssuer: (issuer: string, baseUrl: string) => boolean;

  constructor(private readonly options: OAuthTokenAuthenticatorOptions) {
    const ttlMs = options.ttlMs ?? 60_000;
    const max = options.maxEntries ?? 10_000;
    // lru-cache reads a ttl of 0 as "never expires": 0 means "do not cache" here.
    this.verified = ttlMs > 0 ? new LRUCache({ max, ttl: ttlMs, ttlAutopurge: false }) : undefined;
    this.failed = new LRUCache({ max, ttl: Math.max(1, options.failedTtlMs ?? 10_000) });
    this.now = options.now ?? Date.now;
    this.isOurIssuer = options.isOurIssuer ?? ((issuer, baseUrl) => issuer === baseUrl);
  }

  /**
   * The caller behind `token` at `target`, or TokenRefusedError. Store failures propagate as they
   * are (the gateway answers 503) and are never remembered as failed tokens.
   */
  async authenticate(token: string, target: TokenTarget): Promise<TokenCaller> {
    const tokenHash = accessTokenHash(token);
    const remembered = this.failed.get(tokenHash);
    if (remembered !== undefined) throw new TokenRefusedError(remembered);
    const now = this.now();
    let verified = this.verified?.get(tokenHash);
    if (verified !== undefined && verified.usableUntilMs <= now) {
      this.verified!.delete(tokenHash);
      verified = undefined;
    }
    verified ??= await this.verify(tokenHash);
    // Checked on every request, cached or not: the base URL and the slug are the request's.
    const { baseUrl } = target;
    if (baseUrl === undefined) throw new TokenRefusedError('no_base_url');
    if (!this.isOurIssuer(verified.record.issuer, baseUrl)) throw new TokenRefusedError('wrong_issuer');
    const resource = verified.record.resource;
    // A token for the gateway as a whole (the root resource) reaches every MCP its key may use.
    if (resource !== resourceUri(baseUrl, target.slug) && resource !== `${baseUrl}/mcp`) throw new TokenRefusedError('wrong_audience');
    await this.touch(verified.caller.key.keyId, now);
    return verified.caller;
  }

  private readonly touchedAt = new LRUCache<string, number>({ max: 10_000 });

  private async touch(keyId: string, now: number): Promise<void> {
    const { touchKey } = this.options;
    if (!touchKey) return;
    const last = this.touchedAt.get(keyId);
    if (last !== undefined && now - last < (this.options.touchIntervalMs ?? 60_000)) return;
    // Noted first, so concurrent requests do not all write it; informational, so a failed write is dropped.
    this.touchedAt.set(keyId, now);
    const writing = touchKey(keyId, new Date(now).toISOString()).catch(() => undefined);
    if (this.options.defer) this.options.defer(writing);
    else await writing;
  }

  private verify(tokenHash: string): Promise<Verified> {
    let pending = this.inflight.get(tokenHash);
    if (!pending) {
      pending = this.load(tokenHash).finally(() => this.inflight.delete(tokenHash));
      this.inflight.set(tokenHash, pending);
    }
    return pending;
  }

  private async load(tokenHash: string): Promise<Verified> {
    const refuse = (reason: TokenRefusal): never => {
      this.failed.set(tokenHash, reason);
      throw new TokenRefusedError(reason);
    };
    const record = await this.options.tokens.find(tokenHash);
    if (!record) return refuse('unknown');
    const tokenExpiresMs = record.expiresAt * 1000;
    if (!(tokenExpiresMs > this.now())) return refuse('expired');
    const stored = await this.options.getKey(record.keyId);
    if (!stored || stored.orgId !== record.orgId || stored.revokedAt !== undefined) return refuse('key_unusable');
    const keyExpiresMs = stored.expiresAt === undefined ? Infinity : Date.parse(stored.expiresAt);
    // A key's expiry that does not parse is no expiry the gateway can honour: refused.
    if (!(keyExpiresMs > this.now())) return refuse('key_unusable');
    if (stored.oauth === undefined || stored.oauth.grantId !== record.grantId) return refuse('grant_mismatch');
    const verified: Verified = {
      record,
      caller: { key: withoutSecret(stored), scopes: parseScopes(record.scope), clientId: record.clientId, grantId: record.grantId },
      usableUntilMs: Math.min(tokenExpiresMs, keyExpiresMs),
    };
    const untilExpiry = verified.usableUntilMs - this.now();
    if (this.verified && untilExpiry > 0) this.verified.set(tokenHash, verified, { ttl: Math.min(this.verified.ttl, untilExpiry) });
    return verified;
  }
}

/** The key record as the gateway uses it: without its (never verifying) secret hash. */
function withoutSecret(record: StoredApiKey | ApiKey): ApiKey {
  if (!('secretHash' in record)) return record;
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  const { secretHash, ...key } = record;
  return key;
}
