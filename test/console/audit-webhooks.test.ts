/**
 * The Webhooks & alerts and Audit log pages in a real browser against `serve --demo`: a webhook
 * to a loopback receiver added in the page (after the plan refused it, then the operator raised
 * the limit), its secret shown once and verifying the deliveries with the `standardwebhooks`
 * package, a test event delivered, a failed one redelivered, the secret rotated, then deleted; an alert
 * subscription added and removed; then the audit entries of those changes, filtered and paged,
 * and the chain verified by the server.
 */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { Webhook } from 'standardwebhooks';
import { type ConsoleStack, expectedFailures, screenshot, signIn, startConsoleStack } from './browser';

interface Received {
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A webhook receiver on 127.0.0.1 that records every request and answers `status` (200, or 500 while failing). */
async function startReceiver(): Promise<{ url: string; received: Received[]; setFailing: (failing: boolean) => void; close: () => Promise<void> }> {
  const received: Received[] = [];
  let failing = false;
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      received.push({ headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(failing ? 500 : 200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hooks/plexmcp`,
    received,
    setFailing: (value) => void (failing = value),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** True when `secret` verifies the request's signature (standardwebhooks: a peer implementation). */
function verifies(secret: string, request: Received): boolean {
  try {
    new Webhook(secret).verify(request.body, request.headers as Record<string, string>);
    return true;
  } catch {
    return false;
  }
}

/** Waits (bounded) until `check` holds. */
async function until(check: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let stack: ConsoleStack;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let page: Page;

beforeAll(async () => {
  // Three quick attempts, so a failing delivery fails for good within a second.
  stack = await startConsoleStack({ webhookRetrySchedule: [0, 200, 200], webhookPollIntervalMs: 100 });
  receiver = await startReceiver();
}, 60_000);
afterAll(async () => {
  await receiver?.close();
  await stack?.close();
});
beforeEach(async () => {
  page = await stack.newPage();
  // Delete, rotate and remove ask first (a native confirm dialog): the test says yes.
  page.on('dialog', (dialog) => void dialog.accept());
});
afterEach(async () => {
  await page.context().close();
  expect(stack.problems.splice(0)).toEqual([]);
});

/** The admin API as the operator (what the operator would do in the CLI). */
async function asOperator(method: string, path: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${stack.gateway.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${stack.gateway.operatorToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const endpointCard = () => page.getByRole('article', { name: receiver.url });
const deliveryRows = () => endpointCard().getByRole('row').filter({ hasText: 'webhook.test' });

describe('Webhooks & alerts', () => {
  test('a webhook added in the page: plan refusal shown, secret once, test event delivered and verified, failed one redelivered, secret rotated', async () => {
    const orgId = stack.demo.orgId;
    // The demo org's plan first allows no endpoint: the page shows the API's plan refusal.
    expect((await asOperator('PATCH', `/orgs/${orgId}`, { planOverrides: { maxWebhookEndpoints: 0 } })).status).toBe(200);
    await signIn(page, stack, stack.demo.orgAdminKey, '#/webhooks');
    await page.getByRole('heading', { level: 1, name: 'Webhooks & alerts' }).waitFor();
    await page.getByText('This plan allows 0 endpoints; 0 in use.').waitFor();
    await page.getByLabel('Endpoint URL').fill(receiver.url);
    await page.getByLabel('Description (optional)').fill('console test receiver');
    await page.getByRole('checkbox', { name: 'webhook.test' }).waitFor();
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await page.getByRole('alert').filter({ hasText: 'plan includes no webhook endpoints' }).waitFor();
    await page.getByText('plan_required').waitFor();
    expectedFailures(stack.problems, 403);

    // The operator raises the limit; the same form now adds it.
    expect((await asOperator('PATCH', `/orgs/${orgId}`, { planOverrides: { maxWebhookEndpoints: 5 } })).status).toBe(200);
    await page.getByRole('button', { name: 'Add endpoint' }).click();
    await endpointCard().waitFor();
    const secretCode = endpointCard().getByLabel('Signing secret');
    const secret = (await secretCode.textContent())!;
    expect(secret).toMatch(/^whsec_/);
    await endpointCard().getByText('copy it now — it is not shown again').waitFor();
    await endpointCard().getByRole('button', { name: 'Copy secret' }).waitFor();
    await endpointCard().getByText('console test receiver').waitFor();
    // The endpoint as the API lists it never carries the secret.
    const listed = await asOperator('GET', `/orgs/${orgId}/webhooks`);
    expect(JSON.stringify(listed.body)).not.toContain(secret);

    // A test event: delivered (2xx), listed with its attempt, and signed with that secret.
    await endpointCard().getByRole('button', { name: 'Send test event' }).click();
    await deliveryRows().filter({ hasText: 'delivered' }).filter({ hasText: 'HTTP 200' }).waitFor({ timeout: 15_000 });
    await until(() => receiver.received.length >= 1, 'the test delivery');
    expect(receiver.received).toHaveLength(1);
    expect(verifies(secret, receiver.received[0]!)).toBe(true);
    expect(verifies(`whsec_${Buffer.alloc(32).toString('base64')}`, receiver.received[0]!)).toBe(false);
    expect(JSON.parse(receiver.received[0]!.body)).toMatchObject({ type: 'webhook.test' });

    // A second one while the receiver fails: three attempts, then failed; Redeliver sends it again.
    receiver.setFailing(true);
    await endpointCard().getByRole('button', { name: 'Send test event' }).click();
    const failedRow = deliveryRows().filter({ hasText: 'failed' });
    await failedRow.filter({ hasText: 'HTTP 500' }).waitFor({ timeout: 15_000 });
    expect(receiver.received).toHaveLength(4);
    const failedId = receiver.received[1]!.headers['webhook-id'];
    expect(receiver.received.slice(1).map((r) => r.headers['webhook-id'])).toEqual([failedId, failedId, failedId]);
    receiver.setFailing(false);
    await failedRow.getByRole('button', { name: 'Redeliver' }).click();
    await page.getByText(/Delivery msg_\w+ queued again\./).waitFor();
    await deliveryRows().filter({ hasText: 'redelivered 1×' }).filter({ hasText: 'delivered' }).filter({ hasText: 'HTTP 200' }).waitFor({ timeout: 15_000 });
    await until(() => receiver.received.length >= 5, 'the redelivery');
    expect(receiver.received[4]!.headers['webhook-id']).toBe(failedId);
    expect(verifies(secret, receiver.received[4]!)).toBe(true);
    await screenshot(page, 'webhooks');

    // Rotating shows the new secret once; deliveries are then signed with it (and the old one, during the overlap).
    await endpointCard().getByRole('button', { name: 'Rotate secret' }).click();
    await endpointCard().getByText('New signing secret').waitFor();
    const rotated = (await endpointCard().getByLabel('Signing secret').textContent())!;
    expect(rotated).toMatch(/^whsec_/);
    expect(rotated).not.toBe(secret);
    await endpointCard().getByRole('button', { name: 'Send test event' }).click();
    await until(() => receiver.received.length >= 6, 'a delivery after the rotation');
    expect(verifies(rotated, receiver.received[5]!)).toBe(true);

    // After a reload the secret is gone for good.
    await page.reload();
    await endpointCard().waitFor();
    expect(await page.getByLabel('Signing secret').count()).toBe(0);
    expect(await page.content()).not.toContain(rotated);

    // Disable and enable again (PATCH); a disabled endpoint cannot be sent a test.
    await endpointCard().getByRole('button', { name: 'Disable' }).click();
    await endpointCard().getByText('disabled', { exact: true }).waitFor();
    expect(await endpointCard().getByRole('button', { name: 'Send test event' }).isDisabled()).toBe(true);
    await endpointCard().getByRole('button', { name: 'Enable' }).click();
    await endpointCard().getByText('enabled', { exact: true }).waitFor();

    // Delete (after the confirm dialog): gone from the page and the API.
    await endpointCard().getByRole('button', { name: 'Delete' }).click();
    await page.getByText('No webhook endpoints yet.').waitFor();
    expect(await asOperator('GET', `/orgs/${orgId}/webhooks`)).toMatchObject({ body: { items: [] } });
  }, 60_000);

  test('an alert subscription is added and removed', async () => {
    await signIn(page, stack, stack.demo.orgAdminKey, '#/webhooks');
    await page.getByRole('heading', { level: 2, name: 'Email alerts' }).waitFor();
    await page.getByText('No alert subscriptions.').waitFor();
    // An address the API refuses: its message under the field.
    await page.getByLabel('Email address').fill('not-an-address');
    await page.getByRole('button', { name: 'Add alert' }).click();
    await page.locator('#alert-address-error').waitFor();
    expectedFailures(stack.problems, 400);
    await page.getByLabel('Email address').fill('oncall@example.com');
    await page.getByRole('checkbox', { name: /A webhook endpoint was disabled/ }).check();
    await page.getByRole('button', { name: 'Add alert' }).click();
    const row = page.getByRole('row').filter({ hasText: 'oncall@example.com' });
    await row.filter({ hasText: 'webhook.endpoint.disabled' }).waitFor();
    const listed = await asOperator('GET', `/orgs/${stack.demo.orgId}/alerts`);
    expect(listed.body).toMatchObject({ items: [{ address: 'oncall@example.com', events: ['webhook.endpoint.disabled'] }] });
    await row.getByRole('button', { name: 'Remove oncall@example.com' }).click();
    await page.getByText('No alert subscriptions.').waitFor();
    expect(await asOperator('GET', `/orgs/${stack.demo.orgId}/alerts`)).toMatchObject({ body: { items: [] } });
  });
});

describe('Audit log', () => {
  test('the changes just made are listed with their fields, a filter narrows the list, Load more pages, and Verify says the chain is OK', async () => {
    const orgId = stack.demo.orgId;
    // A signed digest over the chain so far, then more than a page of entries after it.
    await stack.gateway.runAuditDigests();
    for (let i = 0; i < 50; i++) expect((await asOperator('PATCH', `/orgs/${orgId}`, { name: `Demo ${i}` })).status).toBe(200);

    await signIn(page, stack, stack.demo.orgAdminKey, '#/audit');
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    const table = page.locator('table.audit-table');
    await table.waitFor();
    const rows = table.locator('tbody tr');
    expect(await rows.count()).toBe(50);
    const webhookCreated = rows.filter({ hasText: 'webhook.created' });
    expect(await webhookCreated.count()).toBe(1);
    // Its changed fields as text; the secret only as changed, never its value.
    await webhookCreated.getByText('changed (secret: value not recorded)').waitFor();
    await webhookCreated.getByText(/url .*127\.0\.0\.1/).waitFor();
    await webhookCreated.getByText(/key \w+ \(demo org admin\)/).waitFor();
    for (const action of ['webhook.deleted', 'webhook.tested', 'webhook.redelivered', 'webhook.secret.rotated', 'webhook.updated', 'alert.created', 'alert.deleted']) {
      const found = await rows.filter({ hasText: action }).count();
      expect([action, found > 0]).toEqual([action, true]);
    }
    expect(await page.content()).not.toMatch(/whsec_/);

    // Load more: the rest of the chain.
    await page.getByRole('button', { name: 'Load more' }).click();
    await table.getByText('Demo 49', { exact: false }).waitFor();
    const all = await rows.count();
    expect(all).toBeGreaterThan(50);
    expect(await page.getByRole('button', { name: 'Load more' }).count()).toBe(0);

    // A filter narrows the list to one action.
    await page.getByLabel('Action').fill('webhook.created');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('1 entry shown').waitFor();
    expect(await rows.count()).toBe(1);
    await rows.filter({ hasText: 'webhook.created' }).waitFor();
    // A time range after every entry: none.
    await page.getByLabel('Action').fill('');
    await page.getByLabel('From').fill('2099-01-01T00:00:00');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByText('No entries match these filters.').waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
    await page.getByText('50 entries shown').waitFor();

    // The server verifies the chain: intact up to the head, and the digest made above checked.
    await page.getByRole('button', { name: 'Verify chain' }).click();
    const result = page.locator('.verify-result');
    await result.getByText(`Chain OK: ${all} entries intact, ending at the stored head (entry ${all}).`).waitFor();
    await result.getByText(/Signed digests: 1 checked, all valid, signing the chain through entry \d+\./).waitFor();
    await screenshot(page, 'audit');
  });

  test('the operator reads and verifies the system chain (refused requests)', async () => {
    // A refused request is recorded in the system chain.
    expect((await fetch(`${stack.gateway.adminUrl}/whoami`, { headers: { authorization: 'Bearer pmop_not-the-token' } })).status).toBe(401);
    await signIn(page, stack, stack.gateway.operatorToken);
    await page.getByRole('combobox', { name: 'Organisation' }).selectOption(stack.demo.orgId);
    await page.getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { level: 1, name: 'Audit log' }).waitFor();
    await page.getByLabel('Show the system chain instead').check();
    await page.locator('table.audit-table tbody tr').filter({ hasText: 'auth.refused' }).first().waitFor();
    await page.getByRole('button', { name: 'Verify chain' }).click();
    await page.locator('.verify-result').getByText(/^Chain OK: \d+ entr(y|ies) intact/).waitFor();
  });
});
