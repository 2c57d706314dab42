/**
 * `npm run bench`: what the gateway costs on the warm path, on loopback, in ONE run, against the
 * upstream called directly and against a bare reverse proxy (~2.5 min with the defaults).
 *
 * Four targets, each reached through its own undici Pool from this process:
 *   - direct:   the SDK-built MCP upstream itself (upstream-server.ts);
 *   - proxy:    the bare reverse-proxy baseline in front of it: nginx when installed, otherwise a
 *               node:http pipe proxy (proxy-baseline.ts; the output says which);
 *   - embedded: the gateway as `npm start` runs it: `serve()` with its EMBEDDED store, dynalite
 *               (persisted under the data directory) inside the gateway's own process, sharing
 *               its event loop (gateway-server.ts, BENCH_STORE=embedded);
 *   - external: the same `serve()` pointed at a store in its own process (`dynamodbEndpoint`, the
 *               store-server.ts child, in memory), as DynamoDB would be.
 * and two answer styles: JSON (the upstream's `enableJsonResponse: true`) and SSE (`false`: each
 * POST answered with an event stream that ends after the result).
 *
 * Every target initializes one MCP session per answer style, then runs the same closed-loop
 * `tools/call` load (load.ts). Cells: c=1 `echo` (latency p50/p99), c=16 `echo` (throughput of a
 * tool that does nothing) for both styles, c=16 `work` (a 20 ms tool) with JSON answers (and SSE
 * with BENCH_SSE_WORK=1). Rounds are INTERLEAVED: each round runs every cell once, and within a
 * (phase, answer style) the targets run one after the other in an order rotated from round to
 * round, so a slow stretch of the shared machine lands on every target alike. Each cell starts
 * with a short unmeasured pre-roll at its own concurrency (reconnects, JIT). Reported figures are
 * the medians of the rounds, with their range; a figure against another target (added p50, % of
 * direct) is taken within each round, where the two cells ran back to back, then the median.
 *
 * Also per cell: CPU time of every process (the proxy's or gateway's own, the store's, the
 * upstream's, the load generator's) and the store operations it served, counted at the engine
 * for both gateway configurations (engine-ops.ts): every operation, whatever it is for. At the
 * end: each process's peak RSS, then (the other processes stopped) the bundle sizes and cold init
 * of bench/cold-init.ts, and the targets of issue 8 with met/missed for the `npm start`
 * configuration (and, for reference, the external one).
 *
 * Environment: BENCH_SECONDS (measured seconds per cell and round, default 2), BENCH_ROUNDS
 * (default 3), BENCH_WARMUP_SECONDS (per target and answer style at c=16 before the first round,
 * default 1), BENCH_PREROLL_MS (before each cell, default 200), BENCH_CONCURRENCY (default 16),
 * BENCH_WORK_MS (default 20), BENCH_SSE_WORK=1, BENCH_PROXY=nginx|node, BENCH_NGINX_WORKERS
 * (default 1), BENCH_COLD_INIT=0 (skip the cold-init table), COLD_INIT_RUNS (default 5 here),
 * COLD_INIT_BASE (see cold-init.ts), BENCH_CPU_PROF=<dir> (CPU profiles of both gateways over
 * their first-round cells: <dir>/<target>-<answers>-<cell>.cpuprofile; those cells then carry the
 * profiler's overhead, so take figures from a run without it).
 * Targets are reported, never asserted: the bench exits 0 unless it could not run.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import type { Pool } from 'undici';
import { startChild, stopChildren } from './children';
import type { OperationCounts } from './engine-ops';
import { callOnce, MCP_HEADERS, poolFor, runLoad, type LoadResult, type McpTarget } from './load';
import { startProxyBaseline } from './proxy-baseline';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildLocal } = require('../scripts/build-local.cjs') as { buildLocal(entry: string, outfile: string): Promise<string> };
import { mb, median, ms, pct, signedMs, table, times, withRange } from './report';

/**
 * The node flags `npm start` runs the gateway with (package.json: `node <flags> dist/plexmcp.cjs
 * serve`), read from package.json so that the measured gateway runs exactly as users run it.
 */
const NPM_START_NODE_FLAGS: string[] = (() => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const start = (require('../package.json') as { scripts: Record<string, string> }).scripts.start ?? '';
  const flags = /^node\s+(.*?)\s*dist\/plexmcp\.cjs serve$/.exec(start);
  if (!flags) throw new Error(`package.json scripts.start is not "node [flags] dist/plexmcp.cjs serve": ${start}`);
  return flags[1]!.split(/\s+/).filter(Boolean);
})();

const SECONDS = Number(process.env.BENCH_SECONDS ?? 2);
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 3));
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const PREROLL_MS = Number(process.env.BENCH_PREROLL_MS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const WORK_MS = Number(process.env.BENCH_WORK_MS ?? 20);
const SSE_WORK = process.env.BENCH_SSE_WORK === '1';
const COLD_INIT = process.env.BENCH_COLD_INIT !== '0';
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;

// ---------------------------------------------------------------- what is measured

const TARGETS = ['direct', 'proxy', 'embedded', 'external'] as const;
type TargetId = (typeof TARGETS)[number];
const ANSWERS = ['json', 'sse'] as const;
type Answers = (typeof ANSWERS)[number];
const ANSWER_LABEL: Record<Answers, string> = { json: 'JSON', sse: 'SSE' };

interface CellSpec {
  readonly id: 'c1' | 'echo' | 'work';
  readonly concurrency: number;
  readonly toolMs?: number;
  readonly answers: readonly Answers[];
}
const CELLS: readonly CellSpec[] = [
  { id: 'c1', concurrency: 1, answers: ANSWERS },
  { id: 'echo', concurrency: CONCURRENCY, answers: ANSWERS },
  { id: 'work', concurrency: CONCURRENCY, toolMs: WORK_MS, answers: SSE_WORK ? ANSWERS : ['json'] },
];
const CELL_LABEL = { c1: 'c=1 echo', echo: `c=${CONCURRENCY} echo`, work: `c=${CONCURRENCY} ${WORK_MS} ms tool` } as const;

/** The processes whose CPU is read around every cell ('client' is this process, the load generator). */
const PROCESSES = ['client', 'upstream', 'proxy', 'embedded', 'external', 'store'] as const;
type ProcessName = (typeof PROCESSES)[number];

interface ProcessStats {
  readonly cpuMs: number;
  readonly maxRssKiB: number;
  readonly counts?: OperationCounts;
}
type Snapshot = Record<ProcessName, ProcessStats>;

/** One measured cell of one round. */
interface Cell extends LoadResult {
  readonly cpuMs: Record<ProcessName, number>;
  /** Store operations served during the cell by the engine of this target (gateways only). */
  readonly storeOps: OperationCounts;
}

interface Target {
  readonly id: TargetId;
  readonly label: string;
  readonly mcp: Record<Answers, McpTarget>;
  readonly pools: Record<Answers, Pool>;
}

// ---------------------------------------------------------------- child processes

function childStats(child: ChildProcess): Promise<ProcessStats> {
  return new Promise((done) => {
    child.on('message', function onStats(message: { type?: string; cpu: NodeJS.CpuUsage; maxRssKiB: number; counts?: OperationCounts }) {
      if (message.type !== 'stats') return;
      child.off('message', onStats);
      done({ cpuMs: (message.cpu.user + message.cpu.system) / 1000, maxRssKiB: message.maxRssKiB, counts: message.counts });
    });
    child.send({ type: 'stats' });
  });
}

function start<T>(file: string, env: Record<string, string> = {}, execArgv: string[] = []): Promise<{ child: ChildProcess; ready: T }> {
  const label = basename(file);
  return startChild<T>(resolve(__dirname, file), env.BENCH_STORE ? `${label} (${env.BENCH_STORE})` : label, { env, execArgv });
}

/** The gateway child's heap after a full collection, in KiB (NaN without --expose-gc). */
function heapAfterGc(child: ChildProcess): Promise<number> {
  return new Promise((done) => {
    child.on('message', function onHeap(message: { type?: string; heapUsedKiB: number }) {
      if (message.type !== 'heap') return;
      child.off('message', onHeap);
      done(message.heapUsedKiB);
    });
    child.send({ type: 'heap' });
  });
}

/** With BENCH_CPU_PROF, a CPU profile of the gateway child over `run` only, as <dir>/<name>.cpuprofile. */
async function profiled<T>(gateway: ChildProcess | undefined, name: string, run: () => Promise<T>): Promise<T> {
  if (!CPU_PROF_DIR || !gateway) return run();
  mkdirSync(CPU_PROF_DIR, { recursive: true });
  const reply = (type: string) =>
    new Promise<void>((done) => {
      gateway.on('message', function on(message: { type?: string }) {
        if (message.type !== type) return;
        gateway.off('message', on);
        done();
      });
    });
  const started = reply('profile-started');
  gateway.send({ type: 'profile-start' });
  await started;
  const result = await run();
  const stopped = reply('profile-stopped');
  gateway.send({ type: 'profile-stop', path: join(resolve(CPU_PROF_DIR), `${name}.cpuprofile`) });
  await stopped;
  return result;
}

// ---------------------------------------------------------------- MCP sessions

/** The JSON-RPC message of an answer, JSON or SSE (the first `data:` event that parses). */
function jsonRpcOf(text: string): { result?: { protocolVersion?: string } } {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) return JSON.parse(trimmed) as { result?: { protocolVersion?: string } };
  for (const event of trimmed.split(/\r?\n\r?\n/)) {
    const data = event
      .split(/\r?\n/)
      .filter((line) => line.startsWith('data:'))
      .map((line) => line.slice(5).trimStart())
      .join('\n');
    if (data) return JSON.parse(data) as { result?: { protocolVersion?: string } };
  }
  throw new Error(`no JSON-RPC message in ${JSON.stringify(text.slice(0, 200))}`);
}

/** initialize + notifications/initialized; returns the target with the headers the session's calls carry. */
async function openSession(name: string, url: string, extra: Record<string, string>): Promise<McpTarget> {
  const init = await fetch(url, {
    method: 'POST',
    headers: { ...MCP_HEADERS, ...extra },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'plexmcp-bench', version: '1.0.0' } },
    }),
  });
  const text = await init.text();
  const sessionId = init.headers.get('mcp-session-id');
  if (init.status !== 200 || !sessionId) throw new Error(`${name}: initialize -> ${init.status} ${text.slice(0, 300)}`);
  const protocolVersion = jsonRpcOf(text).result?.protocolVersion ?? LATEST_PROTOCOL_VERSION;
  const headers = { ...extra, 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion };
  const initialized = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`${name}: notifications/initialized -> ${initialized.status}`);
  const { origin, pathname } = new URL(url);
  return { name, origin, path: pathname, headers };
}

// ---------------------------------------------------------------- provisioning

const SLUGS: Record<Answers, string> = { json: 'echo-json', sse: 'echo-sse' };

/** An enterprise org, one MCP per answer style, one key with a limit far above the load. */
async function provision(adminUrl: string, operatorToken: string, upstream: Record<Answers, string>): Promise<string> {
  const admin = async <T>(path: string, body: unknown): Promise<T> => {
    const res = await fetch(`${adminUrl}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operatorToken}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`admin POST ${path} -> ${res.status} ${text}`);
    return JSON.parse(text) as T;
  };
  // The bench measures the checks, not refusals.
  const org = await admin<{ orgId: string }>('/orgs', { name: 'bench', plan: 'enterprise' });
  for (const answers of ANSWERS) await admin(`/orgs/${org.orgId}/mcps`, { slug: SLUGS[answers], endpoints: [{ url: upstream[answers] }] });
  const key = await admin<{ secret: string }>(`/orgs/${org.orgId}/keys`, {
    name: 'bench',
    role: 'member',
    scopes: { mcps: Object.values(SLUGS), tools: {} },
    rateLimitPerMinute: 1_000_000,
  });
  return key.secret;
}

// ---------------------------------------------------------------- cold init and bundle sizes

type ColdInitModule = typeof import('./cold-init');
type ColdInitRow = Awaited<ReturnType<ColdInitModule['measureColdInit']>>[number];

interface ColdInitOutcome {
  readonly rows: readonly ColdInitRow[];
  /** The table, or why there is none. */
  readonly text: string;
  readonly base?: string;
}

/**
 * Bundle sizes and cold init of each bundled function, from bench/cold-init.ts (written as another
 * part of issue 8; coupled only through its exported measureColdInit/formatColdInit). Run after the
 * load cells with the other processes stopped, so nothing else competes. Loaded only if the file
 * is there, so the bench runs without it.
 */
async function coldInitSection(): Promise<ColdInitOutcome> {
  if (!COLD_INIT) return { rows: [], text: 'skipped (BENCH_COLD_INIT=0)' };
  if (!existsSync(resolve(__dirname, 'cold-init.ts'))) return { rows: [], text: 'not measured: bench/cold-init.ts is not there (hook: coldInitSection() in bench/gateway.ts)' };
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { measureColdInit, formatColdInit } = require('./cold-init') as ColdInitModule;
  const runs = Number(process.env.COLD_INIT_RUNS ?? 5);
  // The base commit to compare with: cold-init.ts's own default (fcaa7c1, before issue 8's bundle work).
  const baseSetting = process.env.COLD_INIT_BASE ?? 'fcaa7c1';
  const base = baseSetting === 'none' ? undefined : baseSetting;
  try {
    const rows = await measureColdInit({ runs, base, log: (line) => process.stderr.write(`bench: cold-init: ${line}\n`) });
    return { rows, base, text: `${runs} fresh processes per variant (medians), this tree against ${base ?? 'no base'}\n${formatColdInit(rows, base)}` };
  } catch (error) {
    return { rows: [], text: `not measured: bench/cold-init.ts failed (${error instanceof Error ? error.message : String(error)})` };
  }
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = Date.now();
  const cpu = cpus();
  const loadAtStart = loadavg()[0]!;
  console.log(`PlexMCP gateway benchmark — ${new Date().toISOString()}`);
  console.log(
    `node ${process.version}, ${cpu.length} vCPU (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `load average ${loadAtStart.toFixed(2)} at start (other work on the machine skews every figure)`,
  );

  // ---- processes
  const [store, upstream] = await Promise.all([
    start<{ url: string }>('store-server.ts'),
    start<{ jsonUrl: string; sseUrl: string }>('upstream-server.ts'),
  ]);
  const upstreamUrls: Record<Answers, string> = { json: upstream.ready.jsonUrl, sse: upstream.ready.sseUrl };
  type GatewayReady = { baseUrl: string; adminUrl: string; operatorToken: string; engineCounted: boolean };
  // The gateway child is bundled as `npm start` bundles the CLI (scripts/build-local.cjs) and runs
  // on plain node: no tsx loader in the measured process.
  const gatewayBundle = await buildLocal('bench/gateway-server.ts', 'dist/bench/gateway-server.cjs');
  const [embedded, external, proxy] = await Promise.all([
    // --expose-gc only lets the bench ask for a full collection before and after the cells (heapAfterGc).
    start<GatewayReady>(gatewayBundle, { BENCH_STORE: 'embedded' }, ['--expose-gc', ...NPM_START_NODE_FLAGS]),
    start<GatewayReady>(gatewayBundle, { BENCH_STORE: 'external', BENCH_DYNAMODB_ENDPOINT: store.ready.url }, ['--expose-gc', ...NPM_START_NODE_FLAGS]),
    startProxyBaseline(new URL(upstream.ready.jsonUrl).origin),
  ]);
  const [embeddedKey, externalKey] = await Promise.all([
    provision(embedded.ready.adminUrl, embedded.ready.operatorToken, upstreamUrls),
    provision(external.ready.adminUrl, external.ready.operatorToken, upstreamUrls),
  ]);

  const labels: Record<TargetId, string> = {
    direct: 'direct',
    proxy: proxy.kind === 'nginx' ? 'nginx' : 'node proxy',
    embedded: 'PlexMCP (npm start)',
    external: 'PlexMCP (external store)',
  };
  console.log('targets:');
  console.log(`  ${labels.direct.padEnd(24)} the SDK upstream itself (Streamable HTTP, stateful, /json: enableJsonResponse true, /sse: false)`);
  console.log(`  ${labels.proxy.padEnd(24)} ${proxy.label}: the reverse-proxy baseline`);
  console.log(`  ${labels.embedded.padEnd(24)} serve() as \`npm start\` runs it: EMBEDDED store (dynalite, LevelDB under the data dir) in the gateway's own process`);
  console.log(`  ${labels.external.padEnd(24)} serve({ dynamodbEndpoint }): dynalite (in memory) in its own process, as DynamoDB would be`);
  const cellCount = CELLS.reduce((n, c) => n + c.answers.length * TARGETS.length, 0);
  console.log(
    `${ROUNDS} interleaved rounds × ${cellCount} cells (${SECONDS} s measured each, after a ${PREROLL_MS} ms pre-roll; ` +
      `warm-up ${WARMUP_SECONDS} s per target and answer style); figures are medians of the rounds, (min–max) where shown; ` +
      `added latency and % of another target are taken round by round (cells run back to back), then the median`,
  );
  if (!embedded.ready.engineCounted) console.log('WARNING: the embedded engine\'s operations are not seen (engine-ops.ts hook): its store calls read as n/a');
  console.log('');

  // ---- sessions and pools
  const urls: Record<TargetId, Record<Answers, string>> = {
    direct: upstreamUrls,
    proxy: { json: `${proxy.origin}${new URL(upstreamUrls.json).pathname}`, sse: `${proxy.origin}${new URL(upstreamUrls.sse).pathname}` },
    embedded: { json: `${embedded.ready.baseUrl}/mcp/${SLUGS.json}`, sse: `${embedded.ready.baseUrl}/mcp/${SLUGS.sse}` },
    external: { json: `${external.ready.baseUrl}/mcp/${SLUGS.json}`, sse: `${external.ready.baseUrl}/mcp/${SLUGS.sse}` },
  };
  const credentials: Record<TargetId, Record<string, string>> = {
    direct: {},
    proxy: {},
    embedded: { authorization: `Bearer ${embeddedKey}` },
    external: { authorization: `Bearer ${externalKey}` },
  };
  const targets: Target[] = [];
  for (const id of TARGETS) {
    const mcp = {} as Record<Answers, McpTarget>;
    const pools = {} as Record<Answers, Pool>;
    for (const answers of ANSWERS) {
      mcp[answers] = await openSession(`${id} ${answers}`, urls[id][answers], credentials[id]);
      pools[answers] = poolFor(mcp[answers].origin, CONCURRENCY);
      if (!(await callOnce(pools[answers], mcp[answers]))) throw new Error(`${id} ${answers}: a first tools/call failed`);
    }
    targets.push({ id, label: labels[id], mcp, pools });
  }

  const gatewayChild: Partial<Record<TargetId, ChildProcess>> = { embedded: embedded.child, external: external.child };
  const snapshot = async (): Promise<Snapshot> => {
    const client = process.cpuUsage();
    const [up, px, em, ex, st] = await Promise.all([childStats(upstream.child), proxy.stats(), childStats(embedded.child), childStats(external.child), childStats(store.child)]);
    return {
      client: { cpuMs: (client.user + client.system) / 1000, maxRssKiB: process.resourceUsage().maxRSS },
      upstream: up,
      proxy: px,
      embedded: em,
      external: ex,
      store: st,
    };
  };
  /** The engine that serves a target's store calls: the embedded gateway's own, or the store child. */
  const engineOf = (id: TargetId): ProcessName | undefined => (id === 'embedded' ? 'embedded' : id === 'external' ? 'store' : undefined);

  // ---- warm-up, then the interleaved rounds
  const atStart = await snapshot(); // peak RSS so far: start-up and provisioning only
  const heapAtStart = { embedded: await heapAfterGc(embedded.child), external: await heapAfterGc(external.child) };
  for (const t of targets) for (const answers of ANSWERS) await runLoad(t.pools[answers], t.mcp[answers], { concurrency: CONCURRENCY, durationMs: WARMUP_SECONDS * 1000 });

  const results = new Map<string, Cell[]>();
  const key = (id: TargetId, answers: Answers, cell: CellSpec['id']) => `${id}/${answers}/${cell}`;
  for (let round = 0; round < ROUNDS; round++) {
    for (const spec of CELLS) {
      for (const answers of spec.answers) {
        const order = TARGETS.map((_, i) => targets[(i + round) % targets.length]!);
        for (const t of order) {
          const mcp = { ...t.mcp[answers], toolMs: spec.toolMs };
          const pool = t.pools[answers];
          if (PREROLL_MS > 0) await runLoad(pool, mcp, { concurrency: spec.concurrency, durationMs: PREROLL_MS });
          const before = await snapshot();
          const load = await profiled(round === 0 ? gatewayChild[t.id] : undefined, `${t.id}-${answers}-${spec.id}`, () =>
            runLoad(pool, mcp, { concurrency: spec.concurrency, durationMs: SECONDS * 1000 }),
          );
          const after = await snapshot();
          const cpuMs = Object.fromEntries(PROCESSES.map((p) => [p, after[p].cpuMs - before[p].cpuMs])) as Record<ProcessName, number>;
          const storeOps: OperationCounts = {};
          const engine = engineOf(t.id);
          if (engine) {
            for (const [op, n] of Object.entries(after[engine].counts ?? {})) {
              const delta = n - (before[engine].counts?.[op] ?? 0);
              if (delta > 0) storeOps[op] = delta;
            }
          }
          const k = key(t.id, answers, spec.id);
          results.set(k, [...(results.get(k) ?? []), { ...load, cpuMs, storeOps }]);
        }
      }
    }
    process.stderr.write(`bench: round ${round + 1}/${ROUNDS} done after ${((Date.now() - startedAt) / 1000).toFixed(0)} s\n`);
  }
  const final = await snapshot();
  const loadAtEnd = loadavg()[0]!;
  const heapAtEnd = { embedded: await heapAfterGc(embedded.child), external: await heapAfterGc(external.child) };
  const requestsTo = (id: TargetId) => [...results].filter(([k]) => k.startsWith(`${id}/`)).reduce((n, [, cs]) => n + cs.reduce((m, c) => m + c.requests + c.errors, 0), 0);
  for (const t of targets) await Promise.all(ANSWERS.map((a) => t.pools[a].close()));

  // ---- stop everything, then cold init and bundle sizes (nothing else runs meanwhile)
  await stopChildren();
  const coldInit = await coldInitSection();

  // ---- figures
  const cells = (id: TargetId, answers: Answers, cell: CellSpec['id']) => results.get(key(id, answers, cell)) ?? [];
  const med = (id: TargetId, answers: Answers, cell: CellSpec['id'], f: (c: Cell) => number) => median(cells(id, answers, cell).map(f));
  const all = <T>(id: TargetId, answers: Answers, cell: CellSpec['id'], f: (c: Cell) => T) => cells(id, answers, cell).map(f);
  /**
   * A figure of a target against another (direct, the proxy) round by round, then the median:
   * the two cells of one round ran one right after the other, so a slow stretch of the machine
   * weighs on both, where a ratio of two medians could pair a slow round with a fast one.
   */
  const paired = (id: TargetId, other: TargetId, answers: Answers, cell: CellSpec['id'], f: (own: Cell, ref: Cell) => number) => {
    const ref = cells(other, answers, cell);
    return median(cells(id, answers, cell).map((c, round) => (ref[round] ? f(c, ref[round]) : NaN)));
  };
  const addedP50 = (id: TargetId, other: TargetId, answers: Answers) => paired(id, other, answers, 'c1', (a, b) => a.p50Ms - b.p50Ms);
  const p50Ratio = (id: TargetId, other: TargetId, answers: Answers) => paired(id, other, answers, 'c1', (a, b) => a.p50Ms / b.p50Ms);
  const share = (id: TargetId, other: TargetId, answers: Answers, cell: CellSpec['id']) => paired(id, other, answers, cell, (a, b) => (a.rps / b.rps) * 100);
  const p50 = (c: Cell) => c.p50Ms;
  const p99 = (c: Cell) => c.p99Ms;
  const rps = (c: Cell) => c.rps;
  /** CPU of the target's own hop per request (the proxy or the gateway process; 0 for direct). */
  const hopCpu = (id: TargetId) => (c: Cell) => (id === 'direct' ? 0 : c.cpuMs[id === 'proxy' ? 'proxy' : id] / (c.requests + c.errors));
  /** Store operations per request over every round of a cell (a rate: summed, not a median of tiny numbers). */
  const storeRate = (id: TargetId, answers: Answers, cell: CellSpec['id']): { total: number; byOp: Record<string, number> } => {
    if (!engineOf(id) || (id === 'embedded' && !embedded.ready.engineCounted)) return { total: NaN, byOp: {} };
    let requests = 0;
    const ops: Record<string, number> = {};
    for (const c of cells(id, answers, cell)) {
      requests += c.requests + c.errors;
      for (const [op, n] of Object.entries(c.storeOps)) ops[op] = (ops[op] ?? 0) + n;
    }
    const byOp = Object.fromEntries(Object.entries(ops).map(([op, n]) => [op, n / requests]));
    return { total: Object.values(byOp).reduce((a, b) => a + b, 0), byOp };
  };

  // ---- 1. latency
  console.log(`1. Latency at c=1, tools/call echo (each request: send to last body byte)`);
  const latencyRows: string[][] = [];
  for (const answers of ANSWERS) {
    for (const t of targets) {
      latencyRows.push([
        ANSWER_LABEL[answers],
        t.label,
        withRange(all(t.id, answers, 'c1', p50), ms),
        withRange(all(t.id, answers, 'c1', p99), ms),
        t.id === 'direct' ? '—' : `${signedMs(addedP50(t.id, 'direct', answers))} (${times(p50Ratio(t.id, 'direct', answers))})`,
        t.id === 'direct' || t.id === 'proxy' ? '—' : `${signedMs(addedP50(t.id, 'proxy', answers))} (${times(p50Ratio(t.id, 'proxy', answers))})`,
        String(all(t.id, answers, 'c1', (c) => c.requests).reduce((a, b) => a + b, 0)),
      ]);
    }
  }
  console.log(table(['answers', 'target', 'p50', 'p99', 'added p50 vs direct', `added p50 vs ${labels.proxy}`, 'requests'], latencyRows, 'llrrrrr'));

  // ---- 2. throughput
  console.log('');
  console.log(`2. Throughput at c=${CONCURRENCY} (closed loop)`);
  const throughputRows: string[][] = [];
  for (const spec of CELLS.filter((c) => c.id !== 'c1')) {
    for (const answers of spec.answers) {
      for (const t of targets) {
        throughputRows.push([
          spec.id === 'echo' ? 'echo (zero work)' : `work (${WORK_MS} ms)`,
          ANSWER_LABEL[answers],
          t.label,
          withRange(all(t.id, answers, spec.id, rps), (v) => v.toFixed(0)),
          t.id === 'direct' ? '100 %' : pct(share(t.id, 'direct', answers, spec.id)),
          t.id === 'direct' || t.id === 'proxy' ? '—' : pct(share(t.id, 'proxy', answers, spec.id)),
          ms(med(t.id, answers, spec.id, p50)),
          ms(med(t.id, answers, spec.id, p99)),
        ]);
      }
    }
  }
  console.log(table(['tool', 'answers', 'target', 'req/s', '% of direct', `% of ${labels.proxy}`, 'p50', 'p99'], throughputRows, 'lllrrrrr'));

  // ---- 3. cost per request
  console.log('');
  console.log(`3. Cost per request, JSON answers (CPU: process.cpuUsage of node processes, /proc for nginx; ${cpu.length} vCPU shared by all processes)`);
  const costRows: string[][] = [];
  for (const t of targets) {
    const c16 = cells(t.id, 'json', 'echo');
    const store = t.id === 'external' ? withRange(c16.map((c) => c.cpuMs.store / (c.requests + c.errors)), (v) => ms(v, 3)) : t.id === 'embedded' ? 'in the gateway' : '—';
    const total = (c: Cell) => PROCESSES.reduce((sum, p) => sum + c.cpuMs[p], 0);
    const rate = storeRate(t.id, 'json', 'echo');
    costRows.push([
      t.label,
      t.id === 'direct' ? '—' : ms(med(t.id, 'json', 'c1', hopCpu(t.id)), 3),
      t.id === 'direct' ? '—' : withRange(c16.map(hopCpu(t.id)), (v) => ms(v, 3)),
      store,
      ms(median(c16.map((c) => total(c) / (c.requests + c.errors))), 3),
      pct(median(c16.map((c) => (total(c) / c.elapsedMs / cpu.length) * 100))),
      Number.isNaN(rate.total) ? (engineOf(t.id) ? 'n/a' : '—') : rate.total.toFixed(3),
      t.id === 'direct' ? '—' : `${mb(atStart[t.id === 'proxy' ? 'proxy' : t.id].maxRssKiB)} → ${mb(final[t.id === 'proxy' ? 'proxy' : t.id].maxRssKiB)}`,
    ]);
  }
  console.log(
    table(
      ['target', 'hop CPU/req c=1', `hop CPU/req c=${CONCURRENCY} echo`, 'store process CPU/req', 'all processes CPU/req', 'CPU busy', 'store calls/req', 'hop peak RSS: start → end'],
      costRows,
    ),
  );
  console.log(
    `   hop = the proxy's or the gateway's own process (the embedded store's work included); peak RSS (ru_maxrss / VmHWM) after start-up, before any load, and at the end. ` +
      `upstream ${mb(final.upstream.maxRssKiB)}, external store ${mb(final.store.maxRssKiB)}, load generator ${mb(final.client.maxRssKiB)}.`,
  );
  for (const id of ['embedded', 'external'] as const) {
    const grown = heapAtEnd[id] - heapAtStart[id];
    console.log(
      `   ${labels[id]}: live heap after a full GC ${mb(heapAtStart[id])} before the load, ${mb(heapAtEnd[id])} after the load ` +
        `(${requestsTo(id)} measured requests besides warm-up and pre-rolls: ${Number.isNaN(grown) ? 'n/a' : `${((grown * 1024) / Math.max(1, requestsTo(id))).toFixed(0)} bytes kept per measured request, at most`})`,
    );
  }

  // ---- 4. store calls by operation
  console.log('');
  console.log('4. Store calls per warm request, by operation, counted at the engine (every operation it served during the cells)');
  const storeRows: string[][] = [];
  for (const id of ['embedded', 'external'] as const) {
    for (const spec of CELLS) {
      for (const answers of spec.answers) {
        const rate = storeRate(id, answers, spec.id);
        const ops = Object.entries(rate.byOp)
          .sort((a, b) => b[1] - a[1])
          .map(([op, n]) => `${op} ${n.toFixed(3)}`)
          .join(', ');
        storeRows.push([labels[id], `${CELL_LABEL[spec.id]}, ${ANSWER_LABEL[answers]}`, Number.isNaN(rate.total) ? 'n/a' : rate.total.toFixed(3), ops || (Number.isNaN(rate.total) ? 'not counted' : 'none')]);
      }
    }
  }
  console.log(table(['target', 'cell', 'per request', 'by operation'], storeRows, 'llrl'));
  console.log('   (the health monitor\'s own cycle, once a minute, is counted too when it falls inside a cell)');

  // ---- 5. cold init and bundles
  console.log('');
  console.log('5. Bundle sizes and cold init (bench/cold-init.ts)');
  console.log(coldInit.text);

  // ---- 6. targets
  console.log('');
  console.log('6. Targets of issue 8 (JSON answers unless stated; met/missed is judged on the `npm start` configuration)');
  type Check = { name: string; limit: string; value: (id: 'embedded' | 'external') => number; format: (v: number) => string; ok: (v: number) => boolean; by: (v: number) => string };
  const checks: Check[] = [
    {
      name: 'added p50 at c=1 over direct, JSON',
      limit: '≤ 0.5 ms',
      value: (id) => addedP50(id, 'direct', 'json'),
      format: signedMs,
      ok: (v) => v <= 0.5,
      by: (v) => `by ${ms(v - 0.5)}`,
    },
    {
      name: 'added p50 at c=1 over direct, SSE',
      limit: '≤ 0.8 ms',
      value: (id) => addedP50(id, 'direct', 'sse'),
      format: signedMs,
      ok: (v) => v <= 0.8,
      by: (v) => `by ${ms(v - 0.8)}`,
    },
    {
      name: `zero-work echo at c=${CONCURRENCY}, % of direct`,
      limit: '≥ 50 %',
      value: (id) => share(id, 'direct', 'json', 'echo'),
      format: pct,
      ok: (v) => v >= 50,
      by: (v) => `by ${(50 - v).toFixed(0)} points`,
    },
    {
      name: `${WORK_MS} ms tool at c=${CONCURRENCY}, % of direct`,
      limit: '≥ 95 %',
      value: (id) => share(id, 'direct', 'json', 'work'),
      format: pct,
      ok: (v) => v >= 95,
      by: (v) => `by ${(95 - v).toFixed(0)} points`,
    },
    {
      name: `store round trips per warm request (c=${CONCURRENCY} echo)`,
      limit: '≤ 0.1',
      value: (id) => storeRate(id, 'json', 'echo').total,
      format: (v) => (Number.isNaN(v) ? 'n/a' : v.toFixed(3)),
      ok: (v) => v <= 0.1,
      by: (v) => `by ${(v - 0.1).toFixed(3)}`,
    },
    {
      name: `gateway CPU per request at c=${CONCURRENCY} (echo)`,
      limit: '≤ 0.15 ms',
      value: (id) => med(id, 'json', 'echo', hopCpu(id)),
      format: (v) => ms(v, 3),
      ok: (v) => v <= 0.15,
      by: (v) => `by ${ms(v - 0.15, 3)}`,
    },
    {
      name: 'gateway peak RSS (whole run, under load)',
      limit: '≤ 200 MB',
      value: (id) => (final[id].maxRssKiB * 1024) / 1e6,
      format: (v) => (Number.isNaN(v) ? 'n/a' : `${v.toFixed(0)} MB`),
      ok: (v) => v <= 200,
      by: (v) => `by ${(v - 200).toFixed(0)} MB`,
    },
  ];
  const verdict = (c: Check, v: number) => (Number.isNaN(v) ? 'not measured' : c.ok(v) ? 'met' : `MISSED ${c.by(v)}`);
  const targetRows = checks.map((c) => {
    const own = c.value('embedded');
    const ext = c.value('external');
    return [c.name, c.limit, c.format(own), verdict(c, own), c.format(ext), verdict(c, ext)];
  });
  // The bundle and its cold init are the same for both configurations: judged once.
  const gatewayTree = coldInit.rows.find((r) => r.fn === 'gateway' && r.tree === 'tree' && !r.sourceMaps); // as deployed
  const gatewayBase = coldInit.rows.find((r) => r.fn === 'gateway' && r.tree === 'base' && r.sourceMaps);
  const bundleBytes = gatewayTree && gatewayTree.size.minified > 0 ? gatewayTree.size.minified : NaN;
  targetRows.push([
    'gateway bundle, minified',
    '≤ 1 MB',
    Number.isNaN(bundleBytes) ? 'n/a' : `${(bundleBytes / 1e6).toFixed(2)} MB`,
    Number.isNaN(bundleBytes) ? 'not measured' : bundleBytes <= 1e6 ? 'met' : `MISSED by ${((bundleBytes - 1e6) / 1e3).toFixed(0)} kB`,
    '',
    '',
  ]);
  // The web console, as buildLocal built it beside the gateway child (scripts/build-console.cjs).
  const consoleGzip = consoleGzipBytes(join(dirname(gatewayBundle), 'console'));
  targetRows.push([
    'web console (page, script, stylesheet), gzipped',
    '≤ 200 KB',
    Number.isNaN(consoleGzip) ? 'n/a' : `${(consoleGzip / 1024).toFixed(1)} KB`,
    Number.isNaN(consoleGzip) ? 'not measured' : consoleGzip <= 200 * 1024 ? 'met' : `MISSED by ${((consoleGzip - 200 * 1024) / 1024).toFixed(0)} KB`,
    '',
    '',
  ]);
  const coldNow = gatewayTree?.totalMs;
  const coldBefore = gatewayBase?.totalMs;
  const coldShare = coldNow !== undefined && coldBefore !== undefined ? (coldNow / coldBefore) * 100 : NaN;
  targetRows.push([
    `gateway cold init (require + first request) vs ${coldInit.base ?? 'base'}`,
    '≤ 50 %',
    Number.isNaN(coldShare) ? 'n/a' : `${pct(coldShare)} (${ms(coldNow!, 0)} / ${ms(coldBefore!, 0)})`,
    Number.isNaN(coldShare)
      ? `not measured${gatewayTree?.failure ? ` (this tree: ${gatewayTree.failure})` : ''}${gatewayBase?.failure ? ` (base: ${gatewayBase.failure})` : ''}`
      : coldShare <= 50
        ? 'met'
        : `MISSED by ${(coldShare - 50).toFixed(0)} points`,
    '',
    '',
  ]);
  console.log(table(['target', 'limit', labels.embedded, 'verdict', labels.external, 'verdict'], targetRows, 'llrlrl'));
  console.log(
    `   for comparison, ${labels.proxy}: added p50 ${signedMs(addedP50('proxy', 'direct', 'json'))} (JSON) / ` +
      `${signedMs(addedP50('proxy', 'direct', 'sse'))} (SSE), echo ${pct(share('proxy', 'direct', 'json', 'echo'))} ` +
      `and ${WORK_MS} ms tool ${pct(share('proxy', 'direct', 'json', 'work'))} of direct, ` +
      `${ms(med('proxy', 'json', 'echo', hopCpu('proxy')), 3)} CPU per request`,
  );

  // ---- 7. the summary in the README's format
  console.log('');
  console.log("7. Summary (the README's table)");
  const summaryRows = targets.map((t) => {
    const added = (answers: Answers) => (t.id === 'direct' ? '—' : signedMs(addedP50(t.id, 'direct', answers)));
    const ofDirect = (cell: 'echo' | 'work') => {
      const own = med(t.id, 'json', cell, rps);
      return t.id === 'direct' ? `100 % (${own.toFixed(0)} req/s)` : `${pct(share(t.id, 'direct', 'json', cell))} (${own.toFixed(0)} req/s)`;
    };
    const cpuCell = t.id === 'direct' ? '—' : ms(med(t.id, 'json', 'echo', hopCpu(t.id)), 3);
    const storeCpu = t.id === 'external' ? ` (+ ${ms(median(cells('external', 'json', 'echo').map((c) => c.cpuMs.store / (c.requests + c.errors))), 3)} in the store)` : '';
    const rate = storeRate(t.id, 'json', 'echo').total;
    return [
      t.id === 'embedded' ? 'PlexMCP (`npm start`)' : t.label,
      ms(med(t.id, 'json', 'c1', p50)),
      added('json'),
      ms(med(t.id, 'sse', 'c1', p50)),
      added('sse'),
      ofDirect('echo'),
      ofDirect('work'),
      cpuCell + storeCpu,
      engineOf(t.id) ? (Number.isNaN(rate) ? 'n/a' : rate.toFixed(3)) : '—',
      t.id === 'direct' ? '—' : mb(final[t.id === 'proxy' ? 'proxy' : t.id].maxRssKiB),
    ];
  });
  console.log(
    table(
      ['target', 'p50 c=1 JSON', 'added p50 JSON', 'p50 c=1 SSE', 'added p50 SSE', `\`echo\` c=${CONCURRENCY}, % of direct`, `${WORK_MS} ms tool c=${CONCURRENCY}, % of direct`, `CPU/request c=${CONCURRENCY} (own process)`, 'store calls/request', 'peak RSS'],
      summaryRows,
    ),
  );

  const errors = [...results.values()].flat().reduce((n, c) => n + c.errors, 0);
  if (errors > 0) console.log(`\nWARNING: ${errors} requests failed during the measured cells.`);
  console.log(`\nload average ${loadAtStart.toFixed(2)} at start, ${loadAtEnd.toFixed(2)} at the end of the load cells; bench took ${((Date.now() - startedAt) / 1000).toFixed(0)} s`);
}

process.once('SIGINT', () => void stopChildren().finally(() => process.exit(130)));
main()
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopChildren());

/** The console build's gzipped size from its manifest; NaN when it was not built. */
function consoleGzipBytes(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { gzipBytes: number }).gzipBytes;
  } catch {
    return NaN;
  }
}
