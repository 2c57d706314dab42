import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawn } from 'node:child_process';
import { join, resolve } from 'node:path';
import { serve, type LocalGateway, type ServeOptions } from '../../lambda/local/serve';

/** A local gateway (admin API + /mcp) on a free loopback port with its own data directory. */
export interface TestGateway {
  readonly gateway: LocalGateway;
  readonly baseUrl: string;
  /** Usage records and admin request logs, in order. */
  readonly records: Record<string, unknown>[];
  /** Calls the admin API with the operator token (or `token`); throws on a non-2xx answer. */
  admin<T = any>(method: string, path: string, body?: unknown, token?: string): Promise<T>; // eslint-disable-line @typescript-eslint/no-explicit-any
  mcpUrl(slug: string): string;
  close(): Promise<void>;
}

export async function startTestGateway(options: Partial<ServeOptions> = {}): Promise<TestGateway> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'plexmcp-e2e-'));
  const records: Record<string, unknown>[] = [];
  // The health timer is off unless a test asks for it, so routing depends only on what a test does.
  const gateway = await serve({ port: 0, healthIntervalMs: 0, log: () => undefined, logRequest: (r) => records.push(r as Record<string, unknown>), ...options, dataDir });
  return {
    gateway,
    baseUrl: gateway.baseUrl,
    records,
    async admin(method, path, body, token) {
      const res = await fetch(`${gateway.adminUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token ?? gateway.operatorToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      if (!res.ok) throw new Error(`admin ${method} ${path} -> ${res.status} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    mcpUrl: (slug) => `${gateway.baseUrl}/mcp/${slug}`,
    async close() {
      await gateway.close();
      if (!options.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** An org with one MCP server and a member key scoped to it; returns the ids and the key. */
export async function provision(
  gw: TestGateway,
  mcp: { slug: string; endpoints: { url: string; weight?: number }[]; upstreamAuth?: unknown; toolPolicy?: unknown; timeouts?: unknown },
  key: { scopes?: unknown; rateLimitPerMinute?: number; expiresAt?: string } = {},
  org: { plan?: string; ipAllowlist?: string[] } = {},
): Promise<{ orgId: string; apiKey: string; keyId: string }> {
  const created = await gw.admin('POST', '/orgs', { name: `org ${mcp.slug}`, plan: org.plan ?? 'pro', ipAllowlist: org.ipAllowlist ?? [] });
  await gw.admin('POST', `/orgs/${created.orgId}/mcps`, mcp);
  const issued = await gw.admin('POST', `/orgs/${created.orgId}/keys`, { name: 'agent', role: 'member', ...key });
  return { orgId: created.orgId, apiKey: issued.secret, keyId: issued.key.keyId };
}

export interface GatewayProcess {
  readonly baseUrl: string;
  readonly records: Record<string, unknown>[];
  stop(): Promise<void>;
}

/**
 * The bundle `npm start` runs (scripts/build-local.cjs), built once per test process into a folder
 * of its own under dist/ (parallel test workers never write one file), removed when it exits.
 */
let localBundle: Promise<string> | undefined;
function buildLocalBundle(): Promise<string> {
  localBundle ??= (async () => {
    const dir = `dist/test-${process.pid}`;
    process.once('exit', () => rmSync(resolve(__dirname, '../..', dir), { recursive: true, force: true }));
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { buildLocal } = require('../../scripts/build-local.cjs') as { buildLocal(entry: string, outfile: string): Promise<string> };
    return buildLocal('bin/plexmcp.ts', `${dir}/plexmcp.cjs`);
  })();
  return localBundle;
}

export interface GatewayProcessOptions {
  /** A store of its own; @default the embedded store, as `npm start` runs it */
  readonly dynamodbEndpoint?: string;
  /** `serve --demo`. @default false */
  readonly demo?: boolean;
  /** More `serve` flags. @default none */
  readonly args?: readonly string[];
  /** @default 60_000 */
  readonly startTimeoutMs?: number;
}

/**
 * `plexmcp serve` as `npm start` runs it (`node dist/plexmcp.cjs serve`), as its own process on a
 * free port, printing its usage records as JSON lines.
 */
export async function startGatewayProcess(dataDir: string, options: GatewayProcessOptions = {}): Promise<GatewayProcess> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const args = [await buildLocalBundle(), '--data-dir', dataDir, 'serve', '--port', '0', '--log-requests'];
  if (options.dynamodbEndpoint !== undefined) args.push('--dynamodb-endpoint', options.dynamodbEndpoint);
  if (options.demo) args.push('--demo');
  args.push(...(options.args ?? []));
  const child = spawn(process.execPath, args, {
    env: { ...process.env, PLEXMCP_PORT: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const records: Record<string, unknown>[] = [];
  let output = '';
  let pending = '';
  let exited = false;
  const exit = new Promise<void>((done) =>
    child.once('exit', () => {
      exited = true;
      done();
    }),
  );
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  let listening: string | undefined;
  const baseUrl = new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error(`plexmcp serve did not start within ${startTimeoutMs} ms:\n${output}`)), startTimeoutMs);
    void exit.then(() => {
      clearTimeout(timer);
      reject(new Error(`plexmcp serve exited with ${child.exitCode}:\n${output}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      pending += chunk.toString();
      let newline: number;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        // Compact JSON lines are records; the demo's Claude Desktop entry is printed indented.
        if (line.startsWith('{"')) records.push(JSON.parse(line));
        listening ??= /gateway listening on (http:\/\/127\.0\.0\.1:\d+)\/mcp/.exec(line)?.[1];
        // Ready once `serve` says how to stop it: after the demo's set-up too.
        if (line === 'Press Ctrl-C to stop.' && listening !== undefined) {
          clearTimeout(timer);
          resolveUrl(listening);
        }
      }
    });
  });
  const stop = async () => {
    if (exited) return;
    child.kill('SIGTERM');
    const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await exit;
    clearTimeout(force);
  };
  try {
    return { baseUrl: await baseUrl, records, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
