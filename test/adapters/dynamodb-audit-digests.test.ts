import { randomUUID } from 'node:crypto';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAuditDigests } from '../../lambda/adapters/dynamodb-audit-digests';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { type AuditDigest, digestHash, LocalDigestSigner, signDigest, verifyDigest } from '../../lambda/core/audit/digest';
import { deploymentLastHash, DigestProducer, listAllOrgIds, type StoredDigest } from '../../lambda/core/audit/digest-producer';
import { GENESIS_HASH, sealEntry, SYSTEM_AUDIT_SCOPE } from '../../lambda/core/audit/entry';
import { verifyExport } from '../../lambda/core/audit/export-verify';
import type { PlexEvent } from '../../lambda/core/events/model';
import { draft } from '../core/audit/fixtures';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let table: string;
let entries: DynamoDbAuditStore;
let digests: DynamoDbAuditDigests;
const signer = LocalDigestSigner.generate();

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  table = `audit-${randomUUID()}`;
  await ensureAuditTable(db.client, table);
  entries = new DynamoDbAuditStore(db.client, table);
  digests = new DynamoDbAuditDigests(db.client, table);
});

async function stored(scope: string, n: number, fromSeq: number, toSeq: number, previous?: StoredDigest): Promise<StoredDigest> {
  const digest: AuditDigest = {
    scope,
    fromSeq,
    toSeq,
    lastHash: 'ab'.repeat(32),
    previousDigestHash: previous?.digestHash ?? GENESIS_HASH,
    createdAt: '2026-12-02T00:00:00.000Z',
  };
  return { ...(await signDigest(digest, signer)), n, digestHash: digestHash(digest) };
}

function producer(orgIds: () => string[], events: PlexEvent[] = [], clock = () => new Date('2026-12-02T00:00:00.000Z')): DigestProducer {
  return new DigestProducer({
    listOrgIds: async () => orgIds(),
    head: (orgId) => entries.head(orgId),
    store: digests,
    signer,
    publisher: { publish: async (batch) => void events.push(...batch) },
    clock,
  });
}

async function ndjson(orgId: string): Promise<string> {
  const { entries: all } = await entries.list(orgId, { limit: 10_000 });
  return all.map((e) => JSON.stringify(e)).join('\n') + '\n';
}

describe(`DynamoDbAuditDigests on ${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'}`, () => {
  it('stores digests append-only under DIGEST#<scope>, n from 1, and reads latest and ranges back', async () => {
    const first = await stored('acme', 1, 1, 3);
    const second = await stored('acme', 2, 4, 9, first);
    expect(await digests.put(first)).toBe(true);
    expect(await digests.put(second)).toBe(true);
    expect(await digests.put(await stored('globex', 1, 1, 1))).toBe(true);

    expect(await digests.latest('acme')).toEqual(second);
    expect(await digests.latest('nobody')).toBeUndefined();
    expect(await digests.list('acme')).toEqual([first, second]);
    expect(await digests.list('acme', 2)).toEqual([second]);
    // A stored digest still verifies: the fields come back exactly as signed.
    const [back] = await digests.list('acme');
    expect(verifyDigest(back!.digest, back!.signature, signer.publicKeyPem)).toBe(true);
  });

  it('never overwrites a digest number', async () => {
    const first = await stored('acme', 1, 1, 3);
    expect(await digests.put(first)).toBe(true);
    expect(await digests.put({ ...(await stored('acme', 1, 1, 7)) })).toBe(false);
    expect(await digests.list('acme')).toEqual([first]);
  });

  it('of two puts racing for the same number, exactly one is stored', async () => {
    const a = await stored('acme', 1, 1, 3);
    const b = await stored('acme', 1, 1, 4);
    const results = await Promise.all([digests.put(a), digests.put(b)]);
    expect(results.filter(Boolean)).toHaveLength(1);
    const winner = results[0] ? a : b;
    expect(await digests.list('acme')).toEqual([winner]);
  });

  it('refuses a number that is not a whole number from 1', async () => {
    await expect(digests.put({ ...(await stored('acme', 1, 1, 3)), n: 0 })).rejects.toThrow(RangeError);
  });

  it('keeps a deployment digest\'s covered members exactly as stored', async () => {
    const covers = [{ scope: 'acme', n: 1, digestHash: 'cd'.repeat(32) }];
    const deployment = { ...(await stored('*', 1, 1, 1)), covers };
    expect(await digests.put(deployment)).toBe(true);
    expect(await digests.latest('*')).toEqual(deployment);
  });
});

describe('DigestProducer over DynamoDbAuditStore and DynamoDbAuditDigests', () => {
  it('signs digests over a real chain that verifyExport accepts, run after run', async () => {
    for (let n = 1; n <= 5; n++) await entries.append('acme', draft(n));
    const events: PlexEvent[] = [];
    const run1 = await producer(() => ['acme', 'globex'], events).run();
    // globex has no entries: no digest for it.
    expect(run1.created.map((d) => [d.digest.scope, d.n, d.digest.fromSeq, d.digest.toSeq])).toEqual([
      ['acme', 1, 1, 5],
      ['*', 1, 1, 1],
    ]);
    expect(run1.failures).toEqual([]);

    for (let n = 6; n <= 8; n++) await entries.append('acme', draft(n));
    await entries.append('globex', draft(1));
    const run2 = await producer(() => ['acme', 'globex'], events).run();
    expect(run2.created.map((d) => [d.digest.scope, d.n, d.digest.fromSeq, d.digest.toSeq])).toEqual([
      ['acme', 2, 6, 8],
      ['globex', 1, 1, 1],
      ['*', 2, 2, 3],
    ]);

    const acme = await digests.list('acme');
    const report = await verifyExport({ entriesNdjson: await ndjson('acme'), digests: acme, publicKeyPem: signer.publicKeyPem });
    expect(report).toEqual({ ok: true, entries: 8, digestsChecked: 2, signedThroughSeq: 8 });
    expect(acme[1]!.digest).toMatchObject({ lastHash: (await entries.head('acme'))!.hash, previousDigestHash: acme[0]!.digestHash });
    expect(await verifyExport({ entriesNdjson: await ndjson('globex'), digests: await digests.list('globex'), publicKeyPem: signer.publicKeyPem })).toMatchObject({ ok: true, signedThroughSeq: 1 });

    // The deployment chain: contiguous ranges over the covered per-org digests, signed, linked,
    // and its lastHash recomputable from the members it lists.
    const deployment = await digests.list('*');
    expect(await verifyExport({ entriesNdjson: '', digests: deployment, publicKeyPem: signer.publicKeyPem }).then((r) => r.firstProblem)).toEqual({ seq: 1, problem: 'removed' });
    expect(deployment[1]!.covers).toEqual([
      { scope: 'acme', n: 2, digestHash: acme[1]!.digestHash },
      { scope: 'globex', n: 1, digestHash: (await digests.latest('globex'))!.digestHash },
    ]);
    expect(deployment[1]!.digest.lastHash).toBe(deploymentLastHash(deployment[1]!.covers!));
    expect(deployment[1]!.digest.previousDigestHash).toBe(deployment[0]!.digestHash);

    expect(events.map((e) => [e.type, e.orgId, e.fromSeq, e.toSeq])).toEqual([
      ['audit.digest.created', 'acme', 1, 5],
      ['audit.digest.created', '*', 1, 1],
      ['audit.digest.created', 'acme', 6, 8],
      ['audit.digest.created', 'globex', 1, 1],
      ['audit.digest.created', '*', 2, 3],
    ]);
    expect(events[0]).toEqual({
      type: 'audit.digest.created',
      orgId: 'acme',
      at: '2026-12-02T00:00:00.000Z',
      scope: 'acme',
      fromSeq: 1,
      toSeq: 5,
      lastHash: acme[0]!.digest.lastHash,
      digestHash: acme[0]!.digestHash,
    });
  });

  it('makes no digest when no entry was appended since the last one', async () => {
    await entries.append('acme', draft(1));
    const events: PlexEvent[] = [];
    expect((await producer(() => ['acme'], events).run()).created).toHaveLength(2);
    expect(await producer(() => ['acme'], events).run()).toEqual({ created: [], failures: [] });
    expect(await digests.list('acme')).toHaveLength(1);
    expect(await digests.list('*')).toHaveLength(1);
    expect(events).toHaveLength(2);
  });

  it('lets verifyExport catch a tail rewritten with recomputed hashes, which the chain alone accepts', async () => {
    for (let n = 1; n <= 4; n++) await entries.append('acme', draft(n));
    await producer(() => ['acme']).run();
    const [, , , fourth] = (await entries.list('acme')).entries;
    const { hash: _old, ...unhashed } = fourth!;
    void _old;
    const forged = sealEntry({ ...unhashed, requestId: 'forged' });
    await DynamoDBDocumentClient.from(db.client).send(new PutCommand({ TableName: table, Item: { pk: 'ORG#acme', sk: 4, ...forged } }));
    const report = await verifyExport({ entriesNdjson: await ndjson('acme'), digests: await digests.list('acme'), publicKeyPem: signer.publicKeyPem });
    expect(report.firstProblem).toEqual({ digest: 0, problem: 'hash-mismatch' });
  });

  it('two producers running at once store one digest per number, a gapless chain, and the deployment covers every org digest', async () => {
    const orgs = ['a1', 'a2', 'a3', 'a4', 'a5', 'a6'];
    for (const org of orgs) for (let n = 1; n <= 3; n++) await entries.append(org, draft(n));
    const reports = await Promise.all([producer(() => orgs).run(), producer(() => [...orgs].reverse()).run()]);

    for (const org of orgs) {
      const list = await digests.list(org);
      expect(list.map((d) => [d.n, d.digest.fromSeq, d.digest.toSeq])).toEqual([[1, 1, 3]]);
      expect(await verifyExport({ entriesNdjson: await ndjson(org), digests: list, publicKeyPem: signer.publicKeyPem })).toMatchObject({ ok: true });
    }
    const created = reports.flatMap((r) => r.created);
    expect(created.filter((d) => d.digest.scope !== '*')).toHaveLength(orgs.length);
    const deployment = await digests.list('*');
    expect(deployment.length).toBeGreaterThanOrEqual(1);
    const covered = deployment.flatMap((d) => d.covers ?? []).map((m) => m.scope).sort();
    expect(covered).toEqual(orgs);
    const check = await verifyExport({ entriesNdjson: '', digests: deployment, publicKeyPem: signer.publicKeyPem });
    // Signatures, links and contiguous ranges hold (the first problem is only that no "entries" are given).
    expect(check.firstProblem).toEqual({ seq: 1, problem: 'removed' });
    expect(deployment.at(-1)!.digest.toSeq).toBe(orgs.length);
  });

  it('lists every org of the registry across pages, and the system chain (listAllOrgIds)', async () => {
    const registry = new DynamoDbRegistryStore(db.client, await db.newRegistryTable());
    const ids = Array.from({ length: 130 }, (_, i) => `org-${String(i).padStart(3, '0')}`);
    for (const orgId of ids) await registry.createOrg({ orgId, name: orgId, plan: 'free', ipAllowlist: [], createdAt: '2026-12-01T00:00:00.000Z', updatedAt: '2026-12-01T00:00:00.000Z' });
    expect((await listAllOrgIds(registry)).sort()).toEqual([...ids, SYSTEM_AUDIT_SCOPE].sort());
  });
});
