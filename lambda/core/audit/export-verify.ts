import { type AuditDigest, digestHash, verifyDigest } from './digest';
import { type AuditEntry, GENESIS_HASH } from './entry';
import { type ChainAnchor, type ChainProblem, verifyChain } from './verify';

export type DigestProblem = 'bad-signature' | 'hash-mismatch' | 'range-gap' | 'chain-break';

export type ExportProblem =
  | { readonly line: number; readonly problem: 'malformed' }
  | { readonly seq: number; readonly problem: ChainProblem }
  | { readonly digest: number; readonly problem: DigestProblem };

export interface ExportVerifyReport {
  readonly ok: boolean;
  /** Entries read from the export (every well-formed line). */
  readonly entries: number;
  /** Digests whose signature and link were checked (all of them, including those before fromDigest). */
  readonly digestsChecked: number;
  /** The highest seq vouched for by a signed digest, when the walk got that far. */
  readonly signedThroughSeq?: number;
  readonly firstProblem?: ExportProblem;
}

export interface VerifyExportInput {
  /** The `plexmcp audit export --format ndjson` output: one entry per line, as text or as chunks. */
  readonly entriesNdjson: string | AsyncIterable<string>;
  /** One scope's digests, oldest first, starting at its first digest (fromSeq 1, GENESIS_HASH). */
  readonly digests: readonly { readonly digest: AuditDigest; readonly signature: string }[];
  readonly publicKeyPem: string;
  /** Index into `digests`: the export starts at digests[fromDigest].fromSeq (default 0). */
  readonly fromDigest?: number;
}

export class ExportVerifyError extends Error {
  readonly code = 'audit_bad_from_digest';
}

/** Yields the lines of the input, whether it is one string or chunks split anywhere. */
async function* lines(input: string | AsyncIterable<string>): AsyncGenerator<string> {
  if (typeof input === 'string') {
    yield* input.split('\n');
    return;
  }
  let rest = '';
  for await (const chunk of input) {
    const parts = (rest + chunk).split('\n');
    rest = parts.pop()!;
    yield* parts;
  }
  yield rest;
}

/**
 * Only what the walk itself relies on is checked here (seq, hash, prevHash); any other wrong or
 * missing field changes the recomputed hash and so reads as `altered` in verifyChain.
 */
function asEntry(value: unknown): AuditEntry | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const candidate = value as Partial<Record<keyof AuditEntry, unknown>>;
  if (!Number.isSafeInteger(candidate.seq) || typeof candidate.hash !== 'string' || typeof candidate.prevHash !== 'string') return undefined;
  return value as AuditEntry;
}

/**
 * Verifies an exported audit log of one org offline, with the published public key, and reports
 * the first problem. Order: a malformed line (nothing after it can be trusted to be read right);
 * then the digests, the trust anchor (signature, previousDigestHash link, contiguous seq ranges);
 * then the entry chain (verifyChain, from the entry before digests[fromDigest].fromSeq); then each
 * digest from fromDigest on against the entries: an export that ends before a digest's toSeq
 * reports the first missing entry as `removed` (truncation, which the chain alone cannot show),
 * and a digest whose lastHash is not the hash of the entry at its toSeq is `hash-mismatch` (a
 * tail rewritten with recomputed hashes). Entries after the last digest are vouched for by the
 * chain only; `signedThroughSeq` says how far the signatures reach.
 * The entries are held in memory because verifyChain takes the whole list (to tell `reordered`
 * from `removed`).
 */
export async function verifyExport(input: VerifyExportInput): Promise<ExportVerifyReport> {
  const { digests, publicKeyPem } = input;
  const fromDigest = input.fromDigest ?? 0;
  if (!Number.isSafeInteger(fromDigest) || fromDigest < 0 || (digests.length > 0 ? fromDigest >= digests.length : fromDigest !== 0)) {
    throw new ExportVerifyError(`fromDigest must name one of the ${digests.length} digests given`);
  }

  const entries: AuditEntry[] = [];
  let lineNumber = 0;
  let malformed: number | undefined;
  for await (const raw of lines(input.entriesNdjson)) {
    lineNumber++;
    const line = raw.trim();
    // Blank lines (a trailing newline) carry nothing. Reading goes on after a bad line so that
    // `entries` counts every well-formed one; only the first bad line is reported.
    if (line === '') continue;
    let entry: AuditEntry | undefined;
    try {
      entry = asEntry(JSON.parse(line));
    } catch {
      entry = undefined;
    }
    if (entry !== undefined) entries.push(entry);
    else malformed ??= lineNumber;
  }
  const report = (firstProblem?: ExportProblem, signedThroughSeq?: number): ExportVerifyReport => ({
    ok: firstProblem === undefined,
    entries: entries.length,
    digestsChecked: digests.length,
    ...(signedThroughSeq === undefined ? {} : { signedThroughSeq }),
    ...(firstProblem === undefined ? {} : { firstProblem }),
  });
  if (malformed !== undefined) return report({ line: malformed, problem: 'malformed' });

  for (let i = 0; i < digests.length; i++) {
    const { digest, signature } = digests[i]!;
    if (!verifyDigest(digest, signature, publicKeyPem)) return report({ digest: i, problem: 'bad-signature' });
    const previous = i === 0 ? undefined : digests[i - 1]!.digest;
    // A digest may cover no new entries (toSeq = fromSeq - 1) but never run backwards.
    const expectedFrom = previous === undefined ? 1 : previous.toSeq + 1;
    if (digest.fromSeq !== expectedFrom || digest.toSeq < digest.fromSeq - 1) return report({ digest: i, problem: 'range-gap' });
    const expectedPrevious = previous === undefined ? GENESIS_HASH : digestHash(previous);
    if (digest.previousDigestHash !== expectedPrevious || (previous !== undefined && digest.scope !== previous.scope)) {
      return report({ digest: i, problem: 'chain-break' });
    }
  }

  const start = digests[fromDigest]?.digest;
  const anchor: ChainAnchor = start === undefined || fromDigest === 0
    ? { seq: 0, hash: GENESIS_HASH }
    : { seq: start.fromSeq - 1, hash: digests[fromDigest - 1]!.digest.lastHash };
  const chain = verifyChain(entries, anchor);
  if (!chain.ok) return report({ seq: chain.seq, problem: chain.problem });
  // After an intact walk the entries are exactly anchor.seq + 1 .. lastSeq, in order.
  const lastSeq = chain.last?.seq ?? anchor.seq;
  const hashAt = (seq: number): string => (seq === anchor.seq ? anchor.hash : entries[seq - anchor.seq - 1]!.hash);

  let signedThroughSeq: number | undefined = fromDigest > 0 ? anchor.seq : undefined;
  for (let i = fromDigest; i < digests.length; i++) {
    const { digest } = digests[i]!;
    if (digest.toSeq > lastSeq) return report({ seq: lastSeq + 1, problem: 'removed' }, signedThroughSeq);
    if (digest.lastHash !== hashAt(digest.toSeq)) return report({ digest: i, problem: 'hash-mismatch' }, signedThroughSeq);
    signedThroughSeq = digest.toSeq;
  }
  return report(undefined, signedThroughSeq);
}
