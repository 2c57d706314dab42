import { randomBytes, randomUUID } from 'node:crypto';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../lambda/adapters/dynamodb-delivery-store';
import { DynamoDbHealthStore } from '../../lambda/adapters/dynamodb-health-store';
import { DynamoDbOAuthStore, ensureOAuthTable } from '../../lambda/adapters/dynamodb-oauth-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../../lambda/adapters/dynamodb-webhook-endpoints';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { createAdminApp } from '../../lambda/core/admin/app';
import { OperatorCredential } from '../../lambda/core/admin/operator-credential';
import { AlertService } from '../../lambda/core/alert-service';
import { ApiKeyAuthenticator } from '../../lambda/core/api-keys';
import { type AuditEntry, SYSTEM_AUDIT_SCOPE } from '../../lambda/core/audit/entry';
import { verifyChain } from '../../lambda/core/audit/verify';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { parseEvent } from '../../lambda/core/events/catalog';
import { GrantService } from '../../lambda/core/oauth/grants';
import type { PlexEvent } from '../../lambda/core/events/model';
import { RegistryService } from '../../lambda/core/registry-service';
import { limitFromPlan, WebhookService } from '../../lambda/core/webhooks/endpoints';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';

const OPERATOR = 'pmop_audit-test-operator-token';
const UPSTREAM_TOKEN = 'upstream-audit-s3cret';
const BASE = '/admin/v1';

let db: TestDynamoDb;
let audit: DynamoDbAuditStore;
let auditTable: string;
let app: ReturnType<typeof createAdminApp>;
let deps: Parameters<typeof createAdminApp>[0];
let published: PlexEvent[];
let clock: number;
let sourceIp: string;
let webhookService: WebhookService;
let deliveryStore: DynamoDbDeliveryStore;
let grantService: GrantService;

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
  const store = new DynamoDbRegistryStore(db.client, table);
  const cipher = new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32)));
  // Public names resolve to a public address, except one that points inside.
  const urlPolicy = { allowLoopback: false, resolve: async (host: string) => (host === 'inside.example.com' ? ['10.1.2.3'] : ['93.184.216.34']) };
  const [endpointsTable, deliveriesTable] = [`webhooks-${randomUUID()}`, `deliveries-${randomUUID()}`];
  await Promise.all([ensureWebhookEndpointTable(db.client, endpointsTable), ensureDeliveryTable(db.client, deliveriesTable)]);
  deliveryStore = new DynamoDbDeliveryStore(db.client, deliveriesTable);
  const webhooks = (webhookService = new WebhookService({
    endpoints: new DynamoDbWebhookEndpointStore(db.client, endpointsTable),
    deliveries: deliveryStore,
    cipher,
    urlPolicy,
    limitFor: limitFromPlan((id) => store.getOrg(id)),
    now: () => new Date(clock),
  }));
  const service = new RegistryService({
    store,
    cipher,
    urlPolicy,
    now: () => new Date(clock),
  });
  const keys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
  const oauthTable = `oauth-${randomUUID()}`;
  await ensureOAuthTable(db.client, oauthTable);
  // The grants the consent page makes, in the same audit log and on the same bus.
  grantService = new GrantService({
    service,
    journal: audit,
    tokens: new DynamoDbOAuthStore(db.client, oauthTable),
    events: { publish: async (events) => void published.push(...events) },
    now: () => clock,
    warn: () => undefined,
  });
  published = [];
  clock = Date.UTC(2026, 11, 2, 9, 0, 0);
  sourceIp = '203.0.113.9';
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
    webhooks,
    grants: grantService,
    events: { publish: async (events) => void published.push(...events) },
    strictAudit: true,
    now: () => clock,
    sourceIp: () => sourceIp,
    warn: () => undefined,
  };
  app = createAdminApp(deps);
});

async function call(method: string, path: string, token: string | undefined, body?: unknown) {
  const headers: Record<string, string> = {};
  if (token) headers.authorization = `Bearer ${token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await app.request(`${BASE}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

/** A test delivery to the endpoint whose one attempt failed for good (made beside the API: no audit entry). */
async function failedDelivery(orgId: string, endpointId: string): Promise<string> {
  const queued = await webhookService.sendTest(orgId, endpointId);
  expect(await deliveryStore.recordAttempt(queued.deliveryId, 0, { at: clock, status: 500, latencyMs: 3 }, { state: 'failed' })).toBe(true);
  return queued.deliveryId;
}

async function entries(scope: string): Promise<AuditEntry[]> {
  return (await audit.list(scope, { limit: 1000 })).entries;
}

async function newOrg(plan = 'pro'): Promise<string> {
  const res = await call('POST', '/orgs', OPERATOR, { name: 'Acme', plan });
  expect(res.status).toBe(201);
  return res.body.orgId;
}

const mcpBody = { slug: 'tools', endpoints: [{ url: 'https://mcp-a.example.com/mcp' }], upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN } };

describe('every change through the admin API is in the org audit chain', () => {
  test('org, MCP, key, revocation and plan change: the matching entries, in one valid chain, no secret values', async () => {
    const orgId = await newOrg();
    expect((await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody)).status).toBe(201);
    const key = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'ci deploy', role: 'admin' });
    expect(key.status).toBe(201);
    const keyId = key.body.key.keyId as string;
    sourceIp = '198.51.100.20';
    // The org admin key revokes itself: the actor is that key, by id and name.
    clock += 1_000;
    expect((await call('POST', `/orgs/${orgId}/keys/${keyId}/revoke`, key.body.secret)).status).toBe(200);
    clock += 1_000;
    expect((await call('PATCH', `/orgs/${orgId}`, OPERATOR, { plan: 'team' })).status).toBe(200);

    const chain = await entries(orgId);
    expect(chain.map((e) => [e.seq, e.action, e.target.type])).toEqual([
      [1, 'org.created', 'org'],
      [2, 'mcp.created', 'mcp'],
      [3, 'key.created', 'key'],
      [4, 'key.revoked', 'key'],
      [5, 'org.updated', 'org'],
    ]);
    expect(verifyChain(chain)).toEqual({ ok: true, last: { seq: 5, hash: (await audit.head(orgId))!.hash } });

    const [created, mcp, issued, revoked, plan] = chain as [AuditEntry, AuditEntry, AuditEntry, AuditEntry, AuditEntry];
    expect(created).toMatchObject({ actor: { kind: 'operator' }, sourceIp: '203.0.113.9', target: { id: orgId } });
    expect(created.changes).toContainEqual({ field: 'plan', new: 'pro' });
    expect(mcp.changes).toContainEqual({ field: 'upstreamSecret', secret: true });
    expect(mcp.changes).toContainEqual({ field: 'endpoints', new: [expect.objectContaining({ url: 'https://mcp-a.example.com/mcp' })] });
    expect(issued).toMatchObject({ target: { type: 'key', id: keyId } });
    expect(issued.changes).toContainEqual({ field: 'role', new: 'admin' });
    expect(revoked).toMatchObject({ actor: { kind: 'key', keyId, name: 'ci deploy' }, sourceIp: '198.51.100.20', target: { id: keyId } });
    expect(revoked.changes).toEqual([{ field: 'revokedAt', new: new Date(clock - 1_000).toISOString() }]);
    expect(plan.changes).toEqual([{ field: 'plan', old: 'pro', new: 'team' }]);
    expect(plan.time).toBe(new Date(clock).toISOString());
    // Neither the upstream token nor the key's secret or hash is anywhere in the log.
    const everything = JSON.stringify(chain);
    expect(everything).not.toContain(UPSTREAM_TOKEN);
    expect(everything).not.toContain(key.body.secret);
    expect(everything).not.toMatch(/argon2|secretHash/);

    expect(published.map((e) => [e.type, e.orgId])).toEqual([
      ['mcp.created', orgId],
      ['key.created', orgId],
      ['key.revoked', orgId],
    ]);
    expect(published[2]).toMatchObject({ keyId, name: 'ci deploy' });
  });

  test('MCP update and delete record old and new values; an idempotent replay or a repeated revoke records nothing', async () => {
    const orgId = await newOrg();
    await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody);
    expect((await call('PATCH', `/orgs/${orgId}/mcps/tools`, OPERATOR, { displayName: 'Tools v2' })).status).toBe(200);
    expect((await call('DELETE', `/orgs/${orgId}/mcps/tools`, OPERATOR)).status).toBe(204);
    const headers = { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json', 'idempotency-key': 'create-once' };
    for (let i = 0; i < 2; i++) await app.request(`${BASE}/orgs/${orgId}/mcps`, { method: 'POST', headers, body: JSON.stringify({ ...mcpBody, slug: 'again' }) });
    const key = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'k', role: 'member' });
    for (let i = 0; i < 2; i++) expect((await call('POST', `/orgs/${orgId}/keys/${key.body.key.keyId}/revoke`, OPERATOR)).status).toBe(200);

    const chain = await entries(orgId);
    expect(chain.map((e) => e.action)).toEqual(['org.created', 'mcp.created', 'mcp.updated', 'mcp.deleted', 'mcp.created', 'key.created', 'key.revoked']);
    expect(chain[2]!.changes).toEqual([{ field: 'displayName', old: 'tools', new: 'Tools v2' }]);
    expect(chain[3]!.changes).toContainEqual({ field: 'displayName', old: 'Tools v2' });
    expect(published.find((e) => e.type === 'mcp.updated')).toMatchObject({ mcp: 'tools', fields: ['displayName'] });
    // Every event matches its catalog schema exactly.
    for (const event of published) expect(() => parseEvent(event)).not.toThrow();
  });

  test('a refused change (404) writes no entry and leaves the org free for the next change at once', async () => {
    const orgId = await newOrg();
    expect((await call('POST', `/orgs/${orgId}/keys/aaaaaaaaaaaaaaaa/revoke`, OPERATOR)).status).toBe(404);
    expect((await call('PATCH', `/orgs/${orgId}/mcps/nope`, OPERATOR, { displayName: 'x' })).status).toBe(404);
    expect((await call('PATCH', `/orgs/${orgId}`, OPERATOR, { name: 'Acme 2' })).status).toBe(200);
    expect((await entries(orgId)).map((e) => e.action)).toEqual(['org.created', 'org.updated']);
  });

  test('while another writer holds the org\'s lock past the wait, a change is refused with 503 audit_busy and not made', async () => {
    const orgId = await newOrg();
    const impatient = new DynamoDbAuditStore(db.client, auditTable, { lockWaitMs: 100 });
    app = createAdminApp({ ...deps, audit: impatient });
    await impatient.begin(orgId, { time: new Date(clock).toISOString(), actor: { kind: 'operator' }, sourceIp: '203.0.113.1', requestId: 'other', action: 'org.updated', target: { type: 'org', id: orgId } });
    const res = await app.request(`${BASE}/orgs/${orgId}`, { method: 'PATCH', headers: { authorization: `Bearer ${OPERATOR}`, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Not now' }) });
    expect([res.status, res.headers.get('retry-after'), ((await res.json()) as { error: { code: string } }).error.code]).toEqual([503, '1', 'audit_busy']);
    expect((await call('GET', `/orgs/${orgId}`, OPERATOR)).body.name).toBe('Acme');
  });

  test('concurrent changes of one org get gapless sequence numbers, each old value the previous new one', async () => {
    const orgId = await newOrg();
    const names = Array.from({ length: 10 }, (_, i) => `Name ${i}`);
    const results = await Promise.all(names.map((name) => call('PATCH', `/orgs/${orgId}`, OPERATOR, { name })));
    expect(results.map((r) => r.status)).toEqual(names.map(() => 200));
    const updates = (await entries(orgId)).slice(1);
    expect(updates.map((e) => e.seq)).toEqual(Array.from({ length: 10 }, (_, i) => i + 2));
    let previous = 'Acme';
    for (const entry of updates) {
      const change = entry.changes.find((c) => c.field === 'name')!;
      expect(change.old).toBe(previous);
      previous = change.new as string;
    }
    expect(new Set(updates.map((e) => (e.changes[0] as { new: string }).new))).toEqual(new Set(names));
  });
});

describe('no route can skip its guard or its audit entry', () => {
  /** A successful call of every mutating operation, keyed `METHOD path-template`. */
  async function mutatingCalls(orgId: string): Promise<Record<string, () => Promise<{ status: number }>>> {
    await call('POST', `/orgs/${orgId}/mcps`, OPERATOR, { ...mcpBody, slug: 'keep' });
    const key = await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'k', role: 'member' });
    const alert = await call('POST', `/orgs/${orgId}/alerts`, OPERATOR, { type: 'email', address: 'first@example.com' });
    const hook = (await call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/a' })).body.endpoint.endpointId as string;
    const other = (await call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/b' })).body.endpoint.endpointId as string;
    const grantId = 'grant-of-the-audit-test';
    await grantService.create({ orgId, grantId, clientId: 'client-1', clientName: 'Client', scopes: { mcps: '*', tools: {} } }, { actor: { kind: 'operator' }, sourceIp: '203.0.113.1', requestId: 'consent' });
    return {
      'post /orgs': () => call('POST', '/orgs', OPERATOR, { name: 'Other', plan: 'free' }),
      'patch /orgs/{orgId}': () => call('PATCH', `/orgs/${orgId}`, OPERATOR, { name: 'Renamed' }),
      'post /orgs/{orgId}/mcps': () => call('POST', `/orgs/${orgId}/mcps`, OPERATOR, mcpBody),
      'patch /orgs/{orgId}/mcps/{slug}': () => call('PATCH', `/orgs/${orgId}/mcps/keep`, OPERATOR, { displayName: 'Kept' }),
      'delete /orgs/{orgId}/mcps/{slug}': () => call('DELETE', `/orgs/${orgId}/mcps/keep`, OPERATOR),
      'post /orgs/{orgId}/keys': () => call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'k2', role: 'member' }),
      'post /orgs/{orgId}/keys/{keyId}/revoke': () => call('POST', `/orgs/${orgId}/keys/${key.body.key.keyId}/revoke`, OPERATOR),
      'post /orgs/{orgId}/alerts': () => call('POST', `/orgs/${orgId}/alerts`, OPERATOR, { type: 'email', address: 'second@example.com' }),
      'delete /orgs/{orgId}/alerts/{subscriptionId}': () => call('DELETE', `/orgs/${orgId}/alerts/${alert.body.subscriptionId}`, OPERATOR),
      'post /orgs/{orgId}/webhooks': () => call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/c' }),
      'patch /orgs/{orgId}/webhooks/{endpointId}': () => call('PATCH', `/orgs/${orgId}/webhooks/${hook}`, OPERATOR, { eventTypes: ['key.*'] }),
      'post /orgs/{orgId}/webhooks/{endpointId}/rotate-secret': () => call('POST', `/orgs/${orgId}/webhooks/${hook}/rotate-secret`, OPERATOR, {}),
      'post /orgs/{orgId}/webhooks/{endpointId}/test': () => call('POST', `/orgs/${orgId}/webhooks/${hook}/test`, OPERATOR),
      'delete /orgs/{orgId}/webhooks/{endpointId}': () => call('DELETE', `/orgs/${orgId}/webhooks/${other}`, OPERATOR),
      'post /orgs/{orgId}/grants/{grantId}/revoke': () => call('POST', `/orgs/${orgId}/grants/${grantId}/revoke`, OPERATOR),
      'post /orgs/{orgId}/webhooks/deliveries/{deliveryId}/redeliver': async () => {
        // A delivery that failed for good: redelivered as a new series.
        const failed = await failedDelivery(orgId, hook);
        return call('POST', `/orgs/${orgId}/webhooks/deliveries/${failed}/redeliver`, OPERATOR);
      },
    };
  }

  async function operations(): Promise<{ method: string; path: string }[]> {
    const doc = (await (await app.request(`${BASE}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    return Object.entries(doc.paths).flatMap(([path, methods]) => Object.keys(methods).map((method) => ({ method, path: path.slice(BASE.length) })));
  }

  test('every mutating operation in the OpenAPI document records exactly one entry when it succeeds', async () => {
    const orgId = await newOrg();
    const calls = await mutatingCalls(orgId);
    const mutating = (await operations()).filter((op) => op.method !== 'get').map((op) => `${op.method} ${op.path}`);
    // A new mutating route without a call here fails this line: add it, and it is checked below.
    expect(Object.keys(calls).sort()).toEqual(mutating.sort());
    for (const [operation, run] of Object.entries(calls)) {
      const before = (await entries(orgId)).length;
      const res = await run();
      expect([operation, res.status < 300]).toEqual([operation, true]);
      if (operation !== 'post /orgs') expect([operation, (await entries(orgId)).length]).toEqual([operation, before + 1]);
    }
  });

  test('strict mode fails a mutating route that records nothing (how a forgotten entry is caught)', async () => {
    app.post('/orgs/:orgId/forgetful', (c) => c.json({ ok: true }, 200));
    const orgId = await newOrg();
    const logged = jest.spyOn(console, 'error').mockImplementation(() => undefined);
    const res = await call('POST', `/orgs/${orgId}/forgetful`, OPERATOR, {});
    expect([res.status, res.body.error.code]).toEqual([500, 'internal_error']);
    expect(logged.mock.calls.map((args) => JSON.parse(String(args[0])))).toEqual([{ level: 'error', msg: 'admin request failed', requestId: expect.any(String), error: 'Error' }]);
    logged.mockRestore();
  });

  test('every operation refuses a member key of another org with 403, before validation', async () => {
    const orgA = await newOrg();
    const orgB = await newOrg();
    const outsider = (await call('POST', `/orgs/${orgB}/keys`, OPERATOR, { name: 'b admin', role: 'admin' })).body.secret as string;
    const params: Record<string, string> = {
      orgId: orgA, slug: 'tools', keyId: 'aaaaaaaaaaaaaaaa', subscriptionId: 'al_aaaaaaaaaaaaaaaa', endpointId: 'whe_aaaaaaaaaaaaaaaa', deliveryId: `msg_${'a'.repeat(32)}`, grantId: 'a'.repeat(22),
    };
    const ops = (await operations()).filter((op) => !['/whoami', '/plans', '/events'].includes(op.path));
    expect(ops.length).toBeGreaterThan(20);
    for (const op of ops) {
      const path = op.path.replace(/\{(\w+)\}/g, (_, name: string) => params[name]!);
      const res = await call(op.method.toUpperCase(), path, outsider, op.method === 'get' || op.method === 'delete' ? undefined : { not: 'valid' });
      expect([op.method, op.path, res.status, res.body.error.code]).toEqual([op.method, op.path, 403, expect.stringMatching(/^(forbidden_org|operator_required)$/)]);
    }
  });
});

describe('refused requests in the system chain', () => {
  test('the first bad token from an address is an entry at once; the rest of its window one burst entry with the count', async () => {
    for (let i = 0; i < 5; i++) expect((await call('GET', '/whoami', 'pmop_wrong-token')).status).toBe(401);
    let system = await entries(SYSTEM_AUDIT_SCOPE);
    expect(system.map((e) => [e.action, e.target.id, e.actor.kind, e.sourceIp])).toEqual([['auth.refused', 'invalid_credentials', 'anonymous', '203.0.113.9']]);
    clock += 61_000;
    expect((await call('GET', '/whoami', OPERATOR)).status).toBe(200); // any request writes windows that have passed
    system = await entries(SYSTEM_AUDIT_SCOPE);
    expect(system.map((e) => e.action)).toEqual(['auth.refused', 'auth.refused.burst']);
    expect(system[1]!.changes).toContainEqual({ field: 'count', new: 4 });
    expect(verifyChain(system)).toMatchObject({ ok: true });

    // A revoked (or unknown) API key is a refusal of its own kind.
    expect((await call('GET', '/whoami', `pmcp_${'a'.repeat(16)}_${'b'.repeat(43)}`)).status).toBe(401);
    expect((await entries(SYSTEM_AUDIT_SCOPE)).at(-1)).toMatchObject({ action: 'auth.refused', target: { id: 'invalid_api_key' } });
  });

  test('with the audit store down, a refusal is still answered at once (401) and the failure is only reported', async () => {
    const warnings: string[] = [];
    const down = { ...audit, append: async () => Promise.reject(Object.assign(new Error('x'), { name: 'ResourceNotFoundException' })) } as unknown as DynamoDbAuditStore;
    app = createAdminApp({ ...deps, audit: down, warn: (message) => void warnings.push(message) });
    for (let i = 0; i < 3; i++) expect((await call('GET', '/whoami', 'pmop_wrong-token')).status).toBe(401);
    expect(warnings).toEqual(['refusal not recorded']); // the first of the window tried; the rest counted
  });

  test('a key reaching into another org is recorded with the key as actor; the operator reads the system chain, org admins may not', async () => {
    const orgA = await newOrg();
    const orgB = await newOrg();
    const created = (await call('POST', `/orgs/${orgB}/keys`, OPERATOR, { name: 'b admin', role: 'admin' })).body;
    expect((await call('GET', `/orgs/${orgA}/mcps`, created.secret)).status).toBe(403);
    const listed = await call('GET', '/audit', OPERATOR);
    expect(listed.body.items.map((e: AuditEntry) => [e.action, e.target.id, e.actor])).toEqual([
      ['auth.refused', 'forbidden_org', { kind: 'key', keyId: created.key.keyId, name: 'b admin' }],
    ]);
    expect((await call('GET', '/audit', created.secret)).status).toBe(403);
  });
});

describe('the event catalog', () => {
  test('any credential reads every event type with the JSON Schema its deliveries match', async () => {
    const orgId = await newOrg();
    const member = (await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'm', role: 'member' })).body.secret as string;
    const res = await call('GET', '/events', member);
    expect(res.status).toBe(200);
    const byType = Object.fromEntries(res.body.items.map((i: { type: string; schema: Record<string, unknown> }) => [i.type, i.schema]));
    expect(Object.keys(byType)).toEqual(expect.arrayContaining(['key.revoked', 'mcp.updated', 'org.quota.threshold', 'audit.digest.created', 'webhook.endpoint.disabled']));
    expect(byType['key.revoked']).toMatchObject({ $id: 'urn:plexmcp:events:v1:key.revoked', additionalProperties: false, required: expect.arrayContaining(['keyId', 'orgId']) });
  });
});

describe('reading the log', () => {
  test('org admins read their org chain with filters and a cursor; the head matches the last entry', async () => {
    const orgId = await newOrg();
    const admin = (await call('POST', `/orgs/${orgId}/keys`, OPERATOR, { name: 'admin', role: 'admin' })).body.secret as string;
    for (let i = 0; i < 4; i++) {
      clock += 60_000;
      await call('PATCH', `/orgs/${orgId}`, admin, { name: `n${i}` });
    }
    const firstPage = await call('GET', `/orgs/${orgId}/audit?limit=2`, admin);
    expect(firstPage.body.items.map((e: AuditEntry) => e.seq)).toEqual([1, 2]);
    const rest = await call('GET', `/orgs/${orgId}/audit?limit=10&cursor=${firstPage.body.nextCursor}`, admin);
    expect(rest.body.items.map((e: AuditEntry) => e.seq)).toEqual([3, 4, 5, 6]);
    const updates = await call('GET', `/orgs/${orgId}/audit?action=org.updated&from=${new Date(clock - 60_000).toISOString()}`, admin);
    expect(updates.body.items.map((e: AuditEntry) => e.seq)).toEqual([5, 6]);
    const head = await call('GET', `/orgs/${orgId}/audit/head`, admin);
    expect(head.body).toEqual({ seq: 6, hash: rest.body.items[3].hash });
    expect((await call('GET', `/orgs/${orgId}/audit?cursor=0`, admin)).status).toBe(400);
  });
});

describe('webhook endpoints through the admin API', () => {
  test('plan-gated; https and public addresses only; the secret shown once and audited as changed only', async () => {
    const free = await newOrg('free');
    const refused = await call('POST', `/orgs/${free}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/x' });
    expect([refused.status, refused.body.error.code]).toEqual([403, 'plan_required']);

    const orgId = await newOrg('pro');
    for (const url of ['http://hooks.example.com/x', 'https://inside.example.com/x', 'https://169.254.169.254/latest', 'https://127.0.0.1/x']) {
      const res = await call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url });
      expect([url, res.status, res.body.error.details?.[0]?.path]).toEqual([url, 400, 'url']);
    }
    const created = await call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/x?token=abc', eventTypes: ['key.revoked'] });
    expect(created.status).toBe(201);
    expect(created.body.secret).toMatch(/^whsec_/);
    const endpointId = created.body.endpoint.endpointId as string;
    const got = await call('GET', `/orgs/${orgId}/webhooks/${endpointId}`, OPERATOR);
    expect(JSON.stringify(got.body)).not.toContain(created.body.secret);
    const rotated = await call('POST', `/orgs/${orgId}/webhooks/${endpointId}/rotate-secret`, OPERATOR, { overlapSeconds: 3600 });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).toMatch(/^whsec_/);
    expect(rotated.body.secret).not.toBe(created.body.secret);

    const chain = await entries(orgId);
    const [made, rotation] = chain.filter((e) => e.action.startsWith('webhook.'));
    expect(made).toMatchObject({ action: 'webhook.created', target: { type: 'webhook', id: endpointId } });
    expect(made!.changes).toContainEqual({ field: 'secret', secret: true });
    // The URL's query string (which may hold a receiver's token) is not kept either.
    expect(made!.changes).toContainEqual({ field: 'url', new: 'https://hooks.example.com/x?…' });
    expect(rotation!.changes).toEqual([{ field: 'secret', secret: true }]);
    expect(JSON.stringify(chain)).not.toMatch(/whsec_|token=abc/);
  });

  test('test event, deliveries with their attempts, and redelivery of a failed one only', async () => {
    const orgId = await newOrg('pro');
    const endpointId = (await call('POST', `/orgs/${orgId}/webhooks`, OPERATOR, { url: 'https://hooks.example.com/x' })).body.endpoint.endpointId as string;
    const queued = await call('POST', `/orgs/${orgId}/webhooks/${endpointId}/test`, OPERATOR);
    expect([queued.status, queued.body.state, queued.body.eventType]).toEqual([202, 'pending', 'webhook.test']);
    const pendingAgain = await call('POST', `/orgs/${orgId}/webhooks/deliveries/${queued.body.deliveryId}/redeliver`, OPERATOR);
    expect([pendingAgain.status, pendingAgain.body.error.code]).toEqual([409, 'delivery_not_failed']);
    const failed = await failedDelivery(orgId, endpointId);
    const listed = await call('GET', `/orgs/${orgId}/webhooks/${endpointId}/deliveries`, OPERATOR);
    const failedView = listed.body.items.find((d: { deliveryId: string }) => d.deliveryId === failed);
    expect(failedView).toMatchObject({ state: 'failed', attempts: 1, attemptLog: [{ status: 500, latencyMs: 3 }] });
    const again = await call('POST', `/orgs/${orgId}/webhooks/deliveries/${failed}/redeliver`, OPERATOR);
    expect([again.status, again.body.state, again.body.redeliveries]).toEqual([202, 'pending', 1]);
    // Another org's admin cannot see or redeliver it.
    const otherOrg = await newOrg('pro');
    const otherAdmin = (await call('POST', `/orgs/${otherOrg}/keys`, OPERATOR, { name: 'a', role: 'admin' })).body.secret as string;
    expect((await call('POST', `/orgs/${otherOrg}/webhooks/deliveries/${failed}/redeliver`, otherAdmin)).status).toBe(404);
  });

  test('without a webhook service the routes answer 501 webhooks_unavailable', async () => {
    app = createAdminApp({ ...deps, webhooks: undefined });
    const orgId = await newOrg('pro');
    const res = await call('GET', `/orgs/${orgId}/webhooks`, OPERATOR);
    expect([res.status, res.body.error.code]).toEqual([501, 'webhooks_unavailable']);
  });
});
