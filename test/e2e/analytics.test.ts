import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../cli/helpers';
import { startTestGateway, type TestGateway } from './harness';
import { RAW_PROTOCOL_VERSION, startSdkUpstream, type SdkUpstream } from './upstreams';

/**
 * Issue 9's "done when": 10,000 requests through the local gateway with a known mix of MCP
 * servers, keys, orgs, tools, errors (a revoked key, a denied tool, an upstream failure) and
 * latencies (tools that wait 0, 4 or 12 ms). Every request's own outcome is the truth; after a
 * flush, the usage API, `plexmcp usage` and the CSV export must count exactly that, with p50/p95/
 * p99 within 2 % of the exact quantiles of the latencies the gateway itself reported.
 */
const TOTAL = 10_000;
const CONCURRENCY = 24;

let alpha: SdkUpstream;
let beta: SdkUpstream;
let gw: TestGateway;
let org1: string;
let org2: string;
const keys: Record<'k1' | 'k2' | 'k3' | 'revoked', { secret: string; keyId: string; orgId: string }> = {} as never;

/** One kind of request of the mix; `weight` of every 100 requests. */
interface Kind {
  readonly key: keyof typeof keys;
  readonly mcp: 'alpha' | 'beta' | 'gamma';
  readonly tool: string;
  readonly weight: number;
}
const MIX: readonly Kind[] = [
  { key: 'k1', mcp: 'alpha', tool: 'fast', weight: 35 },
  { key: 'k1', mcp: 'alpha', tool: 'slow', weight: 10 },
  { key: 'k1', mcp: 'alpha', tool: 'secret', weight: 5 }, // denied by the MCP's tool policy: 403
  { key: 'k1', mcp: 'alpha', tool: 'boom', weight: 5 }, // the upstream answers 500
  { key: 'k2', mcp: 'beta', tool: 'medium', weight: 15 },
  { key: 'k2', mcp: 'beta', tool: 'fast', weight: 10 },
  { key: 'k2', mcp: 'alpha', tool: 'fast', weight: 5 },
  { key: 'k3', mcp: 'gamma', tool: 'fast', weight: 10 }, // the other org
  { key: 'revoked', mcp: 'alpha', tool: 'fast', weight: 5 }, // 401 before any org is known
];

/** What the client saw of one request. */
interface Outcome {
  readonly kind: Kind;
  readonly status: number;
}

const PRICING = { perCallUsd: 0.001, tools: { slow: 0.0125 } };
const priceMicroUsd = (o: Outcome) => (o.kind.mcp !== 'alpha' || o.status < 200 || o.status >= 300 ? 0 : o.kind.tool === 'slow' ? 12_500 : 1_000);
const isError = (o: Outcome) => o.status < 200 || o.status >= 300;

function tools(server: import('@modelcontextprotocol/sdk/server/mcp.js').McpServer) {
  // No input schemas: a stateless upstream builds its server for every request, and the load
  // test should spend its time in the gateway rather than in schema conversion.
  const wait = (ms: number) => async () => {
    if (ms > 0) await sleep(ms);
    return { content: [{ type: 'text' as const, text: 'ok' }] };
  };
  server.registerTool('fast', {}, wait(0));
  server.registerTool('medium', {}, wait(4));
  server.registerTool('slow', {}, wait(12));
  server.registerTool('secret', {}, wait(0));
  server.registerTool('boom', {}, wait(0));
}

beforeAll(async () => {
  const failBoom = (_req: unknown, res: import('node:http').ServerResponse, body: unknown) => {
    const call = body as { method?: string; params?: { name?: string } } | undefined;
    if (call?.method !== 'tools/call' || call.params?.name !== 'boom') return false;
    res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32603, message: 'upstream broke' } }));
    return true;
  };
  [alpha, beta] = await Promise.all([
    startSdkUpstream({ name: 'alpha', stateful: false, enableJsonResponse: true, setup: tools, intercept: failBoom }),
    startSdkUpstream({ name: 'beta', stateful: false, enableJsonResponse: true, setup: tools }),
  ]);
  gw = await startTestGateway();
  // Enterprise limits and a per-key ceiling above the load: no 429 in the mix (it would be
  // counted right, but would make the mix depend on timing).
  const overrides = { planOverrides: { requestsPerMinute: 100_000, monthlyRequests: 1_000_000 } };
  org1 = (await gw.admin('POST', '/orgs', { name: 'analytics one', plan: 'enterprise' })).orgId;
  org2 = (await gw.admin('POST', '/orgs', { name: 'analytics two', plan: 'enterprise' })).orgId;
  await gw.admin('PATCH', `/orgs/${org1}`, overrides);
  await gw.admin('PATCH', `/orgs/${org2}`, overrides);
  await gw.admin('POST', `/orgs/${org1}/mcps`, { slug: 'alpha', endpoints: [{ url: alpha.url }], toolPolicy: { allow: [], deny: ['secret'] }, pricing: PRICING });
  await gw.admin('POST', `/orgs/${org1}/mcps`, { slug: 'beta', endpoints: [{ url: beta.url }] });
  await gw.admin('POST', `/orgs/${org2}/mcps`, { slug: 'gamma', endpoints: [{ url: beta.url }] });
  const issue = async (orgId: string, name: string) => {
    const created = await gw.admin('POST', `/orgs/${orgId}/keys`, { name, role: 'member', rateLimitPerMinute: 100_000 });
    return { secret: created.secret as string, keyId: created.key.keyId as string, orgId };
  };
  keys.k1 = await issue(org1, 'k1');
  keys.k2 = await issue(org1, 'k2');
  keys.k3 = await issue(org2, 'k3');
  keys.revoked = await issue(org1, 'revoked');
  await gw.admin('POST', `/orgs/${org1}/keys/${keys.revoked.keyId}/revoke`);
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await alpha?.close();
  await beta?.close();
});

/** The mix, TOTAL requests in a fixed interleaved order (weights per 100). */
function plan(): Kind[] {
  const wheel = MIX.flatMap((kind) => Array.from({ length: kind.weight }, () => kind));
  // A stride coprime with 100 spreads each kind over the run instead of in blocks.
  return Array.from({ length: TOTAL }, (_, i) => wheel[(i * 37) % wheel.length]!);
}

async function send(kind: Kind, id: number): Promise<Outcome> {
  const res = await fetch(gw.mcpUrl(kind.mcp), {
    method: 'POST',
    headers: {
      accept: 'application/json, text/event-stream',
      'content-type': 'application/json',
      'mcp-protocol-version': RAW_PROTOCOL_VERSION,
      authorization: `Bearer ${keys[kind.key].secret}`,
    },
    body: JSON.stringify({ jsonrpc: '2.0', id, method: 'tools/call', params: { name: kind.tool, arguments: {} } }),
    signal: AbortSignal.timeout(30_000),
  });
  await res.arrayBuffer();
  return { kind, status: res.status };
}

/** The exact quantile at the rank DDSketch uses (q·(n−1), rounded down). */
function exactQuantile(sorted: readonly number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))]!;
}

function expectWithin2Percent(actual: number | null, values: readonly number[]) {
  const sorted = [...values].sort((a, b) => a - b);
  const got = actual as number;
  return (q: number) => {
    const exact = exactQuantile(sorted, q);
    expect({ q, got, exact, ok: Math.abs(got - exact) <= 0.02 * exact }).toEqual({ q, got, exact, ok: true });
  };
}

const count = <T>(items: readonly T[], keyOf: (t: T) => string | undefined) => {
  const out: Record<string, number> = {};
  for (const item of items) {
    const k = keyOf(item);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

test('10,000 requests: the usage API, the CLI and the export count exactly what happened', async () => {
  const started = Date.now();
  const todo = plan();
  const outcomes: Outcome[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      // Bounded: each worker takes the next request until all TOTAL are sent.
      while (next < TOTAL) {
        const i = next++;
        outcomes.push(await send(todo[i]!, i));
      }
    }),
  );
  const sentMs = Date.now() - started;
  expect(outcomes).toHaveLength(TOTAL);
  // The mix did what it was meant to: each kind of error happened, and only those.
  const statuses = count(outcomes, (o) => `${o.kind.tool}/${o.kind.key}:${o.status}`);
  expect(statuses['secret/k1:403']).toBe(500);
  expect(statuses['fast/revoked:401']).toBe(500);
  expect(Object.keys(statuses).filter((s) => s.startsWith('boom/'))).toEqual([expect.stringMatching(/^boom\/k1:5\d\d$/)]);
  expect(outcomes.filter(isError)).toHaveLength(1_500);

  // The gateway's own usage records: one per request, and their latencies are the reference.
  const usage = gw.records.filter((r) => r.type === 'usage') as unknown as { orgId?: string; mcp: string; keyId?: string; tool?: string; totalMs: number }[];
  expect(usage).toHaveLength(TOTAL);
  await gw.gateway.flushAnalytics();

  const from = new Date(started - 60_000).toISOString();
  const admin = gw.admin.bind(gw);
  const q = (path: string, extra = '') => admin('GET', `${path}?from=${from}&granularity=hour${extra}`);

  // --- org 1: totals, and per MCP, key and tool ---
  const mine = outcomes.filter((o) => o.kind.key !== 'revoked' && keys[o.kind.key].orgId === org1);
  const report = await q(`/orgs/${org1}/usage`);
  expect(report.totals).toMatchObject({ requests: mine.length, errors: mine.filter(isError).length, rateLimited: 0 });
  expect(Math.round(report.totals.costUsd * 1_000_000)).toBe(mine.reduce((n, o) => n + priceMicroUsd(o), 0));
  expect(report.series[0].points.reduce((n: number, p: { requests: number }) => n + p.requests, 0)).toBe(mine.length);
  const org1Latencies = usage.filter((r) => r.orgId === org1).map((r) => r.totalMs);
  for (const [field, quantile] of [['p50Ms', 0.5], ['p95Ms', 0.95], ['p99Ms', 0.99]] as const) expectWithin2Percent(report.totals[field], org1Latencies)(quantile);

  for (const groupBy of ['mcp', 'key', 'tool'] as const) {
    const grouped = await q(`/orgs/${org1}/usage`, `&groupBy=${groupBy}`);
    const got: Record<string, { requests: number; errors: number }> = {};
    for (const s of grouped.series) {
      got[s.group] = s.points.reduce((a: { requests: number; errors: number }, p: { requests: number; errors: number }) => ({ requests: a.requests + p.requests, errors: a.errors + p.errors }), { requests: 0, errors: 0 });
    }
    const groupOf = (o: Outcome) => (groupBy === 'mcp' ? o.kind.mcp : groupBy === 'key' ? keys[o.kind.key].keyId : o.kind.tool);
    const want: Record<string, { requests: number; errors: number }> = {};
    for (const o of mine) {
      const g = (want[groupOf(o)] ??= { requests: 0, errors: 0 });
      g.requests++;
      if (isError(o)) g.errors++;
    }
    expect({ groupBy, counts: got }).toEqual({ groupBy, counts: want });
  }

  // Per group percentiles: the group filter's totals against that group's own gateway latencies.
  for (const [groupBy, group, pick] of [
    ['mcp', 'alpha', (r: (typeof usage)[number]) => r.orgId === org1 && r.mcp === 'alpha'],
    ['mcp', 'beta', (r: (typeof usage)[number]) => r.orgId === org1 && r.mcp === 'beta'],
    ['tool', 'slow', (r: (typeof usage)[number]) => r.orgId === org1 && r.tool === 'slow'],
    ['key', keys.k2.keyId, (r: (typeof usage)[number]) => r.keyId === keys.k2.keyId],
  ] as const) {
    const one = await q(`/orgs/${org1}/usage`, `&groupBy=${groupBy}&group=${group}`);
    const latencies = usage.filter(pick).map((r) => r.totalMs);
    expect(one.totals.requests).toBe(latencies.length);
    for (const [field, quantile] of [['p50Ms', 0.5], ['p95Ms', 0.95], ['p99Ms', 0.99]] as const) expectWithin2Percent(one.totals[field], latencies)(quantile);
  }

  // --- org 2 and the fleet ---
  const theirs = outcomes.filter((o) => o.kind.key === 'k3');
  expect((await q(`/orgs/${org2}/usage`)).totals).toMatchObject({ requests: theirs.length, errors: 0 });
  const fleet = await q('/usage');
  // The fleet counts the refused requests too (they belong to no org).
  expect(fleet.totals).toMatchObject({ requests: TOTAL, errors: 1_500 });
  // By the gateway's stable codes: the revoked key, the denied tool, the failed upstream.
  expect(fleet.totals.errorsByCode).toEqual({
    invalid_api_key: outcomes.filter((o) => o.status === 401).length,
    forbidden_tool: outcomes.filter((o) => o.status === 403).length,
    upstream_error: outcomes.filter((o) => o.status >= 500).length,
  });
  for (const [field, quantile] of [['p50Ms', 0.5], ['p95Ms', 0.95], ['p99Ms', 0.99]] as const) expectWithin2Percent(fleet.totals[field], usage.map((r) => r.totalMs))(quantile);
  const byOrg = await q('/usage', '&groupBy=org');
  expect(Object.fromEntries(byOrg.series.map((s: { group: string; points: { requests: number }[] }) => [s.group, s.points.reduce((n, p) => n + p.requests, 0)]))).toEqual({ [org1]: mine.length, [org2]: theirs.length });

  // --- plexmcp usage, in-process against the same server ---
  const cli = (args: string[]) => run(['--url', gw.baseUrl, '--token', gw.gateway.operatorToken, 'usage', '--org', org1, '--since', '2h', ...args], { columns: 120 });
  const text = await cli([]);
  expect(text.stderr).toBe('');
  expect(text.code).toBe(0);
  const fmt = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString());
  const t = report.totals;
  expect(text.stdout).toContain(`${mine.length} requests, ${mine.filter(isError).length} errors (${((mine.filter(isError).length / mine.length) * 100).toFixed(1)}%), 0 rate limited; p50 ${fmt(t.p50Ms)} ms, p95 ${fmt(t.p95Ms)} ms, p99 ${fmt(t.p99Ms)} ms`);
  expect(text.stdout).toMatch(/\nrequests\n/);
  expect(text.stdout).toMatch(/\np95 ms\n/);
  const byMcp = await cli(['--mcp', 'beta']);
  expect(byMcp.code).toBe(0);
  const betaOutcomes = mine.filter((o) => o.kind.mcp === 'beta');
  expect(byMcp.stdout).toContain(`Usage of mcp beta of org ${org1}`);
  expect(byMcp.stdout).toContain(`${betaOutcomes.length} requests, 0 errors (0.0%)`);

  // --- the CSV export: one row per (hour, MCP) with the same counts ---
  const csv = await cli(['--by', 'mcp', '--csv']);
  expect(csv.code).toBe(0);
  const [header, ...rows] = csv.stdout.trimEnd().split('\r\n');
  const columns = header!.split(',');
  const col = (name: string) => columns.indexOf(name);
  const fromCsv: Record<string, { requests: number; errors: number }> = {};
  for (const row of rows) {
    const cells = row.split(',');
    expect(cells[col('dimension')]).toBe('mcp');
    const g = (fromCsv[cells[col('group')]!] ??= { requests: 0, errors: 0 });
    g.requests += Number(cells[col('requests')]);
    g.errors += Number(cells[col('errors')]);
  }
  expect(fromCsv).toEqual({
    alpha: { requests: mine.filter((o) => o.kind.mcp === 'alpha').length, errors: mine.filter((o) => o.kind.mcp === 'alpha' && isError(o)).length },
    beta: { requests: betaOutcomes.length, errors: 0 },
  });
  // Within the hour of the run (the usual case) each MCP is one row whose percentiles are the report's.
  if (rows.length === 2) {
    const alphaRow = rows.find((r) => r.split(',')[col('group')] === 'alpha')!.split(',');
    const alphaReport = (await q(`/orgs/${org1}/usage`, '&groupBy=mcp&group=alpha')).totals;
    expect(Number(alphaRow[col('p95Ms')])).toBe(alphaReport.p95Ms);
  }
  console.log(`analytics e2e: ${TOTAL} requests in ${sentMs} ms (${Math.round(TOTAL / (sentMs / 1000))}/s), checked in ${Date.now() - started - sentMs} ms`);
}, 120_000);
