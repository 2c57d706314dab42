/** The answer of `GET …/audit/verification`, in words. */
import type { AdminApi, AnswerOf } from '../api';
import { Time } from '../ui';

export type AuditVerification = AnswerOf<AdminApi['orgs'][':orgId']['audit']['verification']['$get']>;
type Problem = NonNullable<AuditVerification['problem']>;

const CHAIN_PROBLEMS: Record<string, string> = {
  altered: 'was altered: its content no longer matches its hash',
  removed: 'is missing: it was removed',
  reordered: 'is out of order',
  inserted: 'was inserted: its sequence number was already used',
  'broken-link': 'is not linked to the entry before it (one of the two was rewritten)',
};

const DIGEST_PROBLEMS: Record<string, string> = {
  'bad-signature': 'does not verify against the digest public key',
  'hash-mismatch': 'does not match the entry it signs (the chain was rewritten)',
  'range-gap': 'leaves a gap in the entries the digests cover',
  'chain-break': 'is not linked to the digest before it',
};

export function problemText(problem: Problem, result: AuditVerification): string {
  if (problem.kind === 'head-mismatch') {
    return `The chain ends at entry ${result.lastSeq} but the stored head is entry ${result.head.seq}: the chain differs from entry ${problem.seq ?? result.lastSeq} on (entries removed from or added after its end).`;
  }
  if (problem.kind === 'malformed') return `The item at position ${problem.position ?? '?'} of the chain is not an audit entry.`;
  if (problem.digest !== undefined) return `Signed digest ${problem.digest} ${DIGEST_PROBLEMS[problem.kind] ?? `failed (${problem.kind})`}.`;
  return `Entry ${problem.seq ?? '?'} ${CHAIN_PROBLEMS[problem.kind] ?? `failed (${problem.kind})`}.`;
}

function digestText(result: AuditVerification): string {
  const d = result.digests;
  if (!d.available) return 'Signed digests: not produced in this deployment; the chain was checked on its own.';
  if (d.checked === 0) return 'Signed digests: none yet (the first is made by the next digest run); the chain was checked on its own.';
  const signed = d.signedThroughSeq === undefined ? '' : `, signing the chain through entry ${d.signedThroughSeq}`;
  return `Signed digests: ${d.checked} checked, ${d.valid ? 'all valid' : 'not all valid'}${signed}.`;
}

export function VerificationResult({ result }: { result: AuditVerification }) {
  const headline = result.ok
    ? `Chain OK: ${result.entries} ${result.entries === 1 ? 'entry' : 'entries'} intact, ending at the stored head (entry ${result.head.seq}).`
    : result.truncated && !result.problem
      ? `Not fully verified: the first ${result.entries} entries are intact, but the chain (head: entry ${result.head.seq}) is longer than the console verifies at once. Run plexmcp audit verify for the whole chain.`
      : `Verification FAILED. ${result.problem ? problemText(result.problem, result) : ''}`;
  return (
    <div class={result.ok ? 'notice verify-result ok' : 'error verify-result'} role="status">
      <p>
        <strong>{headline}</strong>
      </p>
      {result.problem && result.problem.seq !== undefined ? (
        <p>
          Problem entry: <code>seq {result.problem.seq}</code> (<code>{result.problem.kind}</code>)
        </p>
      ) : null}
      <p>{digestText(result)}</p>
      {result.digests.available && result.digests.latest ? (
        <p class="muted">
          Latest digest: number {result.digests.latest.n}, through entry {result.digests.latest.toSeq}, made <Time at={result.digests.latest.createdAt} />.
        </p>
      ) : null}
      <p class="muted">
        Verified <Time at={result.verifiedAt} />.
      </p>
    </div>
  );
}
