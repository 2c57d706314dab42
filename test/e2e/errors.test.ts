/**
 * Every error code of docs/gateway.md, end to end: a real local gateway (`plexmcp serve` on a
 * free loopback port) in front of real MCP servers built with the SDK, plus SDK servers that
 * misbehave on purpose (never answer, reset, refuse the gateway's credentials). Each answer is
 * checked for its status, the JSON-RPC error body with the request's id and `error.data.code`,
 * `X-Request-Id`, and that it leaks no upstream URL, credential or stack trace. Also: what the
 * gateway sends upstream (credentials injected, the client's key and hop-by-hop headers not).
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { provision, startTestGateway, type TestGateway } from './harness';
import { refusedLoopbackUrl, startSdkUpstream, type SdkUpstream, type SeenRequest } from './upstreams';
import {
  call,
  expectClean,
  expectGatewayError,
  initializeMessage,
  openSession,
  rawRequest,
  resultOf,
  rpc,
  sleep,
  toolCall,
  type Answer,
} from './gateway-expect';

const UPSTREAM_TOKEN = `upstream-bearer-${randomBytes(8).toString('hex')}`;
const UPSTREAM_HEADER_VALUE = `upstream-header-${randomBytes(8).toString('hex')}`;
const UPSTREAM_PASSWORD = `upstream-password-${randomBytes(8).toString('hex')}`;
const KEY_CACHE_TTL_MS = 300;

/** Tools every SDK upstream here offers. */
function tools(server: import('@modelcontextprotocol/sdk/server/mcp.js').McpServer) {
  server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
  server.registerTool('add', { inputSchema: { a: z.number(), b: z.number() } }, async ({ a, b }) => ({ content: [{ type: 'text', text: String(a + b) }] }));
  server.registerTool('danger_delete', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'deleted everything' }] }));
}

let gw: TestGateway;
let main: SdkUpstream; // records every request it gets
let other: SdkUpstream; // another org's server
let hang: SdkUpstream; // reads the request, never answers
let reset: SdkUpstream; // reads the request, then drops the connection
let refusing: SdkUpstream; // 401 with its own WWW-Authenticate (or 403)
let crashing: SdkUpstream; // 500 with a stack trace and its own URL in the body
let org: { orgId: string; apiKey: string; keyId: string };
let otherOrg: { orgId: string; apiKey: string; keyId: string };
let deadUrls: string[];
/** Strings no answer may contain. */
let secrets: string[];

const url = (slug: string) => gw.mcpUrl(slug);
/** The upstream request that carried the gateway's `X-Request-Id` of `answer`. */
const seenFor = (upstream: SdkUpstream, answer: Answer): SeenRequest | undefined =>
  upstream.requests.find((r) => r.headers['x-request-id'] === answer.headers['x-request-id']);

beforeAll(async () => {
  [main, other] = await Promise.all([startSdkUpstream({ setup: tools, name: 'main' }), startSdkUpstream({ setup: tools, name: 'other' })]);
  hang = await startSdkUpstream({ intercept: () => true });
  reset = await startSdkUpstream({
    intercept: (req) => {
      req.socket.destroy();
      return true;
    },
  });
  refusing = await startSdkUpstream({
    intercept: (_req, res) => {
      const status = refusing.requests.length % 2 === 0 ? 403 : 401;
      res
        .writeHead(status, { 'content-type': 'application/json', 'www-authenticate': `Bearer resource_metadata="${refusing.url}/.well-known/oauth-protected-resource"` })
        .end(JSON.stringify({ error: 'invalid_token', upstream: refusing.url }));
      return true;
    },
  });
  crashing = await startSdkUpstream({
    intercept: (_req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' }).end(`Error: boom\n    at handler (/srv/upstream/app.js:42:7) ${crashing.url}`);
      return true;
    },
  });
  deadUrls = [await refusedLoopbackUrl(), await refusedLoopbackUrl()];

  // Registry reads on every request (registryCacheTtlMs 0), so admin changes apply at once.
  gw = await startTestGateway({ keyCacheTtlMs: KEY_CACHE_TTL_MS, registryCacheTtlMs: 0 });
  org = await provision(gw, {
    slug: 'alpha',
    endpoints: [{ url: main.url }],
    upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN },
    toolPolicy: { allow: [], deny: ['danger_*'] },
  });
  const mcps: unknown[] = [
    { slug: 'beta', endpoints: [{ url: main.url }] },
    { slug: 'cred-header', endpoints: [{ url: main.url }], upstreamAuth: { type: 'header', headerName: 'X-Upstream-Key', value: UPSTREAM_HEADER_VALUE } },
    { slug: 'cred-basic', endpoints: [{ url: main.url }], upstreamAuth: { type: 'basic', username: 'gateway', password: UPSTREAM_PASSWORD } },
    { slug: 'dead', endpoints: deadUrls.map((u) => ({ url: u })) },
    { slug: 'hang', endpoints: [{ url: hang.url }] },
    { slug: 'reset', endpoints: [{ url: reset.url }] },
    { slug: 'refusing', endpoints: [{ url: refusing.url }], upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN } },
    { slug: 'crashing', endpoints: [{ url: crashing.url }] },
  ];
  for (const mcp of mcps) await gw.admin('POST', `/orgs/${org.orgId}/mcps`, mcp);
  otherOrg = await provision(gw, { slug: 'gamma', endpoints: [{ url: other.url }] });

  const basic = Buffer.from(`gateway:${UPSTREAM_PASSWORD}`).toString('base64');
  secrets = [UPSTREAM_TOKEN, UPSTREAM_HEADER_VALUE, UPSTREAM_PASSWORD, basic, org.apiKey, otherOrg.apiKey];
  for (const u of [main, other, hang, reset, refusing, crashing]) secrets.push(u.url, `127.0.0.1:${u.port}`, `localhost:${u.port}`);
  for (const u of deadUrls) secrets.push(u, new URL(u).host);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await Promise.all([main, other, hang, reset, refusing, crashing].map((u) => u?.close()));
});

describe('invalid_api_key (401, WWW-Authenticate)', () => {
  const validShape = () => `pmcp_${'abcdefghijklmnop'}_${randomBytes(32).toString('base64url')}`;

  test('missing, malformed and unknown keys are refused before anything reaches the upstream', async () => {
    const before = main.requests.length;
    // A bearer value without the key prefix is taken for an OAuth access token: refused as invalid_token.
    const attempts: { headers: Record<string, string>; id: number; code?: 'invalid_token' }[] = [
      { headers: {}, id: 1 },
      { headers: { authorization: 'Bearer' }, id: 2 },
      { headers: { authorization: 'Bearer not-a-plexmcp-key' }, id: 3, code: 'invalid_token' },
      { headers: { authorization: 'Bearer pmcp_short' }, id: 4 },
      { headers: { authorization: `Basic ${Buffer.from(`x:${org.apiKey}`).toString('base64')}` }, id: 5 },
      { headers: { authorization: `Bearer ${org.apiKey}x` }, id: 6 }, // one character too many
      { headers: { authorization: `Bearer ${validShape()}` }, id: 7 }, // well-formed, unknown key id
      { headers: { authorization: `Bearer ${org.apiKey.slice(0, -4)}AAAA` }, id: 8 }, // right key id, wrong secret
      { headers: { authorization: `Bearer ${gw.gateway.operatorToken}` }, id: 9, code: 'invalid_token' }, // the operator token is not an API key
      { headers: { 'x-api-key': 'pmcp_garbage' }, id: 10 },
      { headers: { 'x-api-key': validShape() }, id: 11 },
    ];
    for (const { headers, id, code } of attempts) {
      const answer = await call(url('alpha'), undefined, initializeMessage(id), { headers });
      expectGatewayError(answer, code ?? 'invalid_api_key', id, [...secrets, gw.gateway.operatorToken]);
    }
    // An unknown slug without a key is also 401: nothing about the org is revealed unauthenticated.
    expectGatewayError(await call(url('no-such-mcp'), undefined, rpc('s', 'ping')), 'invalid_api_key', 's', secrets);
    expect(main.requests.length).toBe(before);
  });

  test('X-API-Key is accepted as an alternative to Authorization: Bearer', async () => {
    const answer = await call(url('alpha'), undefined, initializeMessage('x1'), { headers: { 'x-api-key': org.apiKey } });
    expect(answer.status).toBe(200);
    expect(resultOf(answer, 'x1').result.serverInfo.name).toBe('main');
    expectClean(answer, secrets);
    const seen = seenFor(main, answer)!;
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  });

  test('an expired key works until its expiresAt, then is refused at once', async () => {
    const expiresAtMs = Date.now() + 2_500;
    const issued = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: 'short-lived', expiresAt: new Date(expiresAtMs).toISOString() });
    const before = await call(url('alpha'), issued.secret, initializeMessage(1));
    expect(Date.now()).toBeLessThan(expiresAtMs); // still valid when it answered
    expect(before.status).toBe(200);
    await sleep(expiresAtMs + 50 - Date.now());
    // The cached verification does not outlive expiresAt.
    expectGatewayError(await call(url('alpha'), issued.secret, initializeMessage(2)), 'invalid_api_key', 2, [...secrets, issued.secret]);
    expectGatewayError(await call(url('alpha'), undefined, initializeMessage(3), { headers: { 'x-api-key': issued.secret } }), 'invalid_api_key', 3, secrets);
  });

  test(`a revoked key may keep working only until the key cache TTL (${KEY_CACHE_TTL_MS} ms), never after`, async () => {
    let servedFromCache = false;
    for (let attempt = 0; attempt < 3 && !servedFromCache; attempt++) {
      const issued = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: `revoked-${attempt}` });
      const warmStarted = Date.now();
      const warm = await call(url('alpha'), issued.secret, initializeMessage(1)); // verified and cached during this request
      const warmEnded = Date.now();
      expect(warm.status).toBe(200);
      await gw.admin('POST', `/orgs/${org.orgId}/keys/${issued.key.keyId}/revoke`);
      const sentAt = Date.now();
      const right = await call(url('alpha'), issued.secret, initializeMessage(2));
      if (sentAt - warmStarted < KEY_CACHE_TTL_MS - 50) {
        // The verification is younger than the TTL: the cached record still admits the key.
        expect(right.status).toBe(200);
        servedFromCache = true;
      } else if (right.status !== 200) {
        expectGatewayError(right, 'invalid_api_key', 2, secrets);
      }
      // Past the bound (counted from the end of the verifying request), the key is refused.
      await sleep(warmEnded + KEY_CACHE_TTL_MS + 50 - Date.now());
      expectGatewayError(await call(url('alpha'), issued.secret, initializeMessage(3)), 'invalid_api_key', 3, [...secrets, issued.secret]);
      expectGatewayError(await call(url('alpha'), issued.secret, initializeMessage(4)), 'invalid_api_key', 4, secrets);
    }
    expect(servedFromCache).toBe(true);
  });

  test('with keyCacheTtlMs 0 nothing is cached: revocation applies to the very next request', async () => {
    const strict = await startTestGateway({ keyCacheTtlMs: 0 });
    try {
      const p = await provision(strict, { slug: 'alpha', endpoints: [{ url: main.url }] });
      expect((await call(strict.mcpUrl('alpha'), p.apiKey, initializeMessage(1))).status).toBe(200);
      expect((await call(strict.mcpUrl('alpha'), p.apiKey, initializeMessage(2))).status).toBe(200);
      await strict.admin('POST', `/orgs/${p.orgId}/keys/${p.keyId}/revoke`);
      expectGatewayError(await call(strict.mcpUrl('alpha'), p.apiKey, initializeMessage(3)), 'invalid_api_key', 3, [p.apiKey]);
    } finally {
      await strict.close();
    }
  });
});

describe('authorization: forbidden_mcp, forbidden_tool, ip_not_allowed (403), unknown_mcp (404)', () => {
  test('forbidden_mcp: a key scoped to another slug of the org', async () => {
    const scoped = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: 'beta only', scopes: { mcps: ['beta'] } });
    const before = main.requests.length;
    expectGatewayError(await call(url('alpha'), scoped.secret, initializeMessage('f1')), 'forbidden_mcp', 'f1', [...secrets, scoped.secret]);
    expect(main.requests.length).toBe(before);
    const allowed = await call(url('beta'), scoped.secret, initializeMessage('f2'));
    expect(allowed.status).toBe(200);
    expect(resultOf(allowed, 'f2').result.protocolVersion).toBeDefined();
  });

  test("forbidden_tool: denied by the MCP's toolPolicy (danger_*); allowed tools still work", async () => {
    const session = await openSession(url('alpha'), org.apiKey);
    const before = main.requests.length;
    const denied = await call(url('alpha'), org.apiKey, toolCall(41, 'danger_delete'), { session });
    expectGatewayError(denied, 'forbidden_tool', 41, secrets);
    expect(main.requests.length).toBe(before); // never forwarded
    const echo = await call(url('alpha'), org.apiKey, toolCall(42, 'echo', { text: 'hi' }), { session });
    expect(echo.status).toBe(200);
    expect(resultOf(echo, 42).result.content).toEqual([{ type: 'text', text: 'echo: hi' }]);
    // tools/list is filtered to what the key may call.
    const list = await call(url('alpha'), org.apiKey, rpc(43, 'tools/list'), { session });
    expect(resultOf(list, 43).result.tools.map((t: { name: string }) => t.name).sort()).toEqual(['add', 'echo']);
  });

  test("forbidden_tool: denied by the key's own policy for the MCP", async () => {
    const limited = await gw.admin('POST', `/orgs/${org.orgId}/keys`, { name: 'echo only', scopes: { mcps: '*', tools: { beta: { allow: ['echo'], deny: [] } } } });
    const session = await openSession(url('beta'), limited.secret);
    expectGatewayError(await call(url('beta'), limited.secret, toolCall('k1', 'add', { a: 1, b: 2 }), { session }), 'forbidden_tool', 'k1', secrets);
    expectGatewayError(await call(url('beta'), limited.secret, toolCall('k2', 'danger_delete'), { session }), 'forbidden_tool', 'k2', secrets);
    const echo = await call(url('beta'), limited.secret, toolCall('k3', 'echo', { text: 'ok' }), { session });
    expect(resultOf(echo, 'k3').result.content[0].text).toBe('echo: ok');
    // The same key's policy for beta does not restrict alpha beyond alpha's own policy.
    const alphaSession = await openSession(url('alpha'), limited.secret);
    const add = await call(url('alpha'), limited.secret, toolCall('k4', 'add', { a: 1, b: 2 }), { session: alphaSession });
    expect(resultOf(add, 'k4').result.content[0].text).toBe('3');
  });

  test('forbidden_tool: a batch with one denied call is refused whole (id null), nothing forwarded', async () => {
    const session = await openSession(url('alpha'), org.apiKey);
    const before = main.requests.length;
    const batch = [toolCall(1, 'echo', { text: 'fine' }), toolCall(2, 'danger_delete'), rpc(3, 'ping')];
    expectGatewayError(await call(url('alpha'), org.apiKey, batch, { session }), 'forbidden_tool', null, secrets);
    // A tools/call without a name cannot be checked against the policy: refused too.
    expectGatewayError(await call(url('alpha'), org.apiKey, rpc(4, 'tools/call', { arguments: {} }), { session }), 'forbidden_tool', 4, secrets);
    expect(main.requests.length).toBe(before);
  });

  test("unknown_mcp: an unknown slug, and another org's slug, are both 404 for this key", async () => {
    const otherBefore = other.requests.length;
    expectGatewayError(await call(url('no-such-mcp'), org.apiKey, initializeMessage('u1')), 'unknown_mcp', 'u1', secrets);
    expectGatewayError(await call(url('gamma'), org.apiKey, initializeMessage('u2')), 'unknown_mcp', 'u2', secrets);
    // The other org's key reaches its own gamma, and not our alpha.
    expect((await call(url('gamma'), otherOrg.apiKey, initializeMessage('u3'))).status).toBe(200);
    expectGatewayError(await call(url('alpha'), otherOrg.apiKey, initializeMessage('u4')), 'unknown_mcp', 'u4', secrets);
    expect(other.requests.length).toBe(otherBefore + 1);
  });

  test('ip_not_allowed: the org allowlist is checked against the connection address, never X-Forwarded-For', async () => {
    const fenced = await provision(gw, { slug: 'fenced', endpoints: [{ url: main.url }] }, {}, { ipAllowlist: ['203.0.113.0/24'] });
    const before = main.requests.length;
    expectGatewayError(await call(url('fenced'), fenced.apiKey, initializeMessage(1)), 'ip_not_allowed', 1, [...secrets, fenced.apiKey]);
    const spoofed = await call(url('fenced'), fenced.apiKey, initializeMessage(2), {
      headers: { 'x-forwarded-for': '203.0.113.7', 'x-real-ip': '203.0.113.7', forwarded: 'for=203.0.113.7' },
    });
    expectGatewayError(spoofed, 'ip_not_allowed', 2, secrets);
    expect(main.requests.length).toBe(before);

    // Adding loopback admits the caller (registry cache TTL 0: the change applies at once).
    await gw.admin('PATCH', `/orgs/${fenced.orgId}`, { ipAllowlist: ['203.0.113.0/24', '127.0.0.1'] });
    const admitted = await call(url('fenced'), fenced.apiKey, initializeMessage(3));
    expect(admitted.status).toBe(200);
    await gw.admin('PATCH', `/orgs/${fenced.orgId}`, { ipAllowlist: ['127.0.0.0/8'] });
    expect((await call(url('fenced'), fenced.apiKey, initializeMessage(4))).status).toBe(200);
    await gw.admin('PATCH', `/orgs/${fenced.orgId}`, { ipAllowlist: ['10.0.0.0/8', '::1'] });
    expectGatewayError(await call(url('fenced'), fenced.apiKey, initializeMessage(5)), 'ip_not_allowed', 5, secrets);
    await gw.admin('PATCH', `/orgs/${fenced.orgId}`, { ipAllowlist: [] });
    expect((await call(url('fenced'), fenced.apiKey, initializeMessage(6))).status).toBe(200);
  });
});

describe('session_not_found (404)', () => {
  test('garbage, tampered, foreign-MCP and foreign-org session ids', async () => {
    const alphaSession = await openSession(url('alpha'), org.apiKey);
    const gammaSession = await openSession(url('gamma'), otherOrg.apiKey);
    const middle = Math.floor(alphaSession.length / 2);
    const tampered = alphaSession.slice(0, middle) + (alphaSession[middle] === 'A' ? 'B' : 'A') + alphaSession.slice(middle + 1);
    const before = main.requests.length;
    const cases: [string, string, string][] = [
      ['garbage', 'alpha', 's1'],
      [`pms2.${'A'.repeat(120)}`, 'alpha', 's2'],
      [tampered, 'alpha', 's3'],
      [alphaSession, 'beta', 's4'], // sealed for alpha: useless on beta of the same org
      [gammaSession, 'alpha', 's5'], // another org's session
    ];
    for (const [session, slug, id] of cases) {
      expectGatewayError(await call(url(slug), org.apiKey, rpc(id, 'ping'), { session }), 'session_not_found', id, [...secrets, alphaSession]);
    }
    expect(main.requests.length).toBe(before);
    // The real one still works.
    expect(resultOf(await call(url('alpha'), org.apiKey, rpc('s6', 'ping'), { session: alphaSession }), 's6').result).toEqual({});
  });

  test("a session whose endpoint went down is 404 (the client starts a new session elsewhere)", async () => {
    const flaky = await startSdkUpstream({ setup: tools });
    await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug: 'flaky', endpoints: [{ url: flaky.url }] });
    const session = await openSession(url('flaky'), org.apiKey);
    await flaky.close(); // connections now refused
    expectGatewayError(await call(url('flaky'), org.apiKey, rpc('d1', 'ping'), { session }), 'session_not_found', 'd1', [...secrets, flaky.url]);
    // New sessions have nowhere to go either.
    expectGatewayError(await call(url('flaky'), org.apiKey, initializeMessage('d2')), 'mcp_unhealthy', 'd2', [...secrets, flaky.url]);
  });
});

describe('request validation: 405, 415, 413, 400', () => {
  test('method_not_allowed: PUT and PATCH, with or without a key, with an Allow header', async () => {
    for (const [method, key] of [['PUT', org.apiKey], ['PATCH', org.apiKey], ['PUT', undefined]] as const) {
      const answer = await call(url('alpha'), key, initializeMessage(1), { method });
      expectGatewayError(answer, 'method_not_allowed', null, secrets);
      expect(answer.headers.allow).toBe('POST, GET, DELETE');
    }
  });

  test('unsupported_media_type: text/plain, form data, JSON look-alikes and a missing Content-Type', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonp', 'text/json', undefined]) {
      const answer = await rawRequest(gw.baseUrl, {
        path: '/mcp/alpha',
        headers: { authorization: `Bearer ${org.apiKey}`, accept: 'application/json, text/event-stream', ...(contentType ? { 'content-type': contentType } : {}) },
        body: JSON.stringify(initializeMessage(1)),
      });
      expectGatewayError(answer, 'unsupported_media_type', null, secrets);
    }
    // Parameters and case do not matter.
    for (const contentType of ['application/json; charset=utf-8', 'Application/JSON']) {
      const answer = await call(url('alpha'), org.apiKey, initializeMessage('m'), { headers: { 'content-type': contentType } });
      expect(answer.status).toBe(200);
    }
  });

  test('body_too_large: 5 MiB with Content-Length, and 6 MiB chunked without one', async () => {
    const before = main.requests.length;
    const big = Buffer.alloc(5 * 1024 * 1024, 0x20);
    expectGatewayError(await call(url('alpha'), org.apiKey, big), 'body_too_large', null, secrets);
    const chunk = Buffer.alloc(64 * 1024, 0x20);
    const chunked = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: { authorization: `Bearer ${org.apiKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: Array.from({ length: 96 }, () => chunk),
    });
    expectGatewayError(chunked, 'body_too_large', null, secrets);
    expect(main.requests.length).toBe(before);
    // The gateway is still fine afterwards.
    expect((await call(url('alpha'), org.apiKey, initializeMessage('after'))).status).toBe(200);
  });

  test('malformed_json (-32700) and invalid_request (-32600)', async () => {
    expectGatewayError(await call(url('alpha'), org.apiKey, '{"jsonrpc":"2.0","id":5,'), 'malformed_json', null, secrets);
    expectGatewayError(await call(url('alpha'), org.apiKey, ''), 'malformed_json', null, secrets);
    expectGatewayError(await call(url('alpha'), org.apiKey, { jsonrpc: '1.0', id: 5, method: 'ping' }), 'invalid_request', null, secrets);
    expectGatewayError(await call(url('alpha'), org.apiKey, '"just a string"'), 'invalid_request', null, secrets);
  });
});

describe('upstream failures: mcp_unhealthy, upstream_timeout, upstream_unavailable (502/504), upstream_auth_failed', () => {
  test('mcp_unhealthy: every endpoint refuses connections', async () => {
    const first = await call(url('dead'), org.apiKey, initializeMessage('h1'));
    expectGatewayError(first, 'mcp_unhealthy', 'h1', secrets);
    // Both endpoints are now skipped (passive health): still 502, now without trying them.
    expectGatewayError(await call(url('dead'), org.apiKey, initializeMessage('h2')), 'mcp_unhealthy', 'h2', secrets);
  });

  test('upstream_timeout: no response headers within timeouts.firstByteMs (1000, set through the admin API)', async () => {
    const mcp = await gw.admin('PATCH', `/orgs/${org.orgId}/mcps/hang`, { timeouts: { firstByteMs: 1_000 } });
    expect(mcp.timeouts.firstByteMs).toBe(1_000);
    const started = Date.now();
    const answer = await call(url('hang'), org.apiKey, initializeMessage('t1'));
    const elapsed = Date.now() - started;
    expectGatewayError(answer, 'upstream_timeout', 't1', secrets);
    expect(elapsed).toBeGreaterThanOrEqual(950);
    expect(elapsed).toBeLessThan(5_000);
    expect(hang.requests.length).toBe(1); // it was sent (and is not retried elsewhere)
  });

  test('upstream_unavailable: the upstream drops the connection after reading the request', async () => {
    expectGatewayError(await call(url('reset'), org.apiKey, initializeMessage('r1')), 'upstream_unavailable', 'r1', secrets);
    expectGatewayError(await call(url('reset'), org.apiKey, initializeMessage('r2')), 'upstream_unavailable', 'r2', secrets);
    expect(reset.requests.length).toBeGreaterThanOrEqual(2);
  });

  test("upstream_auth_failed: an upstream 401/403 is 502 for the client, never 401 nor the upstream's WWW-Authenticate", async () => {
    const statuses: number[] = [];
    for (const id of ['a1', 'a2', 'a3', 'a4']) {
      const answer = await call(url('refusing'), org.apiKey, initializeMessage(id));
      statuses.push(answer.status);
      expectGatewayError(answer, 'upstream_auth_failed', id, secrets);
      expect(answer.text).not.toContain('resource_metadata');
    }
    expect(statuses).toEqual([502, 502, 502, 502]);
    // The upstream got the gateway's credential (and answered both 401 and 403 along the way).
    expect(refusing.requests.map((r) => r.headers.authorization)).toEqual(Array(4).fill(`Bearer ${UPSTREAM_TOKEN}`));
  });
});

test('upstream_error: an upstream 5xx becomes 502 without the upstream body (it may carry a stack trace)', async () => {
  const answer = await call(url('crashing'), org.apiKey, initializeMessage('c1'));
  expectGatewayError(answer, 'upstream_error', 'c1', [...secrets, '/srv/upstream/app.js']);
  expect(answer.text).not.toContain('boom');
});

describe('what the upstream sees', () => {
  const clientOnly = {
    cookie: 'session=client-cookie-value',
    'x-forwarded-for': '198.51.100.23',
    'x-forwarded-host': 'evil.example',
    'x-forwarded-proto': 'http',
    forwarded: 'for=198.51.100.23',
    'x-real-ip': '198.51.100.23',
    'x-custom-client': 'not for the upstream',
  };

  function expectOnlyGatewayHeaders(seen: SeenRequest, requestId: string) {
    const raw = JSON.stringify(seen.headers);
    expect(raw).not.toContain('pmcp_');
    for (const name of Object.keys(clientOnly)) expect(seen.headers[name]).toBeUndefined();
    expect(raw).not.toContain('client-cookie-value');
    expect(raw).not.toContain('198.51.100.23');
    expect(seen.headers['x-api-key']).toBeUndefined();
    expect(seen.headers['user-agent']).toBe('plexmcp-gateway');
    expect(seen.headers['x-request-id']).toBe(requestId);
  }

  test.each([
    ['alpha', { authorization: `Bearer ${UPSTREAM_TOKEN}` }],
    ['cred-header', { 'x-upstream-key': UPSTREAM_HEADER_VALUE, authorization: undefined }],
    ['cred-basic', { authorization: `Basic ${Buffer.from(`gateway:${UPSTREAM_PASSWORD}`).toString('base64')}` }],
    ['beta', { authorization: undefined }],
  ] as const)('%s: the upstream credential is injected, the client key, cookies and X-Forwarded-* are not', async (slug, expected) => {
    const session = await openSession(url(slug), org.apiKey, { ...clientOnly, 'x-api-key': org.apiKey });
    const answer = await call(url(slug), org.apiKey, toolCall(7, 'echo', { text: slug }), { session, headers: { ...clientOnly, 'x-api-key': org.apiKey } });
    expect(resultOf(answer, 7).result.content[0].text).toBe(`echo: ${slug}`);
    expectClean(answer, secrets);
    const seen = seenFor(main, answer)!;
    expect(seen).toBeDefined();
    for (const [name, value] of Object.entries(expected)) expect(seen.headers[name]).toBe(value);
    expectOnlyGatewayHeaders(seen, answer.headers['x-request-id']!);
    // The upstream's own session id, not the sealed one, reaches the upstream.
    expect(seen.headers['mcp-session-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(main.sessions.has(seen.headers['mcp-session-id'] as string)).toBe(true);
  });

  test('W3C trace context: a valid traceparent and its tracestate reach the upstream; an invalid one is dropped with its tracestate', async () => {
    const session = await openSession(url('alpha'), org.apiKey);
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const valid = await call(url('alpha'), org.apiKey, toolCall(8, 'echo', { text: 't' }), { session, headers: { traceparent, tracestate: 'vendor=abc' } });
    const seenValid = seenFor(main, valid)!;
    expect([seenValid.headers.traceparent, seenValid.headers.tracestate]).toEqual([traceparent, 'vendor=abc']);
    for (const bad of ['00-00000000000000000000000000000000-00f067aa0ba902b7-01', 'ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', 'garbage']) {
      const answer = await call(url('alpha'), org.apiKey, toolCall(9, 'echo', { text: 't' }), { session, headers: { traceparent: bad, tracestate: 'vendor=abc' } });
      const seen = seenFor(main, answer)!;
      expect({ bad, traceparent: seen.headers.traceparent, tracestate: seen.headers.tracestate }).toEqual({ bad, traceparent: undefined, tracestate: undefined });
    }
    const long = await call(url('alpha'), org.apiKey, toolCall(10, 'echo', { text: 't' }), { session, headers: { traceparent, tracestate: `v=${'x'.repeat(600)}` } });
    expect([seenFor(main, long)!.headers.traceparent, seenFor(main, long)!.headers.tracestate]).toEqual([traceparent, undefined]);
  });

  test('hop-by-hop headers are dropped; MCP-Protocol-Version and Last-Event-ID are forwarded', async () => {
    const session = await openSession(url('alpha'), org.apiKey);
    const answer = await rawRequest(gw.baseUrl, {
      path: '/mcp/alpha',
      headers: {
        authorization: `Bearer ${org.apiKey}`,
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-session-id': session,
        'mcp-protocol-version': '2025-06-18',
        'last-event-id': 'evt-42',
        connection: 'keep-alive, x-hop-secret',
        'keep-alive': 'timeout=5, max=100',
        'x-hop-secret': 'named-in-connection',
        te: 'trailers',
        upgrade: 'h2c',
        'proxy-authorization': 'Basic cHJveHk6cHJveHktc2VjcmV0',
        'proxy-connection': 'keep-alive',
        trailer: 'x-checksum',
        ...clientOnly,
      },
      body: JSON.stringify(toolCall(8, 'echo', { text: 'hop' })),
    });
    expect(answer.status).toBe(200);
    expect(resultOf(answer, 8).result.content[0].text).toBe('echo: hop');
    expectClean(answer, secrets);
    const seen = seenFor(main, answer)!;
    expectOnlyGatewayHeaders(seen, answer.headers['x-request-id']!);
    for (const name of ['keep-alive', 'x-hop-secret', 'te', 'upgrade', 'proxy-authorization', 'proxy-connection', 'trailer']) {
      expect({ name, value: seen.headers[name] }).toEqual({ name, value: undefined });
    }
    expect(String(seen.headers.connection ?? '')).not.toMatch(/x-hop-secret/i);
    expect(seen.headers['mcp-protocol-version']).toBe('2025-06-18');
    expect(seen.headers['last-event-id']).toBe('evt-42');
    expect(seen.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);

    // GET (the SSE stream a client resumes with Last-Event-ID) carries it too.
    const controller = new AbortController();
    const stream = await fetch(url('alpha'), {
      headers: { authorization: `Bearer ${org.apiKey}`, accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18', 'last-event-id': 'evt-43' },
      signal: controller.signal,
    });
    expect(stream.status).toBe(200);
    expect(stream.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const requestId = stream.headers.get('x-request-id')!;
    controller.abort();
    await stream.body?.cancel().catch(() => undefined);
    const get = main.requests.find((r) => r.headers['x-request-id'] === requestId)!;
    expect(get.method).toBe('GET');
    expect(get.headers['last-event-id']).toBe('evt-43');
    expect(get.headers.authorization).toBe(`Bearer ${UPSTREAM_TOKEN}`);
  });

  test('DELETE ends the upstream session through the gateway', async () => {
    const session = await openSession(url('alpha'), org.apiKey);
    const count = main.sessions.size;
    const answer = await call(url('alpha'), org.apiKey, undefined, { method: 'DELETE', session });
    expect(answer.status).toBe(200);
    expectClean(answer, secrets);
    expect(main.sessions.size).toBe(count - 1);
    const seen = seenFor(main, answer)!;
    expect(seen.method).toBe('DELETE');
  });
});
