import { createHash } from 'node:crypto';

/** A value an audit entry may carry: plain JSON (what the canonical encoding can encode exactly). */
export type AuditValue = string | number | boolean | null | readonly AuditValue[] | { readonly [key: string]: AuditValue };

/**
 * Who made the change: the deployment operator, an org admin acting with an API key, or an org
 * admin signed in at the organisation's identity provider (the OAuth consent page: `issuer` and
 * `subject` of their ID token); for a refused request whose credential proved nothing, `anonymous`.
 */
export type AuditActor =
  | { readonly kind: 'operator' }
  | { readonly kind: 'key'; readonly keyId: string; readonly name: string }
  | { readonly kind: 'user'; readonly issuer: string; readonly subject: string; readonly name: string }
  | { readonly kind: 'anonymous' };

/** The chain of entries that belong to no org: refused requests, and operator actions on the deployment. */
export const SYSTEM_AUDIT_SCOPE = '_system';

/**
 * One changed field. A secret field (an upstream credential, a signing secret) records only that
 * it changed: `secret: true` and neither `old` nor `new`, so the log never holds a secret value.
 */
export type AuditChange =
  | { readonly field: string; readonly old?: AuditValue; readonly new?: AuditValue; readonly secret?: never }
  | { readonly field: string; readonly secret: true; readonly old?: never; readonly new?: never };

export interface AuditEntry {
  readonly orgId: string;
  /** Gapless per org, starting at 1. */
  readonly seq: number;
  /** ISO 8601 instant. */
  readonly time: string;
  readonly actor: AuditActor;
  readonly sourceIp: string;
  readonly requestId: string;
  /** `<resource>.<verb>`, e.g. 'mcp.updated', 'key.revoked', 'auth.failed'. */
  readonly action: string;
  readonly target: { readonly type: string; readonly id: string };
  readonly changes: readonly AuditChange[];
  /**
   * Only on an entry whose change may or may not have been committed: its writer stopped (crash,
   * timeout) between taking the org's change lock and recording the result, and the next writer
   * recorded it for it. `changes` is then empty; the target's current state says which it was.
   */
  readonly outcome?: 'unknown';
  /** The previous entry's hash of this org; GENESIS_HASH for seq 1. */
  readonly prevHash: string;
  /** SHA-256 (hex) of the canonical encoding of every other field. */
  readonly hash: string;
}

export type UnhashedAuditEntry = Omit<AuditEntry, 'hash'>;
/** What a caller records; the store adds orgId, seq, prevHash and hash. */
export type AuditEntryDraft = Omit<AuditEntry, 'orgId' | 'seq' | 'prevHash' | 'hash'>;

/** The prevHash of every org's first entry: 64 zeros, which no SHA-256 output is expected to be. */
export const GENESIS_HASH = '0'.repeat(64);

export class CanonicalEncodingError extends Error {
  readonly code = 'audit_unencodable_value';
}

/**
 * Deterministic JSON: object keys sorted by UTF-16 code units, no whitespace, undefined members
 * left out (as JSON.stringify does). For the values allowed here (strings, finite numbers,
 * booleans, null, arrays, plain objects) this is exactly RFC 8785 (JCS), because JCS defines its
 * string and number forms as ECMAScript's JSON.stringify. Hand-written rather than the
 * `canonicalize` package because that package is ESM-only since v3 and the test runner here is
 * CommonJS (jest config maps only @middy and commander); a cross-check against JCS vectors is in
 * test/core/audit/entry.test.ts. Anything else (NaN, Infinity, bigint, Date, functions) is refused
 * rather than silently turned into null or a string, which would make two values hash alike.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) throw new CanonicalEncodingError('non-finite number in audit entry');
    return JSON.stringify(value);
  }
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  if (typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    const members = Object.entries(value as Record<string, unknown>)
      .filter(([, member]) => member !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([key, member]) => `${JSON.stringify(key)}:${canonicalJson(member)}`);
    return `{${members.join(',')}}`;
  }
  throw new CanonicalEncodingError(`unencodable ${typeof value} in audit entry`);
}

/** SHA-256 hex over the canonical encoding of the entry without its own hash. */
export function hashEntry(entry: UnhashedAuditEntry): string {
  // Destructured so that a full AuditEntry passed in by mistake still hashes without its hash.
  const { hash: _ignored, ...rest } = entry as UnhashedAuditEntry & { hash?: string };
  void _ignored;
  return createHash('sha256').update(canonicalJson(rest), 'utf8').digest('hex');
}

/** Completes an entry with its hash. */
export function sealEntry(entry: UnhashedAuditEntry): AuditEntry {
  return { ...entry, hash: hashEntry(entry) };
}
