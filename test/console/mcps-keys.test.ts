/**
 * The MCP servers and API keys pages in a real browser against `serve --demo`: an MCP server is
 * created with two endpoints, refused with the API's error on the field it names, edited and
 * deleted; the demo MCP shows its discovered tools and endpoint health; a key is created, its
 * secret shown once (gone after a reload, in no storage), works at the gateway, and once revoked
 * in the page is refused there within the key cache TTL.
 */
import type { Page } from 'playwright-core';
import { call, initializeMessage } from '../e2e/gateway-expect';
import { type ConsoleStack, expectedFailures, screenshot, signIn, startConsoleStack } from './browser';

/** The gateway's key cache TTL here: a revoked key is refused within it (60 s by default). */
const KEY_CACHE_TTL_MS = 1_000;
/** How long the test waits for a revoked key to be refused: the TTL with room for a slow machine. */
const REVOKE_WAIT_MS = 5_000;

let stack: ConsoleStack;
let page: Page;

beforeAll(async () => {
  stack = await startConsoleStack({ keyCacheTtlMs: KEY_CACHE_TTL_MS });
}, 60_000);
afterAll(async () => stack?.close());
beforeEach(async () => {
  page = await stack.newPage();
});
afterEach(async () => {
  await page.context().close();
  expect(stack.problems.splice(0)).toEqual([]);
});

/** The admin API as the demo org admin, outside the browser: what the page did, checked at the source. */
async function admin<T = unknown>(path: string): Promise<{ status: number; body: T }> {
  const res = await fetch(`${stack.gateway.adminUrl}/orgs/${stack.demo.orgId}${path}`, { headers: { authorization: `Bearer ${stack.demo.orgAdminKey}` } });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : undefined) as T };
}

interface McpView {
  endpoints: { id: string; url: string; weight: number }[];
  upstreamAuth: { type: string };
  hasUpstreamSecret: boolean;
  toolPolicy: { allow: string[]; deny: string[] };
}

/** The error message a Field shows under the input labelled `label`. */
async function fieldError(label: string): Promise<string | null> {
  const field = page.locator('.field.invalid', { has: page.getByLabel(label, { exact: true }) });
  return field.locator('.field-error').textContent();
}

/** Accepts the next confirm() the page opens (ConfirmButton asks before deleting or revoking). */
function acceptNextConfirm(): void {
  page.once('dialog', (dialog) => void dialog.accept());
}

test('an MCP server is created with two endpoints, a bad URL is shown on its field, then it is edited and deleted', async () => {
  const upstreamUrl = (await stack.gateway.service.getMcp(stack.demo.orgId, 'everything')).endpoints[0]!.url;
  // A second distinct loopback URL of the same upstream (the API refuses one listed twice).
  const secondUrl = `${upstreamUrl}?replica=2`;
  await signIn(page, stack, stack.demo.orgAdminKey, '#/mcps');
  await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
  await page.getByRole('button', { name: 'New MCP server' }).click();
  await page.getByLabel('Slug', { exact: true }).fill('console-made');
  await page.getByLabel('Display name', { exact: true }).fill('Made in the console');
  await page.getByLabel('Endpoint 1 URL', { exact: true }).fill(upstreamUrl);
  await page.getByLabel('Endpoint 1 weight', { exact: true }).fill('300');
  await page.getByRole('button', { name: 'Add endpoint' }).click();
  await page.getByLabel('Endpoint 2 URL', { exact: true }).fill('not a url');
  await page.getByLabel('Endpoint 2 weight', { exact: true }).fill('100');
  await page.getByLabel('Auth type', { exact: true }).selectOption('bearer');
  await page.getByLabel('Token', { exact: true }).fill('upstream-secret-1');
  await page.getByRole('button', { name: 'Create MCP server' }).click();

  // The API names endpoints.1.url: the message is under the second URL, not the first.
  await page.locator('.field.invalid').first().waitFor();
  expect(await fieldError('Endpoint 2 URL')).toBe('is not a valid URL');
  expect(await page.getByLabel('Endpoint 2 URL', { exact: true }).getAttribute('aria-invalid')).toBe('true');
  expect(await page.getByLabel('Endpoint 1 URL', { exact: true }).getAttribute('aria-invalid')).toBeNull();
  expect((await admin('/mcps/console-made')).status).toBe(404);
  expectedFailures(stack.problems, 400);
  await screenshot(page, 'mcp-form-error');

  await page.getByLabel('Endpoint 2 URL', { exact: true }).fill(secondUrl);
  await page.getByRole('button', { name: 'Create MCP server' }).click();
  await page.getByRole('heading', { level: 1, name: 'Made in the console' }).waitFor();
  const created = await admin<McpView>('/mcps/console-made');
  expect(created.status).toBe(200);
  expect(created.body.endpoints.map((e) => [e.url, e.weight])).toEqual([
    [upstreamUrl, 300],
    [secondUrl, 100],
  ]);
  expect(created.body.upstreamAuth).toEqual({ type: 'bearer' });
  expect(created.body.hasUpstreamSecret).toBe(true);
  // Both endpoints are listed (not checked yet: no health cycle ran since).
  const health = page.getByRole('table', { name: 'Endpoint health' });
  await health.getByText(secondUrl, { exact: true }).waitFor();
  await health.getByText(upstreamUrl, { exact: true }).waitFor();

  // Edit: the secret field starts empty (write-only) and empty keeps the stored secret.
  await page.getByRole('button', { name: 'Edit' }).click();
  expect(await page.getByLabel('Token', { exact: true }).inputValue()).toBe('');
  await page.getByLabel('Endpoint 2 weight', { exact: true }).fill('250');
  await page.getByLabel('Denied tools', { exact: true }).fill('delete_*\nadmin_*');
  await page.getByRole('button', { name: 'Save changes' }).click();
  await page.getByText('deny delete_*, admin_*', { exact: true }).waitFor();
  const edited = await admin<McpView>('/mcps/console-made');
  expect(edited.body.endpoints.map((e) => e.weight)).toEqual([300, 250]);
  // Unchanged URLs keep their endpoint ids.
  expect(edited.body.endpoints.map((e) => e.id)).toEqual(created.body.endpoints.map((e) => e.id));
  expect(edited.body.toolPolicy).toEqual({ allow: [], deny: ['delete_*', 'admin_*'] });
  expect(edited.body.upstreamAuth).toEqual({ type: 'bearer' });
  expect(edited.body.hasUpstreamSecret).toBe(true);

  acceptNextConfirm();
  await page.getByRole('button', { name: 'Delete' }).click();
  await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
  expect((await admin('/mcps/console-made')).status).toBe(404);
  expect(await page.getByRole('link', { name: 'Made in the console' }).count()).toBe(0);
  // The detail page asked for tools that were never discovered (404 not_discovered, shown as such).
  expectedFailures(stack.problems, 404);
});

test("the demo MCP's page lists its discovered tools and the health of its endpoint", async () => {
  await stack.gateway.runHealthCycle();
  const tools = await admin<{ tools: { name: string }[] }>('/mcps/everything/tools');
  expect(tools.status).toBe(200);
  expect(tools.body.tools.length).toBeGreaterThan(0);
  const health = await admin<{ endpoints: { status: string; region: string }[] }>('/mcps/everything/health');
  expect(health.body.endpoints.length).toBeGreaterThan(0);

  await signIn(page, stack, stack.demo.orgAdminKey, '#/mcps');
  const list = page.getByRole('table', { name: 'MCP servers' });
  await list.getByRole('link', { name: 'everything', exact: false }).first().waitFor();
  await list.locator('.badge.healthy').first().waitFor();
  await screenshot(page, 'mcps');

  await page.goto(`${stack.gateway.consoleUrl}#/mcps/everything`);
  const toolTable = page.getByRole('table', { name: 'Tools' });
  for (const tool of tools.body.tools) await toolTable.getByText(tool.name, { exact: true }).waitFor();
  expect(await toolTable.locator('tbody tr').count()).toBe(tools.body.tools.length);
  const endpointTable = page.getByRole('table', { name: 'Endpoint health' });
  for (const state of health.body.endpoints) {
    const row = endpointTable.getByRole('row', { name: new RegExp(state.region) });
    await row.locator(`.badge.${state.status}`).waitFor();
    expect(await row.getByText(/^\d+ ms$/).count()).toBe(1);
  }
  await screenshot(page, 'mcp-detail');
});

test('a new key is shown once, works at the gateway, is gone after a reload, and revoked in the page it is refused', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey, '#/keys');
  await page.getByRole('heading', { level: 1, name: 'API keys' }).waitFor();
  await page.getByRole('button', { name: 'New API key' }).click();
  await page.getByLabel('Name', { exact: true }).fill('console agent');
  await page.getByLabel('Role', { exact: true }).selectOption('member');
  await page.getByLabel('All MCP servers (also ones added later)').uncheck();
  await page.getByRole('checkbox', { name: /everything/ }).check();
  await page.getByLabel('Denied tools', { exact: true }).fill('everything:delete_*');
  await page.getByRole('button', { name: 'Create key' }).click();
  await page.getByRole('heading', { level: 2, name: 'Key created: console agent' }).waitFor();
  await page.getByText('It will not be shown again').waitFor();
  const secret = (await page.getByLabel('New API key secret').textContent())!.trim();
  expect(secret.length).toBeGreaterThan(20);
  await screenshot(page, 'key-created');

  const keys = (await admin<{ items: { keyId: string; name: string; role: string; scopes: unknown }[] }>('/keys')).body.items;
  const made = keys.find((k) => k.name === 'console agent')!;
  expect(made.role).toBe('member');
  expect(made.scopes).toEqual({ mcps: ['everything'], tools: { everything: { allow: [], deny: ['delete_*'] } } });

  const mcpUrl = `${stack.gateway.baseUrl}/mcp/everything`;
  expect((await call(mcpUrl, secret, initializeMessage())).status).toBe(200);

  // The secret lives in the page's state only: no storage, no URL …
  const storage = await page.evaluate(() => ({ session: JSON.stringify({ ...sessionStorage }), local: JSON.stringify({ ...localStorage }) }));
  for (const place of [storage.session, storage.local, page.url(), JSON.stringify(await page.context().cookies())]) expect(place).not.toContain(secret);
  // … so a reload does not show it again.
  await page.reload();
  const row = page.getByRole('row', { name: /console agent/ });
  await row.waitFor();
  expect(await page.getByText(secret).count()).toBe(0);
  expect(await page.content()).not.toContain(secret);
  expect(await row.getByText(made.keyId, { exact: true }).count()).toBe(1);

  acceptNextConfirm();
  await row.getByRole('button', { name: /Revoke/ }).click();
  await row.locator('.badge.revoked').waitFor();
  await screenshot(page, 'keys');

  // Refused within the key cache TTL: polled, bounded.
  const deadline = Date.now() + REVOKE_WAIT_MS;
  let status = 0;
  while (Date.now() < deadline) {
    status = (await call(mcpUrl, secret, initializeMessage())).status;
    if (status === 401) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(status).toBe(401);
});
