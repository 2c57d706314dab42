import { fork, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DescribeTableCommand, DescribeTimeToLiveCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb';
import {
  accessTokenHash,
  accessTokenRecordOf,
  DynamoDbOAuthStore,
  ensureOAuthTable,
  OAuthItemConsumedError,
  type OAuthModelAdapter,
} from '../../lambda/adapters/dynamodb-oauth-store';
import { replicaThenWriter } from '../../lambda/core/oauth/access-tokens';
import { DEFAULT_OAUTH_TABLE_NAME, OAUTH_TABLE } from '../../lambda/core/oauth/table';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

let db: TestDynamoDb;
let table: string;
let clock: number;
let store: DynamoDbOAuthStore;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  table = `oauth-${randomUUID()}`;
  await ensureOAuthTable(db.client, table);
  clock = Date.parse('2026-03-01T00:00:00.000Z');
  store = new DynamoDbOAuthStore(db.client, table, { now: () => clock });
});

const nowSeconds = () => Math.floor(clock / 1000);
const scanAll = async () => (await DynamoDBDocumentClient.from(db.client).send(new ScanCommand({ TableName: table }))).Items ?? [];
/** An id as oidc-provider makes them (nanoid, 43 URL-safe characters). */
const newId = () => randomUUID().replace(/-/g, '') + randomUUID().replace(/-/g, '').slice(0, 11);

/** An AccessToken payload exactly as oidc-provider's opaque format upserts it (extraTokenClaims → extra). */
const accessTokenPayload = (jti: string, grantId: string, overrides: Record<string, unknown> = {}) => ({
  iat: nowSeconds(),
  exp: nowSeconds() + 600,
  accountId: 'key_aaaaaaaaaaaaaaaa',
  aud: 'http://127.0.0.1:8080/mcp/github',
  clientId: 'client-1',
  expiresWithSession: false,
  extra: { orgId: 'org_aaaaaaaaaaaaaaaa', iss: 'http://127.0.0.1:8080' },
  grantId,
  gty: 'authorization_code',
  jti,
  kind: 'AccessToken',
  scope: 'mcp:tools mcp:resources',
  ...overrides,
});

test('the default table name, and the table: pk key, KEYS_ONLY byGrant and bySessionUid indexes, TTL on expiresAt where the engine has it', async () => {
  expect(DEFAULT_OAUTH_TABLE_NAME).toBe('plexmcp-oauth');
  await ensureOAuthTable(db.client, table); // idempotent
  const { Table } = await db.client.send(new DescribeTableCommand({ TableName: table }));
  expect(Table?.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
  expect(Table?.BillingModeSummary?.BillingMode ?? 'PAY_PER_REQUEST').toBe('PAY_PER_REQUEST');
  const indexes = Object.fromEntries((Table?.GlobalSecondaryIndexes ?? []).map((index) => [index.IndexName, index]));
  expect(indexes[OAUTH_TABLE.grantIndex.name]).toMatchObject({ KeySchema: [{ AttributeName: 'grantId', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } });
  expect(indexes[OAUTH_TABLE.sessionUidIndex.name]).toMatchObject({ KeySchema: [{ AttributeName: 'uid', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } });
  if (db.engine === 'dynamodb-local') {
    const ttl = await db.client.send(new DescribeTimeToLiveCommand({ TableName: table }));
    expect(ttl.TimeToLiveDescription).toMatchObject({ TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' });
  }
});

test('upsert then find returns the payload (id put back); the item is keyed by <Model>#sha256(id) with expiresAt; models are separate', async () => {
  const adapter = store.adapterFor('AuthorizationCode');
  const id = newId();
  const payload = { iat: nowSeconds(), exp: nowSeconds() + 60, jti: id, kind: 'AuthorizationCode', grantId: 'grant-1', clientId: 'client-1', redirectUri: 'https://claude.ai/api/mcp/auth_callback' };
  await adapter.upsert(id, payload, 60);
  expect(await adapter.find(id)).toEqual(payload);
  expect(await store.adapterFor('AccessToken').find(id)).toBeUndefined();
  expect(await adapter.find(newId())).toBeUndefined();

  const { Item } = await DynamoDBDocumentClient.from(db.client).send(new GetCommand({ TableName: table, Key: { pk: `AuthorizationCode#${accessTokenHash(id)}` } }));
  expect(Item).toMatchObject({ model: 'AuthorizationCode', expiresAt: nowSeconds() + 60, grantId: 'grant-1' });
  expect(accessTokenHash(id)).toMatch(/^[A-Za-z0-9_-]{43}$/);

  // A second upsert replaces the first.
  await adapter.upsert(id, { ...payload, scope: 'mcp:tools' }, 60);
  expect((await adapter.find(id))?.scope).toBe('mcp:tools');
});

test('an item past its expiresAt is not found, though nothing has deleted it yet; one without a lifetime does not expire', async () => {
  const adapter = store.adapterFor('Interaction');
  const id = newId();
  await adapter.upsert(id, { jti: id, kind: 'Interaction', exp: nowSeconds() + 3600 }, 3600);
  clock += 3_599_000;
  expect(await adapter.find(id)).toBeDefined();
  clock += 1_000;
  expect(await adapter.find(id)).toBeUndefined();
  expect(await scanAll()).toHaveLength(1); // still stored: TTL deletes lazily

  const grants = store.adapterFor('Grant');
  await grants.upsert('grant-1', { jti: 'grant-1', kind: 'Grant' }, undefined);
  clock += 365 * 86_400_000;
  expect(await grants.find('grant-1')).toEqual({ jti: 'grant-1', kind: 'Grant' });
});

test('a registered client expires after 30 idle days; each use (at most once per 15 days) pushes that out', async () => {
  const clients = store.adapterFor('Client');
  const client = { client_id: 'client-1', redirect_uris: ['http://127.0.0.1/callback'] };
  await clients.upsert('client-1', client, undefined);
  // Used on day 20 (less than half of the idle time left): kept until day 50.
  clock += 20 * 86_400_000;
  expect(await clients.find('client-1')).toEqual(client);
  clock += 29 * 86_400_000;
  expect(await clients.find('client-1')).toEqual(client);
  // Then idle for 30 days: gone (as if it never registered; it registers again).
  clock += 31 * 86_400_000;
  expect(await clients.find('client-1')).toBeUndefined();
  const other = new DynamoDbOAuthStore(db.client, table, { now: () => clock, idleClientSeconds: 60 });
  await other.adapterFor('Client').upsert('client-2', client, undefined);
  clock += 61_000;
  expect(await other.adapterFor('Client').find('client-2')).toBeUndefined();
});

test('no id is stored anywhere: not in keys, not in payloads (jti, the Interaction returnTo), and the Session id copied into an Interaction is dropped', async () => {
  const sessionId = newId();
  const sessionUid = newId();
  const interactionId = newId();
  const codeId = newId();
  const tokenId = newId();
  const clientId = `client-${newId()}`;
  await store.adapterFor('Session').upsert(sessionId, { jti: sessionId, uid: sessionUid, kind: 'Session', accountId: 'key_a', loginTs: nowSeconds(), exp: nowSeconds() + 86400 }, 86400);
  await store.adapterFor('Interaction').upsert(
    interactionId,
    {
      jti: interactionId,
      kind: 'Interaction',
      returnTo: `http://127.0.0.1:8080/oauth/auth/${interactionId}`,
      session: { accountId: 'key_a', uid: sessionUid, cookie: sessionId },
      params: { client_id: clientId },
      exp: nowSeconds() + 3600,
    },
    3600,
  );
  await store.adapterFor('AuthorizationCode').upsert(codeId, { jti: codeId, kind: 'AuthorizationCode', grantId: 'grant-1', clientId }, 60);
  await store.adapterFor('AccessToken').upsert(tokenId, accessTokenPayload(tokenId, 'grant-1', { clientId }), 600);
  await store.adapterFor('Client').upsert(clientId, { client_id: clientId, client_name: 'Claude' }, undefined);

  const items = await scanAll();
  expect(items).toHaveLength(5);
  // The bearer values appear in no item; the client id (public, named in the others) not in its own.
  for (const id of [sessionId, interactionId, codeId, tokenId]) expect(JSON.stringify(items)).not.toContain(id);
  expect(JSON.stringify(items.find((item) => item.model === 'Client'))).not.toContain(clientId);

  // Each comes back whole (the Interaction without the Session id it must not store).
  expect(await store.adapterFor('Interaction').find(interactionId)).toEqual({
    jti: interactionId,
    kind: 'Interaction',
    returnTo: `http://127.0.0.1:8080/oauth/auth/${interactionId}`,
    session: { accountId: 'key_a', uid: sessionUid },
    params: { client_id: clientId },
    exp: nowSeconds() + 3600,
  });
  expect((await store.adapterFor('Client').find(clientId))?.client_id).toBe(clientId);
  expect((await store.adapterFor('Session').find(sessionId))?.jti).toBe(sessionId);
});

test('findByUid finds the Session (without its id, which the caller did not give); not other uids, not after destroy or expiry', async () => {
  const sessions = store.adapterFor('Session');
  const id = newId();
  const uid = newId();
  const payload = { jti: id, uid, kind: 'Session', accountId: 'key_a', authorizations: { 'client-1': { grantId: 'grant-1', persistsLogout: false } }, exp: nowSeconds() + 600 };
  await sessions.upsert(id, payload, 600);
  const { jti: _jti, ...withoutId } = payload;
  void _jti;
  expect(await sessions.findByUid(uid)).toEqual(withoutId);
  expect(await sessions.findByUid(newId())).toBeUndefined();
  expect(await sessions.findByUserCode('ABCD-EFGH')).toBeUndefined();
  clock += 600_000;
  expect(await sessions.findByUid(uid)).toBeUndefined();
  clock -= 600_000;
  await sessions.destroy(id);
  expect(await sessions.findByUid(uid)).toBeUndefined();
  expect(await sessions.find(id)).toBeUndefined();
});

test('consume sets consumed (epoch seconds) once; a second consume throws invalid_grant and revokes the grant', async () => {
  const codes = store.adapterFor('AuthorizationCode');
  const id = newId();
  await codes.upsert(id, { jti: id, kind: 'AuthorizationCode', grantId: 'grant-1' }, 60);
  const tokenId = newId();
  await store.adapterFor('AccessToken').upsert(tokenId, accessTokenPayload(tokenId, 'grant-1'), 600);

  await codes.consume(id);
  expect((await codes.find(id))?.consumed).toBe(nowSeconds());

  const replay = codes.consume(id);
  await expect(replay).rejects.toBeInstanceOf(OAuthItemConsumedError);
  await expect(replay).rejects.toMatchObject({ statusCode: 400, expose: true, message: 'invalid_grant' });
  expect(await store.adapterFor('AccessToken').find(tokenId)).toBeUndefined();
  expect(await codes.find(id)).toBeUndefined();

  // A code that is not there cannot be consumed either.
  await expect(codes.consume(newId())).rejects.toBeInstanceOf(OAuthItemConsumedError);
});

test('of 10 concurrent consumes of one refresh token exactly one succeeds', async () => {
  const refreshTokens = store.adapterFor('RefreshToken');
  const id = newId();
  await refreshTokens.upsert(id, { jti: id, kind: 'RefreshToken', grantId: 'grant-1' }, 86400);
  const results = await Promise.allSettled(Array.from({ length: 10 }, () => refreshTokens.consume(id)));
  expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
  const rejected = results.filter((result): result is PromiseRejectedResult => result.status === 'rejected');
  expect(rejected).toHaveLength(9);
  for (const result of rejected) expect(result.reason).toBeInstanceOf(OAuthItemConsumedError);
});

test('destroy removes the item', async () => {
  const grants = store.adapterFor('Grant');
  await grants.upsert('grant-1', { jti: 'grant-1', kind: 'Grant', accountId: 'key_a', clientId: 'client-1' }, 86400);
  expect(await grants.find('grant-1')).toBeDefined();
  await grants.destroy('grant-1');
  expect(await grants.find('grant-1')).toBeUndefined();
  await grants.destroy('grant-1'); // already gone: no error
  expect(await scanAll()).toEqual([]);
});

test('revokeByGrantId deletes all 30 token-like items of the grant over several pages, and nothing of another grant or other models', async () => {
  const models = ['AccessToken', 'AuthorizationCode', 'RefreshToken'];
  const ofGrant: { model: string; id: string }[] = [];
  for (let i = 0; i < 30; i++) {
    const model = models[i % 3]!;
    const id = newId();
    ofGrant.push({ model, id });
    await store.adapterFor(model).upsert(id, { jti: id, kind: model, grantId: 'grant-A' }, 600);
  }
  const otherToken = newId();
  await store.adapterFor('AccessToken').upsert(otherToken, accessTokenPayload(otherToken, 'grant-B'), 600);
  // The Grant itself and the Session are not token-like: oidc-provider destroys the Grant on its own.
  await store.adapterFor('Grant').upsert('grant-A', { jti: 'grant-A', kind: 'Grant' }, 600);
  const sessionId = newId();
  await store.adapterFor('Session').upsert(sessionId, { jti: sessionId, uid: newId(), kind: 'Session', grantId: 'grant-A' }, 600);

  await store.adapterFor('RefreshToken').revokeByGrantId('grant-A');

  for (const { model, id } of ofGrant) expect(await store.adapterFor(model).find(id)).toBeUndefined();
  expect(await store.find(accessTokenHash(otherToken))).toBeDefined();
  expect(await store.adapterFor('Grant').find('grant-A')).toBeDefined();
  expect(await store.adapterFor('Session').find(sessionId)).toBeDefined();
  expect(await scanAll()).toHaveLength(3);
});

describe('AccessTokenReader', () => {
  test('maps the payload oidc-provider writes to the record the gateway uses, found by the hash of the token', async () => {
    const token = newId();
    await store.adapterFor('AccessToken').upsert(token, accessTokenPayload(token, 'grant-1'), 600);
    expect(await store.find(accessTokenHash(token))).toEqual({
      keyId: 'key_aaaaaaaaaaaaaaaa',
      orgId: 'org_aaaaaaaaaaaaaaaa',
      clientId: 'client-1',
      grantId: 'grant-1',
      scope: 'mcp:tools mcp:resources',
      resource: 'http://127.0.0.1:8080/mcp/github',
      expiresAt: nowSeconds() + 600,
      issuer: 'http://127.0.0.1:8080',
    });
    expect(await store.find(token)).toBeUndefined(); // the token is not its own key
    expect(await store.find(accessTokenHash(newId()))).toBeUndefined();
  });

  test('refuses an expired token, one of another model, one revoked with its grant', async () => {
    const token = newId();
    await store.adapterFor('AccessToken').upsert(token, accessTokenPayload(token, 'grant-1'), 600);
    clock += 600_000;
    expect(await store.find(accessTokenHash(token))).toBeUndefined();
    clock -= 600_000;

    const code = newId();
    await store.adapterFor('AuthorizationCode').upsert(code, accessTokenPayload(code, 'grant-1'), 60);
    expect(await store.find(accessTokenHash(code))).toBeUndefined();

    await store.revokeByGrantId('grant-1');
    expect(await store.find(accessTokenHash(token))).toBeUndefined();
  });

  test("a replica region's reader: its own table first, the writer region's on a miss (a token not yet replicated); in neither, unknown", async () => {
    const writerTable = `oauth-writer-${randomUUID()}`;
    await ensureOAuthTable(db.client, writerTable);
    const writer = new DynamoDbOAuthStore(db.client, writerTable, { now: () => clock });
    const reader = replicaThenWriter(store, writer);
    const fresh = newId();
    await writer.adapterFor('AccessToken').upsert(fresh, accessTokenPayload(fresh, 'grant-fresh'), 600);
    expect(await store.find(accessTokenHash(fresh))).toBeUndefined();
    expect(await reader.find(accessTokenHash(fresh))).toMatchObject({ grantId: 'grant-fresh' });
    // Replicated: the replica answers (its record, here another grant's to tell them apart).
    await store.adapterFor('AccessToken').upsert(fresh, accessTokenPayload(fresh, 'grant-replica'), 600);
    expect(await reader.find(accessTokenHash(fresh))).toMatchObject({ grantId: 'grant-replica' });
    expect(await reader.find(accessTokenHash(newId()))).toBeUndefined();
  });

  test('payload rules: a one-element aud array is the resource; several, a missing orgId or iss, a sender constraint, a past exp are refused', () => {
    const now = nowSeconds();
    const base = accessTokenPayload('x', 'grant-1');
    expect(accessTokenRecordOf({ ...base, aud: ['http://127.0.0.1:8080/mcp/a'] }, now)?.resource).toBe('http://127.0.0.1:8080/mcp/a');
    expect(accessTokenRecordOf({ ...base, aud: ['http://127.0.0.1:8080/mcp/a', 'http://127.0.0.1:8080/mcp/b'] }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, aud: undefined }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, extra: { iss: 'http://127.0.0.1:8080' } }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, extra: { orgId: 'org_aaaaaaaaaaaaaaaa' } }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, extra: undefined }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, jkt: 'thumbprint' }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, 'x5t#S256': 'thumbprint' }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, exp: now }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, accountId: undefined }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, kind: 'ClientCredentials' }, now)).toBeUndefined();
    expect(accessTokenRecordOf({ ...base, scope: undefined }, now)?.scope).toBe('');
  });

  test('a token that expires with its session is refused once the session is gone or no longer holds the grant', async () => {
    const sessionId = newId();
    const sessionUid = newId();
    const session = { jti: sessionId, uid: sessionUid, kind: 'Session', accountId: 'key_aaaaaaaaaaaaaaaa', authorizations: { 'client-1': { grantId: 'grant-1' } } };
    await store.adapterFor('Session').upsert(sessionId, session, 86400);
    const token = newId();
    await store.adapterFor('AccessToken').upsert(token, accessTokenPayload(token, 'grant-1', { expiresWithSession: true, sessionUid }), 600);
    expect((await store.find(accessTokenHash(token)))?.grantId).toBe('grant-1');

    await store.adapterFor('Session').upsert(sessionId, { ...session, authorizations: { 'client-1': { grantId: 'grant-2' } } }, 86400);
    expect(await store.find(accessTokenHash(token))).toBeUndefined();

    await store.adapterFor('Session').destroy(sessionId);
    expect(await store.find(accessTokenHash(token))).toBeUndefined();
  });
});

/**
 * oidc-provider itself on this store: it is ESM only, which Jest's CommonJS runtime cannot load
 * on Node 22, so the Provider runs in a child Node process whose adapter forwards every call over
 * IPC to the store under test here. What the provider writes and reads is exactly what it would
 * write and read in-process; only the transport between them differs.
 */
describe('a real oidc-provider on the store', () => {
  const PROVIDER_SCRIPT = `
import { createServer } from 'node:http';
import { Provider } from ${JSON.stringify(pathToFileURL(join(__dirname, '../../node_modules/oidc-provider/lib/index.js')).href)};

const pending = new Map();
let calls = 0;
process.on('message', ({ n, value, error }) => {
  const { resolve, reject } = pending.get(n);
  pending.delete(n);
  if (error) reject(Object.assign(new Error(error.message), error)); else resolve(value);
});
const call = (model, method, args) => new Promise((resolve, reject) => {
  calls += 1;
  pending.set(calls, { resolve, reject });
  process.send({ n: calls, model, method, args });
});
const METHODS = ['upsert', 'find', 'findByUid', 'findByUserCode', 'consume', 'destroy', 'revokeByGrantId'];
const adapter = (model) => Object.fromEntries(METHODS.map((method) => [method, (...args) => call(model, method, args)]));

const server = createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = 'http://127.0.0.1:' + server.address().port;
  const provider = new Provider(issuer, {
    adapter,
    cookies: { keys: ['cookie-signing-key-for-the-test'] },
    scopes: ['mcp:tools', 'mcp:resources', 'mcp:prompts'],
    features: {
      registration: { enabled: true },
      registrationManagement: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => issuer + '/mcp/github',
        useGrantedResource: () => true,
        getResourceServerInfo: () => ({ scope: 'mcp:tools mcp:resources mcp:prompts', accessTokenFormat: 'opaque', accessTokenTTL: 600 }),
      },
    },
    pkce: { required: () => true },
    rotateRefreshToken: true,
    issueRefreshToken: () => true,
    extraTokenClaims: () => ({ orgId: 'org_aaaaaaaaaaaaaaaa', iss: issuer }),
  });
  server.on('request', provider.callback());
  process.send({ ready: issuer });
});
`;

  let child: ChildProcess;
  let issuer: string;
  let dir: string;

  beforeEach(async () => {
    // The provider keeps real time: so does the store it uses.
    store = new DynamoDbOAuthStore(db.client, table);
    jar.clear();
    dir = await mkdtemp(join(tmpdir(), 'oauth-provider-'));
    await writeFile(join(dir, 'provider.mjs'), PROVIDER_SCRIPT);
    // Its stderr (oidc-provider's warnings about the dev login pages) is kept for a failed start.
    child = fork(join(dir, 'provider.mjs'), [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    issuer = await new Promise<string>((resolve, reject) => {
      child.once('exit', (code) => reject(new Error(`the provider process exited (${code}): ${stderr}`)));
      child.on('message', (message: { ready?: string; n?: number; model?: string; method?: keyof OAuthModelAdapter; args?: unknown[] }) => {
        if (message.ready) return resolve(message.ready);
        const { n, model, method, args } = message;
        const adapter = store.adapterFor(model!) as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>;
        adapter[method!]!(...args!).then(
          (value) => child.send({ n, value }),
          (error: Error & Record<string, unknown>) =>
            child.send({ n, error: { message: error.message, name: error.name, status: error.status, statusCode: error.statusCode, expose: error.expose, error_description: error.error_description } }),
        );
      });
    });
  });
  afterEach(async () => {
    child.removeAllListeners('exit');
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill();
    await exited;
    await rm(dir, { recursive: true, force: true });
  });

  /** A minimal cookie jar: the provider's cookies are scoped by path, which the flow below always matches. */
  const jar = new Map<string, string>();
  const cookieHeader = () => [...jar].map(([name, value]) => `${name}=${value}`).join('; ');
  const remember = (response: Response) => {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(';');
      const [name, value] = [pair!.slice(0, pair!.indexOf('=')), pair!.slice(pair!.indexOf('=') + 1)];
      if (value === '' || /expires=Thu, 01 Jan 1970/i.test(line)) jar.delete(name);
      else jar.set(name, value);
    }
  };
  const request = async (url: string, init: RequestInit = {}) => {
    const response = await fetch(new URL(url, issuer), { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), cookie: cookieHeader() } });
    remember(response);
    return response;
  };
  const form = (fields: Record<string, string>) => ({
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
  });
  /** Follows the provider's redirects until one leaves it (to the client's redirect_uri) or a page answers. */
  const follow = async (response: Response): Promise<Response | URL> => {
    for (let hops = 0; hops < 10; hops++) {
      const location = response.headers.get('location');
      if (location === null) return response;
      const next = new URL(location, issuer);
      if (next.origin !== issuer) return next;
      response = await request(next.href);
    }
    throw new Error('too many redirects');
  };

  interface RegisteredClient {
    readonly client_id: string;
    readonly registration_access_token: string;
    readonly registration_client_uri: string;
  }

  const register = async (): Promise<RegisteredClient> => {
    const registration = await request('/reg', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: ['http://127.0.0.1/callback'], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'], client_name: 'Test client' }),
    });
    expect(registration.status).toBe(201);
    return (await registration.json()) as RegisteredClient;
  };

  /** Authorize with PKCE (the dev login and consent pages of oidc-provider): the code and its verifier. */
  const authorizationCode = async (client: RegisteredClient) => {
    const verifier = randomUUID() + randomUUID();
    const authorize = new URLSearchParams({
      client_id: client.client_id,
      response_type: 'code',
      redirect_uri: 'http://127.0.0.1/callback',
      scope: 'mcp:tools',
      resource: `${issuer}/mcp/github`,
      state: 'state-1',
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    });
    const login = await follow(await request(`/auth?${authorize}`));
    if (login instanceof URL) throw new Error(`expected the login page, was sent to ${login.href}`);
    const loginUid = new URL(login.url).pathname.split('/').pop()!;
    const consent = await follow(await request(`/interaction/${loginUid}`, form({ prompt: 'login', login: 'key_aaaaaaaaaaaaaaaa', password: 'any' })));
    if (consent instanceof URL) throw new Error(`expected the consent page, was sent to ${consent.href}`);
    const consentUid = new URL(consent.url).pathname.split('/').pop()!;
    const callback = await follow(await request(`/interaction/${consentUid}`, form({ prompt: 'consent' })));
    if (!(callback instanceof URL)) throw new Error(`expected the redirect to the client, got ${callback.status} ${await callback.text()}`);
    expect(callback.searchParams.get('state')).toBe('state-1');
    expect(callback.searchParams.get('iss')).toBe(issuer);
    const code = callback.searchParams.get('code')!;
    return { code, exchange: { grant_type: 'authorization_code', code, redirect_uri: 'http://127.0.0.1/callback', code_verifier: verifier, client_id: client.client_id } };
  };

  test('DCR, authorization code with PKCE and a resource, token, refresh rotation, replays refused; the gateway reads the token; no credential in the table', async () => {
    const client = await register();
    expect((await store.adapterFor('Client').find(client.client_id))?.client_name).toBe('Test client');
    const read = await request(client.registration_client_uri, { headers: { authorization: `Bearer ${client.registration_access_token}` } });
    expect(read.status).toBe(200);
    const resource = `${issuer}/mcp/github`;
    const { code, exchange } = await authorizationCode(client);

    const tokenResponse = await request('/token', form(exchange));
    expect(tokenResponse.status).toBe(200);
    const tokens = (await tokenResponse.json()) as { access_token: string; refresh_token: string; scope: string };
    const record = await store.find(accessTokenHash(tokens.access_token));
    expect(record).toMatchObject({ keyId: 'key_aaaaaaaaaaaaaaaa', orgId: 'org_aaaaaaaaaaaaaaaa', clientId: client.client_id, scope: 'mcp:tools', resource, issuer });
    expect(record!.expiresAt).toBeGreaterThan(Date.now() / 1000);

    // Nothing in the table works as a credential.
    const stored = JSON.stringify(await scanAll());
    for (const secret of [code, tokens.access_token, tokens.refresh_token, client.registration_access_token, ...jar.values()]) expect(stored).not.toContain(secret);

    // Refresh rotates; the old refresh token replayed revokes the family.
    const refreshed = await request('/token', form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id }));
    expect(refreshed.status).toBe(200);
    const rotated = (await refreshed.json()) as { access_token: string; refresh_token: string };
    expect(rotated.refresh_token).not.toBe(tokens.refresh_token);
    expect(await store.find(accessTokenHash(rotated.access_token))).toBeDefined();
    const replayedRefresh = await request('/token', form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: client.client_id }));
    expect(replayedRefresh.status).toBe(400);
    expect(((await replayedRefresh.json()) as { error: string }).error).toBe('invalid_grant');
    expect(await store.find(accessTokenHash(rotated.access_token))).toBeUndefined();
    expect(await store.find(accessTokenHash(tokens.access_token))).toBeUndefined();

    // The code replayed is refused.
    const replayedCode = await request('/token', form(exchange));
    expect(replayedCode.status).toBe(400);
    expect(((await replayedCode.json()) as { error: string }).error).toBe('invalid_grant');

    // Deleting the registration destroys the Client through the adapter.
    const deleted = await request(client.registration_client_uri, { method: 'DELETE', headers: { authorization: `Bearer ${client.registration_access_token}` } });
    expect(deleted.status).toBe(204);
    expect(await store.adapterFor('Client').find(client.client_id)).toBeUndefined();
  });

  // The two requests race: when both read the code before either consumes it, only the
  // conditional write in consume() stops the second, whose error the provider answers as 400.
  test('two concurrent exchanges of one code: one gets tokens, the other invalid_grant', async () => {
    const client = await register();
    const { exchange } = await authorizationCode(client);
    const responses = await Promise.all([request('/token', form(exchange)), request('/token', form(exchange))]);
    const statuses = responses.map((response) => response.status).sort();
    expect(statuses).toEqual([200, 400]);
    const refused = responses.find((response) => response.status === 400)!;
    expect(((await refused.json()) as { error: string }).error).toBe('invalid_grant');
  });
});
