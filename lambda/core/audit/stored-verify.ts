import { GENESIS_HASH } from './entry';
import type { ChainProblem } from './verify';
import type { DigestProblem } from './export-verify';
import type { AuditJournal } from './journal';
import { type ChainPoint, type DigestSet, verifyAuditLog } from './log-verify';

/** How many entries one verification reads at most: the walk is held in memory (verifyChain takes the whole list). */
export const DEFAULT_MAX_VERIFIED_ENTRIES = 20_000;
/** Entries per store query while walking. */
const WALK_PAGE = 500;

export type StoredChainProblemKind = ChainProblem | DigestProblem | 'malformed' | 'head-mismatch';

export interface StoredChainVerification {
  /** The whole chain verified: intact, its digests valid, and it ends at the store's head. */
  readonly ok: boolean;
  /** Entries walked. */
  readonly entries: number;
  /** The seq of the last entry walked (0 for an empty chain). */
  readonly lastSeq: number;
  readonly head: ChainPoint;
  /** The chain is longer than `maxEntries`: only its first entries (and the digests within them) were checked. */
  readonly truncated: boolean;
  /** The first problem: the entry (`seq`) or digest (`digest`, its number n) it is about. */
  readonly problem?: { readonly kind: StoredChainProblemKind; readonly seq?: number; readonly digest?: number; readonly position?: number };
  readonly digests:
    | { readonly available: false }
    | {
        readonly available: true;
        /** Digests whose signature and link were checked. */
        readonly checked: number;
        /** No digest problem: every signature and link verified (and, on an intact chain, each digest's lastHash). */
        readonly valid: boolean;
        /** The highest seq a valid signed digest vouches for. */
        readonly signedThroughSeq?: number;
        readonly latest?: { readonly n: number; readonly toSeq: number; readonly createdAt: string };
      };
  readonly verifiedAt: string;
}

export interface StoredChainSource {
  readonly journal: Pick<AuditJournal, 'list' | 'head'>;
  /** The scope's digests and public key; undefined where the deployment makes none. */
  readonly digests?: () => Promise<DigestSet>;
  readonly maxEntries?: number;
  readonly now?: () => Date;
}

/**
 * Verifies one chain as it is in the store, as `plexmcp audit verify` does online (verifyAuditLog):
 * pages through the entries (at most `maxEntries`), checks every digest with the public key, and
 * compares the end of the walk with the head read after it. A chain longer than the cap is
 * checked up to the cap, with only the digests within it, and answered `truncated` (not ok):
 * the whole chain is then `plexmcp audit verify`'s job.
 */
export async function verifyStoredChain(scope: string, source: StoredChainSource): Promise<StoredChainVerification> {
  const maxEntries = source.maxEntries ?? DEFAULT_MAX_VERIFIED_ENTRIES;
  const lines: string[] = [];
  let fromSeq = 1;
  let truncated = false;
  for (;;) {
    const page = await source.journal.list(scope, { fromSeq, limit: Math.min(WALK_PAGE, maxEntries - lines.length + 1) });
    for (const entry of page.entries) {
      if (lines.length === maxEntries) {
        truncated = true;
        break;
      }
      lines.push(JSON.stringify(entry));
    }
    // A cursor that does not move on (an entry's seq field edited at a page boundary) ends the
    // walk; verifyChain then names what is missing or out of place.
    if (truncated || page.nextSeq === undefined || page.nextSeq <= fromSeq) break;
    fromSeq = page.nextSeq;
  }
  const digestSet = source.digests ? await source.digests() : undefined;
  // Truncated: the digests beyond the walk would read as a removed tail; they are left for the CLI.
  const walkedThrough = truncated ? maxEntries : Number.POSITIVE_INFINITY;
  const digests = digestSet && { ...digestSet, items: digestSet.items.filter((d) => d.digest.toSeq <= walkedThrough) };
  let head: ChainPoint | undefined;
  const readHead = async () => {
    const h = await source.journal.head(scope);
    head = h ? { seq: h.seq, hash: h.hash } : { seq: 0, hash: GENESIS_HASH };
    return head;
  };
  const verified = await verifyAuditLog({ entriesNdjson: lines.join('\n'), digests, head: truncated ? undefined : readHead });
  const { report } = verified;
  head ??= await readHead();
  const lastSeq = verified.last?.seq ?? (lines.length > 0 ? (JSON.parse(lines.at(-1)!) as { seq: number }).seq : 0);

  let problem: StoredChainVerification['problem'];
  const first = report.firstProblem;
  if (first && 'line' in first) problem = { kind: 'malformed', position: first.line };
  else if (first && 'seq' in first) problem = { kind: first.problem, seq: first.seq };
  else if (first) problem = { kind: first.problem, digest: digests!.items[first.digest]!.n };
  else if (verified.headMismatch) {
    // The first entry the walk and the head disagree on.
    const seq = head.seq === lastSeq ? lastSeq : Math.min(head.seq, lastSeq) + 1;
    problem = { kind: 'head-mismatch', seq };
  }
  const digestProblem = first !== undefined && 'digest' in first;
  const latest = digests?.items.at(-1);
  return {
    ok: verified.ok && !truncated,
    entries: lines.length,
    lastSeq,
    head,
    truncated,
    ...(problem ? { problem } : {}),
    digests: digests
      ? {
          available: true,
          checked: report.digestsChecked,
          valid: !digestProblem,
          ...(report.signedThroughSeq === undefined ? {} : { signedThroughSeq: report.signedThroughSeq }),
          ...(latest ? { latest: { n: latest.n, toSeq: latest.digest.toSeq, createdAt: latest.digest.createdAt } } : {}),
        }
      : { available: false },
    verifiedAt: (source.now?.() ?? new Date()).toISOString(),
  };
}
