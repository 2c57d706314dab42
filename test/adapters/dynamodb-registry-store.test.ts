import { GetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { DEFAULT_TIMEOUTS, type Org, type StoredApiKey, type StoredMcpServer } from '../../lambda/core/model';
import { InvalidCursorError } from '../../lambda/core/registry-store';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbRegistryStore;
let table: string;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  table = await db.newRegistryTable();
  store = new DynamoDbRegistryStore(db.client, table);
});

const at = '2026-11-25T10:00:00.000Z';
const org = (orgId: string, name = 'Acme'): Org => ({ orgId, name, plan: 'free', ipAllowlist: [], createdAt: at, updatedAt: at });
const mcp = (orgId: string, slug: string): StoredMcpServer => ({
  orgId,
  slug,
  displayName: slug,
  endpoints: [{ id: 'ep_1', url: 'https://a.example/mcp', weight: 100 }],
  upstreamAuth: { type: 'none' },
  hasUpstreamSecret: false,
  toolPolicy: { allow: [], deny: [] },
  timeouts: DEFAULT_TIMEOUTS,
  createdAt: at,
  updatedAt: at,
});
const key = (keyId: string, orgId: string, createdAt = at): StoredApiKey => ({
  keyId,
  orgId,
  name: keyId,
  role: 'member',
  scopes: { mcps: '*', tools: {} },
  createdAt,
  secretHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
});

describe(`DynamoDbRegistryStore (${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'})`, () => {
  test('creates an org once; a second create returns the existing item and its request hash', async () => {
    expect(await store.createOrg(org('org_a'), 'hash-1')).toEqual({ created: true, item: org('org_a') });
    const again = await store.createOrg(org('org_a', 'Other name'), 'hash-2');
    expect(again).toEqual({ created: false, existing: org('org_a'), existingRequestHash: 'hash-1' });
    expect(await store.getOrg('org_a')).toEqual(org('org_a'));
  });

  test('domain records never carry layout attributes', async () => {
    await store.createOrg(org('org_a'), 'hash-1');
    const got = (await store.getOrg('org_a')) as unknown as Record<string, unknown>;
    for (const attribute of ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'entity', 'requestHash']) expect(got).not.toHaveProperty(attribute);
  });

  test('updates only the given org fields, and not a missing org', async () => {
    await store.createOrg(org('org_a'));
    const updated = await store.updateOrg('org_a', { plan: 'team', ipAllowlist: ['10.0.0.0/8'] }, '2026-11-26T00:00:00.000Z');
    expect(updated).toEqual({ ...org('org_a'), plan: 'team', ipAllowlist: ['10.0.0.0/8'], updatedAt: '2026-11-26T00:00:00.000Z' });
    expect(await store.updateOrg('org_missing', { name: 'x' }, at)).toBeUndefined();
    expect(await store.getOrg('org_missing')).toBeUndefined(); // the conditional write created nothing
  });

  test('lists orgs page by page with cursors, each exactly once', async () => {
    const ids = Array.from({ length: 7 }, (_, i) => `org_${String(i).padStart(2, '0')}`);
    for (const id of ids) await store.createOrg(org(id));
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listOrgs({ limit: 3, cursor });
      seen.push(...page.items.map((o) => o.orgId));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor && pages < 10);
    expect(seen.sort()).toEqual(ids);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  test('slug is unique per org but reusable across orgs; concurrent creates admit exactly one', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.createMcp(mcp('org_a', 'tools'))));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await store.createMcp(mcp('org_b', 'tools'))).created).toBe(true);
  });

  test('lists only the org\'s own MCP servers, and refuses a cursor from another org', async () => {
    for (const slug of ['a', 'b', 'c']) await store.createMcp(mcp('org_a', slug));
    await store.createMcp(mcp('org_b', 'z'));
    await store.createOrg(org('org_a')); // the org item shares the partition and must not be listed
    const first = await store.listMcps('org_a', { limit: 2 });
    expect(first.items.map((m) => m.slug)).toEqual(['a', 'b']);
    const second = await store.listMcps('org_a', { limit: 2, cursor: first.nextCursor });
    expect(second.items.map((m) => m.slug)).toEqual(['c']);

    const bPage = await store.listMcps('org_b', { limit: 1 });
    const foreign = Buffer.from(JSON.stringify({ pk: 'ORG#org_b', sk: 'MCP#a' })).toString('base64url');
    await expect(store.listMcps('org_a', { limit: 2, cursor: foreign })).rejects.toBeInstanceOf(InvalidCursorError);
    expect(bPage.items.map((m) => m.slug)).toEqual(['z']);
    await expect(store.listMcps('org_a', { limit: 2, cursor: 'not base64 json' })).rejects.toBeInstanceOf(InvalidCursorError);
    const extraAttr = Buffer.from(JSON.stringify({ pk: 'ORG#org_a', sk: 'MCP#a', x: '1' })).toString('base64url');
    await expect(store.listMcps('org_a', { limit: 2, cursor: extraAttr })).rejects.toBeInstanceOf(InvalidCursorError);
  });

  test('replaceMcp is an optimistic write: stale versions conflict, missing items are reported', async () => {
    await store.createMcp(mcp('org_a', 'tools'));
    const next = { ...mcp('org_a', 'tools'), displayName: 'Tools', updatedAt: '2026-11-25T10:00:01.000Z' };
    expect(await store.replaceMcp(next, at)).toBe('replaced');
    expect(await store.replaceMcp({ ...next, displayName: 'stale' }, at)).toBe('conflict');
    expect((await store.getMcp('org_a', 'tools'))?.displayName).toBe('Tools');
    expect(await store.replaceMcp(mcp('org_a', 'nope'), at)).toBe('missing');
    expect(await store.getMcp('org_a', 'nope')).toBeUndefined();
  });

  test('deletes an MCP server once', async () => {
    await store.createMcp(mcp('org_a', 'tools'));
    expect(await store.deleteMcp('org_a', 'tools')).toBe(true);
    expect(await store.deleteMcp('org_a', 'tools')).toBe(false);
    expect(await store.getMcp('org_a', 'tools')).toBeUndefined();
  });

  test('keys: found by id, listed per org in creation order, revoked once, only within their org', async () => {
    await store.createKey(key('k1', 'org_a', '2026-11-25T10:00:01.000Z'));
    await store.createKey(key('k2', 'org_a', '2026-11-25T10:00:02.000Z'));
    await store.createKey(key('k3', 'org_b'));
    expect(await store.getKey('k1')).toEqual(key('k1', 'org_a', '2026-11-25T10:00:01.000Z'));
    const page1 = await store.listKeys('org_a', { limit: 1 });
    const page2 = await store.listKeys('org_a', { limit: 1, cursor: page1.nextCursor });
    expect([...page1.items, ...page2.items].map((k) => k.keyId)).toEqual(['k1', 'k2']);

    expect(await store.revokeKey('org_b', 'k1', '2026-11-25T11:00:00.000Z')).toBeUndefined();
    expect((await store.getKey('k1'))?.revokedAt).toBeUndefined();
    expect((await store.revokeKey('org_a', 'k1', '2026-11-25T11:00:00.000Z'))?.revokedAt).toBe('2026-11-25T11:00:00.000Z');
    expect((await store.revokeKey('org_a', 'k1', '2026-11-25T12:00:00.000Z'))?.revokedAt).toBe('2026-11-25T11:00:00.000Z');
    expect(await store.revokeKey('org_a', 'missing', at)).toBeUndefined();
    expect(await store.getKey('missing')).toBeUndefined();
  });

  test('touchKey moves lastUsedAt forward only and never creates a key', async () => {
    await store.createKey(key('k1', 'org_a'));
    await store.touchKey('k1', '2026-11-25T10:05:00.000Z');
    await store.touchKey('k1', '2026-11-25T10:01:00.000Z');
    expect((await store.getKey('k1'))?.lastUsedAt).toBe('2026-11-25T10:05:00.000Z');
    await store.touchKey('ghost', at);
    expect(await store.getKey('ghost')).toBeUndefined();
  });

  test('the stored key item holds the hash and the documented layout', async () => {
    await store.createKey(key('k1', 'org_a'));
    const doc = DynamoDBDocumentClient.from(db.client);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'KEY#k1', sk: '#KEY' } }));
    expect(Item).toMatchObject({ gsi1pk: 'ORG#org_a#KEYS', gsi1sk: `${at}#k1`, entity: 'key', secretHash: expect.stringMatching(/^\$argon2id\$/) });
  });
});
