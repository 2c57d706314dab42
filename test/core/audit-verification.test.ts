/**
 * GET /orgs/{orgId}/audit/verification and GET /audit/verification: the stored chain verified on
 * the server (hashes, links, signed digests, head), against the real engine, with entries
 * tampered with directly in the table.
 */
import { DeleteItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbAuditDigests } from '../../lambda/adapters/dynamodb-audit-digests';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { createAdminApp } from '../../lambda/core/admin/app';
import { OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { AlertService } from '../../lambda/core/alert-service';
import { ApiKeyAuthenticator } from '../../lambda/core/api-keys';
import { LocalDigestSigner } from '../../lambda/core/audit/digest';
import { DigestProducer, listAllOrgIds } from '../../lambda/core/audit/digest-producer';
import { SYSTEM_AUDIT_SCOPE } from '../../lambda/core/audit/entry';
import { verifyStoredChain } from '../../lambda/core/audit/stored-verify';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { RegistryService } from '../../lambda/core/registry-service';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const OPERATOR = 'pmop_verification-test-operator-token';
const BASE = '/admin/v1';

let db: TestDynamoDb;
let audit: DynamoDbAuditStore;
let auditTable: string;
let digests: DynamoDbAuditDigests;
let producer: DigestProducer;
let signer: LocalDigestSigner;
let deps: Parameters<typeof createAdminApp>[0];
let app: ReturnType<typeof createAdminApp>;
let clock: number;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  const table = await db.newRegistryTable();
  auditTable = `audit-${randomUUID()}`;
  await ensureAuditTable(db.client, auditTable);
  audit = new DynamoDbAuditStore(db.client, auditTable);
  digests = new DynamoDbAuditDigests(db.client, auditTable);
  signer = LocalDigestSigner.generate();
  const store = new DynamoDbRegistryStore(db.client, table);
  const cipher = new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32)));
  const urlPolicy = { allowLoopback: false, resolve: async () => ['93.184.216.34'] };
  clock = Date.UTC(2026, 11, 2, 9, 0, 0);
  const service = new RegistryService({ store, cipher, urlPolicy, now: () => new Date(clock) });
  const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  producer = new DigestProducer({
    listOrgIds: async () => [...(await listAllOrgIds(store)), SYSTEM_AUDIT_SCOPE],
    head: (orgId) => audit.head(orgId),
    store: digests,
    signer,
    clock: () => new Date(clock),
  });
  deps = {
    service,
    authenticateKey: (k) => keys.authenticate(k),
    operator: new OperatorCredential(async () => OPERATOR),
    health: new DynamoDbHealthStore(db.client, table),
    alerts: new AlertService({
      store: new DynamoDbAlertStore(db.client, table),
      delivery: { subscribe: async () => 'arn:aws:sns:us-east-1:111111111111:t:1', unsubscribe: async () => undefined, publish: async () => undefined },
      getOrg: (id) => store.getOrg(id),
    }),
    audit,
    auditDigests: { store: digests, publicKeyPem: async () => signer.publicKeyPem },
    now: () => clock,
    sourceIp: () => '203.0.113.9',
    warn: () => undefined,
  };
  app = createAdminApp(deps);
});

async function call(method: string, path: string, token: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}` };
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** An org with `changes` renames after its creation: 1 + changes entries. */
async function orgWithEntries(changes: number): Promise<{ orgId: string; admin: string }> {
  const orgId = (await call('POST', '/orgs', OPERATOR, { name: 'Acme', plan: 'pro' })).body.orgId as string;
  const admin = (await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'admin', role: 'admin' })).body.secret as string;
  for (let i = 0; i < changes; i++) {
    clock += 1_000;
    expect((await call('PATCH', `/orgs/${orgId}`, admin, { name: `Acme ${i}` })).status).toBe(200);
  }
  return { orgId, admin };
}

const entryKey = (orgId: string, seq: number) => ({ pk: { S: `ORG#${orgId}` }, sk: { N: String(seq) } });

describe('the org chain', () => {
  test('intact: ok, every entry walked, ending at the head; after a digest run the digest is checked and signs the chain', async () => {
    const { orgId, admin } = await orgWithEntries(3); // org.created, key.created, 3 × org.updated
    let res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.status).toBe(200);
    const head = (await call('GET', `/orgs/${orgId}/audit/head`, admin)).body;
    expect(res.body).toEqual({
      ok: true, entries: 5, lastSeq: 5, head, truncated: false,
      digests: { available: true, checked: 0, valid: true },
      verifiedAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
    });

    await producer.run();
    clock += 1_000;
    await call('PATCH', `/orgs/${orgId}`, admin, { name: 'After the digest' });
    res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.body).toMatchObject({
      ok: true, entries: 6, lastSeq: 6, head: { seq: 6 },
      digests: { available: true, checked: 1, valid: true, signedThroughSeq: 5, latest: { n: 1, toSeq: 5 } },
    });
    expect(res.body.problem).toBeUndefined();
    // The operator may verify it too.
    expect((await call('GET', `/orgs/${orgId}/audit/verification`, OPERATOR)).body.ok).toBe(true);
  });

  test('an entry edited in the store: not ok, and the problem names it', async () => {
    const { orgId, admin } = await orgWithEntries(3);
    await producer.run();
    await db.client.send(
      new UpdateItemCommand({ TableName: auditTable, Key: entryKey(orgId, 3), UpdateExpression: 'SET sourceIp = :ip', ExpressionAttributeValues: { ':ip': { S: '198.51.100.66' } } }),
    );
    const res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: false, problem: { kind: 'altered', seq: 3 }, digests: { available: true, checked: 1, valid: true } });
  });

  test('the newest entry deleted: the head (or a digest) shows the removed tail', async () => {
    const { orgId, admin } = await orgWithEntries(2);
    await db.client.send(new DeleteItemCommand({ TableName: auditTable, Key: entryKey(orgId, 4) }));
    let res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    // No digest yet: only the head tells.
    expect(res.body).toMatchObject({ ok: false, entries: 3, lastSeq: 3, head: { seq: 4 }, problem: { kind: 'head-mismatch', seq: 4 } });
    await producer.run(); // signs seq 4 as the head says
    res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.body).toMatchObject({ ok: false, problem: { kind: 'removed', seq: 4 }, digests: { checked: 1 } });
  });

  test('digests signed by another key fail as bad-signature, naming the digest', async () => {
    const { orgId, admin } = await orgWithEntries(1);
    await producer.run();
    app = createAdminApp({ ...deps, auditDigests: { store: digests, publicKeyPem: async () => LocalDigestSigner.generate().publicKeyPem } });
    const res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.body).toMatchObject({ ok: false, problem: { kind: 'bad-signature', digest: 1 }, digests: { available: true, checked: 1, valid: false } });
  });

  test('without a digest source, the chain is verified on its own and digests are reported unavailable', async () => {
    app = createAdminApp({ ...deps, auditDigests: undefined });
    const { orgId, admin } = await orgWithEntries(1);
    const res = await call('GET', `/orgs/${orgId}/audit/verification`, admin);
    expect(res.body).toMatchObject({ ok: true, entries: 3, digests: { available: false } });
  });

  test('another org’s admin, a member key and an org admin on the system chain are refused', async () => {
    const { orgId, admin } = await orgWithEntries(0);
    const other = await orgWithEntries(0);
    const member = (await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'm', role: 'member' })).body.secret as string;
    const refused = async (path: string, token: string) => {
      const res = await call('GET', path, token);
      return [res.status, res.body.error.code];
    };
    expect(await refused(`/orgs/${orgId}/audit/verification`, other.admin)).toEqual([403, 'forbidden_org']);
    expect(await refused(`/orgs/${orgId}/audit/verification`, member)).toEqual([403, 'admin_role_required']);
    expect(await refused('/audit/verification', admin)).toEqual([403, 'operator_required']);
  });
});

describe('the system chain', () => {
  test('the operator verifies it: refused requests recorded there, ok', async () => {
    expect((await call('GET', '/whoami', 'pmop_wrong-token')).status).toBe(401);
    const res = await call('GET', '/audit/verification', OPERATOR);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ ok: true, entries: 1, lastSeq: 1, head: { seq: 1 }, truncated: false });
  });
});

describe('a chain longer than the walk is bounded', () => {
  test('truncated at the cap: its first entries and the digests within them checked, not ok, no problem', async () => {
    const { orgId } = await orgWithEntries(1); // seq 1..3
    await producer.run(); // digest 1: 1..3
    clock += 1_000;
    await call('PATCH', `/orgs/${orgId}`, OPERATOR, { name: 'x' });
    await call('PATCH', `/orgs/${orgId}`, OPERATOR, { name: 'y' });
    await producer.run(); // digest 2: 4..5
    const source = { journal: audit, digests: async () => ({ items: await digests.list(orgId), publicKeyPem: signer.publicKeyPem }) };
    const capped = await verifyStoredChain(orgId, { ...source, maxEntries: 4 });
    expect(capped).toMatchObject({ ok: false, truncated: true, entries: 4, lastSeq: 4, head: { seq: 5 }, digests: { checked: 1, valid: true, signedThroughSeq: 3 } });
    expect(capped.problem).toBeUndefined();
    // At exactly the chain's length nothing is cut off.
    expect(await verifyStoredChain(orgId, { ...source, maxEntries: 5 })).toMatchObject({ ok: true, truncated: false, entries: 5, digests: { checked: 2, signedThroughSeq: 5 } });
    // Pages smaller than the chain are walked in full.
    const paged = await verifyStoredChain(orgId, { ...source, journal: { head: (s) => audit.head(s), list: (s, q) => audit.list(s, { ...q, limit: Math.min(q?.limit ?? 100, 2) }) } });
    expect(paged).toMatchObject({ ok: true, entries: 5 });
  });
});
