import { type AuditDigest, digestHash, LocalDigestSigner, type SignedDigest, signDigest } from '../../../lambda/core/audit/digest';
import { type AuditEntry, GENESIS_HASH, sealEntry } from '../../../lambda/core/audit/entry';
import { ExportVerifyError, verifyExport } from '../../../lambda/core/audit/export-verify';
import { chain } from './fixtures';

const signer = LocalDigestSigner.generate();
const entries = chain(12);
/** Digest ranges: 1-4, 5-8, 9-10; entries 11 and 12 are not yet digested. */
const ranges: [number, number][] = [[1, 4], [5, 8], [9, 10]];

async function digestsFor(log: AuditEntry[], bounds = ranges, by = signer): Promise<SignedDigest[]> {
  const signed: SignedDigest[] = [];
  for (const [fromSeq, toSeq] of bounds) {
    const digest: AuditDigest = {
      scope: 'acme',
      fromSeq,
      toSeq,
      lastHash: log[toSeq - 1]!.hash,
      previousDigestHash: signed.length === 0 ? GENESIS_HASH : digestHash(signed.at(-1)!.digest),
      createdAt: new Date(Date.UTC(2026, 11, 2 + signed.length)).toISOString(),
    };
    signed.push(await signDigest(digest, by));
  }
  return signed;
}

const ndjson = (log: readonly AuditEntry[]): string => log.map((entry) => JSON.stringify(entry)).join('\n') + '\n';

describe('verifyExport', () => {
  let digests: SignedDigest[];
  beforeAll(async () => {
    digests = await digestsFor(entries);
  });
  const run = (log: string | AsyncIterable<string>, ds = digests, fromDigest?: number) =>
    verifyExport({ entriesNdjson: log, digests: ds, publicKeyPem: signer.publicKeyPem, ...(fromDigest === undefined ? {} : { fromDigest }) });

  it('passes a clean export and says how far the signatures reach', async () => {
    await expect(run(ndjson(entries))).resolves.toEqual({ ok: true, entries: 12, digestsChecked: 3, signedThroughSeq: 10 });
  });

  it('reads an export streamed in chunks split mid-line', async () => {
    const text = ndjson(entries);
    async function* chunks(): AsyncGenerator<string> {
      for (let i = 0; i < text.length; i += 97) yield text.slice(i, i + 97);
    }
    await expect(run(chunks())).resolves.toEqual({ ok: true, entries: 12, digestsChecked: 3, signedThroughSeq: 10 });
  });

  it('names an edited entry', async () => {
    const edited = entries.map((e) => (e.seq === 6 ? { ...e, action: 'mcp.deleted' } : e));
    await expect(run(ndjson(edited))).resolves.toMatchObject({ ok: false, firstProblem: { seq: 6, problem: 'altered' } });
  });

  it('names a deleted entry', async () => {
    const deleted = entries.filter((e) => e.seq !== 3);
    await expect(run(ndjson(deleted))).resolves.toMatchObject({ ok: false, entries: 11, firstProblem: { seq: 3, problem: 'removed' } });
  });

  it('names two swapped entries', async () => {
    const swapped = [...entries];
    [swapped[6], swapped[7]] = [swapped[7]!, swapped[6]!];
    await expect(run(ndjson(swapped))).resolves.toMatchObject({ ok: false, firstProblem: { seq: 8, problem: 'reordered' } });
  });

  it('names the first missing entry of a truncated tail that the last digest covered', async () => {
    await expect(run(ndjson(entries.slice(0, 9)))).resolves.toMatchObject({ ok: false, entries: 9, firstProblem: { seq: 10, problem: 'removed' }, signedThroughSeq: 8 });
    // Entries past the last digest may be dropped unseen: only the digests vouch for the end.
    await expect(run(ndjson(entries.slice(0, 10)))).resolves.toMatchObject({ ok: true, signedThroughSeq: 10 });
  });

  it('names the digest whose lastHash a tail rewritten with recomputed hashes no longer matches', async () => {
    const rewritten = [...entries.slice(0, 6)];
    for (const e of entries.slice(6)) rewritten.push(sealEntry({ ...e, sourceIp: '198.51.100.9', prevHash: rewritten.at(-1)!.hash }));
    await expect(run(ndjson(rewritten))).resolves.toMatchObject({ ok: false, firstProblem: { digest: 1, problem: 'hash-mismatch' } });
  });

  it('names a digest with a forged signature or content', async () => {
    const sig = Buffer.from(digests[1]!.signature, 'base64');
    sig[sig.length - 1] ^= 1;
    const corrupted = digests.map((d, i) => (i === 1 ? { ...d, signature: sig.toString('base64') } : d));
    await expect(run(ndjson(entries), corrupted)).resolves.toMatchObject({ ok: false, firstProblem: { digest: 1, problem: 'bad-signature' } });
    const moved = digests.map((d, i) => (i === 2 ? { ...d, digest: { ...d.digest, toSeq: 9, lastHash: entries[8]!.hash } } : d));
    await expect(run(ndjson(entries), moved)).resolves.toMatchObject({ ok: false, firstProblem: { digest: 2, problem: 'bad-signature' } });
  });

  it('names a digest signed by another key', async () => {
    const other = await digestsFor(entries, ranges, LocalDigestSigner.generate());
    const mixed = [digests[0]!, other[1]!, digests[2]!];
    await expect(run(ndjson(entries), mixed)).resolves.toMatchObject({ ok: false, firstProblem: { digest: 1, problem: 'bad-signature' } });
  });

  it('names the digest after a missing one, and a re-signed replacement by the broken digest chain', async () => {
    await expect(run(ndjson(entries), [digests[0]!, digests[2]!])).resolves.toMatchObject({ ok: false, firstProblem: { digest: 1, problem: 'range-gap' } });
    await expect(run(ndjson(entries), digests.slice(1))).resolves.toMatchObject({ ok: false, firstProblem: { digest: 0, problem: 'range-gap' } });
    // Same ranges and key, but digest 1 re-issued (another createdAt): digest 2 no longer links to it.
    const reissued = await signDigest({ ...digests[1]!.digest, createdAt: '2026-12-31T00:00:00.000Z' }, signer);
    await expect(run(ndjson(entries), [digests[0]!, reissued, digests[2]!])).resolves.toMatchObject({ ok: false, firstProblem: { digest: 2, problem: 'chain-break' } });
  });

  it('reports a malformed line with its line number, never throwing', async () => {
    const lines = ndjson(entries).split('\n');
    for (const bad of ['{"seq": 5, "hash": ', '[1,2]', '{"seq": "5", "hash": "x", "prevHash": "y"}', 'null']) {
      const text = [...lines.slice(0, 4), bad, ...lines.slice(5)].join('\n');
      await expect(run(text)).resolves.toEqual({ ok: false, entries: 11, digestsChecked: 3, firstProblem: { line: 5, problem: 'malformed' } });
    }
  });

  it('verifies from a digest on, anchored by the one before it', async () => {
    await expect(run(ndjson(entries.slice(4)), digests, 1)).resolves.toEqual({ ok: true, entries: 8, digestsChecked: 3, signedThroughSeq: 10 });
    const edited = entries.slice(4).map((e) => (e.seq === 5 ? sealEntry({ ...e, requestId: 'forged' }) : e));
    await expect(run(ndjson(edited), digests, 1)).resolves.toMatchObject({ ok: false, firstProblem: { seq: 6, problem: 'broken-link' } });
    await expect(run(ndjson(entries.slice(5)), digests, 1)).resolves.toMatchObject({ ok: false, firstProblem: { seq: 5, problem: 'removed' } });
    await expect(run(ndjson(entries), digests, 3)).rejects.toBeInstanceOf(ExportVerifyError);
  });
});
