import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import type { DemoFile } from '../../lambda/local/demo';

let dataDir: string;
let gateway: LocalGateway | undefined;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-serve-'));
});
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(demo = false) {
  const lines: string[] = [];
  gateway = await serve({ port: 0, dataDir, demo, log: (line) => lines.push(line) });
  return { gateway, output: lines.join('\n') };
}

async function admin(g: LocalGateway, method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${g.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as any }; // eslint-disable-line @typescript-eslint/no-explicit-any
}

const mode = (path: string) => statSync(path).mode & 0o777;

test('first run prints the operator token once and stores it 0600; a restart keeps every record', async () => {
  const first = await start();
  expect(first.gateway.adminUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/admin\/v1$/);
  const token = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
  expect(token).toMatch(/^pmop_[A-Za-z0-9_-]{43}$/);
  expect(first.output).toContain(token);
  expect(mode(join(dataDir, 'operator-token'))).toBe(0o600);
  expect(mode(join(dataDir, 'master.key'))).toBe(0o600);
  expect(mode(dataDir)).toBe(0o700);

  const org = await admin(first.gateway, 'POST', '/orgs', token, { name: 'Acme' });
  const mcp = await admin(first.gateway, 'POST', `/orgs/${org.body.orgId}/mcps`, token, {
    slug: 'local-tools',
    endpoints: [{ url: 'http://127.0.0.1:9/mcp' }],
    upstreamAuth: { type: 'bearer', token: 'kept-across-restarts' },
  });
  expect(mcp.status).toBe(201);
  await first.gateway.close();
  gateway = undefined;

  const second = await start();
  expect(second.output).not.toContain(token); // printed once only
  const orgs = await admin(second.gateway, 'GET', '/orgs', token);
  expect(orgs.body.items.map((o: { orgId: string }) => o.orgId)).toEqual([org.body.orgId]);
  // The same local key file decrypts what the first run encrypted.
  const stored = await second.gateway.service['store'].getMcp(org.body.orgId, 'local-tools');
  expect(await second.gateway.service.revealUpstreamSecret(stored!)).toBe('kept-across-restarts');
});

test('the admin API is bound to loopback only and answers health checks', async () => {
  const { gateway: g } = await start();
  expect(new URL(g.baseUrl).hostname).toBe('127.0.0.1');
  const res = await fetch(`${g.baseUrl}/healthz`);
  expect(await res.json()).toEqual({ status: 'ok' });
});

test('--demo registers server-everything, issues keys, writes demo.json, and reuses them on restart', async () => {
  const first = await start(true);
  const demoPath = join(dataDir, 'demo.json');
  expect(mode(demoPath)).toBe(0o600);
  const demo = JSON.parse(readFileSync(demoPath, 'utf8')) as DemoFile;
  expect(demo).toEqual({
    gatewayUrl: `${first.gateway.baseUrl}/mcp/everything`,
    adminUrl: first.gateway.adminUrl,
    apiKey: expect.stringMatching(/^pmcp_/),
    orgAdminKey: expect.stringMatching(/^pmcp_/),
    mcp: 'everything',
    orgId: expect.stringMatching(/^org_/),
  });
  expect(first.output).toContain('"mcp-remote@0.15.1"');
  expect(first.output).toContain(`Bearer ${demo.apiKey}`);

  const who = await admin(first.gateway, 'GET', '/whoami', demo.apiKey);
  expect(who.body).toMatchObject({ principal: 'key', orgId: demo.orgId, role: 'member' });
  const mcps = await admin(first.gateway, 'GET', `/orgs/${demo.orgId}/mcps`, demo.orgAdminKey);
  expect(mcps.body.items).toHaveLength(1);
  const upstreamUrl = mcps.body.items[0].endpoints[0].url as string;
  expect(upstreamUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);

  // The registered upstream is a real MCP server.
  const client = new Client({ name: 'plexmcp-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(upstreamUrl)));
  const tools = await client.listTools();
  expect(tools.tools.map((t) => t.name)).toContain('echo');
  await client.close();

  await first.gateway.close();
  gateway = undefined;
  const second = await start(true);
  const again = JSON.parse(readFileSync(demoPath, 'utf8')) as DemoFile;
  expect([again.apiKey, again.orgAdminKey, again.orgId]).toEqual([demo.apiKey, demo.orgAdminKey, demo.orgId]);
  const after = await admin(second.gateway, 'GET', `/orgs/${demo.orgId}/mcps`, demo.orgAdminKey);
  expect(after.body.items).toHaveLength(1); // updated in place, not duplicated
  const orgs = await admin(second.gateway, 'GET', '/orgs', second.gateway.operatorToken);
  expect(orgs.body.items).toHaveLength(1);
});
