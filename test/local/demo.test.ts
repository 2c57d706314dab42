/**
 * `serve --demo` must not expose the machine: the demo upstream (server-everything, no
 * authentication, a `get-env` tool) listens on loopback only, runs with a minimal environment,
 * and its `get-env` tool is denied by the demo MCP's policy (also for demo data from before).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { DEMO_MCP_SLUG, demoUpstreamEnv, type DemoFile } from '../../lambda/local/demo';
import { call, expectGatewayError, openSession, toolCall } from '../e2e/gateway-expect';

const CANARY_NAME = 'PLEXMCP_TEST_CANARY';
const CANARY = `canary-${randomUUID()}`;

let dataDir: string;
let gateway: LocalGateway | undefined;

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-demo-'));
  // Stand-ins for what a developer's shell holds; none may reach the demo upstream.
  process.env[CANARY_NAME] = CANARY;
  process.env.AWS_SECRET_ACCESS_KEY = CANARY;
});
afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  delete process.env[CANARY_NAME];
  delete process.env.AWS_SECRET_ACCESS_KEY;
  rmSync(dataDir, { recursive: true, force: true });
});

async function startDemo(): Promise<{ gateway: LocalGateway; demo: DemoFile; upstreamUrl: URL }> {
  gateway = await serve({ port: 0, dataDir, demo: true, healthIntervalMs: 0, log: () => undefined });
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
  const mcp = await gateway.service.getMcp(demo.orgId, DEMO_MCP_SLUG);
  return { gateway, demo, upstreamUrl: new URL(mcp.endpoints[0]!.url) };
}

/** Whether a TCP connection to host:port is accepted (bounded by a 2 s timeout). */
function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
    socket.once('error', () => resolve(false));
  });
}

/** This machine's own addresses that are not loopback (link-local IPv6 needs a scope: skipped). */
function nonLoopbackAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !(a.family === 'IPv6' && a.address.toLowerCase().startsWith('fe80:')))
    .map((a) => a!.address);
}

/**
 * On Linux, the local addresses of the TCP sockets listening on `port`, from /proc/net/tcp{,6}
 * (hex, as the kernel prints them); undefined elsewhere.
 */
function linuxListenAddresses(port: number): string[] | undefined {
  const found: string[] = [];
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return undefined;
    }
    for (const line of text.split('\n').slice(1)) {
      const [, local, , state] = line.trim().split(/\s+/);
      if (!local || state !== '0A') continue; // 0A: LISTEN
      const [address, hexPort] = local.split(':');
      if (parseInt(hexPort!, 16) === port) found.push(address!);
    }
  }
  return found;
}

test('the demo upstream listens on loopback only', async () => {
  const { upstreamUrl } = await startDemo();
  const port = Number(upstreamUrl.port);
  expect(upstreamUrl.hostname).toBe('127.0.0.1');
  expect(await accepts('127.0.0.1', port)).toBe(true);

  // Behaviour: the machine's other addresses refuse the port.
  const others = nonLoopbackAddresses();
  for (const address of others) expect({ address, accepted: await accepts(address, port) }).toEqual({ address, accepted: false });
  // And the socket itself, where the kernel says: one listener, on 127.0.0.1 (0100007F).
  const listening = linuxListenAddresses(port);
  if (listening !== undefined) expect(listening).toEqual(['0100007F']);
  // At least one of the two checks ran, so this test cannot pass without looking.
  expect(others.length > 0 || listening !== undefined).toBe(true);
});

test('the demo upstream gets a minimal environment: get-env at the upstream shows no canary', async () => {
  const { upstreamUrl } = await startDemo();
  const client = new Client({ name: 'plexmcp-test', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(upstreamUrl));
  try {
    const result = await client.callTool({ name: 'get-env', arguments: {} });
    const text = (result.content as { type: string; text: string }[])[0]!.text;
    expect(text).not.toContain(CANARY);
    const env = JSON.parse(text) as Record<string, string>;
    expect(Object.keys(env).sort()).toEqual(Object.keys(demoUpstreamEnv(Number(upstreamUrl.port))).sort());
    expect(env.PORT).toBe(upstreamUrl.port);
  } finally {
    await client.close();
  }
});

test('demoUpstreamEnv passes only PATH and PORT (SystemRoot on Windows)', () => {
  const parent = { PATH: '/usr/bin', HOME: '/home/me', AWS_SECRET_ACCESS_KEY: 'x', GITHUB_TOKEN: 'y', NODE_OPTIONS: '--inspect', SystemRoot: 'C:\\Windows' };
  const expected: Record<string, string> = { PATH: '/usr/bin', PORT: '4100' };
  if (process.platform === 'win32') expected.SystemRoot = 'C:\\Windows';
  expect(demoUpstreamEnv(4100, parent)).toEqual(expected);
  expect(demoUpstreamEnv(4100, {})).toEqual({ PORT: '4100' });
});

test('get-env through the gateway is 403 forbidden_tool and not listed; other tools work', async () => {
  const { demo } = await startDemo();
  const session = await openSession(demo.gatewayUrl, demo.apiKey);
  const denied = await call(demo.gatewayUrl, demo.apiKey, toolCall(7, 'get-env'), { session });
  expectGatewayError(denied, 'forbidden_tool', 7);
  expect(denied.text).not.toContain(CANARY);

  const client = new Client({ name: 'plexmcp-test', version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(demo.gatewayUrl), { requestInit: { headers: { authorization: `Bearer ${demo.apiKey}` } } }),
  );
  try {
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('get-env');
    const echoed = await client.callTool({ name: 'echo', arguments: { message: 'hi' } });
    expect(JSON.stringify(echoed.content)).toContain('hi');
  } finally {
    await client.close();
  }
});

test('a restart adds the get-env deny to demo data from before, keeping the user\'s own policy', async () => {
  const first = await startDemo();
  // What an older version left behind, plus an edit of the user's.
  await first.gateway.service.updateMcp(first.demo.orgId, DEMO_MCP_SLUG, { toolPolicy: { allow: [], deny: ['trigger-*'] } });
  await first.gateway.close();
  gateway = undefined;

  const second = await startDemo();
  const mcp = await second.gateway.service.getMcp(second.demo.orgId, DEMO_MCP_SLUG);
  expect(mcp.toolPolicy).toEqual({ allow: [], deny: ['trigger-*', 'get-env'] });
  const session = await openSession(second.demo.gatewayUrl, second.demo.apiKey);
  expectGatewayError(await call(second.demo.gatewayUrl, second.demo.apiKey, toolCall(1, 'get-env'), { session }), 'forbidden_tool', 1);

  // A second restart does not add it twice.
  await second.gateway.close();
  gateway = undefined;
  const third = await startDemo();
  expect((await third.gateway.service.getMcp(third.demo.orgId, DEMO_MCP_SLUG)).toolPolicy.deny).toEqual(['trigger-*', 'get-env']);
});
