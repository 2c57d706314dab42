import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { claudeDesktopConfig } from '../core/claude-desktop-config';
import type { RegistryStore } from '../core/registry-store';
import type { RegistryService } from '../core/registry-service';

export const DEMO_ORG_IDEMPOTENCY_KEY = 'plexmcp-demo-org';
export const DEMO_MCP_SLUG = 'everything';
/**
 * Tools of server-everything the demo MCP's policy denies. `get-env` returns the server's whole
 * environment: harmless now that the child gets a minimal one, but nothing an agent needs.
 */
export const DEMO_DENIED_TOOLS: readonly string[] = ['get-env'];

export interface DemoFile {
  readonly gatewayUrl: string;
  readonly adminUrl: string;
  /** A member key scoped to the demo MCP, for agents. */
  readonly apiKey: string;
  /** An admin key of the demo org, for the admin API and CLI. */
  readonly orgAdminKey: string;
  readonly mcp: string;
  readonly orgId: string;
}

interface DemoOptions {
  readonly service: RegistryService;
  readonly store: RegistryStore;
  readonly baseUrl: string;
  readonly adminUrl: string;
  readonly dataDir: string;
  readonly log: (line: string) => void;
}

/** The running demo: its upstream can be stopped and started again on the same port (failover drills). */
export interface Demo {
  stopUpstream(): Promise<void>;
  startUpstream(): Promise<void>;
  close(): Promise<void>;
}

/**
 * `serve --demo`: runs @modelcontextprotocol/server-everything as a child process (loopback only,
 * minimal environment), registers it as MCP `everything` of a demo org with `get-env` denied
 * (idempotently, so restarts reuse the org and keys), and writes `<dataDir>/demo.json` (mode
 * 0600) for scripts.
 */

export async function startDemo(options: DemoOptions): Promise<Demo> {
  const { service, log } = options;
  const port = await freeLoopbackPort();
  let child = await startEverything(port);
  try {
    const { item: org } = await service.createOrg({ name: 'Demo', plan: 'pro', ipAllowlist: [] }, DEMO_ORG_IDEMPOTENCY_KEY);
    const endpoints = [{ url: `http://127.0.0.1:${port}/mcp`, weight: 100 }];
    const existing = await options.store.getMcp(org.orgId, DEMO_MCP_SLUG);
    if (existing) {
      // Demo data from an older version lacks the deny list: add it, keeping the user's own edits.
      const deny = [...new Set([...existing.toolPolicy.deny, ...DEMO_DENIED_TOOLS])];
      await service.updateMcp(org.orgId, DEMO_MCP_SLUG, { endpoints, toolPolicy: { allow: existing.toolPolicy.allow, deny } });
    } else {
      await service.createMcp(org.orgId, {
        slug: DEMO_MCP_SLUG,
        displayName: 'MCP "everything" reference server',
        endpoints,
        upstreamAuth: { type: 'none' },
        toolPolicy: { allow: [], deny: [...DEMO_DENIED_TOOLS] },
        timeouts: {},
      });
    }

    const demoPath = join(options.dataDir, 'demo.json');
    const previous = readDemoFile(demoPath);
    const keys = new ApiKeyAuthenticator(options.store, { alwaysReadRecord: true });
    const stillValid = async (key: string | undefined) => key !== undefined && (await keys.authenticate(key).then(() => true, () => false));
    const apiKey = (await stillValid(previous?.apiKey))
      ? previous!.apiKey
      : (await service.createKey(org.orgId, { name: 'demo agent', role: 'member', scopes: { mcps: [DEMO_MCP_SLUG], tools: {} } })).secret;
    const orgAdminKey = (await stillValid(previous?.orgAdminKey))
      ? previous!.orgAdminKey
      : (await service.createKey(org.orgId, { name: 'demo org admin', role: 'admin', scopes: { mcps: '*', tools: {} } })).secret;

    const demo: DemoFile = {
      gatewayUrl: `${options.baseUrl}/mcp/${DEMO_MCP_SLUG}`,
      adminUrl: options.adminUrl,
      apiKey,
      orgAdminKey,
      mcp: DEMO_MCP_SLUG,
      orgId: org.orgId,
    };
    writeFileSync(demoPath, JSON.stringify(demo, null, 2) + '\n', { mode: 0o600 });

    log('');
    log(`Demo: server-everything registered as MCP "${DEMO_MCP_SLUG}" of org ${org.orgId}; keys in ${demoPath}`);
    log('Claude Desktop (claude_desktop_config.json):');
    log(JSON.stringify(claudeDesktopConfig(demo.gatewayUrl, apiKey), null, 2));
    return {
      stopUpstream: () => stop(child),
      startUpstream: async () => {
        if (child.exitCode === null && child.signalCode === null) return;
        child = await startEverything(port);
      },
      close: () => stop(child),
    };
  } catch (error) {
    await stop(child);
    throw error;
  }
}

function readDemoFile(path: string): DemoFile | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as DemoFile;
  } catch {
    return undefined;
  }
}

async function freeLoopbackPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The demo upstream's whole environment. server-everything has no authentication and a tool
 * (`get-env`) that returns its environment, so it gets nothing of the gateway's (AWS credentials,
 * tokens, NODE_OPTIONS): only PATH, its PORT, and on Windows SystemRoot, without which Node cannot
 * open sockets there.
 */
export function demoUpstreamEnv(port: number, parent: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PORT: String(port) };
  if (parent.PATH !== undefined) env.PATH = parent.PATH;
  if (process.platform === 'win32' && parent.SystemRoot !== undefined) env.SystemRoot = parent.SystemRoot;
  return env;
}

/**
 * Starts server-everything's Streamable HTTP transport, bound to loopback only, and waits until it
 * listens. It has no host option, so loopback-only.cjs is preloaded to pin its listen address.
 */
async function startEverything(port: number): Promise<ChildProcess> {
  const entry = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');
  const child = spawn(process.execPath, ['--require', join(__dirname, 'loopback-only.cjs'), entry, 'streamableHttp'], {
    env: demoUpstreamEnv(port),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('server-everything did not start within 20 s')), 20_000);
    let output = '';
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes('listening on port')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server-everything exited with code ${code}`));
    });
  });
  child.stderr!.resume();
  return child;
}

function stop(child: ChildProcess): Promise<void> {
  // Killed by a signal (server-everything has no SIGTERM handler), exitCode stays null and
  // signalCode is set: 'exit' has already fired and would never fire again.
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGTERM');
    setTimeout(() => child.kill('SIGKILL'), 3_000).unref();
  });
}

/** Re-exported for the tests and scripts that build the demo's configuration. */
export { claudeDesktopConfig };
