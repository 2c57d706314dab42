/**
 * The multi-region drill, locally (issue 11): two `plexmcp serve` processes stand for two regions
 * over one shared store, each reaching it through a proxy of its own. A client follows the
 * routing rule Route 53's latency records with health checks apply: the lowest latency among the
 * regions whose `/healthz` answers 200. When region A's store goes away, A's `/healthz` turns 503,
 * the client moves to B, and the session it opened through A keeps working through B (session
 * ids are sealed with the one session key every region shares).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { startGatewayProcess, type GatewayProcess } from './harness';
import { startStoreProxy, type StoreProxy } from './store-proxy';
import { startSdkUpstream, type SdkUpstream } from './upstreams';
import { call, eventually, openSession, resultOf, toolCall } from './gateway-expect';

const SLUG = 'drill';

let db: EmbeddedDynamoDb;
let upstream: SdkUpstream;
let dataDir: string;
const regions: { name: string; proxy: StoreProxy; server: GatewayProcess; latencyMs: number }[] = [];

beforeAll(async () => {
  db = await startEmbeddedDynamoDb();
  upstream = await startSdkUpstream({
    setup: (server) => server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] })),
  });
  // One data directory: the same local master key, as every region has the same credentials key.
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-regions-'));
  // A first (it creates the tables and the session key), then B; A is the nearer one.
  for (const [name, latencyMs] of [['region-a', 5], ['region-b', 40]] as const) {
    const proxy = await startStoreProxy(db.endpoint);
    const server = await startGatewayProcess(dataDir, { dynamodbEndpoint: proxy.endpoint, args: ['--region', name] });
    regions.push({ name, proxy, server, latencyMs });
  }
}, 120_000);

afterAll(async () => {
  for (const r of regions) await r.proxy.setMode('pass');
  for (const r of regions) await r.server.stop();
  for (const r of regions) await r.proxy.close();
  await upstream?.close();
  await db?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function admin(method: string, path: string, body?: unknown): Promise<Record<string, any>> { // eslint-disable-line @typescript-eslint/no-explicit-any
  const token = readFileSync(join(dataDir, 'operator-token'), 'utf8').trim();
  const res = await fetch(`${regions[0]!.server.baseUrl}/admin/v1${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  expect(res.status).toBeLessThan(300);
  return (await res.json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The routing rule: the lowest (here: configured) latency among the regions whose /healthz is 200. */
async function route(): Promise<(typeof regions)[number] | undefined> {
  const healthy = [];
  for (const r of regions) if ((await fetch(`${r.server.baseUrl}/healthz`)).status === 200) healthy.push(r);
  return healthy.sort((x, y) => x.latencyMs - y.latencyMs)[0];
}

test('region A loses its store: its /healthz is 503, the client moves to B, and the session opened through A works through B', async () => {
  const org = await admin('POST', '/orgs', { name: 'Drill', plan: 'pro' });
  await admin('POST', `/orgs/${org.orgId}/mcps`, { slug: SLUG, endpoints: [{ url: upstream.url }] });
  const key = (await admin('POST', `/orgs/${org.orgId}/keys`, { name: 'agent' })).secret as string;

  // Both healthy, each naming its region; the client takes the nearer, A.
  for (const r of regions) {
    const health = await fetch(`${r.server.baseUrl}/healthz`);
    expect([health.status, await health.json()]).toEqual([200, { status: 'ok', region: r.name }]);
  }
  const first = await route();
  expect(first?.name).toBe('region-a');
  const session = await openSession(`${first!.server.baseUrl}/mcp/${SLUG}`, key);
  const viaA = await call(`${first!.server.baseUrl}/mcp/${SLUG}`, key, toolCall(1, 'echo', { text: 'from A' }), { session });
  expect(resultOf(viaA, 1).result.content[0].text).toBe('echo: from A');

  // A's store goes away. Within its report's lifetime (5 s) and the check's deadline (2 s), A says so.
  await regions[0]!.proxy.setMode('closed');
  let health: Response | undefined;
  expect(await eventually(async () => (health = await fetch(`${regions[0]!.server.baseUrl}/healthz`)).status === 503, 12_000, 250)).toBe(true);
  expect(await health!.json()).toMatchObject({ status: 'unavailable', region: 'region-a', failing: expect.arrayContaining(['registry', 'counters']) });

  // The client's next routing decision is B, and the session it holds works there.
  const next = await route();
  expect(next?.name).toBe('region-b');
  const viaB = await call(`${next!.server.baseUrl}/mcp/${SLUG}`, key, toolCall(2, 'echo', { text: 'from B' }), { session });
  expect([viaB.status, resultOf(viaB, 2).result.content[0].text]).toEqual([200, 'echo: from B']);
  // The upstream saw one session throughout: B forwarded with the session A had opened.
  const sessions = new Set(upstream.requests.map((r) => r.headers['mcp-session-id']).filter((id) => id !== undefined));
  expect(sessions.size).toBe(1);

  // A's store comes back: A is healthy again and the nearest once more.
  await regions[0]!.proxy.setMode('pass');
  expect(await eventually(async () => (await route())?.name === 'region-a', 12_000, 250)).toBe(true);
}, 60_000);
