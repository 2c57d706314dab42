import type { StoredDigest } from './digest-producer';
import type { AuditEntry } from './entry';
import { type ExportVerifyReport, verifyExport } from './export-verify';

/** One point of a chain: an entry's seq and hash (the store's head has this shape). */
export interface ChainPoint {
  readonly seq: number;
  readonly hash: string;
}

/** One chain's signed digests, oldest first, and the public key that verifies them. */
export interface DigestSet {
  readonly publicKeyPem: string;
  readonly items: readonly StoredDigest[];
}

export interface AuditLogInput {
  /** The entries as NDJSON (one per line), oldest first: an export, or the store's chain. */
  readonly entriesNdjson: string;
  /** The chain's digests; undefined where the deployment makes none. */
  readonly digests: DigestSet | undefined;
  /** Index into digests.items: the entries start at that digest's fromSeq (default 0). */
  readonly fromDigest?: number;
  /**
   * The store's head, read after an intact walk (online only): a tail removed after the last
   * digest is only visible there.
   */
  readonly head?: () => Promise<ChainPoint>;
}

export interface AuditLogVerification {
  readonly report: ExportVerifyReport;
  /** The report and the head comparison together. */
  readonly ok: boolean;
  /** The last entry read (undefined for an empty log). */
  readonly last: ChainPoint | undefined;
  /** The store's head, when it was compared. */
  readonly head?: ChainPoint;
  /** The walk ended somewhere other than the store's head (entries removed from, or added past, the tail). */
  readonly headMismatch: boolean;
}

/**
 * `plexmcp audit verify` and the admin API's verification route: the hash chain, every digest's
 * signature and link (verifyExport), then — online — whether the walk ends at the store's head.
 * With no digest yet (or none in this deployment) the chain is checked on its own, from the
 * genesis, without signatures.
 */
export async function verifyAuditLog(input: AuditLogInput): Promise<AuditLogVerification> {
  const { digests } = input;
  const report = digests && digests.items.length > 0
    ? await verifyExport({ entriesNdjson: input.entriesNdjson, digests: digests.items, publicKeyPem: digests.publicKeyPem, fromDigest: input.fromDigest })
    : await verifyExport({ entriesNdjson: input.entriesNdjson, digests: [], publicKeyPem: digests?.publicKeyPem ?? '' });
  const lines = input.entriesNdjson.split('\n').filter((line) => line.trim() !== '');
  const lastEntry = report.ok && lines.length > 0 ? (JSON.parse(lines.at(-1)!) as AuditEntry) : undefined;
  const last = lastEntry ? { seq: lastEntry.seq, hash: lastEntry.hash } : undefined;
  const head = input.head && report.ok ? await input.head() : undefined;
  const headMismatch = head !== undefined && endsElsewhere(last, head);
  return { report, ok: report.ok && !headMismatch, last, ...(head ? { head } : {}), headMismatch };
}

/** True when a chain walked to `last` does not end at `head`. */
export function endsElsewhere(last: ChainPoint | undefined, head: ChainPoint): boolean {
  return head.seq !== (last?.seq ?? 0) || (last !== undefined && head.hash !== last.hash);
}
