/**
 * The OAuth grants section of the API keys page in a real browser against `serve --demo`: a client
 * approved through the real consent flow (registration, PKCE, consent in Chromium) is listed with
 * its name as text, client id, servers and times; revoked with confirmation, it is shown revoked,
 * its backing key too, and the gateway refuses its token within the key cache TTL. Revoking the
 * backing key in the keys list revokes the grant as well.
 */
import type { Page } from 'playwright-core';
import { call, eventually, initializeMessage } from '../e2e/gateway-expect';
import { type ApprovedClient, approvedClient } from '../e2e/oauth-approved-client';
import { type ConsoleStack, screenshot, signIn, startConsoleStack } from './browser';

/** The gateway's key cache TTL here: a revoked grant's token is refused within it (60 s by default). */
const KEY_CACHE_TTL_MS = 1_000;
/** How long the test waits for the refusal: the TTL with room for a slow machine. */
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

/** A client the demo org admin approved on the consent page (in a browser context of its own). */
async function approve(clientName: string): Promise<ApprovedClient> {
  const context = await stack.browser.newContext();
  try {
    return await approvedClient(await context.newPage(), { baseUrl: stack.gateway.baseUrl, slug: 'everything', adminKey: stack.demo.orgAdminKey, clientName });
  } finally {
    await context.close();
  }
}

/** Accepts the next confirm() the page opens and resolves with its question. */
function acceptNextConfirm(): Promise<string> {
  return new Promise((resolve) => {
    page.once('dialog', (dialog) => {
      resolve(dialog.message());
      void dialog.accept();
    });
  });
}

const grantsTable = () => page.getByRole('table', { name: 'OAuth grants' });
const keysTable = () => page.getByRole('table', { name: 'API keys' });
/** The text of each cell of the table row that contains `text`. */
async function cells(table: ReturnType<typeof grantsTable>, text: string): Promise<string[]> {
  return table.getByRole('row').filter({ hasText: text }).getByRole('cell').allInnerTexts();
}

test('an approved client is listed; revoked with confirmation, it is shown revoked and its token is refused by the gateway', async () => {
  const client = await approve('Console test agent');
  expect((await call(client.mcpUrl, client.accessToken, initializeMessage(1))).status).toBe(200);

  await signIn(page, stack, stack.demo.orgAdminKey, '#/keys');
  await page.getByRole('heading', { level: 2, name: 'OAuth grants' }).waitFor();
  await grantsTable().getByRole('row').filter({ hasText: client.clientId }).waitFor();
  const row = await cells(grantsTable(), client.clientId);
  expect(row.slice(0, 3)).toEqual(['Console test agent', client.clientId, 'everything']);
  expect(row[3]).not.toBe('—');
  expect(row[5]).toBe('active');
  // Its backing key is in the keys list, marked.
  expect((await cells(keysTable(), 'OAuth: Console test agent'))[0]).toBe('OAuth: Console test agent (OAuth grant)');
  await screenshot(page, 'grants');

  const question = acceptNextConfirm();
  await page.getByRole('button', { name: 'Revoke OAuth grant of Console test agent' }).click();
  expect(await question).toContain(client.clientId);
  await grantsTable().getByRole('row').filter({ hasText: client.clientId }).getByText('revoked', { exact: true }).waitFor();
  expect(await page.getByRole('button', { name: 'Revoke OAuth grant of Console test agent' }).count()).toBe(0);
  // The keys list was reloaded: the backing key is revoked too.
  await keysTable().getByRole('row').filter({ hasText: 'OAuth: Console test agent' }).getByText('revoked', { exact: true }).waitFor();

  expect(await eventually(async () => (await call(client.mcpUrl, client.accessToken, initializeMessage(1))).status === 401, REVOKE_WAIT_MS, 100)).toBe(true);
  const refreshed = await client.refresh();
  expect([refreshed.status, refreshed.body.error]).toEqual([400, 'invalid_grant']);
}, 60_000);

test('revoking the backing key in the keys list revokes the grant; a client name with markup is shown as text', async () => {
  const name = '<b id="injected">Bold</b> agent';
  const client = await approve(name);
  await signIn(page, stack, stack.demo.orgAdminKey, '#/keys');
  await grantsTable().getByRole('row').filter({ hasText: client.clientId }).waitFor();
  expect((await cells(grantsTable(), client.clientId))[0]).toBe(name);
  expect(await page.locator('#injected').count()).toBe(0);

  const question = acceptNextConfirm();
  await keysTable().getByRole('row').filter({ hasText: `OAuth: ${name}` }).getByRole('button', { name: /^Revoke/ }).click();
  expect(await question).toContain('the grant is revoked with it');
  await grantsTable().getByRole('row').filter({ hasText: client.clientId }).getByText('revoked', { exact: true }).waitFor();
  expect(await eventually(async () => (await call(client.mcpUrl, client.accessToken, initializeMessage(1))).status === 401, REVOKE_WAIT_MS, 100)).toBe(true);
}, 60_000);
