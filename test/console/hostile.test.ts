/**
 * Hostile names in the console: an org, MCP servers and API keys named with HTML and script
 * (made through the admin API, as anyone with an admin key could) are shown as literal text in
 * the fleet view, the org switcher and the MCP server and key pages: no element is injected, no
 * script runs, no dialog opens.
 */
import type { Page } from 'playwright-core';
import { type ConsoleStack, expectedFailures, signIn, startConsoleStack } from './browser';

const HOSTILE_ORG = '<img src=x onerror=alert(1)>';
const HOSTILE_NAMES = ['<img src=x onerror=window.__pwned=1>', '<script>window.__pwned=1</script>', '"><svg onload=window.__pwned=1>'];

let stack: ConsoleStack;
let page: Page;
let hostileOrgId: string;
/** Dialogs any page opened: an alert() from injected markup would land here. */
const dialogs: string[] = [];

async function adminCall(token: string, method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
  const res = await fetch(`${stack.gateway.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  stack = await startConsoleStack();
  const org = await adminCall(stack.gateway.operatorToken, 'POST', '/orgs', { name: HOSTILE_ORG });
  hostileOrgId = String(org.orgId);
  const upstreamUrl = (await stack.gateway.service.getMcp(stack.demo.orgId, 'everything')).endpoints[0]!.url;
  const orgPath = `/orgs/${stack.demo.orgId}`;
  // Slugs are restricted to [a-z0-9-]; the display name is the MCP server's free text.
  for (const [i, name] of HOSTILE_NAMES.entries()) {
    await adminCall(stack.demo.orgAdminKey, 'POST', `${orgPath}/mcps`, { slug: `hostile-${i}`, displayName: name, endpoints: [{ url: `${upstreamUrl}?hostile=${i}` }] });
    await adminCall(stack.demo.orgAdminKey, 'POST', `${orgPath}/keys`, { name, role: 'member', scopes: { mcps: [`hostile-${i}`] } });
  }
}, 60_000);
afterAll(async () => stack?.close());
beforeEach(async () => {
  page = await stack.newPage();
  page.on('dialog', (dialog) => {
    dialogs.push(`${dialog.type()}: ${dialog.message()}`);
    void dialog.dismiss();
  });
});
afterEach(async () => {
  await page.context().close();
  expect(dialogs.splice(0)).toEqual([]);
  expect(stack.problems.splice(0)).toEqual([]);
});

/** Nothing the hostile names carry became markup or ran. */
async function expectNothingInjected(): Promise<void> {
  expect(await page.evaluate(() => (globalThis as { __pwned?: unknown }).__pwned)).toBeUndefined();
  expect(await page.locator('img[src=x]').count()).toBe(0);
  expect(await page.locator('img').count()).toBe(0);
  expect(await page.locator('svg').count()).toBe(0);
  expect(await page.locator('body script').count()).toBe(0);
}

test('the operator sees the hostile org name as text in the fleet table and the org switcher', async () => {
  await signIn(page, stack, stack.gateway.operatorToken);
  await page.getByRole('heading', { level: 1, name: 'Fleet' }).waitFor();
  await page.getByRole('table', { name: 'Organisations' }).getByText(HOSTILE_ORG, { exact: true }).waitFor();
  const switcher = page.getByLabel('Organisation', { exact: true });
  const option = switcher.locator(`option[value="${hostileOrgId}"]`);
  expect(await option.textContent()).toBe(`${HOSTILE_ORG} (free)`);
  await switcher.selectOption(hostileOrgId);
  await page.getByRole('link', { name: 'MCP servers' }).click();
  await page.getByRole('heading', { level: 1, name: 'MCP servers' }).waitFor();
  await expectNothingInjected();
});

test('the org admin sees hostile MCP server names as text in the list and on the detail page', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey, '#/mcps');
  const list = page.getByRole('table', { name: 'MCP servers' });
  for (const name of HOSTILE_NAMES) await list.getByText(name, { exact: true }).waitFor();
  expect(await page.locator('main').innerText()).toContain(HOSTILE_NAMES[1]);
  await expectNothingInjected();

  await list.getByRole('link', { name: HOSTILE_NAMES[2], exact: true }).click();
  await page.getByRole('heading', { level: 1, name: HOSTILE_NAMES[2], exact: true }).waitFor();
  await expectNothingInjected();
  // The detail page asks for tools the health checker has not discovered yet (not run here).
  await page.getByText('Not discovered yet', { exact: false }).waitFor();
  expectedFailures(stack.problems, 404);
});

test('the org admin sees hostile key names as text in the key list', async () => {
  await signIn(page, stack, stack.demo.orgAdminKey, '#/keys');
  const table = page.getByRole('table', { name: 'API keys' });
  for (const name of HOSTILE_NAMES) await table.getByRole('cell', { name, exact: true }).getByText(name, { exact: true }).waitFor();
  expect(await page.locator('main').innerText()).toContain(HOSTILE_NAMES[0]);
  await expectNothingInjected();
});
