/**
 * The health monitor end to end, as `plexmcp serve --demo` runs it, with the check interval
 * shortened to 500 ms: the demo's server-everything (MCP `everything`) is stopped and started
 * again while the timer runs, and the gateway, the event bus, the CLI and the admin API all have
 * to tell the same story within bounded waits. Also: a tool list that changes at runtime on an
 * SDK-built upstream registered through the admin API becomes an `mcp.tools.changed` event and
 * the new list and hash behind `GET .../tools`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { runCli, type CliIo } from '../../bin/cli/main';
import type { HealthEvent, HealthTransition } from '../../lambda/core/health/model';
import type { McpHealthView, StoredMetadata } from '../../lambda/core/health/store';
import type { DemoFile } from '../../lambda/local/demo';
import { call, expectGatewayError, initializeMessage } from './gateway-expect';
import { startTestGateway, type TestGateway } from './harness';
import { startSdkUpstream, type SdkUpstream } from './upstreams';

const INTERVAL_MS = 500;
const PROBE_TIMEOUT_MS = 2_000;
/** Two failed probes (hysteresis) a cycle apart: ~2 intervals plus cycle time. Generous for CI. */
const DOWN_WAIT_MS = 10_000;
/** server-everything's start-up plus two good probes. */
const UP_WAIT_MS = 30_000;

type StatusEvent = Extract<HealthEvent, { type: 'mcp.endpoint.status.changed' }>;
type ToolsEvent = Extract<HealthEvent, { type: 'mcp.tools.changed' }>;

let dataDir: string;
let gw: TestGateway;
let demo: DemoFile;
/** Every event the gateway's bus delivered since start-up, in order. */
const events: HealthEvent[] = [];
let unsubscribe: (() => void) | undefined;
const serverLog: string[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-health-'));
  gw = await startTestGateway({ dataDir, demo: true, healthIntervalMs: INTERVAL_MS, probeTimeoutMs: PROBE_TIMEOUT_MS, log: (line) => serverLog.push(line) });
  // The first cycle is a timer tick away (setTimeout 0): this subscription sees it too (and
  // anything published earlier is taken from the bus's recent events).
  events.push(...gw.gateway.events.recent());
  unsubscribe = gw.gateway.events.subscribe((event) => events.push(event));
  demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
}, 60_000);

afterAll(async () => {
  unsubscribe?.();
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  // If a test failed with the upstream stopped, closing must still work (demo.close stops nothing).
  await gw?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
}, 30_000);

/** Resolves with `value()` once it is truthy; rejects after `timeoutMs` with what it waited for. */
async function eventually<T>(value: () => T | Promise<T>, timeoutMs: number, what: () => string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await value();
    if (current) return current as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The first event after position `from` of `events` that matches. */
function eventAfter<T extends HealthEvent>(from: number, match: (event: HealthEvent) => event is T): T | undefined {
  return events.slice(from).find(match);
}

const statusEvent =
  (mcp: string, to: StatusEvent['to']) =>
  (event: HealthEvent): event is StatusEvent =>
    event.type === 'mcp.endpoint.status.changed' && event.mcp === mcp && event.to === to;

const toolsEvent =
  (mcp: string) =>
  (event: HealthEvent): event is ToolsEvent =>
    event.type === 'mcp.tools.changed' && event.mcp === mcp;

const describeEvents = () => JSON.stringify(events.map((e) => (e.type === 'mcp.tools.changed' ? `${e.mcp}: tools` : `${e.mcp}: ${e.from}->${e.to}`)));

/** `plexmcp <argv>` in-process against the gateway's admin API with `token`; returns the parsed `--json` output. */
async function cli<T>(token: string, argv: string[]): Promise<T> {
  let stdout = '';
  let stderr = '';
  const nowhere = join(dataDir, 'cli-cwd');
  const io: CliIo = {
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
    // Never the developer's config file or a .plexmcp directory.
    env: { XDG_CONFIG_HOME: join(nowhere, 'config') },
    cwd: nowhere,
  };
  const code = await runCli(['--url', gw.gateway.adminUrl, '--token', token, ...argv, '--json'], io);
  expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  return JSON.parse(stdout) as T;
}

/** A new session through the gateway (SDK client): initialize, then tools/call echo; closed afterwards. */
async function echoThroughGateway(slug: string, apiKey: string, message: string): Promise<unknown> {
  const client = new Client({ name: 'plexmcp-e2e-health', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl(slug)), { requestInit: { headers: { authorization: `Bearer ${apiKey}` } } });
  try {
    await client.connect(transport);
    const result = await client.callTool({ name: 'echo', arguments: { message } });
    return result.content;
  } finally {
    await client.close().catch(() => undefined);
  }
}

test('failover drill: upstream stopped -> unhealthy (502 mcp_unhealthy, event, CLI); started -> healthy again and new sessions work', async () => {
  // Traffic flows, and the first cycle has seen the endpoint healthy.
  expect(await echoThroughGateway('everything', demo.apiKey, 'before the drill')).toEqual([{ type: 'text', text: 'Echo: before the drill' }]);
  const firstUp = await eventually(() => eventAfter(0, statusEvent('everything', 'healthy')), DOWN_WAIT_MS, () => `everything healthy; events ${describeEvents()}`);
  expect(firstUp).toMatchObject({ from: 'unknown', region: 'local', orgId: demo.orgId });
  const endpointId = firstUp.endpointId;
  const before = await cli<McpHealthView>(demo.orgAdminKey, ['mcp', 'health', 'everything']);
  expect(before.endpoints).toEqual([expect.objectContaining({ endpointId, region: 'local', status: 'healthy', consecutiveFailures: 0 })]);

  // Down. No request is sent until the monitor has spoken: what refuses the next one is the
  // monitor's status, not the gateway's own (passive) failure memory.
  const stoppedFrom = events.length;
  const stoppedAt = Date.now();
  await gw.gateway.demo!.stopUpstream();
  const down = await eventually(() => eventAfter(stoppedFrom, statusEvent('everything', 'unhealthy')), DOWN_WAIT_MS, () => `everything unhealthy; events ${describeEvents()}`);
  const downAfterMs = Date.now() - stoppedAt;
  expect(down).toMatchObject({ type: 'mcp.endpoint.status.changed', orgId: demo.orgId, mcp: 'everything', endpointId, region: 'local', from: 'healthy', to: 'unhealthy', errorClass: 'connect_refused' });
  // Two failed probes (hysteresis) a cycle apart: two intervals plus the cycles themselves.
  expect(downAfterMs).toBeLessThan(2 * INTERVAL_MS + 2 * PROBE_TIMEOUT_MS + 1_000);

  const refused = await call(gw.mcpUrl('everything'), demo.apiKey, initializeMessage(7));
  expectGatewayError(refused, 'mcp_unhealthy', 7, [`127.0.0.1:`]);
  // Refused by the health status, before any connection attempt: no endpoint in the usage record.
  const record = gw.records.find((r) => r.type === 'usage' && r.requestId === refused.headers['x-request-id']);
  expect(record).toMatchObject({ status: 502, errorCode: 'mcp_unhealthy' });
  expect(record?.endpointId).toBeUndefined();

  const whileDown = await cli<McpHealthView>(demo.orgAdminKey, ['mcp', 'health', 'everything']);
  expect(whileDown.endpoints).toEqual([
    expect.objectContaining({ endpointId, region: 'local', status: 'unhealthy', errorClass: 'connect_refused', consecutiveFailures: expect.any(Number) }),
  ]);
  expect(whileDown.endpoints[0]!.consecutiveFailures).toBeGreaterThanOrEqual(2);
  expect(whileDown.history[0]).toMatchObject({ endpointId, from: 'healthy', to: 'unhealthy', errorClass: 'connect_refused' });

  // Up again.
  const startedFrom = events.length;
  await gw.gateway.demo!.startUpstream();
  const up = await eventually(() => eventAfter(startedFrom, statusEvent('everything', 'healthy')), UP_WAIT_MS, () => `everything healthy again; events ${describeEvents()}`);
  expect(up).toMatchObject({ orgId: demo.orgId, mcp: 'everything', endpointId, region: 'local', from: 'unhealthy', to: 'healthy' });
  const afterUp = await cli<McpHealthView>(demo.orgAdminKey, ['mcp', 'health', 'everything']);
  expect(afterUp.endpoints).toEqual([expect.objectContaining({ endpointId, status: 'healthy', consecutiveFailures: 0 })]);
  expect(afterUp.endpoints[0]!.consecutiveSuccesses).toBeGreaterThanOrEqual(2);

  // A new session end to end (the restarted server knows none of the old sessions).
  expect(await echoThroughGateway('everything', demo.apiKey, 'after the drill')).toEqual([{ type: 'text', text: 'Echo: after the drill' }]);
  // The local server logged both transitions.
  expect(serverLog).toEqual(expect.arrayContaining([
    `health: everything endpoint ${endpointId} healthy -> unhealthy (connect_refused)`,
    `health: everything endpoint ${endpointId} unhealthy -> healthy`,
  ]));
}, 90_000);

test('admin API health view: the drill\'s transitions as history (newest first), matching the events', async () => {
  const res = await fetch(`${gw.gateway.adminUrl}/orgs/${demo.orgId}/mcps/everything/health?history=50`, {
    headers: { authorization: `Bearer ${demo.orgAdminKey}` },
  });
  expect(res.status).toBe(200);
  const view = (await res.json()) as McpHealthView;
  expect(view.endpoints).toHaveLength(1);
  const endpointId = view.endpoints[0]!.endpointId;
  expect(view.endpoints[0]).toMatchObject({ orgId: demo.orgId, mcp: 'everything', region: 'local', status: 'healthy' });

  // Every status event of `everything` is one history entry, and nothing else is.
  const published = events
    .filter((e): e is StatusEvent => e.type === 'mcp.endpoint.status.changed' && e.mcp === 'everything')
    .map(({ endpointId: id, region, from, to, at, errorClass }) => ({ endpointId: id, region, from, to, at, ...(errorClass ? { errorClass } : {}) }));
  const history = view.history.map(({ endpointId: id, region, from, to, at, errorClass }: HealthTransition) => ({ endpointId: id, region, from, to, at, ...(errorClass ? { errorClass } : {}) }));
  expect(history).toEqual([...published].reverse());
  expect(history.map((h) => `${h.from}->${h.to}`)).toEqual(['unhealthy->healthy', 'healthy->unhealthy', 'unknown->healthy']);
  expect(history.every((h) => h.endpointId === endpointId && h.region === 'local')).toBe(true);
  expect(history[1]).toMatchObject({ errorClass: 'connect_refused' });
  const times = history.map((h) => Date.parse(h.at));
  expect(times).toEqual([...times].sort((a, b) => b - a));

  // `history=1` limits it to the newest.
  const one = await fetch(`${gw.gateway.adminUrl}/orgs/${demo.orgId}/mcps/everything/health?history=1`, { headers: { authorization: `Bearer ${demo.orgAdminKey}` } });
  expect(((await one.json()) as McpHealthView).history.map((h) => `${h.from}->${h.to}`)).toEqual(['unhealthy->healthy']);
});

test('a tool list that changes at runtime: mcp.tools.changed with the names, and the new list and hash behind GET .../tools', async () => {
  // Stateless: every request gets a new McpServer built from the current list.
  const tools = new Map<string, string>([
    ['echo', 'Echoes its message'],
    ['add', 'Adds two numbers'],
  ]);
  const setup = (server: McpServer) => {
    for (const [name, description] of tools) {
      server.registerTool(name, { description, inputSchema: { message: z.string() } }, async ({ message }) => ({ content: [{ type: 'text', text: `Echo: ${message}` }] }));
    }
  };
  const upstream: SdkUpstream = await startSdkUpstream({ name: 'changing-tools', stateful: false, enableJsonResponse: true, setup });
  cleanups.push(() => upstream.close());

  const org = await gw.admin<{ orgId: string }>('POST', '/orgs', { name: 'Tools Org', plan: 'pro', ipAllowlist: [] });
  await gw.admin('POST', `/orgs/${org.orgId}/mcps`, { slug: 'toolbox', endpoints: [{ url: upstream.url }] });
  const adminKey = (await gw.admin<{ secret: string }>('POST', `/orgs/${org.orgId}/keys`, { name: 'tools admin', role: 'admin' })).secret;
  const memberKey = (await gw.admin<{ secret: string }>('POST', `/orgs/${org.orgId}/keys`, { name: 'agent', role: 'member' })).secret;
  const getTools = async (): Promise<{ status: number; body: StoredMetadata }> => {
    const res = await fetch(`${gw.gateway.adminUrl}/orgs/${org.orgId}/mcps/toolbox/tools`, { headers: { authorization: `Bearer ${adminKey}` } });
    return { status: res.status, body: (await res.json()) as StoredMetadata };
  };
  const names = (metadata: StoredMetadata) => metadata.tools.map((t) => t.name);

  // First discovery: stored, no event (nothing to compare with).
  const first = await eventually(async () => {
    const answer = await getTools();
    return answer.status === 200 ? answer.body : undefined;
  }, DOWN_WAIT_MS, () => `the first discovery of toolbox; events ${describeEvents()}`);
  expect(names(first)).toEqual(['add', 'echo']);
  expect(first).toMatchObject({ region: 'local', resources: [], prompts: [], hash: expect.stringMatching(/^[0-9a-f]{64}$/) });
  expect(events.filter(toolsEvent('toolbox'))).toEqual([]);
  expect(await echoThroughGateway('toolbox', memberKey, 'via toolbox')).toEqual([{ type: 'text', text: 'Echo: via toolbox' }]);

  // One tool removed, one added.
  let from = events.length;
  tools.delete('add');
  tools.set('search', 'Searches the documents');
  const changed = await eventually(() => eventAfter(from, toolsEvent('toolbox')), DOWN_WAIT_MS, () => `a tools change of toolbox; events ${describeEvents()}`);
  expect(changed).toEqual({
    type: 'mcp.tools.changed',
    orgId: org.orgId,
    mcp: 'toolbox',
    region: 'local',
    previousHash: first.hash,
    hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    added: ['search'],
    removed: ['add'],
    changed: [],
    at: expect.any(String),
  });
  expect(changed.hash).not.toBe(first.hash);
  const second = await getTools();
  expect(second.status).toBe(200);
  expect(names(second.body)).toEqual(['echo', 'search']);
  expect(second.body.hash).toBe(changed.hash);
  expect(second.body.discoveredAt).toBe(changed.at);
  expect(second.body.tools.find((t) => t.name === 'search')).toMatchObject({ description: 'Searches the documents' });

  // A changed description is a change of that tool; the CLI shows the stored result.
  from = events.length;
  tools.set('echo', 'Echoes its message back, unchanged');
  const described = await eventually(() => eventAfter(from, toolsEvent('toolbox')), DOWN_WAIT_MS, () => `a second tools change of toolbox; events ${describeEvents()}`);
  expect(described).toMatchObject({ previousHash: changed.hash, added: [], removed: [], changed: ['echo'] });
  const viaCli = await cli<StoredMetadata>(adminKey, ['mcp', 'tools', 'toolbox']);
  expect(viaCli.hash).toBe(described.hash);
  expect(viaCli.tools.find((t) => t.name === 'echo')?.description).toBe('Echoes its message back, unchanged');

  // Quiet from here on: further cycles see the same hash and publish nothing about toolbox.
  from = events.length;
  await new Promise((resolve) => setTimeout(resolve, 3 * INTERVAL_MS));
  expect(events.slice(from).filter((e) => e.mcp === 'toolbox')).toEqual([]);
}, 60_000);

test('a recovery seen by the monitor ends the gateway\'s own 30 s cool-down at once', async () => {
  // A request that hits the stopped upstream before the monitor notices puts the endpoint into
  // the gateway's passive cool-down (30 s); the monitor's "healthy" must end it, not the clock.
  // The monitor knows the endpoint first (otherwise its first probe would set "unhealthy" at once).
  await eventually(() => eventAfter(0, statusEvent('everything', 'healthy')), DOWN_WAIT_MS, () => `healthy first; events ${describeEvents()}`);
  const stoppedFrom = events.length;
  await gw.gateway.demo!.stopUpstream();
  const early = await call(gw.mcpUrl('everything'), demo.apiKey, initializeMessage(21));
  expectGatewayError(early, 'mcp_unhealthy', 21, [`127.0.0.1:`]);
  await eventually(() => eventAfter(stoppedFrom, statusEvent('everything', 'unhealthy')), DOWN_WAIT_MS, () => `unhealthy; events ${describeEvents()}`);
  const startedFrom = events.length;
  await gw.gateway.demo!.startUpstream();
  await eventually(() => eventAfter(startedFrom, statusEvent('everything', 'healthy')), UP_WAIT_MS, () => `healthy; events ${describeEvents()}`);
  const recoveredAt = Date.now();
  expect(await echoThroughGateway('everything', demo.apiKey, 'right after recovery')).toEqual([{ type: 'text', text: 'Echo: right after recovery' }]);
  expect(Date.now() - recoveredAt).toBeLessThan(5_000);
}, 60_000);
