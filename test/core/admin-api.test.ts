import { randomBytes } from 'node:crypto';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { createAdminApp } from '../../lambda/core/admin/app';
import { OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { SLUG_PATTERN } from '../../lambda/core/admin/schemas';
import { AlertService, type AlertDelivery } from '../../lambda/core/alert-service';
import type { AlertSubscription } from '../../lambda/core/alerts';
import { ApiKeyAuthenticator } from '../../lambda/core/api-keys';
import { EnvelopeCipher, upstreamSecretContext } from '../../lambda/core/envelope';
import { RegistryService } from '../../lambda/core/registry-service';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const OPERATOR = 'pmop_test-operator-token';
const UPSTREAM_TOKEN = 'upstream-s3cret-token-value';
const BASE = '/admin/v1';

/** Fixed DNS for the tests: public names resolve to documentation-free public addresses. */
const resolver = async (host: string) => {
  const table: Record<string, string[]> = {
    'mcp-a.example.com': ['93.184.216.34'],
    'mcp-b.example.com': ['2606:2800:220:1:248:1893:25c8:1946'],
    'internal.example.com': ['10.1.2.3'],
  };
  const found = table[host];
  if (!found) throw new Error('ENOTFOUND');
  return found;
};

let db: TestDynamoDb;
let table: string;
let app: ReturnType<typeof createAdminApp>;
let deps: Parameters<typeof createAdminApp>[0];
let service: RegistryService;
let cipher: EnvelopeCipher;
let health: DynamoDbHealthStore;
let delivery: RecordingDelivery;
let audit: DynamoDbAuditStore;
const responses: string[] = [];

/** An alert delivery that records what it was asked and hands out fake SNS subscription ARNs. */
class RecordingDelivery implements AlertDelivery {
  readonly calls: [string, string][] = [];
  async subscribe(sub: AlertSubscription) {
    this.calls.push(['subscribe', sub.address]);
    return `arn:aws:sns:us-east-1:111111111111:org-alerts:${sub.subscriptionId}`;
  }
  async unsubscribe(sub: AlertSubscription) {
    this.calls.push(['unsubscribe', sub.deliveryRef ?? '']);
  }
  async publish() {}
}

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  // No response, of any test, ever carried the upstream credential.
  for (const body of responses) expect(body).not.toContain(UPSTREAM_TOKEN);
  await db.close();
});
beforeEach(async () => {
  table = await db.newRegistryTable();
  const store = new DynamoDbRegistryStore(db.client, table);
  cipher = new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32)));
  service = new RegistryService({
    store,
    cipher,
    urlPolicy: { allowLoopback: false, resolve: resolver },
  });
  const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  health = new DynamoDbHealthStore(db.client, table);
  delivery = new RecordingDelivery();
  const alerts = new AlertService({ store: new DynamoDbAlertStore(db.client, table), delivery, getOrg: (id) => store.getOrg(id) });
  const auditTable = `audit-${table}`;
  await ensureAuditTable(db.client, auditTable);
  audit = new DynamoDbAuditStore(db.client, auditTable);
  deps = { service, authenticateKey: (k) => keys.authenticate(k), operator: new OperatorCredential(async () => OPERATOR), health, alerts, audit, strictAudit: true };
  app = createAdminApp(deps);
});

async function call(method: string, path: string, token?: string, body?: unknown, headers: Record<string, string> = {}) {
  const init: RequestInit = { method, headers: { ...headers } };
  if (token) (init.headers as Record<string, string>).authorization = `Bearer ${token}`;
  if (body !== undefined) {
    (init.headers as Record<string, string>)['content-type'] ??= 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await app.request(`${BASE}${path}`, init);
  const text = await res.text();
  responses.push(text);
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

async function newOrg(name = 'Acme', plan = 'pro') {
  const res = await call('POST', '/orgs', OPERATOR, { name, plan });
  expect(res.status).toBe(201);
  return res.body.orgId as string;
}

const mcpBody = (slug = 'tools') => ({
  slug,
  endpoints: [{ url: 'https://mcp-a.example.com/mcp' }, { url: 'https://mcp-b.example.com/mcp', weight: 20 }],
  upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN },
});

async function newKey(orgId: string, role: 'admin' | 'member', extra: object = {}) {
  const res = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: `${role} key`, role, ...extra });
  expect(res.status).toBe(201);
  return res.body as { key: { keyId: string }; secret: string };
}

describe('authentication', () => {
  test.each([
    ['no header', undefined],
    ['a wrong operator token', 'pmop_wrong'],
    ['a malformed API key', 'pmcp_short'],
    ['an unknown API key', `pmcp_aaaaaaaaaaaaaaaa_${'A'.repeat(43)}`],
  ])('%s gets 401 with WWW-Authenticate and a request id', async (_, token) => {
    const res = await call('GET', '/orgs', token);
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(res.body.error.requestId).toBe(res.headers.get('x-request-id'));
    expect(res.body.error.code).toMatch(/^invalid_(credentials|api_key)$/);
  });

  test('whoami tells operator and key apart', async () => {
    expect((await call('GET', '/whoami', OPERATOR)).body).toEqual({ principal: 'operator' });
    const orgId = await newOrg();
    const { key, secret } = await newKey(orgId, 'member');
    expect((await call('GET', '/whoami', secret)).body).toEqual({ principal: 'key', orgId, keyId: key.keyId, role: 'member' });
  });
});

describe('organisations', () => {
  test('the operator creates, reads, lists and updates orgs', async () => {
    const orgId = await newOrg('Acme');
    await newOrg('Globex');
    expect((await call('GET', `/orgs/${orgId}`, OPERATOR)).body).toMatchObject({ orgId, name: 'Acme', plan: 'pro', ipAllowlist: [] });
    const list = await call('GET', '/orgs?limit=1', OPERATOR);
    expect(list.body.items).toHaveLength(1);
    const next = await call('GET', `/orgs?limit=1&cursor=${list.body.nextCursor}`, OPERATOR);
    expect(next.body.items).toHaveLength(1);
    expect(next.body.items[0].orgId).not.toBe(list.body.items[0].orgId);
    const patched = await call('PATCH', `/orgs/${orgId}`, OPERATOR, { plan: 'team', ipAllowlist: ['203.0.113.0/24', '2001:db8::1'] });
    expect(patched.body).toMatchObject({ plan: 'team', ipAllowlist: ['203.0.113.0/24', '2001:db8::1'] });
  });

  test('an Idempotency-Key makes a retried create return the first org; reuse with another body is 409', async () => {
    const first = await call('POST', '/orgs', OPERATOR, { name: 'Acme' }, { 'idempotency-key': 'create-acme-1' });
    const retry = await call('POST', '/orgs', OPERATOR, { name: 'Acme' }, { 'idempotency-key': 'create-acme-1' });
    expect([first.status, retry.status]).toEqual([201, 200]);
    expect(retry.body.orgId).toBe(first.body.orgId);
    const reused = await call('POST', '/orgs', OPERATOR, { name: 'Other' }, { 'idempotency-key': 'create-acme-1' });
    expect(reused.status).toBe(409);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    expect((await call('GET', '/orgs', OPERATOR)).body.items).toHaveLength(1);
  });

  test('bad input gets 400 with the offending field paths', async () => {
    const res = await call('POST', '/orgs', OPERATOR, { plan: 'gold', ipAllowlist: ['10.0.0.0/8', 'not-a-cidr'], extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    const paths = res.body.error.details.map((d: { path: string }) => d.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'plan', 'ipAllowlist.1']));
  });

  test('unknown org ids are 404, malformed ones 400', async () => {
    expect((await call('GET', '/orgs/org_aaaaaaaaaaaaaaaa', OPERATOR)).status).toBe(404);
    const bad = await call('GET', '/orgs/..%2F..%2Fetc', OPERATOR);
    expect(bad.status).toBe(400);
    expect(bad.body.error.details[0].path).toBe('orgId');
  });
});

describe('MCP servers', () => {
  test('create with two endpoints and bearer auth: the credential is write-only and stored as ciphertext', async () => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody());
    expect(res.status).toBe(201);
    expect(res.body).toMatchObject({
      orgId,
      slug: 'tools',
      displayName: 'tools',
      upstreamAuth: { type: 'bearer' },
      hasUpstreamSecret: true,
      endpoints: [
        { url: 'https://mcp-a.example.com/mcp', weight: 100, id: expect.stringMatching(/^ep_/) },
        { url: 'https://mcp-b.example.com/mcp', weight: 20, id: expect.stringMatching(/^ep_/) },
      ],
    });
    expect(res.body).not.toHaveProperty('upstreamSecret');

    const { Item } = await DynamoDBDocumentClient.from(db.client).send(
      new GetCommand({ TableName: table, Key: { pk: `ORG#${orgId}`, sk: 'MCP#tools' } }),
    );
    expect(JSON.stringify(Item)).not.toContain(UPSTREAM_TOKEN);
    expect(Item!.upstreamSecret).toMatchObject({ provider: 'local', ciphertext: expect.any(String), wrappedKey: expect.any(String) });
    const stored = await service['store'].getMcp(orgId, 'tools');
    expect(await cipher.decrypt(stored!.upstreamSecret!, upstreamSecretContext(orgId, 'tools'))).toBe(UPSTREAM_TOKEN);
  });

  test('duplicate slugs are 409; an idempotent retry returns the first', async () => {
    const orgId = await newOrg();
    const first = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody(), { 'idempotency-key': 'mcp-1' });
    const retry = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody(), { 'idempotency-key': 'mcp-1' });
    expect([first.status, retry.status]).toEqual([201, 200]);
    expect(retry.body.endpoints).toEqual(first.body.endpoints);
    const dup = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody());
    expect(dup.status).toBe(409);
    expect(dup.body.error.code).toBe('slug_taken');
  });

  test.each([
    ['https://internal.example.com/mcp', 'host resolves to a private address'],
    ['https://169.254.169.254/latest/meta-data', 'linkLocal'],
    ['http://mcp-a.example.com/mcp', 'must use https'],
    ['https://127.0.0.1/mcp', 'loopback'],
    ['https://unknown.example.com/mcp', 'does not resolve'],
  ])('endpoint %s is refused', async (url, why) => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { slug: 'x', endpoints: [{ url: 'https://mcp-a.example.com/' }, { url }] });
    expect(res.status).toBe(400);
    expect(res.body.error.details).toEqual([{ path: 'endpoints.1.url', message: expect.stringContaining(why) }]);
  });

  test.each(['../etc', 'UPPER', '-lead', 'a'.repeat(64), 'white space', 'sl/ash'])('slug %j is refused', async (slug) => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody(), slug });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain('slug');
  });

  test('header credentials may not set gateway-owned headers or smuggle CR/LF', async () => {
    const orgId = await newOrg();
    for (const upstreamAuth of [
      { type: 'header', headerName: 'Host', value: 'x' },
      { type: 'header', headerName: 'X-Api-Key', value: 'a\r\nInjected: 1' },
      { type: 'basic', username: 'a:b', password: 'p' },
    ]) {
      const res = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody(), upstreamAuth });
      expect(res.status).toBe(400);
      expect(res.body.error.details[0].path).toMatch(/^upstreamAuth\./);
    }
  });

  test('get, patch (endpoint ids kept for unchanged URLs), delete, then 404', async () => {
    const orgId = await newOrg();
    const created = (await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody())).body;
    expect((await call('GET', `/orgs/${orgId}/mcps/tools`, OPERATOR)).body).toEqual(created);
    const patched = await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, {
      displayName: 'Tools',
      endpoints: [{ url: 'https://mcp-a.example.com/mcp', weight: 5 }],
      upstreamAuth: { type: 'header', headerName: 'X-Api-Key', value: UPSTREAM_TOKEN },
      toolPolicy: { allow: ['search_*'], deny: ['delete_*'] },
    });
    expect(patched.status).toBe(200);
    expect(patched.body.endpoints).toEqual([{ id: created.endpoints[0].id, url: 'https://mcp-a.example.com/mcp', weight: 5 }]);
    expect(patched.body.upstreamAuth).toEqual({ type: 'header', headerName: 'X-Api-Key' });
    expect(patched.body.toolPolicy).toEqual({ allow: ['search_*'], deny: ['delete_*'] });
    expect(Date.parse(patched.body.updatedAt)).toBeGreaterThan(Date.parse(created.updatedAt));
    expect((await call('DELETE', `/orgs/${orgId}/mcps/tools`, OPERATOR)).status).toBe(204);
    expect((await call('GET', `/orgs/${orgId}/mcps/tools`, OPERATOR)).status).toBe(404);
    expect((await call('DELETE', `/orgs/${orgId}/mcps/tools`, OPERATOR)).status).toBe(404);
    expect((await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, { displayName: 'x' })).status).toBe(404);
  });

  test('creating in an unknown org is 404', async () => {
    const res = await call('POST', '/orgs/org_aaaaaaaaaaaaaaaa/mcps', OPERATOR, mcpBody());
    expect(res.status).toBe(404);
  });

  test('pagination through the API, and a cursor from another listing is refused', async () => {
    const orgA = await newOrg('A');
    const orgB = await newOrg('B');
    for (const slug of ['a1', 'a2', 'a3']) await call('POST', `/orgs/${orgA}/mcps`, OPERATOR, mcpBody(slug));
    await call('POST', `/orgs/${orgB}/mcps`, OPERATOR, mcpBody('b1'));
    await call('POST', `/orgs/${orgB}/mcps`, OPERATOR, mcpBody('b2'));
    const page = await call('GET', `/orgs/${orgA}/mcps?limit=2`, OPERATOR);
    expect(page.body.items.map((m: { slug: string }) => m.slug)).toEqual(['a1', 'a2']);
    const rest = await call('GET', `/orgs/${orgA}/mcps?limit=2&cursor=${page.body.nextCursor}`, OPERATOR);
    expect(rest.body.items.map((m: { slug: string }) => m.slug)).toEqual(['a3']);
    const bPage = await call('GET', `/orgs/${orgB}/mcps?limit=1`, OPERATOR);
    const forged = await call('GET', `/orgs/${orgA}/mcps?limit=2&cursor=${bPage.body.nextCursor}`, OPERATOR);
    expect(forged.status).toBe(400);
    expect(forged.body.error.code).toBe('invalid_cursor');
    expect((await call('GET', `/orgs/${orgA}/mcps?limit=0`, OPERATOR)).status).toBe(400);
  });
});

describe('API keys and authorization', () => {
  test('a key is shown once; the store holds only an Argon2id hash', async () => {
    const orgId = await newOrg();
    const created = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'ci', role: 'member', scopes: { mcps: ['tools'], tools: { tools: { allow: ['read_*'], deny: [] } } } });
    expect(created.status).toBe(201);
    expect(created.headers.get('cache-control')).toBe('no-store');
    const { key, secret } = created.body;
    expect(secret).toMatch(new RegExp(`^pmcp_${key.keyId}_[A-Za-z0-9_-]{43}$`));
    const { Item } = await DynamoDBDocumentClient.from(db.client).send(new GetCommand({ TableName: table, Key: { pk: `KEY#${key.keyId}`, sk: '#KEY' } }));
    expect(Item!.secretHash).toMatch(/^\$argon2id\$v=19\$m=19456,p=1,t=2\$/);
    expect(JSON.stringify(Item)).not.toContain(secret.slice(-43));
    const listed = await call('GET', `/orgs/${orgId}/keys`, OPERATOR);
    expect(listed.body.items).toEqual([expect.objectContaining({ keyId: key.keyId, scopes: { mcps: ['tools'], tools: { tools: { allow: ['read_*'], deny: [] } } } })]);
    expect(JSON.stringify(listed.body)).not.toMatch(/secretHash|argon2/);
    expect(JSON.stringify((await call('GET', `/orgs/${orgId}/keys/${key.keyId}`, OPERATOR)).body)).not.toContain('argon2');
  });

  test('an org admin key manages its own org and nothing else', async () => {
    const orgA = await newOrg('A');
    const orgB = await newOrg('B');
    const adminA = (await newKey(orgA, 'admin')).secret;
    const memberA = (await newKey(orgA, 'member')).secret;

    expect((await call('POST', `/orgs/${orgA}/mcps`, adminA, mcpBody())).status).toBe(201);
    expect((await call('GET', `/orgs/${orgA}/mcps`, adminA)).body.items).toHaveLength(1);
    expect((await call('POST', `/orgs/${orgA}/keys`, adminA, { name: 'agent' })).status).toBe(201);
    expect((await call('PATCH', `/orgs/${orgA}`, adminA, { name: 'A renamed' })).status).toBe(200);

    const denied: [string, string, string?, unknown?][] = [
      ['forbidden_org', 'GET', `/orgs/${orgB}`],
      ['forbidden_org', 'GET', `/orgs/${orgB}/mcps`],
      ['forbidden_org', 'POST', `/orgs/${orgB}/keys`, { name: 'x' }],
      ['operator_required', 'POST', '/orgs', { name: 'mine' }],
      ['operator_required', 'GET', '/orgs'],
      ['operator_required', 'PATCH', `/orgs/${orgA}`, { plan: 'enterprise' }],
    ];
    for (const [code, method, path, body] of denied) {
      const res = await call(method, path!, adminA, body);
      expect([path, res.status, res.body.error.code]).toEqual([path, 403, code]);
    }
    const member = await call('GET', `/orgs/${orgA}/mcps`, memberA);
    expect([member.status, member.body.error.code]).toEqual([403, 'admin_role_required']);
    // Another org's key id is not found through this org, even by the operator.
    const keyB = (await newKey(orgB, 'member')).key.keyId;
    expect((await call('GET', `/orgs/${orgA}/keys/${keyB}`, OPERATOR)).status).toBe(404);
    expect((await call('POST', `/orgs/${orgA}/keys/${keyB}/revoke`, OPERATOR)).status).toBe(404);
  });

  test('revocation takes effect on the admin API at once', async () => {
    const orgId = await newOrg();
    const { key, secret } = await newKey(orgId, 'admin');
    expect((await call('GET', `/orgs/${orgId}/mcps`, secret)).status).toBe(200);
    const revoked = await call('POST', `/orgs/${orgId}/keys/${key.keyId}/revoke`, OPERATOR);
    expect(revoked.body.revokedAt).toEqual(expect.any(String));
    const after = await call('GET', `/orgs/${orgId}/mcps`, secret);
    expect([after.status, after.body.error.code]).toEqual([401, 'invalid_api_key']);
  });

  test('an expired key is refused; an expiry in the past is refused at creation', async () => {
    const orgId = await newOrg();
    const past = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'old', expiresAt: '2020-01-01T00:00:00Z' });
    expect(past.status).toBe(400);
    expect(past.body.error.details).toEqual([{ path: 'expiresAt', message: 'must be in the future' }]);
    const soon = new Date(Date.now() + 1500).toISOString();
    const { secret } = await newKey(orgId, 'admin', { expiresAt: soon });
    expect((await call('GET', '/whoami', secret)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1600));
    expect((await call('GET', '/whoami', secret)).status).toBe(401);
  });

  test('a retried key create with the same Idempotency-Key issues no second key', async () => {
    const orgId = await newOrg();
    const headers = { 'idempotency-key': 'key-1' };
    expect((await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'ci' }, headers)).status).toBe(201);
    const retry = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'ci' }, headers);
    expect([retry.status, retry.body.error.code]).toEqual([409, 'key_already_issued']);
    expect((await call('GET', `/orgs/${orgId}/keys`, OPERATOR)).body.items).toHaveLength(1);
  });
});

describe('health and discovered tools', () => {
  const at = (minute: number) => `2026-03-01T10:${String(minute).padStart(2, '0')}:00.000Z`;
  const state = (orgId: string, endpointId: string, region: string, extra: object = {}) => ({
    orgId, mcp: 'tools', endpointId, region, status: 'healthy' as const, consecutiveFailures: 0, consecutiveSuccesses: 3,
    lastCheckAt: at(5), lastChangeAt: at(1), latencyMs: 120, writtenAt: at(5), ...extra,
  });

  test('an MCP never checked has empty lists; unknown MCPs are 404', async () => {
    const orgId = await newOrg();
    await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody());
    const res = await call('GET', `/orgs/${orgId}/mcps/tools/health`, OPERATOR);
    expect([res.status, res.body]).toEqual([200, { endpoints: [], history: [] }]);
    const missing = await call('GET', `/orgs/${orgId}/mcps/nope/health`, OPERATOR);
    expect([missing.status, missing.body.error.code]).toEqual([404, 'not_found']);
    const tools = await call('GET', `/orgs/${orgId}/mcps/nope/tools`, OPERATOR);
    expect([tools.status, tools.body.error.code]).toEqual([404, 'not_found']);
  });

  test('states of the configured endpoints in every region, and history newest first up to ?history', async () => {
    const orgId = await newOrg();
    const mcp = (await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody())).body;
    const [a, b] = mcp.endpoints.map((e: { id: string }) => e.id);
    await health.putState(state(orgId, a, 'us-east-1'), { endpointId: a, region: 'us-east-1', from: 'unknown', to: 'healthy', at: at(1), latencyMs: 100 });
    await health.putState(
      state(orgId, b, 'us-east-1', { status: 'unhealthy', consecutiveFailures: 4, consecutiveSuccesses: 0, errorClass: 'connect_timeout', latencyMs: undefined }),
      { endpointId: b, region: 'us-east-1', from: 'healthy', to: 'unhealthy', at: at(3), errorClass: 'connect_timeout' },
    );
    await health.putState(state(orgId, a, 'eu-west-1'), { endpointId: a, region: 'eu-west-1', from: 'degraded', to: 'healthy', at: at(4) });
    // An endpoint that is no longer configured is not shown.
    await health.putState(state(orgId, 'ep_removedremovedre', 'us-east-1'));

    const res = await call('GET', `/orgs/${orgId}/mcps/tools/health?history=2`, OPERATOR);
    expect(res.status).toBe(200);
    expect(res.body.endpoints).toHaveLength(3);
    expect(res.body.endpoints).toEqual(expect.arrayContaining([
      state(orgId, a, 'us-east-1'),
      state(orgId, a, 'eu-west-1'),
      { ...state(orgId, b, 'us-east-1', { status: 'unhealthy', consecutiveFailures: 4, consecutiveSuccesses: 0, errorClass: 'connect_timeout' }), latencyMs: undefined },
    ].map((e) => expect.objectContaining(Object.fromEntries(Object.entries(e).filter(([, v]) => v !== undefined))))));
    expect(res.body.history).toEqual([
      { endpointId: a, region: 'eu-west-1', from: 'degraded', to: 'healthy', at: at(4) },
      { endpointId: b, region: 'us-east-1', from: 'healthy', to: 'unhealthy', at: at(3), errorClass: 'connect_timeout' },
    ]);
    expect((await call('GET', `/orgs/${orgId}/mcps/tools/health`, OPERATOR)).body.history).toHaveLength(3);
    expect((await call('GET', `/orgs/${orgId}/mcps/tools/health?history=0`, OPERATOR)).body.history).toEqual([]);
    for (const bad of ['101', '-1', 'many']) {
      const r = await call('GET', `/orgs/${orgId}/mcps/tools/health?history=${bad}`, OPERATOR);
      expect([r.status, r.body.error.details[0].path]).toEqual([400, 'history']);
    }
  });

  test('discovered tools: 404 not_discovered until the checker stored them, then the stored metadata', async () => {
    const orgId = await newOrg();
    await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody());
    const before = await call('GET', `/orgs/${orgId}/mcps/tools/tools`, OPERATOR);
    expect([before.status, before.body.error.code]).toEqual([404, 'not_discovered']);
    const metadata = {
      tools: [{ name: 'search', description: 'Search things', inputSchema: { type: 'object', properties: { q: { type: 'string' } } } }],
      resources: [{ name: 'readme', uri: 'file:///README.md' }],
      prompts: [],
      hash: 'a'.repeat(64),
      discoveredAt: at(2),
      region: 'us-east-1',
    };
    await health.putMetadata(orgId, 'tools', metadata);
    const res = await call('GET', `/orgs/${orgId}/mcps/tools/tools`, OPERATOR);
    expect([res.status, res.body]).toEqual([200, metadata]);
  });

  test('org admins of that org only', async () => {
    const orgA = await newOrg('A');
    const orgB = await newOrg('B');
    await call('POST', `/orgs/${orgA}/mcps`, OPERATOR, mcpBody());
    const adminA = (await newKey(orgA, 'admin')).secret;
    const adminB = (await newKey(orgB, 'admin')).secret;
    const memberA = (await newKey(orgA, 'member')).secret;
    expect((await call('GET', `/orgs/${orgA}/mcps/tools/health`, adminA)).status).toBe(200);
    for (const path of [`/orgs/${orgA}/mcps/tools/health`, `/orgs/${orgA}/mcps/tools/tools`]) {
      expect((await call('GET', path, adminB)).body.error.code).toBe('forbidden_org');
      expect((await call('GET', path, memberA)).body.error.code).toBe('admin_role_required');
      expect((await call('GET', path)).status).toBe(401);
    }
  });
});

describe('alert subscriptions', () => {
  const email = (address = 'oncall@example.com', events?: string[]) => ({ type: 'email', address, ...(events ? { events } : {}) });

  test('create (every event by default), list, delete: the delivery subscribes and unsubscribes', async () => {
    const orgId = await newOrg();
    const created = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email());
    expect(created.status).toBe(201);
    expect(created.body).toEqual({
      subscriptionId: expect.stringMatching(/^al_[a-z2-7]{16}$/),
      orgId,
      type: 'email',
      address: 'oncall@example.com',
      events: ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'],
      createdAt: expect.any(String),
      deliveryRef: `arn:aws:sns:us-east-1:111111111111:org-alerts:${created.body.subscriptionId}`,
    });
    const tools = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email('dev@example.com', ['mcp.tools.changed', 'mcp.tools.changed']));
    expect(tools.body.events).toEqual(['mcp.tools.changed']);

    const list = await call('GET', `/orgs/${orgId}/alerts`, OPERATOR);
    expect(list.body).toEqual({ items: [created.body, tools.body] });

    // Stored next to the org in the registry table.
    const { Item } = await DynamoDBDocumentClient.from(db.client).send(
      new GetCommand({ TableName: table, Key: { pk: `ORG#${orgId}`, sk: `ALERT#${created.body.subscriptionId}` } }),
    );
    expect(Item).toMatchObject({ entity: 'alert', address: 'oncall@example.com' });
    // The MCP listing of the same partition does not see it.
    expect((await call('GET', `/orgs/${orgId}/mcps`, OPERATOR)).body.items).toEqual([]);

    expect((await call('DELETE', `/orgs/${orgId}/alerts/${created.body.subscriptionId}`, OPERATOR)).status).toBe(204);
    expect((await call('GET', `/orgs/${orgId}/alerts`, OPERATOR)).body.items).toEqual([tools.body]);
    const again = await call('DELETE', `/orgs/${orgId}/alerts/${created.body.subscriptionId}`, OPERATOR);
    expect([again.status, again.body.error.code]).toEqual([404, 'not_found']);
    expect(delivery.calls).toEqual([
      ['subscribe', 'oncall@example.com'],
      ['subscribe', 'dev@example.com'],
      ['unsubscribe', created.body.deliveryRef],
    ]);
  });

  test('the free plan gets 403 plan_required; upgrading allows it', async () => {
    const orgId = await newOrg('Free', 'free');
    const res = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email());
    expect([res.status, res.body.error.code]).toEqual([403, 'plan_required']);
    expect(delivery.calls).toEqual([]);
    await call('PATCH', `/orgs/${orgId}`, OPERATOR, { plan: 'team' });
    expect((await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email())).status).toBe(201);
  });

  test.each([
    [{ type: 'email', address: 'not-an-email' }, 'address'],
    [{ type: 'email', address: 'a@b.example\r\nBcc: x@y.example' }, 'address'],
    [{ type: 'email', address: `${'a'.repeat(250)}@example.com` }, 'address'],
    [{ type: 'sms', address: '+15555550100' }, 'type'],
    [{ type: 'email', address: 'a@example.com', events: ['mcp.everything'] }, 'events.0'],
    [{ type: 'email', address: 'a@example.com', events: [] }, 'events'],
    [{ type: 'email', address: 'a@example.com', extra: true }, '(body)'],
  ])('%j is 400 at %s', async (input, path) => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, input);
    expect([res.status, res.body.error.code]).toEqual([400, 'validation_failed']);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  test('at most 20 per org (409 too_many_subscriptions); the same address twice is 409 already_subscribed', async () => {
    const orgId = await newOrg();
    for (let i = 0; i < 20; i++) expect((await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email(`a${i}@example.com`))).status).toBe(201);
    const dup = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email('A0@Example.com'));
    expect([dup.status, dup.body.error.code]).toEqual([409, 'already_subscribed']);
    const full = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, email('a20@example.com'));
    expect([full.status, full.body.error.code]).toEqual([409, 'too_many_subscriptions']);
    expect((await call('GET', `/orgs/${orgId}/alerts`, OPERATOR)).body.items).toHaveLength(20);
    // Another org has its own 20.
    expect((await call('POST', `/orgs/${await newOrg('B')}/alerts`, OPERATOR, email('a0@example.com'))).status).toBe(201);
  });

  test('org admins of that org only; unknown org 404; malformed subscription id 400', async () => {
    const orgA = await newOrg('A');
    const orgB = await newOrg('B');
    const adminA = (await newKey(orgA, 'admin')).secret;
    const memberA = (await newKey(orgA, 'member')).secret;
    const sub = (await call('POST', `/orgs/${orgA}/alerts`, adminA, email())).body;
    expect(sub.orgId).toBe(orgA);
    expect((await call('GET', `/orgs/${orgB}/alerts`, adminA)).body.error.code).toBe('forbidden_org');
    expect((await call('POST', `/orgs/${orgB}/alerts`, adminA, email())).body.error.code).toBe('forbidden_org');
    expect((await call('GET', `/orgs/${orgA}/alerts`, memberA)).body.error.code).toBe('admin_role_required');
    // Another org's subscription id is not found through this org, even by the operator.
    expect((await call('DELETE', `/orgs/${orgB}/alerts/${sub.subscriptionId}`, OPERATOR)).status).toBe(404);
    expect((await call('GET', '/orgs/org_aaaaaaaaaaaaaaaa/alerts', OPERATOR)).status).toBe(404);
    expect((await call('POST', '/orgs/org_aaaaaaaaaaaaaaaa/alerts', OPERATOR, email())).status).toBe(404);
    const bad = await call('DELETE', `/orgs/${orgA}/alerts/..%2Fx`, OPERATOR);
    expect([bad.status, bad.body.error.details[0].path]).toEqual([400, 'subscriptionId']);
    expect((await call('GET', `/orgs/${orgA}/alerts`, OPERATOR)).body.items).toEqual([sub]);
  });

  test('without an alert delivery (no topic configured) the routes answer 501 alerts_unavailable', async () => {
    const store = new DynamoDbRegistryStore(db.client, table);
    const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
    app = createAdminApp({
      service, authenticateKey: (k) => keys.authenticate(k), operator: new OperatorCredential(async () => OPERATOR), health, audit, strictAudit: true,
      alerts: new AlertService({ store: new DynamoDbAlertStore(db.client, table), getOrg: (id) => store.getOrg(id) }),
    });
    const orgId = await newOrg();
    for (const [method, path, body] of [
      ['POST', `/orgs/${orgId}/alerts`, email()],
      ['GET', `/orgs/${orgId}/alerts`],
      ['DELETE', `/orgs/${orgId}/alerts/al_aaaaaaaaaaaaaaaa`],
    ] as const) {
      const res = await call(method, path, OPERATOR, body);
      expect([res.status, res.body.error.code]).toEqual([501, 'alerts_unavailable']);
    }
  });
});

describe('protocol hygiene', () => {
  test('malformed JSON, wrong content type, oversized bodies and unknown routes get stable codes', async () => {
    const malformed = await call('POST', '/orgs', OPERATOR, '{"name": ');
    expect([malformed.status, malformed.body.error.code]).toEqual([400, 'malformed_json']);
    const wrongType = await call('POST', '/orgs', OPERATOR, '{"name":"x"}', { 'content-type': 'text/plain' });
    expect([wrongType.status, wrongType.body.error.code]).toEqual([415, 'unsupported_media_type']);
    const huge = await call('POST', '/orgs', OPERATOR, { name: 'x'.repeat(70 * 1024) });
    expect([huge.status, huge.body.error.code]).toEqual([413, 'body_too_large']);
    const unknown = await call('GET', '/nope', OPERATOR);
    expect([unknown.status, unknown.body.error.code]).toEqual([404, 'not_found']);
  });

  test('the OpenAPI document is generated from the validating schemas', async () => {
    const res = await app.request(`${BASE}/openapi.json`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(doc.openapi).toBe('3.1.0');
    expect(Object.keys(doc.paths).sort()).toEqual(
      [
        '/orgs', '/orgs/{orgId}', '/orgs/{orgId}/keys', '/orgs/{orgId}/keys/{keyId}', '/orgs/{orgId}/keys/{keyId}/revoke',
        '/orgs/{orgId}/mcps', '/orgs/{orgId}/mcps/{slug}', '/orgs/{orgId}/mcps/{slug}/health', '/orgs/{orgId}/mcps/{slug}/tools',
        '/orgs/{orgId}/alerts', '/orgs/{orgId}/alerts/{subscriptionId}', '/plans', '/whoami', '/events',
        '/orgs/{orgId}/usage', '/orgs/{orgId}/usage/export', '/usage',
        '/orgs/{orgId}/audit', '/orgs/{orgId}/audit/head', '/orgs/{orgId}/audit/digests', '/orgs/{orgId}/audit/verification',
        '/audit', '/audit/head', '/audit/digests', '/audit/verification',
        '/orgs/{orgId}/webhooks', '/orgs/{orgId}/webhooks/{endpointId}', '/orgs/{orgId}/webhooks/{endpointId}/rotate-secret',
        '/orgs/{orgId}/webhooks/{endpointId}/test', '/orgs/{orgId}/webhooks/{endpointId}/deliveries', '/orgs/{orgId}/webhooks/deliveries/{deliveryId}/redeliver',
        '/orgs/{orgId}/grants', '/orgs/{orgId}/grants/{grantId}', '/orgs/{orgId}/grants/{grantId}/revoke',
      ].map((p) => BASE + p).sort(),
    );
    const schemaOf = (path: string, method: string, status: string) => doc.paths[BASE + path][method].responses[status].content['application/json'].schema.$ref;
    expect(schemaOf('/orgs/{orgId}/mcps/{slug}/health', 'get', '200')).toBe('#/components/schemas/McpHealth');
    expect(schemaOf('/orgs/{orgId}/mcps/{slug}/tools', 'get', '200')).toBe('#/components/schemas/McpTools');
    expect(schemaOf('/orgs/{orgId}/alerts', 'post', '201')).toBe('#/components/schemas/AlertSubscription');
    expect(schemaOf('/orgs/{orgId}/alerts', 'get', '200')).toBe('#/components/schemas/AlertSubscriptionList');
    expect(schemaOf('/orgs/{orgId}/audit/verification', 'get', '200')).toBe('#/components/schemas/AuditVerification');
    expect(doc.paths[`${BASE}/orgs/{orgId}/alerts`].post.responses['501']).toBeDefined();
    expect(schemaOf('/orgs/{orgId}/grants', 'get', '200')).toBe('#/components/schemas/OAuthGrantPage');
    expect(schemaOf('/orgs/{orgId}/grants/{grantId}/revoke', 'post', '200')).toBe('#/components/schemas/OAuthGrant');
    expect(doc.paths[`${BASE}/orgs/{orgId}/grants`].get.responses['501']).toBeDefined();
    expect(doc.components.schemas.ApiKey.properties.oauth.required).toEqual(['clientId', 'clientName', 'grantId']);
    expect(doc.components.schemas.CreateAlertSubscription).toMatchObject({
      required: ['type', 'address'],
      properties: { address: { format: 'email' }, events: { items: { enum: ['mcp.endpoint.status.changed', 'mcp.tools.changed', 'webhook.endpoint.disabled'] } } },
    });
    expect(doc.components.schemas.McpHealth.properties.endpoints.items.$ref).toBe('#/components/schemas/EndpointHealth');
    const historyParam = doc.paths[`${BASE}/orgs/{orgId}/mcps/{slug}/health`].get.parameters.find((p: { name: string }) => p.name === 'history');
    expect(historyParam).toMatchObject({ in: 'query', schema: { minimum: 0, maximum: 100, default: 20 } });
    expect(doc.components.schemas.CreateMcpServer.properties.slug.pattern).toBe(SLUG_PATTERN.source);
    expect(doc.components.schemas.CreateMcpServer.required).toEqual(expect.arrayContaining(['slug', 'endpoints']));
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    expect(doc.paths[`${BASE}/orgs/{orgId}/keys`].post.responses['201'].content['application/json'].schema.$ref).toBe('#/components/schemas/CreatedApiKey');
  });
});

describe('plan limits', () => {
  const planLimit = (res: { status: number; body: { error: { code: string; limit?: unknown } } }) => [res.status, res.body.error.code, res.body.error.limit];

  test('MCP servers: concurrent creates stop at the cap with 403 plan_limit_reached naming it; a delete frees one', async () => {
    const orgId = await newOrg('Free', 'free'); // maxMcpServers 3
    const results = await Promise.all(Array.from({ length: 6 }, (_, i) => call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody(`m${i}`))));
    expect(results.filter((r) => r.status === 201)).toHaveLength(3);
    const refused = results.filter((r) => r.status !== 201);
    expect(refused.map(planLimit)).toEqual(Array(3).fill([403, 'plan_limit_reached', { name: 'maxMcpServers', value: 3 }]));
    expect(refused[0]!.body.error.message).toContain('maxMcpServers');
    expect((await call('GET', `/orgs/${orgId}/mcps`, OPERATOR)).body.items).toHaveLength(3);

    const kept = results.find((r) => r.status === 201)!.body.slug;
    expect((await call('DELETE', `/orgs/${orgId}/mcps/${kept}`, OPERATOR)).status).toBe(204);
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('again'), { 'idempotency-key': 'again-1' })).status).toBe(201);
    // Full again, yet a retry of that create is still answered as a replay, not as a limit.
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('again'), { 'idempotency-key': 'again-1' })).status).toBe(200);
    expect(planLimit(await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('more')))).toEqual([403, 'plan_limit_reached', { name: 'maxMcpServers', value: 3 }]);
  });

  test('endpoints per MCP server, on create and on update', async () => {
    const orgId = await newOrg('Free', 'free'); // maxEndpointsPerMcp 2
    const three = [{ url: 'https://mcp-a.example.com/1' }, { url: 'https://mcp-a.example.com/2' }, { url: 'https://mcp-a.example.com/3' }];
    const create = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody(), endpoints: three });
    expect(planLimit(create)).toEqual([403, 'plan_limit_reached', { name: 'maxEndpointsPerMcp', value: 2 }]);
    expect(create.body.error.details).toEqual([{ path: 'endpoints', message: 'must list at most 2 endpoints on this plan' }]);
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody())).status).toBe(201);
    const patch = await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, { endpoints: three });
    expect(planLimit(patch)).toEqual([403, 'plan_limit_reached', { name: 'maxEndpointsPerMcp', value: 2 }]);
    expect((await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, { displayName: 'fine' })).status).toBe(200);
    // The schema's own bound holds whatever the plan.
    const many = Array.from({ length: 101 }, (_, i) => ({ url: `https://mcp-a.example.com/${i}` }));
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody('x'), endpoints: many })).status).toBe(400);
  });

  test('API keys: unrevoked keys are capped, concurrently too; revoking frees a slot once', async () => {
    const orgId = await newOrg('Free', 'free'); // maxApiKeys 10
    const results = await Promise.all(Array.from({ length: 13 }, (_, i) => call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: `k${i}` })));
    expect(results.filter((r) => r.status === 201)).toHaveLength(10);
    expect(results.filter((r) => r.status !== 201).map(planLimit)).toEqual(Array(3).fill([403, 'plan_limit_reached', { name: 'maxApiKeys', value: 10 }]));
    const victim = results.find((r) => r.status === 201)!.body.key.keyId;
    await call('POST', `/orgs/${orgId}/keys/${victim}/revoke`, OPERATOR);
    await call('POST', `/orgs/${orgId}/keys/${victim}/revoke`, OPERATOR);
    expect((await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'replacement' })).status).toBe(201);
    expect((await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'one too many' })).status).toBe(403);
    expect((await call('GET', `/orgs/${orgId}`, OPERATOR)).body.usage).toEqual({ mcpServers: 0, apiKeys: 10 });
  });

  test("an org admin's key may not have a rate limit above the plan's; the operator's may, and is marked", async () => {
    const orgId = await newOrg('Free', 'free'); // requestsPerMinute 60
    const admin = (await newKey(orgId, 'admin')).secret;
    const over = await call('POST', `/orgs/${orgId}/keys`, admin, { name: 'greedy', rateLimitPerMinute: 1_000_000 });
    expect(planLimit(over)).toEqual([403, 'plan_limit_reached', { name: 'requestsPerMinute', value: 60 }]);
    expect(over.body.error.details).toEqual([{ path: 'rateLimitPerMinute', message: 'must be at most 60 on this plan' }]);
    const within = await call('POST', `/orgs/${orgId}/keys`, admin, { name: 'modest', rateLimitPerMinute: 60 });
    expect(within.status).toBe(201);
    expect(within.body.key).toMatchObject({ rateLimitPerMinute: 60 });
    expect(within.body.key).not.toHaveProperty('rateLimitSetByOperator');
    const byOperator = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'bench', rateLimitPerMinute: 1_000_000 });
    expect(byOperator.status).toBe(201);
    expect(byOperator.body.key).toMatchObject({ rateLimitPerMinute: 1_000_000, rateLimitSetByOperator: true });
    expect((await call('GET', `/orgs/${orgId}/keys/${byOperator.body.key.keyId}`, admin)).body.rateLimitSetByOperator).toBe(true);
    // The ceiling follows the overrides.
    await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: { requestsPerMinute: 120 } });
    expect((await call('POST', `/orgs/${orgId}/keys`, admin, { name: 'raised', rateLimitPerMinute: 120 })).status).toBe(201);
  });

  test('the operator overrides limits per org; GET shows the overrides, the limits in force and the usage', async () => {
    const orgId = await newOrg('Free', 'free');
    for (const slug of ['a', 'b', 'c']) expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody(slug))).status).toBe(201);
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('d'))).status).toBe(403);

    const patched = await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: { maxMcpServers: 4, maxApiKeys: 50 } });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({ planOverrides: { maxMcpServers: 4, maxApiKeys: 50 }, limits: { maxMcpServers: 4, maxApiKeys: 50, requestsPerMinute: 60 } });
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('d'))).status).toBe(201);
    const detail = await call('GET', `/orgs/${orgId}`, OPERATOR);
    expect(detail.body).toMatchObject({ plan: 'free', planOverrides: { maxMcpServers: 4, maxApiKeys: 50 }, usage: { mcpServers: 4, apiKeys: 0 } });
    expect(detail.body.limits).toEqual({
      requestsPerMinute: 60, monthlyRequests: 10_000, maxMcpServers: 4, maxEndpointsPerMcp: 2, maxApiKeys: 50,
      maxConcurrentStreamsPerKey: 5, handshakesPerKeyPerMinute: 10, maxWebhookEndpoints: 0,
    });
    // Overrides are replaced as a whole; {} and null remove them.
    expect((await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: { maxApiKeys: 20 } })).body.planOverrides).toEqual({ maxApiKeys: 20 });
    const cleared = await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: {} });
    expect(cleared.body).not.toHaveProperty('planOverrides');
    expect(cleared.body.limits.maxMcpServers).toBe(3);
    await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: { maxApiKeys: 20 } });
    expect((await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides: null })).body).not.toHaveProperty('planOverrides');
    // Created with overrides too; listed with its limits.
    const created = await call('POST', '/orgs', OPERATOR, { name: 'Big', planOverrides: { maxEndpointsPerMcp: 8 } });
    expect(created.body).toMatchObject({ plan: 'free', planOverrides: { maxEndpointsPerMcp: 8 }, limits: { maxEndpointsPerMcp: 8 } });
    expect((await call('GET', '/orgs', OPERATOR)).body.items.every((o: { limits?: object }) => o.limits !== undefined)).toBe(true);
  });

  test.each([
    [{ maxApiKeys: 0 }, 'planOverrides.maxApiKeys'],
    [{ maxApiKeys: -1 }, 'planOverrides.maxApiKeys'],
    [{ requestsPerMinute: 1.5 }, 'planOverrides.requestsPerMinute'],
    [{ maxApiKeys: '50' }, 'planOverrides.maxApiKeys'],
    [{ maxWidgets: 5 }, 'planOverrides'],
  ])('override %j is 400 at %s', async (planOverrides, path) => {
    const orgId = await newOrg();
    const res = await call('PATCH', `/orgs/${orgId}`, OPERATOR, { planOverrides });
    expect([res.status, res.body.error.code]).toEqual([400, 'validation_failed']);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  test('org admins cannot set overrides or the plan, even with an invalid body', async () => {
    const orgId = await newOrg();
    const admin = (await newKey(orgId, 'admin')).secret;
    for (const body of [{ planOverrides: { maxApiKeys: 500 } }, { planOverrides: null }, { planOverrides: { maxApiKeys: 'lots' } }, { plan: 'gold' }]) {
      const res = await call('PATCH', `/orgs/${orgId}`, admin, body);
      expect([res.status, res.body.error.code]).toEqual([403, 'operator_required']);
    }
    expect((await call('GET', `/orgs/${orgId}`, admin)).body).not.toHaveProperty('planOverrides');
    // Malformed JSON from an org admin is still the validator's to report.
    expect((await call('PATCH', `/orgs/${orgId}`, admin, '{"name":')).body.error.code).toBe('malformed_json');
  });

  test('GET /plans lists every limit of every plan', async () => {
    const orgId = await newOrg();
    const member = (await newKey(orgId, 'member')).secret;
    const res = await call('GET', '/plans', member);
    expect(res.body.items).toHaveLength(4);
    expect(res.body.items[0]).toEqual({
      plan: 'free', requestsPerMinute: 60, monthlyRequests: 10_000, maxMcpServers: 3, maxEndpointsPerMcp: 2, maxApiKeys: 10,
      maxConcurrentStreamsPerKey: 5, handshakesPerKeyPerMinute: 10, maxWebhookEndpoints: 0,
    });
  });
});

describe('resource and prompt policies', () => {
  const resourcePolicy = { allow: ['file:///docs/*', 'https://api.example.com/v1/items?id=*&view=full', 'db://main/#users'], deny: ['file:///docs/private/*'] };
  const promptPolicy = { allow: ['summarize*', 'ns:review'], deny: ['debug_*'] };

  test('MCP servers take resource and prompt policies (default allow all); PATCH replaces each', async () => {
    const orgId = await newOrg();
    const created = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody(), resourcePolicy, promptPolicy });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ resourcePolicy, promptPolicy });
    const plain = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody('plain'));
    expect(plain.body).toMatchObject({ resourcePolicy: { allow: [], deny: [] }, promptPolicy: { allow: [], deny: [] } });
    const patched = await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, { resourcePolicy: { deny: ['secret://*'] } });
    expect(patched.body.resourcePolicy).toEqual({ allow: [], deny: ['secret://*'] });
    expect(patched.body.promptPolicy).toEqual(promptPolicy);
    expect((await call('GET', `/orgs/${orgId}/mcps/tools`, OPERATOR)).body).toMatchObject({ resourcePolicy: { allow: [], deny: ['secret://*'] }, promptPolicy });
    const { Item } = await DynamoDBDocumentClient.from(db.client).send(new GetCommand({ TableName: table, Key: { pk: `ORG#${orgId}`, sk: 'MCP#tools' } }));
    expect(Item).toMatchObject({ resourcePolicy: { allow: [], deny: ['secret://*'] }, promptPolicy });
  });

  test('key scopes take per-MCP resource and prompt policies', async () => {
    const orgId = await newOrg();
    const scopes = { mcps: ['tools'], tools: {}, resources: { tools: resourcePolicy, '*': { allow: [], deny: ['file:///etc/*'] } }, prompts: { tools: promptPolicy } };
    const created = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'scoped', scopes });
    expect(created.status).toBe(201);
    expect(created.body.key.scopes).toEqual(scopes);
    expect((await call('GET', `/orgs/${orgId}/keys/${created.body.key.keyId}`, OPERATOR)).body.scopes).toEqual(scopes);
  });

  test.each([
    [{ resourcePolicy: { allow: ['file:///docs/ x'] } }, 'resourcePolicy.allow.0'],
    [{ resourcePolicy: { allow: ['file:///docs/\nx'] } }, 'resourcePolicy.allow.0'],
    [{ resourcePolicy: { deny: [''] } }, 'resourcePolicy.deny.0'],
    [{ resourcePolicy: { deny: [`file:///${'a'.repeat(510)}`] } }, 'resourcePolicy.deny.0'],
    [{ resourcePolicy: { deny: ['file:///docs/<script>'] } }, 'resourcePolicy.deny.0'],
    [{ resourcePolicy: { allow: [], extra: [] } }, 'resourcePolicy'],
    [{ promptPolicy: { allow: ['two words'] } }, 'promptPolicy.allow.0'],
  ])('MCP policy %j is 400 at %s', async (policy, path) => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody(), ...policy });
    expect([res.status, res.body.error.code]).toEqual([400, 'validation_failed']);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toContain(path);
  });

  test('a bad key scope pattern is 400 at its path', async () => {
    const orgId = await newOrg();
    const res = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'k', scopes: { resources: { tools: { allow: ['has space'] } }, prompts: { 'Bad Slug': { allow: [] } } } });
    expect(res.status).toBe(400);
    expect(res.body.error.details.map((d: { path: string }) => d.path)).toEqual(expect.arrayContaining(['scopes.resources.tools.allow.0', 'scopes.prompts.Bad Slug']));
  });
});

describe('authorization comes before validation', () => {
  test('member keys and keys of another org get 403 on every mutating route, whatever the body', async () => {
    const orgA = await newOrg('A');
    const orgB = await newOrg('B');
    await call('POST', `/orgs/${orgA}/mcps`, OPERATOR, mcpBody());
    const memberA = (await newKey(orgA, 'member')).secret;
    const adminB = (await newKey(orgB, 'admin')).secret;
    const invalid = { bogus: true, slug: 'NOT A SLUG', endpoints: 'none', name: '', rateLimitPerMinute: -1, type: 'sms' };
    const routes: [string, string][] = [
      ['PATCH', `/orgs/${orgA}`],
      ['POST', `/orgs/${orgA}/mcps`],
      ['PATCH', `/orgs/${orgA}/mcps/tools`],
      ['PATCH', `/orgs/${orgA}/mcps/NOT..VALID`],
      ['DELETE', `/orgs/${orgA}/mcps/NOT..VALID`],
      ['POST', `/orgs/${orgA}/keys`],
      ['POST', `/orgs/${orgA}/keys/not-a-key-id/revoke`],
      ['POST', `/orgs/${orgA}/alerts`],
      ['DELETE', `/orgs/${orgA}/alerts/not-an-alert-id`],
      ['GET', `/orgs/${orgA}/mcps?limit=0`],
      ['GET', `/orgs/${orgA}/keys?limit=1000`],
      ['GET', `/orgs/${orgA}/mcps/tools/health?history=-1`],
    ];
    for (const [method, path] of routes) {
      const hasBody = method === 'POST' || method === 'PATCH';
      const headers = { 'idempotency-key': 'has spaces and is not valid' };
      const asMember = await call(method, path, memberA, hasBody ? invalid : undefined, headers);
      expect([method, path, asMember.status, asMember.body.error.code]).toEqual([method, path, 403, 'admin_role_required']);
      const asOther = await call(method, path, adminB, hasBody ? invalid : undefined, headers);
      expect([method, path, asOther.status, asOther.body.error.code]).toEqual([method, path, 403, 'forbidden_org']);
    }
    // A key (even an admin one) on an operator route, and on a malformed org id.
    const adminA = (await newKey(orgA, 'admin')).secret;
    for (const [method, path] of [['POST', '/orgs'], ['GET', '/orgs?limit=0']] as const) {
      const res = await call(method, path, adminA, method === 'POST' ? invalid : undefined);
      expect([path, res.status, res.body.error.code]).toEqual([path, 403, 'operator_required']);
    }
    const malformed = await call('PATCH', '/orgs/..%2F..%2Fetc', adminA, invalid);
    expect([malformed.status, malformed.body.error.code]).toEqual([403, 'forbidden_org']);
    // The operator, and the org's own admin, do get the validation errors.
    expect((await call('POST', `/orgs/${orgA}/mcps`, OPERATOR, invalid)).status).toBe(400);
    expect((await call('POST', `/orgs/${orgA}/mcps`, adminA, invalid)).status).toBe(400);
    expect((await call('GET', `/orgs/${orgA}/mcps?limit=0`, adminA)).status).toBe(400);
    // Nothing was created or changed by the refused requests.
    expect((await call('GET', `/orgs/${orgA}/mcps`, OPERATOR)).body.items).toHaveLength(1);
  });
});

describe('Origin validation (DNS rebinding)', () => {
  test.each([
    ['https://evil.example'],
    ['null'],
    ['http://127.0.0.1:8787'],
    ['not an origin'],
  ])('by default a request with Origin %s gets 403 origin_not_allowed, before credentials are looked at', async (origin) => {
    for (const token of [OPERATOR, undefined, 'pmop_wrong']) {
      const res = await call('GET', '/whoami', token, undefined, { origin });
      expect([res.status, res.body.error.code]).toEqual([403, 'origin_not_allowed']);
      expect(res.headers.get('x-request-id')).toBeTruthy();
      expect(res.headers.get('access-control-allow-origin')).toBeNull();
    }
    expect((await call('GET', '/whoami', OPERATOR)).status).toBe(200); // no Origin: the CLI, SDKs, curl
  });

  test('allowed origins pass (with CORS, preflight included); others still get 403', async () => {
    app = createAdminApp({ ...deps, allowedOrigins: ['https://Admin.Example.com:443'] });
    const ok = await call('GET', '/whoami', OPERATOR, undefined, { origin: 'https://admin.example.com' });
    expect([ok.status, ok.body]).toEqual([200, { principal: 'operator' }]);
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(ok.headers.get('access-control-expose-headers')).toMatch(/X-Request-Id/i);
    const preflight = await app.request(`${BASE}/orgs`, {
      method: 'OPTIONS',
      headers: { origin: 'https://admin.example.com', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('https://admin.example.com');
    expect(preflight.headers.get('access-control-allow-headers')).toMatch(/Authorization/);
    expect(preflight.headers.get('access-control-allow-methods')).toMatch(/PATCH/);
    const other = await call('GET', '/whoami', OPERATOR, undefined, { origin: 'https://admin.example.com.evil.example' });
    expect([other.status, other.body.error.code]).toEqual([403, 'origin_not_allowed']);
    const otherPreflight = await app.request(`${BASE}/orgs`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(otherPreflight.status).toBe(403);
  });
});

describe('OpenAPI document for limits and policies', () => {
  test('policies, overrides, limits and the plan_limit_reached error are in the generated document', async () => {
    const doc = (await (await app.request(`${BASE}/openapi.json`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const schemas = doc.components.schemas;
    expect(schemas.CreateMcpServer.properties.resourcePolicy.$ref).toBe('#/components/schemas/ResourcePolicy');
    expect(schemas.CreateMcpServer.properties.promptPolicy.$ref).toBe('#/components/schemas/PromptPolicy');
    expect(schemas.ResourcePolicy.properties.allow.items).toMatchObject({ type: 'string', pattern: expect.stringContaining('512') });
    expect(schemas.UpdateMcpServer.properties).toHaveProperty('resourcePolicy');
    expect(schemas.KeyScopes.properties).toHaveProperty('resources');
    expect(schemas.KeyScopes.properties).toHaveProperty('prompts');
    expect(schemas.ApiKey.properties).toHaveProperty('rateLimitSetByOperator');
    expect(Object.keys(schemas.PlanLimits.properties).sort()).toEqual(
      ['handshakesPerKeyPerMinute', 'maxApiKeys', 'maxConcurrentStreamsPerKey', 'maxEndpointsPerMcp', 'maxMcpServers', 'maxWebhookEndpoints', 'monthlyRequests', 'requestsPerMinute'],
    );
    expect(JSON.stringify(schemas.UpdateOrg.properties.planOverrides)).toContain('PlanOverrides');
    expect(schemas.Org.properties.limits).toBeDefined();
    expect(doc.paths[`${BASE}/orgs/{orgId}`].get.responses['200'].content['application/json'].schema.$ref).toBe('#/components/schemas/OrgDetail');
    expect(schemas.Error.properties.error.properties.limit.properties.name.enum).toContain('maxMcpServers');
  });
});

describe('operator token rotation', () => {
  test('a rotated operator token is refused by a warm admin API within the bound', async () => {
    let clock = Date.now();
    let current = OPERATOR;
    app = createAdminApp({ ...deps, operator: new OperatorCredential(async () => current, { maxAgeMs: 60_000, now: () => clock }) });
    expect((await call('GET', '/whoami', OPERATOR)).status).toBe(200);
    current = 'pmop_rotated-operator-token';
    clock += 60_000;
    const old = await call('GET', '/whoami', OPERATOR);
    expect([old.status, old.body.error.code]).toEqual([401, 'invalid_credentials']);
    expect((await call('GET', '/whoami', current)).body).toEqual({ principal: 'operator' });
  });
});
