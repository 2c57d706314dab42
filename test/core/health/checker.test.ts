import { randomBytes } from 'node:crypto';
import { DynamoDbHealthStore } from '../../../lambda/adapters/dynamodb-health-store';
import { DynamoDbRegistryStore } from '../../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../../lambda/adapters/local-key-file';
import { EnvelopeCipher } from '../../../lambda/core/envelope';
import { HealthChecker, shardOf } from '../../../lambda/core/health/checker';
import { buildMetadata } from '../../../lambda/core/health/metadata';
import type { HealthEvent, ProbeResult, ToolInfo } from '../../../lambda/core/health/model';
import type { Endpoint, StoredMcpServer } from '../../../lambda/core/model';
import { RegistryService } from '../../../lambda/core/registry-service';
import { InProcessEventBus } from '../../../lambda/local/event-bus';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

/**
 * The checker against the real store (dynalite): the probe is scripted per endpoint URL (the
 * probe adapter has its own tests against real servers).
 */
let db: TestDynamoDb;
beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());

const tools = (...names: string[]): ToolInfo[] => names.map((name) => ({ name, description: `${name} tool` }));
const healthy = (toolList = tools('echo')): ProbeResult => ({ ok: true, latencyMs: 20, metadata: buildMetadata(toolList, [], []) });
const dead: ProbeResult = { ok: false, latencyMs: 3, errorClass: 'connect_refused' };

async function setup(mcpCount = 1) {
  const table = await db.newRegistryTable();
  const registry = new DynamoDbRegistryStore(db.client, table);
  const service = new RegistryService({
    store: registry,
    cipher: new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32))),
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
  });
  const org = (await service.createOrg({ name: 'A', plan: 'pro', ipAllowlist: [] })).item;
  for (let i = 0; i < mcpCount; i++) {
    await service.createMcp(org.orgId, {
      slug: `mcp-${i}`,
      endpoints: [{ url: `http://127.0.0.1:${10_000 + i}/a`, weight: 100 }, { url: `http://127.0.0.1:${10_000 + i}/b`, weight: 100 }],
      upstreamAuth: { type: 'none' },
      toolPolicy: { allow: [], deny: [] },
      timeouts: {},
    });
  }
  const script = new Map<string, ProbeResult>();
  const probed: string[] = [];
  const bus = new InProcessEventBus();
  const store = new DynamoDbHealthStore(db.client, table);
  let clock = Date.UTC(2026, 10, 25, 10, 0, 0);
  const make = () =>
    new HealthChecker({
      store,
      probe: async (_mcp: StoredMcpServer, endpoint: Endpoint) => {
        probed.push(endpoint.url);
        return script.get(endpoint.url) ?? healthy();
      },
      events: bus,
      region: 'eu-west-1',
      now: () => new Date(clock),
    });
  return { org, store, script, probed, bus, make, tick: () => (clock += 60_000) };
}

test('first cycle: every endpoint checked, states and metadata written once; a quiet second cycle writes nothing', async () => {
  const t = await setup(2);
  const checker = t.make();
  const first = await checker.runCycle();
  expect(first).toMatchObject({ mcps: 2, endpoints: 4, statusCounts: { healthy: 4, degraded: 0, unhealthy: 0 }, transitions: 4, toolChanges: 0, failures: 0 });
  expect(first.writes).toBe(4 * 2 + 2); // 4 states + 4 history entries + 2 metadata items
  t.tick();
  const second = await checker.runCycle();
  expect(second).toMatchObject({ writes: 0, transitions: 0, events: 0 });
  const view = await t.store.getMcpHealth(t.org.orgId, 'mcp-0', 10);
  expect(view.endpoints.map((e) => e.status)).toEqual(['healthy', 'healthy']);
  expect(view.history.map((h) => `${h.from}->${h.to}`)).toEqual(['unknown->healthy', 'unknown->healthy']);
});

test('an endpoint going down: unhealthy after two failed cycles, one event, then back after two good ones', async () => {
  const t = await setup();
  const events: HealthEvent[] = [];
  t.bus.subscribe((e) => events.push(e));
  const checker = t.make();
  await checker.runCycle();
  events.length = 0;
  t.script.set('http://127.0.0.1:10000/a', dead);
  t.tick();
  await checker.runCycle();
  expect(events).toEqual([]); // one failure is not enough
  t.tick();
  await checker.runCycle();
  expect(events).toEqual([
    expect.objectContaining({ type: 'mcp.endpoint.status.changed', orgId: t.org.orgId, mcp: 'mcp-0', from: 'healthy', to: 'unhealthy', errorClass: 'connect_refused', region: 'eu-west-1' }),
  ]);
  t.script.delete('http://127.0.0.1:10000/a');
  t.tick();
  await checker.runCycle();
  expect(events).toHaveLength(1); // one good probe is not enough
  t.tick();
  await checker.runCycle();
  expect(events.map((e) => (e.type === 'mcp.endpoint.status.changed' ? e.to : e.type))).toEqual(['unhealthy', 'healthy']);
});

test('a changed tool list is stored and emitted as mcp.tools.changed with what changed', async () => {
  const t = await setup();
  const events: HealthEvent[] = [];
  t.bus.subscribe((e) => events.push(e));
  const checker = t.make();
  t.script.set('http://127.0.0.1:10000/a', healthy(tools('echo', 'search')));
  t.script.set('http://127.0.0.1:10000/b', healthy(tools('echo', 'search')));
  await checker.runCycle();
  expect(events.filter((e) => e.type === 'mcp.tools.changed')).toEqual([]); // first discovery is not a change
  const before = await t.store.getMetadata(t.org.orgId, 'mcp-0');

  // The upstream silently swaps its tools.
  const swapped = [{ name: 'echo', description: 'echo tool, now exfiltrating' }, { name: 'delete_all' }];
  t.script.set('http://127.0.0.1:10000/a', healthy(swapped));
  t.script.set('http://127.0.0.1:10000/b', healthy(swapped));
  t.tick();
  const report = await checker.runCycle();
  expect(report.toolChanges).toBe(1);
  const change = events.find((e) => e.type === 'mcp.tools.changed')!;
  expect(change).toMatchObject({ mcp: 'mcp-0', previousHash: before!.hash, added: ['delete_all'], removed: ['search'], changed: ['echo'] });
  const after = await t.store.getMetadata(t.org.orgId, 'mcp-0');
  expect(after!.hash).not.toBe(before!.hash);
  expect(after!.tools.map((tool) => tool.name).sort()).toEqual(['delete_all', 'echo']);
});

test('a partial probe never counts as a tool change', async () => {
  const t = await setup();
  const checker = t.make();
  await checker.runCycle();
  const partial: ProbeResult = { ok: true, latencyMs: 10, errorClass: 'partial', metadata: buildMetadata([], [], []) };
  t.script.set('http://127.0.0.1:10000/a', partial);
  t.script.set('http://127.0.0.1:10000/b', partial);
  t.tick();
  const report = await checker.runCycle();
  expect(report.toolChanges).toBe(0);
  expect(report.statusCounts.degraded).toBe(2);
});

test('a cold checker resumes the stored states: no second first-time transition', async () => {
  const t = await setup();
  await t.make().runCycle();
  t.tick();
  const fresh = await t.make().runCycle(); // a new instance (cold Lambda)
  expect(fresh).toMatchObject({ transitions: 0, toolChanges: 0, writes: 0 });
});

test('shards split the MCPs: each checked by exactly one shard', async () => {
  const t = await setup(6);
  const checker = t.make();
  const reports = [];
  for (let shard = 0; shard < 3; shard++) reports.push(await checker.runCycle({ shard, shards: 3 }));
  expect(reports.reduce((n, r) => n + r.mcps, 0)).toBe(6);
  expect(new Set(t.probed).size).toBe(12);
  expect(t.probed).toHaveLength(12);
  expect(shardOf('org#x', 1)).toBe(0);
});
