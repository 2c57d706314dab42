/**
 * The gateway as an OAuth resource server, end to end on loopback: `plexmcp serve` over a
 * DynamoDB-compatible engine of the test's own (so the test writes what the authorization server
 * would), a real SDK MCP upstream, and access tokens stored through the real OAuth store
 * (DynamoDbOAuthStore's AccessToken adapter: the same upsert oidc-provider makes, keyed by the
 * token's SHA-256). A grant's backing key is a registry key with `oauth` set, as the consent page
 * makes it.
 *
 * Shown: a request without a credential is challenged with where the resource metadata is, and
 * that metadata is served; a valid token works for initialize, tools/list and tools/call and the
 * usage records carry the backing key; a token without `mcp:tools` may list but not call (403
 * insufficient_scope naming the scope); wrong audience, expired, unknown, revoked backing key,
 * another grant's key: 401 invalid_token; a token of org A on an MCP only org B has: refused; the
 * upstream never sees the token, only the MCP's own credential.
 */
import { randomBytes } from 'node:crypto';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { DynamoDbOAuthStore } from '../../lambda/adapters/dynamodb-oauth-store';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { randomId } from '../../lambda/core/ids';
import type { StoredApiKey } from '../../lambda/core/model';
import { DEFAULT_OAUTH_TABLE_NAME } from '../../lambda/core/oauth/table';
import { DEFAULT_REGISTRY_TABLE_NAME } from '../../lambda/core/registry-table';
import { call, expectGatewayError, initializeMessage, resultOf, rpc, toolCall, type Answer } from './gateway-expect';
import { provision, startTestGateway, type TestGateway } from './harness';
import { startSdkUpstream, type SdkUpstream } from './upstreams';

const UPSTREAM_TOKEN = 'upstream-own-credential-7f3a';
const ALL_SCOPES = 'mcp:tools mcp:resources mcp:prompts';

function tools(server: McpServer): void {
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
}

let db: EmbeddedDynamoDb;
let gw: TestGateway;
let upstream: SdkUpstream;
let oauth: DynamoDbOAuthStore;
let registry: DynamoDbRegistryStore;
let orgA: string;
let orgB: string;
let base: string;
let urlA: string;
let urlB: string;
const issuedTokens: string[] = [];

/** The backing key of a grant, as approving a client on the consent page makes it. */
async function backingKey(orgId: string, grantId: string, mcps: '*' | string[]): Promise<string> {
  const keyId = randomId(''); // the registry's key id form
  const key: StoredApiKey = {
    keyId,
    orgId,
    name: 'OAuth: Test client',
    role: 'member',
    scopes: { mcps, tools: {} },
    createdAt: new Date().toISOString(),
    // No presentable secret: not an Argon2id hash, so no key ever verifies against it.
    secretHash: 'oauth-grant-without-secret',
    oauth: { clientId: 'https://client.example/metadata.json', clientName: 'Test client', grantId },
  };
  const created = await registry.createKey(key, undefined, 1_000);
  expect(created).toBeDefined();
  return keyId;
}

/** An access token as oidc-provider stores it (opaque: the token is the AccessToken's id). */
async function issueToken(claims: { keyId: string; orgId: string; grantId: string; scope: string; aud: string; expiresIn?: number; iss?: string }): Promise<string> {
  const token = randomBytes(32).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const expiresIn = claims.expiresIn ?? 600;
  await oauth.adapterFor('AccessToken').upsert(
    token,
    {
      kind: 'AccessToken',
      jti: token,
      accountId: claims.keyId,
      clientId: 'https://client.example/metadata.json',
      grantId: claims.grantId,
      scope: claims.scope,
      aud: claims.aud,
      iat: now,
      exp: now + expiresIn,
      extra: { orgId: claims.orgId, iss: claims.iss ?? base },
    },
    expiresIn,
  );
  issuedTokens.push(token);
  return token;
}

function expectChallenge(answer: Answer, slug: string, refused: boolean): void {
  const metadata = `${base}/.well-known/oauth-protected-resource/mcp/${slug}`;
  expect(answer.headers['www-authenticate']).toBe(`Bearer ${refused ? 'error="invalid_token", ' : ''}resource_metadata="${metadata}", scope="${ALL_SCOPES}"`);
}

beforeAll(async () => {
  db = await startEmbeddedDynamoDb();
  // keyCacheTtlMs 0: a revoked backing key is refused on the next request (the bound is the key cache TTL).
  [gw, upstream] = await Promise.all([
    startTestGateway({ dynamodbEndpoint: db.endpoint, keyCacheTtlMs: 0, analytics: false }),
    startSdkUpstream({ name: 'tools', stateful: true, enableJsonResponse: true, setup: tools }),
  ]);
  base = gw.baseUrl;
  oauth = new DynamoDbOAuthStore(db.client, DEFAULT_OAUTH_TABLE_NAME);
  registry = new DynamoDbRegistryStore(db.client, DEFAULT_REGISTRY_TABLE_NAME);
  ({ orgId: orgA } = await provision(gw, { slug: 'tools-a', endpoints: [{ url: upstream.url }], upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN } }));
  ({ orgId: orgB } = await provision(gw, { slug: 'only-b', endpoints: [{ url: upstream.url }] }));
  urlA = gw.mcpUrl('tools-a');
  urlB = gw.mcpUrl('only-b');
}, 90_000);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
  await db?.close();
});

test('no credential: 401 with the challenge; the metadata it names is served (per MCP and root form)', async () => {
  const answer = await call(urlA, undefined, initializeMessage(1));
  expectGatewayError(answer, 'invalid_api_key', 1);
  expectChallenge(answer, 'tools-a', false);

  const metadata = await fetch(`${base}/.well-known/oauth-protected-resource/mcp/tools-a`, { headers: { origin: 'http://inspector.localhost:6274' } });
  expect(metadata.status).toBe(200);
  expect(metadata.headers.get('access-control-allow-origin')).toBe('*');
  expect(metadata.headers.get('cache-control')).toBe('public, max-age=300');
  expect(await metadata.json()).toEqual({
    resource: urlA,
    authorization_servers: [base],
    scopes_supported: ['mcp:tools', 'mcp:resources', 'mcp:prompts'],
    bearer_methods_supported: ['header'],
    resource_name: 'PlexMCP gateway',
  });
  const root = await fetch(`${base}/.well-known/oauth-protected-resource`);
  expect(((await root.json()) as { resource: string }).resource).toBe(`${base}/mcp`);
  const unknown = await fetch(`${base}/.well-known/oauth-protected-resource/not/a/resource`);
  expect(unknown.status).toBe(404);
  expect(((await unknown.json()) as { error: string }).error).toBe('not_found');
});

test('a valid token: initialize, tools/list, tools/call work as its backing key; the upstream never sees the token', async () => {
  const keyId = await backingKey(orgA, 'grant-full', ['tools-a']);
  const token = await issueToken({ keyId, orgId: orgA, grantId: 'grant-full', scope: 'mcp:tools mcp:resources', aud: urlA });
  const seenBefore = upstream.requests.length;

  const init = await call(urlA, token, initializeMessage(1));
  expect(init.status).toBe(200);
  expect(resultOf(init, 1).result.serverInfo.name).toBe('tools');
  const session = init.headers['mcp-session-id']!;
  expect(session).toMatch(/^pms2\./);
  expect((await call(urlA, token, rpc(undefined, 'notifications/initialized'), { session })).status).toBe(202);
  const list = await call(urlA, token, rpc(2, 'tools/list'), { session });
  expect(resultOf(list, 2).result.tools.map((t: { name: string }) => t.name)).toEqual(['echo']);
  const echoed = await call(urlA, token, toolCall(3, 'echo', { text: 'hi' }), { session });
  expect(resultOf(echoed, 3).result.content[0].text).toBe('echo: hi');

  const seen = upstream.requests.slice(seenBefore);
  expect(seen.length).toBeGreaterThanOrEqual(4);
  for (const request of seen) {
    expect(request.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
    expect(JSON.stringify(request.headers)).not.toContain(token);
  }

  // The usage records are the backing key's, as for any key (analytics, limits and audit by keyId).
  const usage = gw.records.filter((r) => r.type === 'usage' && r.keyId === keyId);
  expect(usage.map((r) => r.status)).toEqual([200, 202, 200, 200]);
  expect(new Set(usage.map((r) => r.orgId))).toEqual(new Set([orgA]));
  expect(JSON.stringify(gw.records)).not.toContain(token);
});

test('a token without mcp:tools may list but not call: 403 insufficient_scope naming what is needed and granted', async () => {
  const keyId = await backingKey(orgA, 'grant-read', ['tools-a']);
  const token = await issueToken({ keyId, orgId: orgA, grantId: 'grant-read', scope: 'mcp:resources', aud: urlA });
  const init = await call(urlA, token, initializeMessage(1));
  expect(init.status).toBe(200);
  const session = init.headers['mcp-session-id']!;
  const list = await call(urlA, token, rpc(2, 'tools/list'), { session });
  expect(list.status).toBe(200);

  const denied = await call(urlA, token, toolCall(3, 'echo', { text: 'hi' }), { session });
  expectGatewayError(denied, 'insufficient_scope', 3);
  expect(denied.headers['www-authenticate']).toBe(
    `Bearer error="insufficient_scope", scope="mcp:tools mcp:resources", resource_metadata="${base}/.well-known/oauth-protected-resource/mcp/tools-a", error_description="The access token lacks a scope this request needs"`,
  );
});

test('wrong audience, expired, unknown, other issuer: 401 invalid_token with the challenge', async () => {
  const keyId = await backingKey(orgA, 'grant-refusals', '*');
  const forOther = await issueToken({ keyId, orgId: orgA, grantId: 'grant-refusals', scope: ALL_SCOPES, aud: `${base}/mcp/another-mcp` });
  const expired = await issueToken({ keyId, orgId: orgA, grantId: 'grant-refusals', scope: ALL_SCOPES, aud: urlA, expiresIn: -5 });
  const otherIssuer = await issueToken({ keyId, orgId: orgA, grantId: 'grant-refusals', scope: ALL_SCOPES, aud: urlA, iss: 'https://elsewhere.example' });
  const unknown = randomBytes(32).toString('base64url');
  for (const [name, token] of Object.entries({ forOther, expired, otherIssuer, unknown })) {
    const answer = await call(urlA, token, initializeMessage(1));
    expect({ name, status: answer.status }).toEqual({ name, status: 401 });
    expectGatewayError(answer, 'invalid_token', 1);
    expectChallenge(answer, 'tools-a', true);
  }
});

test('the backing key revoked (the grant revoked) or of another grant: the token is refused', async () => {
  const keyId = await backingKey(orgA, 'grant-revoked', ['tools-a']);
  const token = await issueToken({ keyId, orgId: orgA, grantId: 'grant-revoked', scope: ALL_SCOPES, aud: urlA });
  expect((await call(urlA, token, initializeMessage(1))).status).toBe(200);
  await gw.admin('POST', `/orgs/${orgA}/keys/${keyId}/revoke`);
  expectGatewayError(await call(urlA, token, initializeMessage(2)), 'invalid_token', 2);

  // A token whose record names a key of a different grant (say, a replaced one) is not that key's.
  const otherKey = await backingKey(orgA, 'grant-current', ['tools-a']);
  const stale = await issueToken({ keyId: otherKey, orgId: orgA, grantId: 'grant-old', scope: ALL_SCOPES, aud: urlA });
  expectGatewayError(await call(urlA, stale, initializeMessage(3)), 'invalid_token', 3);
});

test("a token of org A is refused on an MCP only org B has", async () => {
  // For the whole gateway (root resource): org A has no `only-b`.
  const everyMcp = await backingKey(orgA, 'grant-a-all', '*');
  const rootToken = await issueToken({ keyId: everyMcp, orgId: orgA, grantId: 'grant-a-all', scope: ALL_SCOPES, aud: `${base}/mcp` });
  expectGatewayError(await call(urlB, rootToken, initializeMessage(1)), 'unknown_mcp', 1);
  // For only-b by audience, but its key reaches only tools-a.
  const scoped = await backingKey(orgA, 'grant-a-scoped', ['tools-a']);
  const bToken = await issueToken({ keyId: scoped, orgId: orgA, grantId: 'grant-a-scoped', scope: ALL_SCOPES, aud: urlB });
  expectGatewayError(await call(urlB, bToken, initializeMessage(2)), 'forbidden_mcp', 2);
  // A record that claims org B for org A's key is not believed.
  const forged = await issueToken({ keyId: everyMcp, orgId: orgB, grantId: 'grant-a-all', scope: ALL_SCOPES, aud: urlB });
  expectGatewayError(await call(urlB, forged, initializeMessage(3)), 'invalid_token', 3);
});

test('API keys keep working beside tokens, and their 401 carries the same challenge', async () => {
  const { apiKey } = await provision(gw, { slug: 'keyed', endpoints: [{ url: upstream.url }] });
  const ok = await call(gw.mcpUrl('keyed'), apiKey, initializeMessage(1));
  expect(ok.status).toBe(200);
  const bad = await call(gw.mcpUrl('keyed'), `${apiKey.slice(0, -4)}AAAA`, initializeMessage(1));
  expectGatewayError(bad, 'invalid_api_key', 1);
  expectChallenge(bad, 'keyed', true);
  // Nothing the test issued was ever written to a log record.
  const logged = JSON.stringify(gw.records);
  for (const token of issuedTokens) expect(logged).not.toContain(token);
});
