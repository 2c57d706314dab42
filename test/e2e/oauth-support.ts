/**
 * What the OAuth end-to-end tests share: a client that does what the MCP authorization spec's
 * client section says (discovery from a 401, protected resource metadata, authorization server
 * metadata, registration, PKCE), a loopback redirect receiver, the consent page driven in headless
 * Chromium, and a loopback https server for client ID metadata documents (a self-signed
 * certificate made with openssl, trusted by the gateway through `oauthMetadataCa`).
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import { serve, type LocalGateway, type ServeOptions } from '../../lambda/local/serve';
import { CHROMIUM_PATH } from '../console/browser';

export interface Pkce {
  readonly verifier: string;
  readonly challenge: string;
}

export function pkce(): Pkce {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

/** The `key="value"` parameters of a `WWW-Authenticate: Bearer …` challenge. */
export function challengeParams(header: string | undefined): Record<string, string> {
  const params: Record<string, string> = {};
  for (const match of (header ?? '').matchAll(/([a-z_]+)="([^"]*)"/g)) params[match[1]!] = match[2]!;
  return params;
}

export interface Discovered {
  readonly resourceMetadataUrl: string;
  readonly resource: Record<string, unknown> & { resource: string; authorization_servers: string[]; scopes_supported: string[] };
  readonly server: Record<string, unknown> & { issuer: string; authorization_endpoint: string; token_endpoint: string; registration_endpoint: string; revocation_endpoint: string };
  readonly challengeScope: string;
}

/** The client section's discovery: an unauthenticated request, the 401's metadata URL, then the authorization server's metadata. */
export async function discover(mcpUrl: string): Promise<Discovered> {
  const unauthenticated = await fetch(mcpUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'oauth-e2e', version: '1' } } }),
  });
  if (unauthenticated.status !== 401) throw new Error(`expected 401, got ${unauthenticated.status}`);
  const challenge = challengeParams(unauthenticated.headers.get('www-authenticate') ?? undefined);
  const resourceMetadataUrl = challenge.resource_metadata!;
  const resource = (await (await fetch(resourceMetadataUrl)).json()) as Discovered['resource'];
  const issuer = resource.authorization_servers[0]!;
  // RFC 8414: the well-known URL of an issuer without a path.
  const server = (await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()) as Discovered['server'];
  return { resourceMetadataUrl, resource, server, challengeScope: challenge.scope ?? '' };
}

/** A loopback redirect receiver: every request's query is recorded; it answers a small page. */
export async function startRedirectReceiver(): Promise<{ url: string; next(): Promise<URLSearchParams>; close(): Promise<void> }> {
  const waiting: ((q: URLSearchParams) => void)[] = [];
  const received: URLSearchParams[] = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // The browser also asks for /favicon.ico: only the callback counts.
    if (url.pathname !== '/callback') return void res.writeHead(404).end();
    const query = url.searchParams;
    const waiter = waiting.shift();
    if (waiter) waiter(query);
    else received.push(query);
    res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>done</title><link rel="icon" href="data:,"><p>You can close this window.</p>');
  });
  await listen(server);
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/callback`,
    next: () => {
      const first = received.shift();
      if (first) return Promise.resolve(first);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no redirect within 20 s')), 20_000);
        waiting.push((q) => {
          clearTimeout(timer);
          resolve(q);
        });
      });
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** A loopback https server with a self-signed certificate for 127.0.0.1, serving JSON documents by path. */
export async function startMetadataHost(): Promise<{ origin: string; ca: string; serve(path: string, body: unknown): void; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), 'plexmcp-cimd-'));
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '1',
    '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
  ], { stdio: 'ignore' });
  const cert = readFileSync(join(dir, 'cert.pem'), 'utf8');
  const documents = new Map<string, string>();
  const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert }, (req, res) => {
    const body = documents.get(req.url ?? '');
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=60' }).end(body);
  });
  await listen(server);
  rmSync(dir, { recursive: true, force: true });
  const { port } = server.address() as AddressInfo;
  return {
    origin: `https://127.0.0.1:${port}`,
    ca: cert,
    serve: (path, body) => void documents.set(path, JSON.stringify(body)),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function listen(server: Server | ReturnType<typeof createHttpsServer>): Promise<void> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
}

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
}

/**
 * The consent page as an org admin uses it: sign in with the key, keep the requested server (and
 * tick `extraServers`), untick scopes not in `scopes`, approve. Resolves once the page has left
 * the gateway (the redirect to the client).
 */
export async function approveInBrowser(page: Page, authorizeUrl: string, adminKey: string, options: ApprovalChoices = {}): Promise<void> {
  await page.goto(authorizeUrl);
  await page.getByLabel('Org admin API key').fill(adminKey);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Approve' }).waitFor();
  await chooseOnApprovalForm(page, options);
  await Promise.all([page.waitForURL((url) => url.pathname === '/callback'), page.getByRole('button', { name: 'Approve' }).click()]);
}

export interface ApprovalChoices {
  /** The permissions ticked (the others unticked). @default as requested */
  readonly scopes?: readonly string[];
  /** Servers ticked beside the requested one. */
  readonly extraServers?: readonly string[];
  /** The optional limits, by field (`allow-tools`, `deny-resources`, …): patterns one per line. */
  readonly limits?: Readonly<Record<string, string>>;
}

/** Ticks and fills the approval form as `choices` say (without approving). */
export async function chooseOnApprovalForm(page: Page, choices: ApprovalChoices): Promise<void> {
  for (const slug of choices.extraServers ?? []) await page.locator(`#mcp-${slug}`).check();
  if (choices.scopes) {
    for (const scope of ['mcp:tools', 'mcp:resources', 'mcp:prompts']) {
      const box = page.locator(`#scope-${scope.replace(':', '-')}`);
      if (choices.scopes.includes(scope)) await box.check();
      else await box.uncheck();
    }
  }
  if (choices.limits) {
    const details = page.locator('details');
    if ((await details.getAttribute('open')) === null) await page.getByText('Limit what it may use (optional)').click();
    for (const [field, text] of Object.entries(choices.limits)) await page.locator(`#${field}`).fill(text);
  }
}

/** POSTs a form to the token (or revocation) endpoint. */
export async function tokenRequest(endpoint: string, form: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(endpoint, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form) });
  const text = await res.text();
  return { status: res.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export interface OAuthStack {
  readonly gateway: LocalGateway;
  readonly demo: DemoFile;
  /** `<base>/mcp/everything`, the demo's MCP server. */
  readonly mcpUrl: string;
  readonly receiver: Awaited<ReturnType<typeof startRedirectReceiver>>;
  readonly metadataHost: Awaited<ReturnType<typeof startMetadataHost>>;
  readonly browser: Browser;
  close(): Promise<void>;
}

/**
 * What the OAuth end-to-end tests start: `serve --demo` (a 500 ms key cache, so revocations show
 * quickly, and `serveOptions`) trusting the loopback metadata host's certificate, a redirect
 * receiver and Chromium.
 */
export async function startOAuthStack(serveOptions: Partial<ServeOptions> = {}): Promise<OAuthStack> {
  const metadataHost = await startMetadataHost();
  const dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-oauth-'));
  const gateway = await serve({ port: 0, dataDir, demo: true, healthIntervalMs: 0, auditDigestIntervalMs: 0, keyCacheTtlMs: 500, log: () => undefined, oauthMetadataCa: metadataHost.ca, ...serveOptions });
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
  const receiver = await startRedirectReceiver();
  const browser = await launchBrowser();
  return {
    gateway,
    demo,
    mcpUrl: `${gateway.baseUrl}/mcp/everything`,
    receiver,
    metadataHost,
    browser,
    async close() {
      await browser.close();
      await receiver.close();
      await metadataHost.close();
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
