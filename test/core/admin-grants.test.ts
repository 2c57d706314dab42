/**
 * OAuth grants in the admin API, against dynalite: the grants the consent page makes (through
 * GrantService.create, as it does), listed, shown and revoked by org admins and the operator;
 * a revocation takes the backing key and every token of the grant, is recorded once in the org's
 * audit chain and announced as `grant.revoked`; the key route does the same for a backing key.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { accessTokenHash, DynamoDbOAuthStore, ensureOAuthTable } from '../../lambda/adapters/dynamodb-oauth-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { createAdminApp } from '../../lambda/core/admin/app';
import { OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { AlertService } from '../../lambda/core/alert-service';
import { ApiKeyAuthenticator } from '../../lambda/core/api-keys';
import type { AuditEntry } from '../../lambda/core/audit/entry';
import { verifyChain } from '../../lambda/core/audit/verify';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import type { PlexEvent } from '../../lambda/core/events/model';
import type { KeyScopes } from '../../lambda/core/model';
import { GrantService } from '../../lambda/core/oauth/grants';
import { RegistryService } from '../../lambda/core/registry-service';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const OPERATOR = 'pmop_grants-test-operator-token';
const BASE = '/admin/v1';
const ISSUER = 'http://127.0.0.1:8080';

let db: TestDynamoDb;
let deps: Parameters<typeof createAdminApp>[0];
let app: ReturnType<typeof createAdminApp>;
let audit: DynamoDbAuditStore;
let tokens: DynamoDbOAuthStore;
let grants: GrantService;
let published: PlexEvent[];
let clock: number;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());
beforeEach(async () => {
  const table = await db.newRegistryTable();
  const auditTable = `audit-${randomUUID()}`;
  const oauthTable = `oauth-${randomUUID()}`;
  await Promise.all([ensureAuditTable(db.client, auditTable), ensureOAuthTable(db.client, oauthTable)]);
  clock = Date.UTC(2026, 11, 2, 9, 0, 0);
  const store = new DynamoDbRegistryStore(db.client, table);
  const service = new RegistryService({
    store,
    cipher: new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32))),
    urlPolicy: { allowLoopback: false, resolve: async () => ['93.184.216.34'] },
    now: () => new Date(clock),
  });
  audit = new DynamoDbAuditStore(db.client, auditTable);
  tokens = new DynamoDbOAuthStore(db.client, oauthTable, { now: () => clock });
  published = [];
  const events = { publish: async (batch: readonly PlexEvent[]) => void published.push(...batch) };
  grants = new GrantService({ service, journal: audit, tokens, events, now: () => clock, warn: () => undefined });
  const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  deps = {
    service,
    authenticateKey: (k) => keys.authenticate(k),
    operator: new OperatorCredential(async () => OPERATOR),
    health: new DynamoDbHealthStore(db.client, table),
    alerts: new AlertService({ store: new DynamoDbAlertStore(db.client, table), getOrg: (id) => store.getOrg(id) }),
    audit,
    grants,
    events,
    strictAudit: true,
    now: () => clock,
    sourceIp: () => '203.0.113.7',
    warn: () => undefined,
  };
  app = createAdminApp(deps);
});

async function call(method: string, path: string, token: string) {
  const res = await app.request(`${BASE}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

async function newOrg(): Promise<string> {
  const res = await app.request(`${BASE}/orgs`, { method: 'POST', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Acme', plan: 'pro' }) });
  expect(res.status).toBe(201);
  return ((await res.json()) as { orgId: string }).orgId;
}

async function newKey(orgId: string, role: 'admin' | 'member'): Promise<{ keyId: string; secret: string }> {
  const { key, secret } = await deps.service.createKey(orgId, { name: `${role} key`, role, scopes: { mcps: '*', tools: {} } });
  return { keyId: key.keyId, secret };
}

const SCOPES: KeyScopes = { mcps: ['github'], tools: { github: { allow: ['search_*'], deny: [] } } };

/** A grant as the consent page makes one (GrantService.create, recorded as grant.created). */
async function approve(orgId: string, clientName = 'Claude', scopes: KeyScopes = SCOPES) {
  const grantId = randomBytes(16).toString('base64url');
  const clientId = `client-${randomUUID()}`;
  const key = await grants.create({ orgId, grantId, clientId, clientName, scopes }, { actor: { kind: 'operator' }, sourceIp: '203.0.113.8', requestId: 'consent-1' });
  return { grantId, clientId, keyId: key.keyId };
}

/** An access and a refresh token of the grant in the token store, as oidc-provider upserts them. */
async function issueTokens(orgId: string, grant: { grantId: string; clientId: string; keyId: string }) {
  const [access, refresh] = [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];
  const now = Math.floor(clock / 1000);
  const common = { iat: now, accountId: grant.keyId, clientId: grant.clientId, grantId: grant.grantId, scope: 'mcp:tools', extra: { orgId, iss: ISSUER } };
  await tokens.adapterFor('AccessToken').upsert(access, { ...common, exp: now + 600, jti: access, kind: 'AccessToken', aud: `${ISSUER}/mcp/github` }, 600);
  await tokens.adapterFor('RefreshToken').upsert(refresh, { ...common, exp: now + 86400, jti: refresh, kind: 'RefreshToken' }, 86400);
  return {
    /** Whether each token is still in the store: [access, refresh]. */
    live: async () => [(await tokens.find(accessTokenHash(access))) !== undefined, (await tokens.adapterFor('RefreshToken').find(refresh)) !== undefined],
  };
}

async function chain(orgId: string): Promise<AuditEntry[]> {
  return (await audit.list(orgId, { limit: 1000 })).entries;
}

describe('listing and reading grants', () => {
  test('an org admin lists the org grants (client, backing key, servers and policies, times); API keys are not grants, the keys list marks backing keys', async () => {
    const orgId = await newOrg();
    const admin = await newKey(orgId, 'admin');
    const claude = await approve(orgId, 'Claude');
    clock += 1_000;
    const inspector = await approve(orgId, 'MCP Inspector', { mcps: '*', tools: {} });
    const res = await call('GET', `/orgs/${orgId}/grants`, admin.secret);
    expect(res.status).toBe(200);
    expect(res.body.nextCursor).toBeUndefined();
    const byId = Object.fromEntries((res.body.items as { grantId: string }[]).map((g) => [g.grantId, g]));
    expect(Object.keys(byId).sort()).toEqual([claude.grantId, inspector.grantId].sort());
    expect(byId[claude.grantId]).toEqual({
      grantId: claude.grantId,
      orgId,
      clientId: claude.clientId,
      clientName: 'Claude',
      keyId: claude.keyId,
      scopes: SCOPES,
      createdAt: new Date(clock - 1_000).toISOString(),
    });
    expect(byId[inspector.grantId]).toMatchObject({ clientName: 'MCP Inspector', scopes: { mcps: '*' } });

    const keys = await call('GET', `/orgs/${orgId}/keys`, admin.secret);
    const marks = Object.fromEntries((keys.body.items as { keyId: string; oauth?: unknown }[]).map((k) => [k.keyId, k.oauth]));
    expect(marks).toEqual({
      [admin.keyId]: undefined,
      [claude.keyId]: { clientId: claude.clientId, clientName: 'Claude', grantId: claude.grantId },
      [inspector.keyId]: { clientId: inspector.clientId, clientName: 'MCP Inspector', grantId: inspector.grantId },
    });

    const one = await call('GET', `/orgs/${orgId}/grants/${claude.grantId}`, OPERATOR);
    expect([one.status, one.body]).toEqual([200, byId[claude.grantId]]);
  });

  test('pages: every grant exactly once by following the cursor, with many keys between them', async () => {
    const orgId = await newOrg();
    const made: string[] = [];
    for (let i = 0; i < 5; i++) {
      await newKey(orgId, 'member');
      made.push((await approve(orgId, `client ${i}`)).grantId);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    for (let pages = 0; pages < 20; pages++) {
      const res = await call('GET', `/orgs/${orgId}/grants?limit=2${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`, OPERATOR);
      expect(res.status).toBe(200);
      expect(res.body.items.length).toBeLessThanOrEqual(2);
      seen.push(...(res.body.items as { grantId: string }[]).map((g) => g.grantId));
      cursor = res.body.nextCursor;
      if (!cursor) break;
    }
    expect(cursor).toBeUndefined();
    expect(seen.sort()).toEqual(made.sort());
  });

  test('a member key, another org admin and an unknown grant are refused', async () => {
    const orgA = await newOrg();
    const orgB = await newOrg();
    const grant = await approve(orgA);
    const member = await newKey(orgA, 'member');
    const outsider = await newKey(orgB, 'admin');
    const codes = async (method: string, path: string, token: string) => {
      const res = await call(method, path, token);
      return [res.status, res.body.error.code];
    };
    expect(await codes('GET', `/orgs/${orgA}/grants`, member.secret)).toEqual([403, 'admin_role_required']);
    expect(await codes('POST', `/orgs/${orgA}/grants/${grant.grantId}/revoke`, member.secret)).toEqual([403, 'admin_role_required']);
    expect(await codes('GET', `/orgs/${orgA}/grants`, outsider.secret)).toEqual([403, 'forbidden_org']);
    expect(await codes('POST', `/orgs/${orgA}/grants/${grant.grantId}/revoke`, outsider.secret)).toEqual([403, 'forbidden_org']);
    // Org B's admin asking its own org for org A's grant: it does not exist there.
    expect(await codes('GET', `/orgs/${orgB}/grants/${grant.grantId}`, outsider.secret)).toEqual([404, 'not_found']);
    expect(await codes('POST', `/orgs/${orgB}/grants/${grant.grantId}/revoke`, outsider.secret)).toEqual([404, 'not_found']);
    expect(await codes('GET', `/orgs/${orgA}/grants/no-such-grant`, OPERATOR)).toEqual([404, 'not_found']);
    expect(await codes('GET', `/orgs/${orgA}/grants/not%20a%20grant`, OPERATOR)).toEqual([400, 'validation_failed']);
    // Nothing was revoked by any of it.
    expect((await call('GET', `/orgs/${orgA}/grants/${grant.grantId}`, OPERATOR)).body.revokedAt).toBeUndefined();
  });
});

describe('revoking a grant', () => {
  test('revokes the backing key and every token of the grant (only that grant), one grant.revoked entry and event; again changes nothing', async () => {
    const orgId = await newOrg();
    const admin = await newKey(orgId, 'admin');
    const grant = await approve(orgId);
    const other = await approve(orgId, 'Other client');
    const issued = await issueTokens(orgId, grant);
    const untouched = await issueTokens(orgId, other);
    expect(await issued.live()).toEqual([true, true]);
    const before = (await chain(orgId)).length;
    published.length = 0;

    clock += 60_000;
    const res = await call('POST', `/orgs/${orgId}/grants/${grant.grantId}/revoke`, admin.secret);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ grantId: grant.grantId, keyId: grant.keyId, revokedAt: new Date(clock).toISOString() });
    expect((await deps.service.getKey(orgId, grant.keyId)).revokedAt).toBe(new Date(clock).toISOString());
    expect(await issued.live()).toEqual([false, false]);
    expect(await untouched.live()).toEqual([true, true]);

    const entries = await chain(orgId);
    expect(entries.length).toBe(before + 1);
    expect(entries.at(-1)).toMatchObject({
      action: 'grant.revoked',
      target: { type: 'grant', id: grant.grantId },
      actor: { kind: 'key', keyId: admin.keyId, name: 'admin key' },
      sourceIp: '203.0.113.7',
      changes: [{ field: 'revokedAt', new: new Date(clock).toISOString() }],
    });
    expect(published).toEqual([{ type: 'grant.revoked', orgId, at: new Date(clock).toISOString(), grantId: grant.grantId, clientId: grant.clientId, keyId: grant.keyId }]);

    const again = await call('POST', `/orgs/${orgId}/grants/${grant.grantId}/revoke`, admin.secret);
    expect([again.status, again.body.revokedAt]).toEqual([200, res.body.revokedAt]);
    expect((await chain(orgId)).length).toBe(before + 1);
    expect(published.length).toBe(1);
    expect((await call('GET', `/orgs/${orgId}/grants`, admin.secret)).body.items.find((g: { grantId: string }) => g.grantId === grant.grantId).revokedAt).toBe(res.body.revokedAt);
    expect(verifyChain(await chain(orgId))).toMatchObject({ ok: true });
  });

  test('the key route on a backing key revokes the grant (its tokens too), recorded as grant.revoked; on an API key it stays key.revoked', async () => {
    const orgId = await newOrg();
    const grant = await approve(orgId);
    const issued = await issueTokens(orgId, grant);
    const plain = await newKey(orgId, 'member');
    published.length = 0;

    const res = await call('POST', `/orgs/${orgId}/keys/${grant.keyId}/revoke`, OPERATOR);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ keyId: grant.keyId, revokedAt: expect.any(String), oauth: { grantId: grant.grantId } });
    expect(await issued.live()).toEqual([false, false]);
    expect((await chain(orgId)).at(-1)).toMatchObject({ action: 'grant.revoked', target: { type: 'grant', id: grant.grantId } });
    expect(published.map((e) => e.type)).toEqual(['grant.revoked']);
    expect((await call('GET', `/orgs/${orgId}/grants/${grant.grantId}`, OPERATOR)).body.revokedAt).toBe(res.body.revokedAt);

    expect((await call('POST', `/orgs/${orgId}/keys/${plain.keyId}/revoke`, OPERATOR)).status).toBe(200);
    expect((await chain(orgId)).at(-1)).toMatchObject({ action: 'key.revoked', target: { type: 'key', id: plain.keyId } });
    expect(published.map((e) => e.type)).toEqual(['grant.revoked', 'key.revoked']);
  });

  test('without grants the routes answer 501 oauth_unavailable and a backing key is revoked as a key; a lookup is asked on every request', async () => {
    const orgId = await newOrg();
    const grant = await approve(orgId);
    // Unset at first, as in a host that builds the OAuth runtime after the admin app.
    let source: GrantService | undefined = undefined;
    app = createAdminApp({ ...deps, grants: () => source });
    for (const [method, path] of [['GET', `/orgs/${orgId}/grants`], ['GET', `/orgs/${orgId}/grants/${grant.grantId}`], ['POST', `/orgs/${orgId}/grants/${grant.grantId}/revoke`]] as const) {
      const res = await call(method, path, OPERATOR);
      expect([method, path, res.status, res.body.error.code]).toEqual([method, path, 501, 'oauth_unavailable']);
    }
    source = grants;
    expect((await call('GET', `/orgs/${orgId}/grants/${grant.grantId}`, OPERATOR)).status).toBe(200);

    const second = await approve(orgId, 'Second');
    app = createAdminApp({ ...deps, grants: undefined });
    expect((await call('POST', `/orgs/${orgId}/keys/${second.keyId}/revoke`, OPERATOR)).status).toBe(200);
    expect((await chain(orgId)).at(-1)).toMatchObject({ action: 'key.revoked', target: { type: 'key', id: second.keyId } });
  });
});
