/**
 * The console in a real browser: served with its security headers, signing in with an org admin
 * key or the operator token, refusing a member key and a wrong one, and signing out.
 */
import type { Page } from 'playwright-core';
import { CONSOLE_SECURITY_HEADERS } from '../../lambda/core/console/console-app';
import { type ConsoleStack, expectedFailures, screenshot, signIn, startConsoleStack } from './browser';

let stack: ConsoleStack;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack();
}, 60_000);
afterAll(async () => stack?.close());
beforeEach(async () => {
  page = await stack.newPage();
});
afterEach(async () => {
  await page.context().close();
  expect(stack.problems.splice(0)).toEqual([]);
});

test('the page is served with a strict CSP, no framing, nosniff and no referrer; /console redirects to /console/', async () => {
  const res = await fetch(stack.gateway.consoleUrl);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
  const csp = res.headers.get('content-security-policy') ?? '';
  expect(csp).toContain("script-src 'self'");
  expect(csp).toContain("frame-ancestors 'none'");
  expect(csp).toContain("default-src 'none'");
  expect(csp).not.toContain('unsafe-inline');
  expect(csp).not.toContain('unsafe-eval');
  expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  expect(res.headers.get('referrer-policy')).toBe('no-referrer');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  const html = await res.text();
  // No inline script: every <script> has a src.
  expect(html.match(/<script\b[^>]*>/g)?.every((tag) => / src="\.\/app-[A-Z0-9]+\.js"/.test(tag))).toBe(true);
  const script = /src="\.\/(app-[A-Z0-9]+\.js)"/.exec(html)![1]!;
  const asset = await fetch(`${stack.gateway.consoleUrl}${script}`);
  expect(asset.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
  expect(asset.headers.get('content-security-policy')).toBe(CONSOLE_SECURITY_HEADERS['Content-Security-Policy']);
  const redirect = await fetch(stack.gateway.consoleUrl.replace(/\/$/, ''), { redirect: 'manual' });
  expect(redirect.status).toBe(308);
  expect(redirect.headers.get('location')).toBe('console/');
  expect((await fetch(`${stack.gateway.consoleUrl}../console/nope.js`)).status).toBe(404);
  expect((await fetch(stack.gateway.consoleUrl, { method: 'POST' })).status).toBe(405);
});

test('an org admin key signs in, is kept in sessionStorage only, and signing out forgets it', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey);
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
  const storage = await page.evaluate(() => ({ session: { ...sessionStorage }, local: { ...localStorage }, cookie: (globalThis as unknown as { document: { cookie: string } }).document.cookie }));
  expect(Object.values(storage.session)).toContain(stack.demo.orgAdminKey);
  expect(storage.local).toEqual({});
  expect(storage.cookie).toBe('');
  // A reload keeps the session (same tab) …
  await page.reload();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
  // … and signing out forgets it.
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.getByText('Signed out.').waitFor();
  expect(await page.evaluate(() => Object.values(sessionStorage).length)).toBe(0);
  await screenshot(page, 'sign-in');
});

test('a member key is refused with a message saying it has no admin rights', async () => {
  await page.goto(stack.gateway.consoleUrl);
  await page.getByLabel('Admin key or operator token').fill(stack.demo.apiKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This is a member key').waitFor();
  expect(await page.getByRole('button', { name: 'Sign out' }).count()).toBe(0);
  expect(await page.evaluate(() => Object.values(sessionStorage).length)).toBe(0);
  expectedFailures(stack.problems, 403);
});

test('a wrong key is refused as not valid', async () => {
  await page.goto(stack.gateway.consoleUrl);
  await page.getByLabel('Admin key or operator token').fill(`${stack.demo.orgAdminKey.slice(0, -4)}AAAA`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByText('This key or token is not valid').waitFor();
  expectedFailures(stack.problems, 401);
});

test('the operator signs in to the fleet view and picks an org', async () => {
  await signIn(page, stack, stack.gateway.operatorToken);
  await page.getByRole('heading', { level: 1, name: 'Fleet' }).waitFor();
  await page.getByLabel('Organisation', { exact: true }).selectOption(stack.demo.orgId);
  await page.getByRole('link', { name: 'Overview' }).click();
  await page.getByRole('heading', { level: 1, name: 'Overview' }).waitFor();
});

test("the admin API admits the console's own origin (this loopback server) and refuses any other", async () => {
  const url = `${stack.gateway.adminUrl}/whoami`;
  const auth = { authorization: `Bearer ${stack.demo.orgAdminKey}` };
  const own = await fetch(url, { headers: { ...auth, origin: new URL(stack.gateway.baseUrl).origin } });
  expect(own.status).toBe(200);
  const other = await fetch(url, { headers: { ...auth, origin: 'http://evil.test' } });
  expect(other.status).toBe(403);
  expect(((await other.json()) as { error: { code: string } }).error.code).toBe('origin_not_allowed');
  // Another loopback port is another origin.
  const port = Number(new URL(stack.gateway.baseUrl).port);
  const otherPort = await fetch(url, { headers: { ...auth, origin: `http://127.0.0.1:${port === 1 ? 2 : port - 1}` } });
  expect(otherPort.status).toBe(403);
});

test('the browser enforces the CSP: an inline script injected into the page does not run, and the violation is reported', async () => {
  await page.goto(stack.gateway.consoleUrl);
  await page.getByLabel('Admin key or operator token').waitFor();
  const ran = await page.evaluate(() => {
    const g = globalThis as unknown as { document: { createElement(tag: string): { textContent: string }; head: { appendChild(node: unknown): void } }; __inlineRan?: boolean };
    const script = g.document.createElement('script');
    script.textContent = 'globalThis.__inlineRan = true';
    g.document.head.appendChild(script);
    return g.__inlineRan === true;
  });
  expect(ran).toBe(false);
  // The violation is reported as a console error (bounded wait: 50 × 100 ms).
  for (let i = 0; i < 50 && !stack.problems.some((p) => p.includes('Content Security Policy')); i++) await page.waitForTimeout(100);
  expect(stack.problems.splice(0)).toEqual([expect.stringContaining("violates the following Content Security Policy directive 'script-src 'self''")]);
});
