/**
 * `plexmcp grant` against the real local server (`serve --demo`): a client approved through the
 * real consent flow (registration, PKCE, consent in headless Chromium) is listed with its client
 * and servers, shown, and revoked from the CLI; the gateway then refuses its access token (within
 * the key cache bound) and its refresh token no longer works.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { call, eventually, initializeMessage } from '../e2e/gateway-expect';
import { type ApprovedClient, approvedClient } from '../e2e/oauth-approved-client';
import { launchBrowser } from '../e2e/oauth-support';
import { run } from './helpers';

/** The gateway's key cache TTL here: a revoked grant's token is refused within it. */
const KEY_CACHE_TTL_MS = 500;
/** How long the test waits for the refusal: the TTL with room for a slow machine. */
const REVOKE_WAIT_MS = 5_000;

let dataDir: string;
let gateway: LocalGateway;
let demo: DemoFile;
let browser: Browser;
let client: ApprovedClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-cli-grants-'));
  gateway = await serve({ port: 0, dataDir, demo: true, healthIntervalMs: 0, auditDigestIntervalMs: 0, keyCacheTtlMs: KEY_CACHE_TTL_MS, log: () => undefined });
  demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
  browser = await launchBrowser();
  const page = await (await browser.newContext()).newPage();
  client = await approvedClient(page, { baseUrl: gateway.baseUrl, slug: 'everything', adminKey: demo.orgAdminKey, clientName: 'CLI test agent' });
  await page.context().close();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The CLI as the demo org's admin (its org is the default --org). */
const cli = (argv: string[]) => run(['--url', gateway.adminUrl, '--token', demo.orgAdminKey, ...argv]);

interface GrantJson {
  grantId: string;
  clientId: string;
  clientName: string;
  keyId: string;
  scopes: { mcps: '*' | string[] };
  revokedAt?: string;
}

test('grant list shows the approved client; grant revoke revokes it; the gateway refuses its token and the refresh fails', async () => {
  expect((await call(client.mcpUrl, client.accessToken, initializeMessage(1))).status).toBe(200);

  const listed = await cli(['grant', 'list', '--json']);
  expect([listed.code, listed.stderr]).toEqual([0, '']);
  const items = (JSON.parse(listed.stdout) as { items: GrantJson[] }).items;
  const grant = items.find((g) => g.clientId === client.clientId)!;
  expect(grant).toMatchObject({ clientName: 'CLI test agent', scopes: { mcps: ['everything'] } });
  expect(grant.revokedAt).toBeUndefined();

  const table = await cli(['grant', 'list', '--org', demo.orgId]);
  expect(table.code).toBe(0);
  const [header, ...rows] = table.stdout.trimEnd().split('\n');
  expect(header!.split(/\s{2,}/)).toEqual(['GRANT ID', 'CLIENT', 'CLIENT ID', 'MCPS', 'CREATED', 'LAST USED', 'STATUS']);
  const row = rows.find((line) => line.startsWith(grant.grantId))!;
  expect(row.split(/\s{2,}/)).toEqual([grant.grantId, 'CLI test agent', client.clientId, 'everything', expect.stringMatching(/^\d{4}-\d\d-\d\dT/), expect.any(String), 'active']);

  const shown = await cli(['grant', 'get', grant.grantId]);
  expect(shown.code).toBe(0);
  expect(shown.stdout).toMatch(new RegExp(`^Backing key: +${grant.keyId}$`, 'm'));

  const revoked = await cli(['grant', 'revoke', grant.grantId, '--org', demo.orgId]);
  expect([revoked.code, revoked.stderr]).toEqual([0, '']);
  expect(revoked.stdout).toContain(`Revoked OAuth grant ${grant.grantId} (CLI test agent).`);
  expect(revoked.stdout).toMatch(/^Status: +revoked at \d{4}-/m);

  expect(await eventually(async () => (await call(client.mcpUrl, client.accessToken, initializeMessage(1))).status === 401, REVOKE_WAIT_MS, 100)).toBe(true);
  const refreshed = await client.refresh();
  expect([refreshed.status, refreshed.body.error]).toEqual([400, 'invalid_grant']);

  const after = JSON.parse((await cli(['grant', 'list', '--json'])).stdout) as { items: GrantJson[] };
  expect(after.items.find((g) => g.grantId === grant.grantId)!.revokedAt).toEqual(expect.any(String));
  const again = await cli(['grant', 'list']);
  expect(again.stdout.split('\n').find((line) => line.startsWith(grant.grantId))).toMatch(/ revoked$/);
}, 30_000);

test('an unknown grant is an API error on stderr with exit code 1; a member key may not list grants', async () => {
  const unknown = await cli(['grant', 'revoke', 'no-such-grant']);
  expect(unknown.code).toBe(1);
  expect(unknown.stderr).toMatch(/^error not_found: /);
  const member = await run(['--url', gateway.adminUrl, '--token', demo.apiKey, 'grant', 'list', '--org', demo.orgId]);
  expect(member.code).toBe(1);
  expect(member.stderr).toMatch(/^error admin_role_required: /);
});
