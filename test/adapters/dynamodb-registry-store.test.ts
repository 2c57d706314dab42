import { GetCommand, DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { localDynamoDbClient } from '../../lambda/local/dynamodb-engine';
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
/** A cap no test reaches, where caps are not the point. */
const CAP = 1_000;
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
    const results = await Promise.all(Array.from({ length: 10 }, () => store.createMcp(mcp('org_a', 'tools'), undefined, CAP)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect((await store.createMcp(mcp('org_b', 'tools'), undefined, CAP)).created).toBe(true);
  });

  test('lists only the org\'s own MCP servers, and refuses a cursor from another org', async () => {
    for (const slug of ['a', 'b', 'c']) await store.createMcp(mcp('org_a', slug), undefined, CAP);
    await store.createMcp(mcp('org_b', 'z'), undefined, CAP);
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
    await store.createMcp(mcp('org_a', 'tools'), undefined, CAP);
    const next = { ...mcp('org_a', 'tools'), displayName: 'Tools', updatedAt: '2026-11-25T10:00:01.000Z' };
    expect(await store.replaceMcp(next, at)).toBe('replaced');
    expect(await store.replaceMcp({ ...next, displayName: 'stale' }, at)).toBe('conflict');
    expect((await store.getMcp('org_a', 'tools'))?.displayName).toBe('Tools');
    expect(await store.replaceMcp(mcp('org_a', 'nope'), at)).toBe('missing');
    expect(await store.getMcp('org_a', 'nope')).toBeUndefined();
  });

  test('deletes an MCP server once', async () => {
    await store.createMcp(mcp('org_a', 'tools'), undefined, CAP);
    expect(await store.deleteMcp('org_a', 'tools')).toBe(true);
    expect(await store.deleteMcp('org_a', 'tools')).toBe(false);
    expect(await store.getMcp('org_a', 'tools')).toBeUndefined();
  });

  test('keys: found by id, listed per org in creation order, revoked once, only within their org', async () => {
    await store.createKey(key('k1', 'org_a', '2026-11-25T10:00:01.000Z'), undefined, CAP);
    await store.createKey(key('k2', 'org_a', '2026-11-25T10:00:02.000Z'), undefined, CAP);
    await store.createKey(key('k3', 'org_b'), undefined, CAP);
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
    await store.createKey(key('k1', 'org_a'), undefined, CAP);
    await store.touchKey('k1', '2026-11-25T10:05:00.000Z');
    await store.touchKey('k1', '2026-11-25T10:01:00.000Z');
    expect((await store.getKey('k1'))?.lastUsedAt).toBe('2026-11-25T10:05:00.000Z');
    await store.touchKey('ghost', at);
    expect(await store.getKey('ghost')).toBeUndefined();
  });

  test('the stored key item holds the hash and the documented layout', async () => {
    await store.createKey(key('k1', 'org_a'), undefined, CAP);
    const doc = DynamoDBDocumentClient.from(db.client);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'KEY#k1', sk: '#KEY' } }));
    expect(Item).toMatchObject({ gsi1pk: 'ORG#org_a#KEYS', gsi1sk: `${at}#k1`, entity: 'key', secretHash: expect.stringMatching(/^\$argon2id\$/) });
  });
});

describe('organisation plan overrides', () => {
  test('are set, replaced and removed (null) without touching other fields', async () => {
    await store.createOrg(org('org_a'));
    const set = await store.updateOrg('org_a', { planOverrides: { maxApiKeys: 50, requestsPerMinute: 1_000 } }, '2026-11-26T00:00:00.000Z');
    expect(set).toEqual({ ...org('org_a'), planOverrides: { maxApiKeys: 50, requestsPerMinute: 1_000 }, updatedAt: '2026-11-26T00:00:00.000Z' });
    const replaced = await store.updateOrg('org_a', { name: 'Acme 2', planOverrides: { maxMcpServers: 7 } }, '2026-11-27T00:00:00.000Z');
    expect(replaced?.planOverrides).toEqual({ maxMcpServers: 7 });
    const cleared = await store.updateOrg('org_a', { planOverrides: null }, '2026-11-28T00:00:00.000Z');
    expect(cleared).toEqual({ ...org('org_a', 'Acme 2'), updatedAt: '2026-11-28T00:00:00.000Z' });
    expect(await store.getOrg('org_a')).not.toHaveProperty('planOverrides');
  });
});

/**
 * A store whose client fails chosen writes: `failing` decides per command (name and input), so a
 * test can make the process "die" between the two writes of a counted operation.
 */
function faultyStore(failing: (command: string, input: Record<string, unknown>) => boolean, now: () => number) {
  const client = localDynamoDbClient(db.endpoint);
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (failing(context.commandName ?? '', args.input as Record<string, unknown>)) throw new Error('injected failure');
      return next(args);
    },
    { step: 'initialize', name: 'injectFailures' },
  );
  clients.push(client);
  return new DynamoDbRegistryStore(client, table, { usage: { now } });
}
const clients: { destroy(): void }[] = [];
afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
});
const isEnd = (command: string, input: Record<string, unknown>) =>
  command === 'UpdateItemCommand' && String(input.UpdateExpression).includes('REMOVE #inFlight.#op');

describe('plan caps by count (per-org usage counts)', () => {
  test('20 concurrent MCP creates against a cap of 3 admit exactly 3; a delete frees one unit', async () => {
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => store.createMcp(mcp('org_a', `s${i}`), undefined, 3)));
    expect(results.filter((r) => r.created)).toHaveLength(3);
    expect(results.filter((r) => 'limitReached' in r)).toHaveLength(17);
    expect((await store.listMcps('org_a', { limit: 100 })).items).toHaveLength(3);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 3, apiKeys: 0 });
    // Another org has its own count.
    expect((await store.createMcp(mcp('org_b', 's0'), undefined, 3)).created).toBe(true);

    const kept = results.flatMap((r) => (r.created ? [r.item.slug] : []));
    expect(await store.deleteMcp('org_a', kept[0]!)).toBe(true);
    expect(await store.deleteMcp('org_a', kept[0]!)).toBe(false); // gives nothing back twice
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 2, apiKeys: 0 });
    const again = await Promise.all(Array.from({ length: 5 }, (_, i) => store.createMcp(mcp('org_a', `t${i}`), undefined, 3)));
    expect(again.filter((r) => r.created)).toHaveLength(1);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 3, apiKeys: 0 });
  });

  test('concurrent creates and deletes keep the count equal to the items', async () => {
    for (const slug of ['a', 'b', 'c', 'd']) await store.createMcp(mcp('org_a', slug), undefined, 6);
    await Promise.all([
      ...['a', 'b', 'c'].map((slug) => store.deleteMcp('org_a', slug)),
      ...Array.from({ length: 10 }, (_, i) => store.createMcp(mcp('org_a', `n${i}`), undefined, 6)),
      store.deleteMcp('org_a', 'missing'),
    ]);
    const items = (await store.listMcps('org_a', { limit: 100 })).items;
    expect(items.length).toBeLessThanOrEqual(6);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: items.length, apiKeys: 0 });
  });

  test('a create that does not write (taken slug) gives its unit back; at the cap an existing slug is still reported', async () => {
    const results = await Promise.all(Array.from({ length: 10 }, () => store.createMcp(mcp('org_a', 'tools'), 'hash-1', 2)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 0 });
    expect((await store.createMcp(mcp('org_a', 'other'), undefined, 2)).created).toBe(true);
    // Full now: a replay of "tools" still finds the item (the service tells replay from conflict).
    expect(await store.createMcp(mcp('org_a', 'tools'), 'hash-1', 2)).toEqual({ created: false, existing: mcp('org_a', 'tools'), existingRequestHash: 'hash-1' });
    expect(await store.createMcp(mcp('org_a', 'third'), undefined, 2)).toEqual({ created: false, limitReached: true });
    // A lower cap (a downgrade) refuses until the org is under it.
    expect(await store.createMcp(mcp('org_a', 'third'), undefined, 1)).toEqual({ created: false, limitReached: true });
  });

  test('keys: concurrent creates stop at the cap; the first revocation gives the unit back, a repeated one does not', async () => {
    const results = await Promise.all(Array.from({ length: 12 }, (_, i) => store.createKey(key(`k${String(i).padStart(2, '0')}`, 'org_a'), undefined, 5)));
    expect(results.filter((r) => r.created)).toHaveLength(5);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 0, apiKeys: 5 });
    const [first] = results.flatMap((r) => (r.created ? [r.item.keyId] : []));
    expect(await store.revokeKey('org_b', first!, at)).toBeUndefined(); // not in org_b: nothing changes
    const revokes = await Promise.all(Array.from({ length: 4 }, (_, i) => store.revokeKey('org_a', first!, `2026-11-25T11:00:0${i}.000Z`)));
    expect(new Set(revokes.map((k) => k?.revokedAt)).size).toBe(1); // one time kept
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 0, apiKeys: 4 });
    expect(await store.revokeKey('org_a', 'missing', at)).toBeUndefined();
    expect((await store.createKey(key('knew', 'org_a'), undefined, 5)).created).toBe(true);
    expect('limitReached' in (await store.createKey(key('knew2', 'org_a'), undefined, 5))).toBe(true);
  });

  test('an org older than the counts is counted from its items at its first counted write', async () => {
    const doc = DynamoDBDocumentClient.from(db.client);
    // As written before the counts existed: two MCP items, two keys (one revoked), no usage item.
    for (const slug of ['old1', 'old2']) {
      await doc.send(new PutCommand({ TableName: table, Item: { pk: 'ORG#org_a', sk: `MCP#${slug}`, gsi1pk: 'MCPS', gsi1sk: `org_a#${slug}`, entity: 'mcp', ...mcp('org_a', slug) } }));
    }
    for (const [keyId, revokedAt] of [['old1', undefined], ['old2', at]] as const) {
      await doc.send(new PutCommand({
        TableName: table,
        Item: { pk: `KEY#${keyId}`, sk: '#KEY', gsi1pk: 'ORG#org_a#KEYS', gsi1sk: `${at}#${keyId}`, entity: 'key', ...key(keyId, 'org_a'), ...(revokedAt ? { revokedAt } : {}) },
      }));
    }
    // Read before the first counted write: counted from the items, nothing written.
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 2, apiKeys: 1 });
    expect((await doc.send(new GetCommand({ TableName: table, Key: { pk: 'ORG#org_a', sk: '#USAGE' } }))).Item).toBeUndefined();
    expect((await store.createMcp(mcp('org_a', 'new'), undefined, 3)).created).toBe(true);
    expect(await store.getUsage('org_a')).toEqual({ mcpServers: 3, apiKeys: 1 });
    expect('limitReached' in (await store.createMcp(mcp('org_a', 'newer'), undefined, 3))).toBe(true);
    const { Item } = await doc.send(new GetCommand({ TableName: table, Key: { pk: 'ORG#org_a', sk: '#USAGE' } }));
    expect(Item).toMatchObject({ entity: 'usage', mcpServers: 3, apiKeys: 1, inFlight: {}, version: expect.any(Number) });
  });

  test('a create that died between its writes leaves the count high, never low; the first refused create after the stale and quiet periods repairs it', async () => {
    let clock = Date.UTC(2026, 10, 25, 10, 0, 0);
    let dying = true;
    // The item write fails and so does the write that would give the unit back: the process "died".
    const broken = faultyStore((command, input) => dying && (command === 'PutItemCommand' || isEnd(command, input)), () => clock);
    const healthy = new DynamoDbRegistryStore(db.client, table, { usage: { now: () => clock } });
    await expect(broken.createMcp(mcp('org_a', 'lost'), undefined, 1)).rejects.toThrow('injected failure');
    dying = false;
    expect(await healthy.getMcp('org_a', 'lost')).toBeUndefined();
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 0 }); // ahead of the items: refuses, never admits

    // While the dead operation could still be alive, nothing is recounted.
    clock += 60_000;
    expect('limitReached' in (await healthy.createMcp(mcp('org_a', 'real'), undefined, 1))).toBe(true);
    // Once it is stale (15 min) and the counts were left alone for the quiet period, it is.
    clock += 15 * 60_000;
    expect((await healthy.createMcp(mcp('org_a', 'real'), undefined, 1)).created).toBe(true);
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 0 });
    expect('limitReached' in (await healthy.createMcp(mcp('org_a', 'more'), undefined, 1))).toBe(true);
  });

  test('a delete or revoke that died after its main write is repaired the same way', async () => {
    let clock = Date.UTC(2026, 10, 25, 10, 0, 0);
    const broken = faultyStore(isEnd, () => clock);
    const healthy = new DynamoDbRegistryStore(db.client, table, { usage: { now: () => clock } });
    expect((await healthy.createMcp(mcp('org_a', 'a'), undefined, 1)).created).toBe(true);
    expect((await healthy.createKey(key('k1', 'org_a'), undefined, 1)).created).toBe(true);
    expect(await broken.deleteMcp('org_a', 'a')).toBe(true);
    expect((await broken.revokeKey('org_a', 'k1', at))?.revokedAt).toBe(at);
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 1 });
    expect('limitReached' in (await healthy.createMcp(mcp('org_a', 'b'), undefined, 1))).toBe(true);
    clock += 16 * 60_000;
    expect((await healthy.createMcp(mcp('org_a', 'b'), undefined, 1)).created).toBe(true);
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 0 });
    expect((await healthy.createKey(key('k2', 'org_a'), undefined, 1)).created).toBe(true);
  });

  test('a failed follow-up write of a successful create changes nothing but leaves a stale operation that a recount clears', async () => {
    let clock = Date.UTC(2026, 10, 25, 10, 0, 0);
    const broken = faultyStore(isEnd, () => clock);
    const healthy = new DynamoDbRegistryStore(db.client, table, { usage: { now: () => clock } });
    expect((await broken.createMcp(mcp('org_a', 'a'), undefined, 2)).created).toBe(true);
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 1, apiKeys: 0 });
    clock += 16 * 60_000;
    expect((await healthy.createMcp(mcp('org_a', 'b'), undefined, 2)).created).toBe(true);
    // Refused within the quiet period after that change: no recount yet.
    expect('limitReached' in (await healthy.createMcp(mcp('org_a', 'c'), undefined, 2))).toBe(true);
    clock += 10_000;
    // The recount finds both items: still full, and the stale operation is gone.
    expect('limitReached' in (await healthy.createMcp(mcp('org_a', 'c'), undefined, 2))).toBe(true);
    expect(await healthy.getUsage('org_a')).toEqual({ mcpServers: 2, apiKeys: 0 });
    const { Item } = await DynamoDBDocumentClient.from(db.client).send(new GetCommand({ TableName: table, Key: { pk: 'ORG#org_a', sk: '#USAGE' } }));
    expect(Item!.inFlight).toEqual({});
  });
});
