import { createHash } from 'node:crypto';
import { HeadObjectCommand, NotFound, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { DigestArchive, StoredDigest } from '../core/audit/digest-producer';
import { DEPLOYMENT_SCOPE } from '../core/audit/digest-producer';
import type { AuditJournal } from '../core/audit/journal';

/** Reads one org's entries by seq: the audit store (DynamoDbAuditStore). */
export type AuditEntryReader = Pick<AuditJournal, 'list'>;

export class AuditArchiveError extends Error {
  readonly code = 'audit_archive_incomplete';
}

const PAGE = 500;

/**
 * Object keys of digest n of a scope: `<prefix><scope>/<n, 10 digits>.ndjson` (the entries the
 * digest covers, in seq order, one JSON entry per line; for the deployment scope the covered
 * per-org digests `{ scope, n, digestHash }`) and `….digest.json` (the stored digest: n, digest,
 * signature, digestHash, covers). The deployment scope '*' is the folder `_deployment` (an org
 * id is a slug and has no underscore). Zero-padded so that a listing is in digest order.
 */
export function archiveKeys(scope: string, n: number, prefix = 'audit/'): { readonly entries: string; readonly digest: string } {
  const base = `${prefix}${scope === DEPLOYMENT_SCOPE ? '_deployment' : scope}/${String(n).padStart(10, '0')}`;
  return { entries: `${base}.ndjson`, digest: `${base}.digest.json` };
}

/**
 * Copies each new digest, and the entries it covers, to an S3 bucket with Object Lock: its
 * default retention (COMPLIANCE, lib/audit-log.ts) applies to every object version, so within the
 * retention no one, the account's root included, can rewrite or delete what was archived. This is
 * what `plexmcp audit verify` reads offline: concatenating a scope's `.ndjson` objects in key
 * order gives the export, the `.digest.json` objects its digests. Object Lock puts need an
 * integrity checksum: each put carries its SHA-256 (`ChecksumAlgorithm: SHA256` with the value),
 * so S3 also refuses a body damaged in transit. The entries object is written before the digest
 * object: a `.digest.json` present means its `.ndjson` is complete.
 */
export class S3AuditArchive implements DigestArchive {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly readEntries: AuditEntryReader,
    private readonly prefix = 'audit/',
  ) {}

  async archive(stored: StoredDigest): Promise<void> {
    const { scope, fromSeq, toSeq } = stored.digest;
    const keys = archiveKeys(scope, stored.n, this.prefix);
    const lines = scope === DEPLOYMENT_SCOPE ? (stored.covers ?? []).map((member) => JSON.stringify(member)) : await this.entryLines(scope, fromSeq, toSeq);
    await this.put(keys.entries, lines.map((line) => `${line}\n`).join(''), 'application/x-ndjson');
    const { n, digest, signature, digestHash, covers } = stored;
    await this.put(keys.digest, `${JSON.stringify({ n, digest, signature, digestHash, ...(covers ? { covers } : {}) })}\n`, 'application/json');
  }

  /** Whether digest n of the scope is archived (its digest object exists). */
  async has(scope: string, n: number): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: archiveKeys(scope, n, this.prefix).digest }));
      return true;
    } catch (error) {
      if (error instanceof NotFound || (error as { name?: string }).name === 'NotFound') return false;
      throw error;
    }
  }

  private async entryLines(orgId: string, fromSeq: number, toSeq: number): Promise<string[]> {
    const lines: string[] = [];
    let next: number | undefined = fromSeq;
    while (next !== undefined && next <= toSeq) {
      const page = await this.readEntries.list(orgId, { fromSeq: next, limit: Math.min(PAGE, toSeq - next + 1) });
      for (const entry of page.entries) if (entry.seq <= toSeq) lines.push(JSON.stringify(entry));
      next = page.nextSeq;
    }
    // A digest may name an entry whose writer has claimed but not yet put it (or died before:
    // the next append repairs it). Archive nothing partial; the next run archives it again.
    if (lines.length !== toSeq - fromSeq + 1) {
      throw new AuditArchiveError(`the entries ${fromSeq}..${toSeq} of an org are not all stored yet`);
    }
    return lines;
  }

  private async put(key: string, body: string, contentType: string): Promise<void> {
    const bytes = Buffer.from(body, 'utf8');
    await this.s3.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentType: contentType,
        ChecksumAlgorithm: 'SHA256',
        ChecksumSHA256: createHash('sha256').update(bytes).digest('base64'),
      }),
    );
  }
}
