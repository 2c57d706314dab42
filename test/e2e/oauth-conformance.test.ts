/**
 * The MCP conformance suite's authorization server checks (`conformance authorization`, in
 * @modelcontextprotocol/conformance 0.2.0-alpha; 0.1.x has no such command) against
 * `plexmcp serve --demo`: the metadata endpoint (RFC 8414 fields, issuer, PKCE S256, CIMD) and an
 * authorization code grant. The suite prints an authorization URL for a person to open and waits
 * for the redirect on its own loopback receiver; here the org admin approves it in headless
 * Chromium. The client it uses is registered first through DCR, with that receiver's redirect.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Browser } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { approveInBrowser, launchBrowser } from './oauth-support';

/** The suite has to finish in this time, or it is stopped and the test fails. */
const SUITE_DEADLINE_MS = 60_000;

let dataDir: string;
let outputDir: string;
let gateway: LocalGateway;
let demo: DemoFile;
let browser: Browser;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-oauth-conformance-'));
  outputDir = mkdtempSync(join(tmpdir(), 'plexmcp-conformance-results-'));
  gateway = await serve({ port: 0, dataDir, demo: true, healthIntervalMs: 0, auditDigestIntervalMs: 0, log: () => undefined });
  demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
  browser = await launchBrowser();
}, 90_000);
afterAll(async () => {
  await browser?.close();
  await gateway?.close();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(outputDir, { recursive: true, force: true });
});

/** A port free now, for the suite's callback receiver (it takes a port number, not 0). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

interface Check {
  readonly id: string;
  readonly status: string;
  readonly errorMessage?: string;
}

/** Every check the suite saved: one `checks.json` per scenario under the output directory. */
function savedChecks(): Check[] {
  return readdirSync(outputDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .flatMap((entry) => JSON.parse(readFileSync(join(outputDir, entry.name, 'checks.json'), 'utf8')) as Check[]);
}

test('the conformance authorization suite passes: metadata (with CIMD) and the authorization code grant', async () => {
  const port = await freePort();
  const redirectUri = `http://127.0.0.1:${port}/callback`;
  const registration = await fetch(`${gateway.baseUrl}/oauth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ client_name: 'MCP conformance', redirect_uris: [redirectUri], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' }),
  });
  expect(registration.status).toBe(201);
  const { client_id: clientId } = (await registration.json()) as { client_id: string };

  const suiteBin = join(dirname(require.resolve('@modelcontextprotocol/conformance/package.json')), 'dist', 'index.js');
  const suite = spawn(process.execPath, [suiteBin, 'authorization', '--url', gateway.baseUrl, '--client-id', clientId, '--port', String(port), '--resource', `${gateway.baseUrl}/mcp/everything`, '-o', outputDir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const deadline = setTimeout(() => suite.kill(), SUITE_DEADLINE_MS);
  let output = '';
  let approval: Promise<void> | undefined;
  const read = (chunk: Buffer) => {
    output += chunk.toString();
    // The URL the suite asks a person to open, on a line of its own.
    const authorizationUrl = /^(http:\/\/\S+\/oauth\/authorize\?\S+)$/m.exec(output)?.[1];
    if (authorizationUrl && !approval) {
      approval = (async () => {
        const context = await browser.newContext();
        try {
          await approveInBrowser(await context.newPage(), authorizationUrl, demo.orgAdminKey);
        } finally {
          await context.close();
        }
      })();
    }
  };
  suite.stdout.on('data', read);
  suite.stderr.on('data', read);
  const exitCode = await new Promise<number | null>((resolve) => suite.on('close', resolve));
  clearTimeout(deadline);
  await approval;

  const checks = savedChecks().map(({ id, status, errorMessage }) => ({ id, status, ...(errorMessage ? { errorMessage } : {}) }));
  expect(checks.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
    { id: 'authorization-code-grant', status: 'SUCCESS' },
    { id: 'authorization-server-metadata', status: 'SUCCESS' },
    { id: 'authorization-server-metadata-cimd', status: 'SUCCESS' },
  ]);
  if (exitCode !== 0) throw new Error(`the suite exited with ${exitCode}:\n${output}`);
}, 90_000);
