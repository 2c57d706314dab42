/**
 * OAuth 2.1 end to end on loopback, as an MCP client that knows only the MCP server's URL does
 * it: discovery from a 401, dynamic client registration (and a client ID metadata document),
 * authorization code with PKCE and a resource indicator, consent approved by an org admin in
 * headless Chromium, the token, MCP calls through the gateway, refresh, revocation — and the
 * refusals the spec and RFCs call for.
 */
import type { Browser, Page } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import type { LocalGateway } from '../../lambda/local/serve';
import { call, expectGatewayError, initializeMessage, resultOf, rpc, toolCall } from './gateway-expect';
import { approveInBrowser, challengeParams, chooseOnApprovalForm, discover, type Discovered, type OAuthStack, pkce, startOAuthStack, tokenRequest } from './oauth-support';

let gateway: LocalGateway;
let demo: DemoFile;
let browser: Browser;
let page: Page;
let receiver: OAuthStack['receiver'];
let metadataHost: OAuthStack['metadataHost'];
let mcpUrl: string;
let found: Discovered;
let stack: OAuthStack;

beforeAll(async () => {
  stack = await startOAuthStack();
  ({ gateway, demo, mcpUrl, receiver, metadataHost, browser } = stack);
  found = await discover(mcpUrl);
}, 90_000);
afterAll(async () => stack?.close());
beforeEach(async () => {
  page = await (await browser.newContext()).newPage();
});
afterEach(async () => page.context().close());

async function register(extra: Record<string, unknown> = {}): Promise<{ client_id: string } & Record<string, unknown>> {
  const res = await fetch(found.server.registration_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'E2E agent', redirect_uris: [receiver.url], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none', ...extra }),
  });
  expect(res.status).toBe(201);
  return (await res.json()) as { client_id: string };
}

function authorizeUrl(clientId: string, challenge: string, options: { resource?: string; scope?: string; redirectUri?: string; state?: string } = {}): string {
  return `${found.server.authorization_endpoint}?${new URLSearchParams({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: options.redirectUri ?? receiver.url,
    scope: options.scope ?? found.challengeScope,
    state: options.state ?? 'state-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    resource: options.resource ?? found.resource.resource,
  })}`;
}

/** Registration, consent in the browser, the code: what every flow below starts with. */
async function authorize(options: { scope?: string; clientId?: string; extraServers?: readonly string[] } = {}) {
  const clientId = options.clientId ?? (await register()).client_id;
  const { verifier, challenge } = pkce();
  const redirected = receiver.next();
  await approveInBrowser(page, authorizeUrl(clientId, challenge, { scope: options.scope }), demo.orgAdminKey, { scopes: options.scope?.split(' '), extraServers: options.extraServers });
  const query = await redirected;
  return { clientId, verifier, query };
}

async function exchange(clientId: string, code: string, verifier: string) {
  return tokenRequest(found.server.token_endpoint, { grant_type: 'authorization_code', code, redirect_uri: receiver.url, code_verifier: verifier, client_id: clientId, resource: found.resource.resource });
}

test('discovery: a 401 names the protected resource metadata; the metadata names this gateway as authorization server with PKCE S256, public clients, CIMD and iss', () => {
  expect(found.resource).toEqual({
    resource: mcpUrl,
    authorization_servers: [gateway.baseUrl],
    scopes_supported: ['mcp:tools', 'mcp:resources', 'mcp:prompts'],
    bearer_methods_supported: ['header'],
    resource_name: expect.any(String),
  });
  expect(found.challengeScope).toBe('mcp:tools mcp:resources mcp:prompts');
  expect(found.server).toMatchObject({
    issuer: gateway.baseUrl,
    code_challenge_methods_supported: ['S256'],
    token_endpoint_auth_methods_supported: expect.arrayContaining(['none']),
    client_id_metadata_document_supported: true,
    authorization_response_iss_parameter_supported: true,
    registration_endpoint: `${gateway.baseUrl}/oauth/register`,
    revocation_endpoint: `${gateway.baseUrl}/oauth/revoke`,
  });
});

test('registration, consent in the browser, token, MCP calls, refresh with rotation, revocation', async () => {
  const { clientId, verifier, query } = await authorize();
  expect(query.get('state')).toBe('state-1');
  expect(query.get('iss')).toBe(gateway.baseUrl);
  const code = query.get('code')!;

  const token = await exchange(clientId, code, verifier);
  expect(token.status).toBe(200);
  expect(token.body).toMatchObject({ token_type: 'Bearer', expires_in: 600, scope: 'mcp:tools mcp:resources mcp:prompts' });
  const accessToken = token.body.access_token as string;

  const init = await call(mcpUrl, accessToken, initializeMessage(1));
  expect(init.status).toBe(200);
  const session = init.headers['mcp-session-id'];
  const echo = await call(mcpUrl, accessToken, toolCall(2, 'echo', { message: 'through OAuth' }), { session });
  expect(echo.status).toBe(200);
  expect(JSON.stringify(resultOf(echo, 2))).toContain('through OAuth');

  // The code is single-use: a replay is refused (and revokes what it issued).
  const replay = await exchange(clientId, code, verifier);
  expect([replay.status, replay.body.error]).toEqual([400, 'invalid_grant']);

  // The grant is in the admin API as a key of the org, and in the audit log.
  const grants = await (await fetch(`${gateway.adminUrl}/orgs/${demo.orgId}/keys?limit=100`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } })).json() as { items: { name: string; oauth?: { clientId: string } }[] };
  expect(grants.items.some((k) => k.oauth?.clientId === clientId && k.name === 'OAuth: E2E agent')).toBe(true);
  const audit = await (await fetch(`${gateway.adminUrl}/orgs/${demo.orgId}/audit?action=grant.created`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } })).json() as { items: { target: { id: string } }[] };
  expect(audit.items.length).toBeGreaterThan(0);
});

test('refresh rotates the token; a replayed refresh token revokes the family', async () => {
  const { clientId, verifier, query } = await authorize();
  const first = await exchange(clientId, query.get('code')!, verifier);
  const refresh = (body: Record<string, unknown>) =>
    tokenRequest(found.server.token_endpoint, { grant_type: 'refresh_token', refresh_token: body.refresh_token as string, client_id: clientId, resource: found.resource.resource });
  const second = await refresh(first.body);
  expect(second.status).toBe(200);
  expect(second.body.refresh_token).not.toBe(first.body.refresh_token);
  expect((await call(mcpUrl, second.body.access_token as string, initializeMessage(1))).status).toBe(200);

  const replayed = await refresh(first.body);
  expect([replayed.status, replayed.body.error]).toEqual([400, 'invalid_grant']);
  // The family is revoked: the newest refresh token no longer works either.
  expect((await refresh(second.body)).status).toBe(400);
});

test('revocation (RFC 7009): a revoked access token is refused by the gateway', async () => {
  const { clientId, verifier, query } = await authorize();
  const token = await exchange(clientId, query.get('code')!, verifier);
  const accessToken = token.body.access_token as string;
  expect((await call(mcpUrl, accessToken, initializeMessage(1))).status).toBe(200);
  const revoked = await tokenRequest(found.server.revocation_endpoint, { token: accessToken, token_type_hint: 'access_token', client_id: clientId });
  expect(revoked.status).toBe(200);
  // Within the gateway's verified-token cache bound (the key cache TTL, 500 ms here).
  let status = 200;
  for (let i = 0; i < 40 && status !== 401; i++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    status = (await call(mcpUrl, accessToken, initializeMessage(1))).status;
  }
  expect(status).toBe(401);
});

test('a token without mcp:tools lists tools but gets 403 insufficient_scope for tools/call, with the scopes in one challenge', async () => {
  const { clientId, verifier, query } = await authorize({ scope: 'mcp:resources' });
  const token = await exchange(clientId, query.get('code')!, verifier);
  expect(token.body.scope).toBe('mcp:resources');
  const accessToken = token.body.access_token as string;
  const init = await call(mcpUrl, accessToken, initializeMessage(1));
  const session = init.headers['mcp-session-id'];
  expect((await call(mcpUrl, accessToken, rpc(2, 'tools/list'), { session })).status).toBe(200);
  const refused = await call(mcpUrl, accessToken, toolCall(3, 'echo', { message: 'x' }), { session });
  expect(refused.status).toBe(403);
  const challenge = challengeParams(refused.headers['www-authenticate']);
  expect(challenge.error).toBe('insufficient_scope');
  expect(challenge.scope!.split(' ').sort()).toEqual(['mcp:resources', 'mcp:tools']);
});

test('limits chosen on the consent page are the grant\'s tool, resource and prompt policies; a bad pattern is shown again with the problem', async () => {
  const clientId = (await register()).client_id;
  const { verifier, challenge } = pkce();
  await page.goto(authorizeUrl(clientId, challenge));
  await page.getByLabel('Org admin API key').fill(demo.orgAdminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Approve' }).waitFor();
  const limits = {
    'allow-tools': 'echo\nget-sum',
    'deny-tools': 'get-sum',
    'allow-resources': 'demo://resource/dynamic/text/*',
    'allow-prompts': 'simple-prompt',
  };
  // A resource pattern with a space: refused, the form comes back with what was typed.
  await chooseOnApprovalForm(page, { limits: { ...limits, 'deny-resources': 'demo://resource/dynamic/text/ 5' } });
  await page.getByRole('button', { name: 'Approve' }).click();
  await page.getByText('Resource patterns are URIs of up to 512 characters').waitFor();
  expect(await page.locator('#allow-tools').inputValue()).toBe('echo\nget-sum');
  expect(await page.locator('#deny-resources').inputValue()).toBe('demo://resource/dynamic/text/ 5');
  const redirected = receiver.next();
  await page.locator('#deny-resources').fill('');
  await Promise.all([page.waitForURL((url) => url.pathname === '/callback'), page.getByRole('button', { name: 'Approve' }).click()]);
  const token = await exchange(clientId, (await redirected).get('code')!, verifier);
  const accessToken = token.body.access_token as string;
  const session = (await call(mcpUrl, accessToken, initializeMessage(1))).headers['mcp-session-id'];

  const passes = async (id: number, method: string, params: Record<string, unknown>) => {
    const answer = await call(mcpUrl, accessToken, rpc(id, method, params), { session });
    expect({ status: answer.status, error: JSON.stringify(resultOf(answer, id)).includes('"isError":true') }).toEqual({ status: 200, error: false });
  };
  const refused = async (id: number, method: string, params: Record<string, unknown>, code: 'forbidden_tool' | 'forbidden_resource' | 'forbidden_prompt') =>
    expectGatewayError(await call(mcpUrl, accessToken, rpc(id, method, params), { session }), code, id);
  await passes(2, 'tools/call', { name: 'echo', arguments: { message: 'limited' } });
  await refused(3, 'tools/call', { name: 'get-sum', arguments: { a: 1, b: 2 } }, 'forbidden_tool');
  await refused(4, 'tools/call', { name: 'get-env', arguments: {} }, 'forbidden_tool');
  await passes(5, 'resources/read', { uri: 'demo://resource/dynamic/text/1' });
  await refused(6, 'resources/read', { uri: 'demo://resource/dynamic/blob/1' }, 'forbidden_resource');
  await passes(7, 'prompts/get', { name: 'simple-prompt' });
  await refused(8, 'prompts/get', { name: 'args-prompt', arguments: { city: 'Paris' } }, 'forbidden_prompt');

  // The backing key carries the limits as an API key's policies, for every approved server.
  const keys = (await (await fetch(`${gateway.adminUrl}/orgs/${demo.orgId}/keys?limit=100`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } })).json()) as { items: { oauth?: { clientId: string }; scopes: unknown }[] };
  expect(keys.items.find((k) => k.oauth?.clientId === clientId)?.scopes).toEqual({
    mcps: ['everything'],
    tools: { '*': { allow: ['echo', 'get-sum'], deny: ['get-sum'] } },
    resources: { '*': { allow: ['demo://resource/dynamic/text/*'], deny: [] } },
    prompts: { '*': { allow: ['simple-prompt'], deny: [] } },
  });
});

test('refusals at the authorization server: wrong PKCE verifier, unregistered redirect (an error page, no redirect), a resource not ours', async () => {
  const { clientId, query } = await authorize();
  const wrongVerifier = await exchange(clientId, query.get('code')!, pkce().verifier);
  expect([wrongVerifier.status, wrongVerifier.body.error]).toEqual([400, 'invalid_grant']);

  const { challenge } = pkce();
  const badRedirect = await fetch(authorizeUrl(clientId, challenge, { redirectUri: 'https://evil.example/callback' }), { redirect: 'manual' });
  expect(badRedirect.status).toBe(400);
  expect(badRedirect.headers.get('location')).toBeNull();
  expect(await badRedirect.text()).toContain('redirect_uri');

  const otherResource = await fetch(authorizeUrl(clientId, challenge, { resource: 'https://evil.example/mcp/everything' }), { redirect: 'manual' });
  // A valid client and redirect: the error goes back to the client, with state and iss.
  const location = new URL(otherResource.headers.get('location')!);
  expect(location.searchParams.get('error')).toBe('invalid_target');
  expect(location.searchParams.get('iss')).toBe(gateway.baseUrl);
});

test('a client ID metadata document on loopback https is fetched and used; one on a private address is refused', async () => {
  const clientId = `${metadataHost.origin}/clients/e2e.json`;
  metadataHost.serve('/clients/e2e.json', { client_id: clientId, client_name: 'CIMD agent', redirect_uris: [receiver.url], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' });
  const { verifier, query } = await authorize({ clientId });
  const token = await exchange(clientId, query.get('code')!, verifier);
  expect(token.status).toBe(200);
  expect((await call(mcpUrl, token.body.access_token as string, initializeMessage(1))).status).toBe(200);

  const { challenge } = pkce();
  const privateClient = await fetch(authorizeUrl('https://10.0.0.1/clients/x.json', challenge), { redirect: 'manual' });
  expect(privateClient.status).toBe(400);
  expect(privateClient.headers.get('location')).toBeNull();
});

test('a token of the demo org does not reach an MCP server of another org', async () => {
  const other = await gateway.service.createOrg({ name: 'Other org', plan: 'pro', ipAllowlist: [] });
  await gateway.service.createMcp(other.item.orgId, { slug: 'other-only', displayName: 'Other', endpoints: [{ url: `${gateway.baseUrl}/nowhere` }], upstreamAuth: { type: 'none' } } as never);
  const { clientId, verifier, query } = await authorize();
  const token = await exchange(clientId, query.get('code')!, verifier);
  const answer = await call(`${gateway.baseUrl}/mcp/other-only`, token.body.access_token as string, initializeMessage(1));
  // Issued for /mcp/everything: the audience does not match.
  expect(answer.status).toBe(401);
});

test('a client registered with loopback redirects is native: its redirect matches on any port; a client asking for a secret gets none', async () => {
  const registered = await register({ redirect_uris: ['http://127.0.0.1:9/callback'], token_endpoint_auth_method: 'client_secret_post' });
  expect(registered).toMatchObject({ application_type: 'native', token_endpoint_auth_method: 'none' });
  expect(registered).not.toHaveProperty('client_secret');
  // Authorized with the receiver's own port, not the registered one.
  const { verifier, query } = await authorize({ clientId: registered.client_id });
  expect((await exchange(registered.client_id, query.get('code')!, verifier)).status).toBe(200);
  // A web client (https redirect) must match exactly.
  const web = await register({ redirect_uris: ['https://agent.example/callback'] });
  expect(web).toMatchObject({ application_type: 'web' });
});

test('dynamic client registration is rate-limited per address: past 10 a minute, 429 with Retry-After', async () => {
  let refused: Response | undefined;
  for (let i = 0; i < 12 && refused === undefined; i++) {
    const res = await fetch(found.server.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: `flood ${i}`, redirect_uris: [receiver.url] }),
    });
    if (res.status === 429) refused = res;
    else expect(res.status).toBe(201);
  }
  expect(refused?.status).toBe(429);
  expect(Number(refused!.headers.get('retry-after'))).toBeGreaterThan(0);
  expect(((await refused!.json()) as { error: string }).error).toBe('rate_limited');
});
