import { type AuditEntry, GENESIS_HASH, hashEntry } from './entry';

export type ChainProblem = 'altered' | 'removed' | 'reordered' | 'inserted' | 'broken-link';

export type ChainResult =
  | { readonly ok: true; /** The last entry walked (undefined for an empty chain). */ readonly last: { readonly seq: number; readonly hash: string } | undefined }
  | { readonly ok: false; readonly seq: number; readonly problem: ChainProblem };

/** Where a partial chain starts: the entry before the first one given (default: the genesis). */
export interface ChainAnchor {
  readonly seq: number;
  readonly hash: string;
}

/**
 * Walks one org's entries in the order given (the store's order, or an export's line order) and
 * reports the first problem:
 * - `inserted`: a sequence number that was already walked (an extra entry); seq = that number.
 * - `altered`: the entry's hash does not match its content; seq = the entry's.
 * - `reordered`: a later sequence number came first and the expected one follows further on;
 *   seq = the entry that is out of place.
 * - `removed`: a sequence number is missing altogether; seq = the missing number.
 * - `broken-link`: an entry whose hash is intact but whose prevHash is not the previous entry's
 *   hash, i.e. one of the two was rewritten with a recomputed hash; seq = the later entry.
 * The hash is checked before the sequence gap so that an edited seq field reads as `altered`.
 * Removing or replacing the newest entries cannot be seen from the entries alone: compare
 * `last` with the store's head or a signed digest (digest.ts).
 */
export function verifyChain(entries: Iterable<AuditEntry>, anchor: ChainAnchor = { seq: 0, hash: GENESIS_HASH }): ChainResult {
  const list = [...entries];
  let prev = anchor;
  for (let i = 0; i < list.length; i++) {
    const entry = list[i]!;
    const expected = prev.seq + 1;
    if (entry.seq < expected) return { ok: false, seq: entry.seq, problem: 'inserted' };
    if (hashEntry(entry) !== entry.hash) return { ok: false, seq: entry.seq, problem: 'altered' };
    if (entry.seq > expected) {
      const later = list.slice(i + 1).some((other) => other.seq === expected);
      return later ? { ok: false, seq: entry.seq, problem: 'reordered' } : { ok: false, seq: expected, problem: 'removed' };
    }
    if (entry.prevHash !== prev.hash) return { ok: false, seq: entry.seq, problem: 'broken-link' };
    prev = { seq: entry.seq, hash: entry.hash };
  }
  return { ok: true, last: prev.seq === anchor.seq ? undefined : prev };
}
