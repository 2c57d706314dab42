/**
 * Claude Desktop end to end: Claude Desktop reaches remote MCP servers through `mcp-remote`, a
 * stdio bridge. Here the SDK's stdio client plays Claude Desktop, spawning the real mcp-remote
 * (0.15.1, from node_modules) against `npm start -- --demo` as users run it (the bundle
 * `node dist/plexmcp.cjs serve --demo`, its own process, embedded store), with the key from
 * `<dataDir>/demo.json`. mcp-remote runs with a temporary HOME and config directory, so it
 * writes nothing into the real home.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { claudeDesktopConfig, type DemoFile } from '../../lambda/local/demo';
import { startGatewayProcess, type GatewayProcess } from './harness';

const MCP_REMOTE = require.resolve('mcp-remote/dist/proxy.js');

let gw: GatewayProcess;
let dataDir: string;
let demo: DemoFile;
let home: string;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-demo-'));
  home = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-home-'));
  gw = await startGatewayProcess(dataDir, { demo: true });
  demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(home, { recursive: true, force: true });
});

/** A message as it came out of mcp-remote's stdout, before the SDK client handled it. */
interface Arrival {
  readonly message: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  readonly at: number;
}

/**
 * Runs `body` with an SDK client talking to mcp-remote over stdio; always closes the bridge.
 * `arrivals` records every message mcp-remote wrote, in order, with its time.
 */
async function throughMcpRemote<T>(args: string[], env: Record<string, string>, body: (client: Client, arrivals: Arrival[]) => Promise<T>): Promise<T> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [MCP_REMOTE, ...args],
    env: { PATH: process.env.PATH ?? '', HOME: home, MCP_REMOTE_CONFIG_DIR: join(home, '.mcp-auth'), ...env },
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const client = new Client({ name: 'claude-desktop-stand-in', version: '1.0.0' });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`mcp-remote did not finish within 20 s; its stderr:\n${stderr}`)), 20_000);
    });
    return await Promise.race([
      (async () => {
        await client.connect(transport);
        const arrivals: Arrival[] = [];
        const deliver = transport.onmessage;
        transport.onmessage = (message) => {
          arrivals.push({ message: message as Arrival['message'], at: Date.now() });
          deliver?.(message);
        };
        return body(client, arrivals);
      })().catch((error: Error) => {
        throw new Error(`${error.message}\nmcp-remote stderr:\n${stderr}`);
      }),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    await client.close().catch(() => undefined);
    await transport.close().catch(() => undefined);
  }
}

const textOf = (result: unknown) => ((result as { content: { type: string; text?: string }[] }).content ?? []).map((c) => c.text).join('\n');

test('the Claude Desktop entry that `serve --demo` prints works as printed: mcp-remote lists and calls tools through the gateway', async () => {
  const entry = claudeDesktopConfig(demo.gatewayUrl, demo.apiKey).mcpServers['plexmcp-everything'];
  // Claude Desktop would run `npx -y mcp-remote@0.15.1 …`; here the same version from node_modules.
  expect(entry.command).toBe('npx');
  expect(entry.args.slice(0, 2)).toEqual(['-y', 'mcp-remote@0.15.1']);
  expect(entry.args).toContain('--allow-http');
  const before = gw.records.length;

  await throughMcpRemote(entry.args.slice(2), entry.env, async (client) => {
    expect(client.getServerVersion()).toMatchObject({ name: 'mcp-servers/everything' });
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['echo', 'get-sum', 'trigger-long-running-operation']));
    expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'hello from Claude Desktop' } }))).toBe('Echo: hello from Claude Desktop');
    expect(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 2, b: 40 } }))).toBe('The sum of 2 and 40 is 42.');
  });

  // Every request went through the gateway with the demo key and reached the demo endpoint.
  const usage = gw.records.slice(before).filter((r) => r.type === 'usage');
  expect(usage.map((r) => r.status)).not.toContain(401);
  const calls = usage.filter((r) => (r.methods as string[]).includes('tools/call'));
  expect(calls.map((r) => r.tool)).toEqual(['echo', 'get-sum']);
  for (const r of calls) expect(r).toMatchObject({ orgId: demo.orgId, mcp: 'everything', status: 200, endpointId: expect.any(String) });
  expect(usage.some((r) => (r.methods as string[]).includes('initialize'))).toBe(true);
});

test('mcp-remote with the header given literally (--header "Authorization:Bearer <key>" --transport http-only)', async () => {
  const before = gw.records.length;
  await throughMcpRemote(
    [demo.gatewayUrl, '--header', `Authorization:Bearer ${demo.apiKey}`, '--transport', 'http-only', '--allow-http'],
    {},
    async (client, arrivals) => {
      const { tools } = await client.listTools();
      expect(tools.some((t) => t.name === 'echo')).toBe(true);
      expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'literal header' } }))).toBe('Echo: literal header');
      // A progress-reporting tool: mcp-remote relays the SSE stream it reads from the gateway.
      const progress: number[] = [];
      const from = arrivals.length;
      const result = await client.callTool({ name: 'trigger-long-running-operation', arguments: { duration: 0.9, steps: 3 } }, undefined, {
        onprogress: (p) => progress.push(p.progress),
        timeout: 10_000,
      });
      expect(textOf(result)).toContain('Long running operation completed');
      // On the wire: three progress notifications, 300 ms apart, then the result. (The SDK
      // client itself may drop the last one when it comes in the same stdout read as the result:
      // it dispatches notifications a microtask late, after the response removed the handler.)
      const relayed = arrivals.slice(from);
      expect(relayed.map((a) => a.message.params?.progress ?? ('result' in a.message ? 'result' : a.message.method))).toEqual([1, 2, 3, 'result']);
      expect(relayed[2]!.at - relayed[0]!.at).toBeGreaterThanOrEqual(300);
      expect(progress.slice(0, 2)).toEqual([1, 2]);
    },
  );
  const calls = gw.records.slice(before).filter((r) => r.type === 'usage' && (r.methods as string[]).includes('tools/call'));
  expect(calls.map((r) => [r.tool, r.status])).toEqual([
    ['echo', 200],
    ['trigger-long-running-operation', 200],
  ]);
  // Nothing was written outside the temporary home (no OAuth state: the gateway took the key).
  const authDir = readdirSync(home);
  expect(authDir.every((name) => name === '.mcp-auth')).toBe(true);
});
