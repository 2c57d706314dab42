/**
 * ExternalSignIn against a real OpenID Provider on loopback (oidc-provider, test/support/identity-provider.ts):
 * the authorization request it builds, the code exchange with each client authentication the
 * provider may insist on, the ID token's claim mapped to an org, and what is refused — a cookie
 * that is missing, tampered with, of another sign-in or expired, the provider's error answer, a
 * code that does not belong to the cookie's PKCE verifier, a provider that is down.
 *
 * The user's side (the provider's login and consent forms) is driven with Playwright's request
 * context, which keeps the provider's cookies and follows its redirects like a browser.
 */
import { type APIResponse, request } from 'playwright-core';
import { EXTERNAL_SIGN_IN_TTL_SECONDS, ExternalSignIn, type SignInOutcome } from '../../lambda/core/oauth/external-sign-in';
import { startRedirectReceiver } from '../e2e/oauth-support';
import { startTestIdentityProvider, type TestIdentityProvider, type TestUsers } from '../support/identity-provider';

const USERS: TestUsers = {
  alice: { email: 'alice@acme.test', groups: ['staff', 'admins-acme'], org: 'acme' },
  bob: { email: 'bob@acme.test', groups: ['staff', 42], org: ['acme', 'beta'] },
  carol: { email: 'carol@acme.test', groups: ['admins-acme', 'admins-beta'], org: 7 },
};

let receiver: Awaited<ReturnType<typeof startRedirectReceiver>>;
const started: TestIdentityProvider[] = [];

beforeAll(async () => {
  receiver = await startRedirectReceiver();
});
afterAll(async () => {
  await receiver.close();
  await Promise.all(started.map((idp) => idp.close()));
});

async function provider(options: Parameters<typeof startTestIdentityProvider>[1] = {}): Promise<TestIdentityProvider> {
  const idp = await startTestIdentityProvider(USERS, options);
  idp.attach(receiver.url);
  started.push(idp);
  return idp;
}

/**
 * The provider's development login and consent as `login`, in a browser of its own (no session
 * at the provider yet), from the authorization URL to the redirect back (its URL).
 */
async function signInAt(location: string, login: string): Promise<URL> {
  const browser = await request.newContext();
  try {
    const formAction = async (page: APIResponse) => {
      const action = /<form[^>]*action="([^"]+)"/.exec(await page.text())?.[1];
      if (!action) throw new Error(`no form at ${page.url()}`);
      return new URL(action.replace(/&#x2F;/g, '/'), location).href;
    };
    const loginPage = await browser.get(location);
    const consentPage = await browser.post(await formAction(loginPage), { form: { prompt: 'login', login, password: 'any' } });
    const back = receiver.next();
    await browser.post(await formAction(consentPage), { form: { prompt: 'consent' } });
    return new URL(`${receiver.url}?${(await back).toString()}`);
  } finally {
    await browser.dispose();
  }
}

/** begin, the user at the provider, complete: the whole sign-in of `login` for interaction `uid`. */
async function signInWith(signIn: ExternalSignIn, login: string, uid = 'interaction-1'): Promise<SignInOutcome> {
  const start = await signIn.begin(uid, receiver.url);
  return signIn.complete(await signInAt(start.location, login), start.cookie.value);
}

test('the authorization request: code with PKCE S256, state naming the interaction, a nonce, openid email profile, the callback; the cookie is named after the interaction', async () => {
  const idp = await provider();
  const signIn = new ExternalSignIn({ provider: idp.config, signingKey: 'k', allowInsecure: true });
  const start = await signIn.begin('uid-1', receiver.url);
  const url = new URL(start.location);
  expect(url.origin + url.pathname).toBe(`${idp.config.issuer}/auth`);
  const query = Object.fromEntries(url.searchParams);
  expect(query).toMatchObject({ response_type: 'code', client_id: idp.config.clientId, redirect_uri: receiver.url, scope: 'openid email profile', code_challenge_method: 'S256' });
  expect(query.code_challenge).toMatch(/^[A-Za-z0-9_-]{43}$/);
  expect(query.nonce).toMatch(/^[A-Za-z0-9_-]{20,}$/);
  expect(query.state).toMatch(/^uid-1\.[A-Za-z0-9_-]{16,}$/);
  expect(start.cookie).toMatchObject({ name: 'plexmcp_idp_uid-1', maxAgeSeconds: EXTERNAL_SIGN_IN_TTL_SECONDS });
  // The cookie carries the verifier, which the URL must not: only its challenge.
  expect(start.location).not.toContain(start.cookie.value.split('.')[2]);
  expect(signIn.cookieNameFor(query.state!)).toBe('plexmcp_idp_uid-1');
  expect(signIn.cookieNameFor('no-dot')).toBeUndefined();
  expect(signIn.displayName).toBe('127.0.0.1');
});

test.each(['client_secret_basic', 'client_secret_post'] as const)('the code is exchanged with the authentication the provider offers (%s); the ID token names the user and, through orgs, their org', async (clientAuth) => {
  const idp = await provider({ clientAuth, orgs: { 'admins-acme': 'acme' }, displayName: 'Acme SSO' });
  const signIn = new ExternalSignIn({ provider: idp.config, signingKey: 'k', allowInsecure: true });
  expect(await signInWith(signIn, 'alice')).toEqual({ ok: true, uid: 'interaction-1', user: { issuer: idp.config.issuer, subject: 'alice', name: 'alice@acme.test', orgId: 'acme' } });
});

test('claim mapping: a string claim is the org id; an array gives each value (non-strings ignored); several orgs, none, or a non-string claim are refused', async () => {
  const idp = await provider();
  const byOrgClaim = new ExternalSignIn({ provider: { ...idp.config, orgClaim: 'org' }, signingKey: 'k', allowInsecure: true });
  expect(await signInWith(byOrgClaim, 'alice')).toMatchObject({ ok: true, user: { orgId: 'acme' } });
  expect(await signInWith(byOrgClaim, 'bob')).toEqual({ ok: false, uid: 'interaction-1', refusal: 'several_orgs' });
  expect(await signInWith(byOrgClaim, 'carol')).toEqual({ ok: false, uid: 'interaction-1', refusal: 'no_org' });

  const mapped = new ExternalSignIn({ provider: { ...idp.config, orgs: { 'admins-acme': 'acme', 'admins-beta': 'beta', staff: 'acme' } }, signingKey: 'k', allowInsecure: true });
  // staff and admins-acme both map to acme: one org.
  expect(await signInWith(mapped, 'alice')).toMatchObject({ ok: true, user: { orgId: 'acme' } });
  expect(await signInWith(mapped, 'carol')).toMatchObject({ ok: false, refusal: 'several_orgs' });
  const unmapped = new ExternalSignIn({ provider: { ...idp.config, orgs: { 'admins-gamma': 'gamma' } }, signingKey: 'k', allowInsecure: true });
  expect(await signInWith(unmapped, 'alice')).toMatchObject({ ok: false, refusal: 'no_org' });
  // An inherited property name is not a mapping.
  const inherited = new ExternalSignIn({ provider: { ...idp.config, orgClaim: 'org', orgs: { beta: 'beta' } }, signingKey: 'k', allowInsecure: true });
  expect(await signInWith(inherited, 'alice')).toMatchObject({ ok: false, refusal: 'no_org' });
});

test('refused: no cookie, a tampered one, another sign-in’s, an expired one, the provider’s error answer, a code of another sign-in', async () => {
  const idp = await provider();
  let clock = Date.now();
  const config = { ...idp.config, orgClaim: 'org' };
  const signIn = new ExternalSignIn({ provider: config, signingKey: 'k', allowInsecure: true, now: () => clock });

  const start = await signIn.begin('uid-a', receiver.url);
  const answer = await signInAt(start.location, 'alice');
  expect(await signIn.complete(answer, undefined)).toEqual({ ok: false, refusal: 'sign_in_expired' });
  const parts = start.cookie.value.split('.');
  const tampered = [...parts.slice(0, 2), 'A'.repeat(43), ...parts.slice(3)].join('.');
  expect(await signIn.complete(answer, tampered)).toEqual({ ok: false, refusal: 'sign_in_expired' });
  const other = await signIn.begin('uid-a', receiver.url);
  expect(await signIn.complete(answer, other.cookie.value)).toEqual({ ok: false, refusal: 'sign_in_expired' });
  const otherKey = new ExternalSignIn({ provider: config, signingKey: 'another key', allowInsecure: true, now: () => clock });
  expect(await otherKey.complete(answer, start.cookie.value)).toEqual({ ok: false, refusal: 'sign_in_expired' });
  clock += EXTERNAL_SIGN_IN_TTL_SECONDS * 1000 + 1;
  expect(await signIn.complete(answer, start.cookie.value)).toEqual({ ok: false, refusal: 'sign_in_expired' });
  clock -= EXTERNAL_SIGN_IN_TTL_SECONDS * 1000 + 1;

  const denied = new URL(`${receiver.url}?${new URLSearchParams({ error: 'access_denied', state: answer.searchParams.get('state')!, iss: idp.config.issuer })}`);
  expect(await signIn.complete(denied, start.cookie.value)).toEqual({ ok: false, uid: 'uid-a', refusal: 'provider_refused' });

  // Another sign-in's code with this one's state and cookie (code injection): the PKCE verifier
  // does not match the code's challenge, and the nonce not the ID token's.
  const second = await signIn.begin('uid-a', receiver.url);
  const secondAnswer = await signInAt(second.location, 'alice');
  const injected = new URL(answer.href);
  injected.searchParams.set('code', secondAnswer.searchParams.get('code')!);
  expect(await signIn.complete(injected, start.cookie.value)).toEqual({ ok: false, uid: 'uid-a', refusal: 'provider_failed' });

  // The genuine answer is good once; its code cannot be used again.
  expect(await signIn.complete(answer, start.cookie.value)).toMatchObject({ ok: true, user: { subject: 'alice' } });
  expect(await signIn.complete(answer, start.cookie.value)).toEqual({ ok: false, uid: 'uid-a', refusal: 'provider_failed' });
});

test('a provider that is down: begin fails (the page says so); once it answers, the next begin works', async () => {
  const idp = await startTestIdentityProvider(USERS);
  started.push(idp);
  const signIn = new ExternalSignIn({ provider: idp.config, signingKey: 'k', allowInsecure: true, timeoutMs: 2_000 });
  await expect(signIn.begin('uid-1', receiver.url)).rejects.toThrow(); // no provider attached yet: 503s
  idp.attach(receiver.url);
  expect((await signIn.begin('uid-1', receiver.url)).location).toContain(`${idp.config.issuer}/auth?`);
});

test('a plain-http provider only with allowInsecure (local mode)', async () => {
  const idp = await provider();
  await expect(new ExternalSignIn({ provider: idp.config, signingKey: 'k' }).begin('uid-1', receiver.url)).rejects.toThrow(/https/i);
});
