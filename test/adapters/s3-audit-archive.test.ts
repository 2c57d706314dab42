import { createHash, randomUUID } from 'node:crypto';
import { HeadObjectCommand, NotFound, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { DynamoDbAuditDigests } from '../../lambda/adapters/dynamodb-audit-digests';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { archiveKeys, S3AuditArchive } from '../../lambda/adapters/s3-audit-archive';
import { LocalDigestSigner } from '../../lambda/core/audit/digest';
import { deploymentLastHash, DigestProducer, type StoredDigest } from '../../lambda/core/audit/digest-producer';
import { verifyExport } from '../../lambda/core/audit/export-verify';
import { draft } from '../core/audit/fixtures';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

// S3 has no local engine here: the client is mocked and keeps what was put, so the test can read
// the archive back the way `plexmcp audit verify` would. The entries come from the real store.
const s3Mock = mockClient(S3Client);
const BUCKET = 'plexmcp-audit-archive-123456789012';
const signer = LocalDigestSigner.generate();

let db: TestDynamoDb;
let entries: DynamoDbAuditStore;
let digests: DynamoDbAuditDigests;
let objects: Map<string, string>;
/** How many of the next puts fail (S3 unavailable). */
let failPuts = 0;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  s3Mock.restore();
  await db.close();
});
beforeEach(async () => {
  const table = `audit-${randomUUID()}`;
  await ensureAuditTable(db.client, table);
  entries = new DynamoDbAuditStore(db.client, table);
  digests = new DynamoDbAuditDigests(db.client, table);
  objects = new Map();
  s3Mock.reset();
  failPuts = 0;
  s3Mock.on(PutObjectCommand).callsFake((input: { Key: string; Body: Buffer }) => {
    if (failPuts > 0 && failPuts--) throw new Error('S3 is down');
    objects.set(input.Key, input.Body.toString('utf8'));
    return { ETag: '"x"' };
  });
  s3Mock.on(HeadObjectCommand).callsFake((input: { Key: string }) => {
    if (!objects.has(input.Key)) throw new NotFound({ message: 'Not Found', $metadata: { httpStatusCode: 404 } });
    return {};
  });
});

const archive = () => new S3AuditArchive(new S3Client({ region: 'eu-west-1' }), BUCKET, entries);
const producer = () => new DigestProducer({ listOrgIds: async () => ['acme'], head: (orgId) => entries.head(orgId), store: digests, signer, archive: archive(), clock: () => new Date('2026-12-02T00:00:00.000Z') });

/** The archive of a scope read back: its NDJSON objects concatenated in key order, and its digests. */
function readBack(scope: string): { ndjson: string; digests: StoredDigest[] } {
  const folder = archiveKeys(scope, 1).entries.replace(/[^/]+$/, '');
  const keys = [...objects.keys()].filter((k) => k.startsWith(folder)).sort();
  return {
    ndjson: keys.filter((k) => k.endsWith('.ndjson')).map((k) => objects.get(k)!).join(''),
    digests: keys.filter((k) => k.endsWith('.digest.json')).map((k) => JSON.parse(objects.get(k)!) as StoredDigest),
  };
}

describe('S3AuditArchive', () => {
  it('names objects by scope and zero-padded number; the deployment scope is _deployment', () => {
    expect(archiveKeys('acme', 7)).toEqual({ entries: 'audit/acme/0000000007.ndjson', digest: 'audit/acme/0000000007.digest.json' });
    expect(archiveKeys('*', 12)).toEqual({ entries: 'audit/_deployment/0000000012.ndjson', digest: 'audit/_deployment/0000000012.digest.json' });
  });

  it('puts the covered entries, then the digest, each with its SHA-256 checksum (required by Object Lock)', async () => {
    for (let n = 1; n <= 3; n++) await entries.append('acme', draft(n));
    const report = await producer().run();
    expect(report.failures).toEqual([]);
    const [acme] = report.created;

    const puts = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input);
    expect(puts.map((p) => p.Key)).toEqual([
      'audit/acme/0000000001.ndjson',
      'audit/acme/0000000001.digest.json',
      'audit/_deployment/0000000001.ndjson',
      'audit/_deployment/0000000001.digest.json',
    ]);
    const stored = (await entries.list('acme')).entries;
    const body = Buffer.from(stored.map((e) => `${JSON.stringify(e)}\n`).join(''), 'utf8');
    expect(puts[0]).toStrictEqual({
      Bucket: BUCKET,
      Key: 'audit/acme/0000000001.ndjson',
      Body: body,
      ContentType: 'application/x-ndjson',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: createHash('sha256').update(body).digest('base64'),
    });
    const digestBody = Buffer.from(`${JSON.stringify({ n: 1, digest: acme!.digest, signature: acme!.signature, digestHash: acme!.digestHash })}\n`, 'utf8');
    expect(puts[1]).toStrictEqual({
      Bucket: BUCKET,
      Key: 'audit/acme/0000000001.digest.json',
      Body: digestBody,
      ContentType: 'application/json',
      ChecksumAlgorithm: 'SHA256',
      ChecksumSHA256: createHash('sha256').update(digestBody).digest('base64'),
    });
    // No other S3 call writes or deletes anything.
    expect(s3Mock.calls().map((c) => c.args[0].constructor.name).filter((n) => n !== 'HeadObjectCommand' && n !== 'PutObjectCommand')).toEqual([]);
  });

  it('is an archive that verifyExport accepts offline, digest after digest', async () => {
    for (let n = 1; n <= 3; n++) await entries.append('acme', draft(n));
    await producer().run();
    for (let n = 4; n <= 9; n++) await entries.append('acme', draft(n));
    await producer().run();
    const { ndjson, digests: archived } = readBack('acme');
    expect(archived.map((d) => [d.n, d.digest.fromSeq, d.digest.toSeq])).toEqual([[1, 1, 3], [2, 4, 9]]);
    expect(await verifyExport({ entriesNdjson: ndjson, digests: archived, publicKeyPem: signer.publicKeyPem })).toEqual({ ok: true, entries: 9, digestsChecked: 2, signedThroughSeq: 9 });

    // The deployment digests' NDJSON lists the members whose hash is their lastHash.
    const deployment = readBack('*');
    const members = deployment.ndjson.trim().split('\n').map((l) => JSON.parse(l));
    expect(members).toEqual([{ scope: 'acme', n: 1, digestHash: archived[0]!.digestHash }, { scope: 'acme', n: 2, digestHash: archived[1]!.digestHash }]);
    expect(deployment.digests.map((d) => d.digest.lastHash)).toEqual([deploymentLastHash([members[0]]), deploymentLastHash([members[1]])]);
  });

  it('a digest whose archive failed is archived by the next run, before the newer one', async () => {
    for (let n = 1; n <= 2; n++) await entries.append('acme', draft(n));
    failPuts = 1;
    const first = await producer().run();
    expect(first.failures.map((f) => [f.scope, f.n, f.step])).toEqual([['acme', 1, 'archive']]);
    expect(objects.has('audit/acme/0000000001.digest.json')).toBe(false);

    await entries.append('acme', draft(3));
    const second = await producer().run();
    expect(second.failures).toEqual([]);
    const keys = s3Mock.commandCalls(PutObjectCommand).map((c) => c.args[0].input.Key).filter((k) => k!.startsWith('audit/acme/'));
    // The failed put, then digest 1 again, then digest 2.
    expect(keys.slice(1)).toEqual(['audit/acme/0000000001.ndjson', 'audit/acme/0000000001.digest.json', 'audit/acme/0000000002.ndjson', 'audit/acme/0000000002.digest.json']);
    const { ndjson, digests: archived } = readBack('acme');
    expect(await verifyExport({ entriesNdjson: ndjson, digests: archived, publicKeyPem: signer.publicKeyPem })).toMatchObject({ ok: true, signedThroughSeq: 3 });
  });

  it('archives nothing partial when an entry the digest names is not stored yet', async () => {
    await entries.append('acme', draft(1));
    const head = (await entries.head('acme'))!;
    const stored: StoredDigest = {
      n: 1,
      digest: { scope: 'acme', fromSeq: 1, toSeq: 2, lastHash: head.hash, previousDigestHash: '0'.repeat(64), createdAt: '2026-12-02T00:00:00.000Z' },
      signature: 'AA==',
      digestHash: 'ab'.repeat(32),
    };
    await expect(archive().archive(stored)).rejects.toMatchObject({ code: 'audit_archive_incomplete' });
    expect(s3Mock.commandCalls(PutObjectCommand)).toHaveLength(0);
  });
});
