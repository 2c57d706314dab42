/**
 * The consent page's sign-in with the organisation's identity provider (issue 13: "an external
 * OIDC login … mapping a claim to an org"), end to end on loopback: an MCP client registers and
 * asks for authorization; in headless Chromium the org admin chooses "Sign in with Acme SSO",
 * signs in at a real OpenID Provider (oidc-provider, test/support/identity-provider.ts), comes back to
 * the approval form for the org their groups claim maps to, approves; the client's token works
 * on the gateway, and the grant is audited with the user as actor. Then the refusals: a user
 * whose claim maps to no org, to several, or to an org that does not exist; a callback without
 * the browser's sign-in cookie, a replayed one, and the provider's error answer.
 */
import type { Browser, Page } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import type { LocalGateway } from '../../lambda/local/serve';
import { call, initializeMessage, resultOf, toolCall } from './gateway-expect';
import { discover, type Discovered, type OAuthStack, pkce, startOAuthStack, tokenRequest } from './oauth-support';
import { signInAtProvider, startTestIdentityProvider, type TestIdentityProvider } from '../support/identity-provider';

const USERS = {
  alice: { email: 'alice@acme.test', groups: ['staff', 'admins-demo'] },
  bob: { email: 'bob@acme.test', groups: ['staff'] },
  carol: { email: 'carol@acme.test', groups: ['admins-demo', 'admins-other'] },
  dave: { email: 'dave@acme.test', groups: ['admins-ghost'] },
};
// Filled in once the demo org exists (the gateway reads the mapping when a user comes back).
const orgs: Record<string, string> = {};

let stack: OAuthStack;
let idp: TestIdentityProvider;
let gateway: LocalGateway;
let demo: DemoFile;
let browser: Browser;
let found: Discovered;
let page: Page;

beforeAll(async () => {
  idp = await startTestIdentityProvider(USERS, { orgs, displayName: 'Acme SSO' });
  stack = await startOAuthStack({ identityProvider: idp.config });
  ({ gateway, demo, browser } = stack);
  idp.attach(`${gateway.baseUrl}/oauth/signin/callback`);
  const other = await gateway.service.createOrg({ name: 'Other', plan: 'pro', ipAllowlist: [] });
  Object.assign(orgs, { 'admins-demo': demo.orgId, 'admins-other': other.item.orgId, 'admins-ghost': 'org-that-does-not-exist' });
  found = await discover(stack.mcpUrl);
}, 90_000);
afterAll(async () => {
  await stack?.close();
  await idp?.close();
});
beforeEach(async () => {
  page = await (await browser.newContext()).newPage();
});
afterEach(async () => page.context().close());

/** A registered client's authorization request, opened in the page: the consent page's sign-in form. */
async function openConsent(): Promise<{ clientId: string; verifier: string }> {
  const registered = (await (
    await fetch(found.server.registration_endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'SSO agent', redirect_uris: [stack.receiver.url] }),
    })
  ).json()) as { client_id: string };
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({ response_type: 'code', client_id: registered.client_id, redirect_uri: stack.receiver.url, state: 's', code_challenge: challenge, code_challenge_method: 'S256', resource: stack.mcpUrl });
  await page.goto(`${found.server.authorization_endpoint}?${query}`);
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).waitFor();
  return { clientId: registered.client_id, verifier };
}

/** The URLs of the provider's redirects back to the gateway that the page follows. */
function callbacksOf(p: Page): string[] {
  const seen: string[] = [];
  p.on('request', (request) => {
    if (request.url().startsWith(`${gateway.baseUrl}/oauth/signin/callback`)) seen.push(request.url());
  });
  return seen;
}

test('an org admin signs in at the identity provider, approves for the org their groups claim maps to; the token works and the grant names the user', async () => {
  const callbacks = callbacksOf(page);
  const { clientId, verifier } = await openConsent();
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  await signInAtProvider(page, 'alice', new URL(gateway.baseUrl).origin);
  await page.getByRole('button', { name: 'Approve' }).waitFor();
  expect(await page.locator('main').innerText()).toContain(`Signed in as alice@acme.test at Acme SSO, for organisation ${demo.orgId}.`);
  // The approval form is this org's: the demo's server, as requested.
  expect(await page.locator('#mcp-everything').isChecked()).toBe(true);
  const redirected = stack.receiver.next();
  await Promise.all([page.waitForURL((url) => url.pathname === '/callback'), page.getByRole('button', { name: 'Approve' }).click()]);
  const answer = await redirected;
  expect(answer.get('state')).toBe('s');
  expect(answer.get('iss')).toBe(gateway.baseUrl);

  const token = await tokenRequest(found.server.token_endpoint, { grant_type: 'authorization_code', code: answer.get('code')!, redirect_uri: stack.receiver.url, code_verifier: verifier, client_id: clientId, resource: stack.mcpUrl });
  expect(token.status).toBe(200);
  const accessToken = token.body.access_token as string;
  const init = await call(stack.mcpUrl, accessToken, initializeMessage(1));
  expect(init.status).toBe(200);
  const echoed = await call(stack.mcpUrl, accessToken, toolCall(2, 'echo', { message: 'via sso' }), { session: init.headers['mcp-session-id'] });
  expect(echoed.status).toBe(200);
  expect(JSON.stringify(resultOf(echoed, 2))).toContain('via sso');

  // The grant's audit entry names the user the provider vouched for, not a key.
  const audit = (await (
    await fetch(`${gateway.adminUrl}/orgs/${demo.orgId}/audit?action=grant.created`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } })
  ).json()) as { items: { actor: Record<string, unknown>; changes: { field: string; new?: unknown }[] }[] };
  const entry = audit.items.find((e) => e.changes.some((c) => c.field === 'oauth' && (c.new as { clientId?: string } | undefined)?.clientId === clientId));
  expect(entry?.actor).toEqual({ kind: 'user', issuer: idp.config.issuer, subject: 'alice', name: 'alice@acme.test' });

  // The provider's answer is good once: the same callback again (the browser's back button, a
  // replay) finds no sign-in waiting.
  expect(callbacks).toHaveLength(1);
  const replay = await page.goto(callbacks[0]!);
  expect(replay?.status()).toBe(400);
  expect(await page.locator('main').innerText()).toContain('could not be matched to this browser, or it expired');
});

test('the sign-in counts for its own authorization only: the next client in the same browser starts at the sign-in form', async () => {
  await openConsent();
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  await signInAtProvider(page, 'alice', new URL(gateway.baseUrl).origin);
  await page.getByRole('button', { name: 'Approve' }).waitFor();
  await openConsent();
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  expect(await page.getByLabel('Org admin API key').count()).toBe(1);
});

test.each([
  ['bob', 403, 'Your account at Acme SSO is not an admin of an organisation on this gateway.'],
  ['carol', 403, 'Your account at Acme SSO names several organisations; ask the operator to map it to one.'],
  ['dave', 403, 'Your account at Acme SSO is not an admin of an organisation on this gateway.'],
])('%s (a claim that maps to no org, several, or an org that does not exist) gets no approval form', async (login, status, message) => {
  await openConsent();
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  const back = page.waitForResponse((response) => response.url().startsWith(`${gateway.baseUrl}/oauth/signin/callback`));
  await signInAtProvider(page, login, new URL(gateway.baseUrl).origin);
  expect((await back).status()).toBe(status);
  expect(await page.locator('main').innerText()).toContain(message);
  expect(await page.getByRole('button', { name: 'Approve' }).count()).toBe(0);
  // The way back is the sign-in form of the same authorization.
  await page.getByRole('link', { name: 'Back to the sign-in' }).click();
  await page.getByLabel('Org admin API key').waitFor();
});

test("the provider's error answer is a refusal page; a callback without this browser's sign-in cookie is refused", async () => {
  await openConsent();
  // The provider refuses (the user cancelled at its login page): it sends the browser back with
  // `error` and the state of the request it was given.
  const authorizationRequest = page.waitForRequest((request) => request.url().startsWith(`${idp.config.issuer}/auth?`));
  await page.getByRole('link', { name: 'Sign in with Acme SSO' }).click();
  const state = new URL((await authorizationRequest).url()).searchParams.get('state') ?? '';
  await page.locator('input[name=login]').waitFor();
  const refused = await page.goto(`${gateway.baseUrl}/oauth/signin/callback?${new URLSearchParams({ error: 'access_denied', state, iss: idp.config.issuer })}`);
  expect(refused?.status()).toBe(401);
  expect(await page.locator('main').innerText()).toContain('Acme SSO did not sign you in.');
  expect(state).toMatch(/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}$/);

  // Another browser (no cookie) with a real state, or with a made-up one: nothing to finish.
  for (const s of [state, 'abc.0123456789abcdef0123', '']) {
    const res = await fetch(`${gateway.baseUrl}/oauth/signin/callback?code=stolen&state=${encodeURIComponent(s)}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('could not be matched to this browser');
  }
});
