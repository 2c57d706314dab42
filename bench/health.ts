/**
 * `npx tsx bench/health.ts`: can one health-check invocation (one shard) check 1,000 endpoints
 * well within its 60 s interval? Runs real MCP-level probes (`createHealthRuntime`, exactly as
 * the scheduled Lambda and `plexmcp serve` compose it) against real MCP servers on loopback, with
 * a realistic mix of fast, slow, hanging and dead endpoints, on a dynalite-backed registry.
 *
 * Processes (so that no two parts share an event loop):
 *   - this process: the health checker (probes, hysteresis, store writes) and the measurements;
 *   - upstreams (this file with BENCH_HEALTH_ROLE=upstreams): one `node:http` server per live
 *     endpoint, each on its own loopback port (a distinct origin, as distinct upstream hosts are:
 *     no connection is shared between endpoints). Each request is answered by the SDK's
 *     `StreamableHTTPServerTransport` (stateless, `enableJsonResponse: true`) and a low-level
 *     `Server` made for it, with the MCP's tool list (3-27 tools with descriptions and input
 *     schemas). Dead endpoints point at a port nothing listens on (connection refused);
 *   - store (BENCH_HEALTH_ROLE=store): dynalite on a loopback port, standing in for DynamoDB.
 *
 * Endpoint mix (seeded, so every run draws the same endpoints; each answers every JSON-RPC
 * request after its own delay, +-10 % jitter per request):
 *   - 87 %: 20-150 ms per request;
 *   - 5 % slow: 1-3 s per request (a probe makes two: initialize and tools/list);
 *   - 3 % hang: never answer (the probe runs into its deadline);
 *   - 5 % dead: connection refused.
 *
 * For each concurrency, on a fresh registry table with the endpoints registered through
 * `RegistryService`: a cold cycle (a new runtime: no state, everything written), then a warm one
 * (same runtime: only changes and heartbeats written). Prints a table and a capacity projection.
 *
 * Environment: BENCH_HEALTH_ENDPOINTS (default 1000), BENCH_HEALTH_PER_MCP (endpoints per MCP,
 * default 4), BENCH_HEALTH_CONCURRENCY (comma-separated, default 32,64,128),
 * BENCH_HEALTH_PROBE_TIMEOUT_MS (default 5000), BENCH_HEALTH_SEED (default 1), BENCH_HEALTH_CYCLES
 * (cycles per concurrency, the first cold, default 2). With `NODE_OPTIONS=--expose-gc` the table
 * also shows the heap after each cycle and a full collection (flat from cycle to cycle: no leak).
 * Figures are reported, never asserted: the bench exits 0 unless it could not run.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { cpus, loadavg, totalmem } from 'node:os';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { ListToolsRequestSchema, type Tool } from '@modelcontextprotocol/sdk/types.js';
import dynalite from 'dynalite';
import { DynamoDbRegistryStore, ensureRegistryTable } from '../lambda/adapters/dynamodb-registry-store';
import { createHealthRuntime } from '../lambda/adapters/health-runtime';
import { LocalKeyFileProvider } from '../lambda/adapters/local-key-file';
import { EnvelopeCipher } from '../lambda/core/envelope';
import type { CycleReport } from '../lambda/core/health/checker';
import type { EndpointHealth, HealthEvent } from '../lambda/core/health/model';
import { RegistryService } from '../lambda/core/registry-service';
import { localDynamoDbClient } from '../lambda/local/dynamodb-engine';
import { startChild, stopChildren } from './children';

const ENDPOINTS = Number(process.env.BENCH_HEALTH_ENDPOINTS ?? 1000);
const PER_MCP = Number(process.env.BENCH_HEALTH_PER_MCP ?? 4);
const CONCURRENCIES = (process.env.BENCH_HEALTH_CONCURRENCY ?? '32,64,128').split(',').map(Number);
const PROBE_TIMEOUT_MS = Number(process.env.BENCH_HEALTH_PROBE_TIMEOUT_MS ?? 5000);
const SEED = Number(process.env.BENCH_HEALTH_SEED ?? 1);
/** Cycles per concurrency: one cold, the rest warm. */
const CYCLES = Math.max(2, Number(process.env.BENCH_HEALTH_CYCLES ?? 2));
const INTERVAL_S = 60;
/** The checker's default concurrency (HealthCheckerDeps.concurrency). */
const DEFAULT_CONCURRENCY = 64;
/** "Well within one interval": at most half of it. */
const WELL_WITHIN_SHARE = 0.5;
/** The AWS health function's timeout (lib/health-monitor.ts): the interval minus 10 s. */
const LAMBDA_TIMEOUT_S = INTERVAL_S - 10;
/** Its Duration alarm: a cycle longer than 90 % of the timeout. */
const DURATION_ALARM_SHARE = 0.9;
/** The AWS health function's memory (lib/health-monitor.ts): 1,024 MB is about 0.58 vCPU. */
const LAMBDA_VCPU = 1024 / 1769;
const ORGS = 10;
/** With --expose-gc the heap is measured after a full collection (otherwise not shown). */
const GC_EXPOSED = typeof (globalThis as { gc?: unknown }).gc === 'function';

type Kind = 'fast' | 'slow' | 'hang' | 'dead';

interface EndpointSpec {
  readonly index: number;
  readonly kind: Kind;
  /** Per-request delay before jitter (fast and slow). */
  readonly delayMs: number;
  readonly url: string;
}

/** mulberry32: a small seeded PRNG, so that every run (and both processes) draw the same mix. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function drawMix(count: number, seed: number): { kind: Kind; delayMs: number }[] {
  const random = rng(seed);
  return Array.from({ length: count }, () => {
    const r = random();
    const kind: Kind = r < 0.05 ? 'dead' : r < 0.08 ? 'hang' : r < 0.13 ? 'slow' : 'fast';
    const delayMs = kind === 'slow' ? 1_000 + random() * 2_000 : kind === 'fast' ? 20 + random() * 130 : 0;
    return { kind, delayMs: Math.round(delayMs) };
  });
}

/** The tool list of MCP `m`: 3-27 tools, with descriptions and input schemas of realistic size. */
function toolsOf(m: number): Tool[] {
  const random = rng(SEED * 7919 + m);
  const count = 3 + Math.floor(random() * 25);
  return Array.from({ length: count }, (_, k) => ({
    name: `mcp${m}_tool_${k}`,
    description: `Tool ${k} of MCP ${m}: does one useful thing with the query and returns at most limit results. `.repeat(1 + Math.floor(random() * 3)),
    inputSchema: {
      type: 'object' as const,
      properties: {
        query: { type: 'string', description: 'What to look for' },
        limit: { type: 'integer', minimum: 1, maximum: 100, description: 'Most results returned' },
        ...(random() < 0.5 ? { cursor: { type: 'string', description: 'Where the previous page ended' } } : {}),
      },
      required: ['query'],
    },
  }));
}

// =============================================================================================
// child: upstreams
// =============================================================================================

async function runUpstreams(): Promise<void> {
  const mix = drawMix(ENDPOINTS, SEED);
  const jitter = rng(SEED + 1);
  let requests = 0;
  // Dead endpoints: a port nothing listens on. It stays reserved until every live server has its
  // own port, so that none of them gets it.
  const reservation = createNetServer();
  await new Promise<void>((resolve) => reservation.listen(0, '127.0.0.1', resolve));
  const refusedPort = (reservation.address() as AddressInfo).port;

  const toolCache = new Map<number, Tool[]>();
  const handle = async (index: number, req: IncomingMessage, res: ServerResponse): Promise<void> => {
    requests += 1;
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const spec = mix[index]!;
    let body: unknown;
    if (req.method === 'POST') {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    if (req.url !== '/mcp') {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32601, message: 'Not found' } }));
      return;
    }
    const isRequest = body !== null && typeof body === 'object' && 'id' in body && 'method' in body;
    if (spec.kind === 'hang' && isRequest) return; // never answered; the probe's deadline ends it
    if (isRequest) await new Promise((resolve) => setTimeout(resolve, spec.delayMs * (0.9 + 0.2 * jitter())));
    const m = Math.floor(index / PER_MCP);
    let tools = toolCache.get(m);
    if (!tools) toolCache.set(m, (tools = toolsOf(m)));
    const server = new Server({ name: `bench-mcp-${m}`, version: '1.0.0' }, { capabilities: { tools: {} } });
    server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools: tools! }));
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      // The exchange is over; a failure to tear down this one-request server changes nothing.
      transport.close().catch(() => undefined);
      server.close().catch(() => undefined);
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const endpoints: EndpointSpec[] = [];
  for (const [index, spec] of mix.entries()) {
    if (spec.kind === 'dead') {
      endpoints.push({ index, ...spec, url: `http://127.0.0.1:${refusedPort}/mcp/${index}` });
      continue;
    }
    const http = createServer((req, res) => {
      handle(index, req, res).catch(() => {
        if (!res.headersSent) res.writeHead(500);
        res.end();
      });
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    endpoints.push({ index, ...spec, url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` });
  }
  await new Promise<void>((resolve) => reservation.close(() => resolve()));
  process.send!({ type: 'ready', endpoints });
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), requests });
  });
}

// =============================================================================================
// child: store
// =============================================================================================

function runStore(): void {
  const counts: Record<string, number> = {};
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  server.on('request', (req) => {
    const operation = String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop()!;
    counts[operation] = (counts[operation] ?? 0) + 1;
  });
  server.keepAliveTimeout = 60_000;
  server.listen(0, '127.0.0.1', () => {
    process.send!({ type: 'ready', url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` });
  });
  process.on('message', (message: { type?: string }) => {
    if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), rss: process.memoryUsage.rss(), counts: { ...counts } });
  });
}

// =============================================================================================
// parent: the checker
// =============================================================================================

function startRole<T>(role: 'upstreams' | 'store'): Promise<{ child: ChildProcess; ready: T }> {
  return startChild<T>(__filename, role, { env: { BENCH_HEALTH_ROLE: role }, timeoutMs: 60_000, exitOnDeath: false });
}

interface ChildStats {
  readonly cpu: NodeJS.CpuUsage;
  readonly rss: number;
  readonly requests?: number;
  readonly counts?: Record<string, number>;
}

function childStats(child: ChildProcess): Promise<ChildStats> {
  return new Promise((done) => {
    child.on('message', function onStats(message: { type?: string } & ChildStats) {
      if (message.type !== 'stats') return;
      child.off('message', onStats);
      done(message);
    });
    child.send({ type: 'stats' });
  });
}

const cpuMs = (before: NodeJS.CpuUsage, after: NodeJS.CpuUsage) => (after.user + after.system - before.user - before.system) / 1000;

interface Row {
  readonly concurrency: number;
  readonly cycle: 'cold' | 'warm';
  readonly report: CycleReport;
  readonly wallS: number;
  readonly probesPerS: number;
  /** CPU time of the checker process over the cycle. */
  readonly checkerCpuMs: number;
  readonly upstreamCpuMs: number;
  readonly upstreamRequests: number;
  readonly storeCalls: Record<string, number>;
  /** Highest RSS of the checker process sampled during the cycle (every 50 ms). */
  readonly peakRssMb: number;
  /** Heap in use after the cycle and a full collection (with --expose-gc). */
  readonly heapAfterMb: number;
  readonly events: number;
}

async function main(): Promise<void> {
  const started = Date.now();
  console.log(
    `Health monitor benchmark: ${ENDPOINTS} endpoints (${ENDPOINTS / PER_MCP} MCPs x ${PER_MCP}), probe timeout ${PROBE_TIMEOUT_MS} ms, ` +
      `concurrency ${CONCURRENCIES.join(', ')}; node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, ` +
      `${Math.round(totalmem() / 2 ** 30)} GiB, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  const [{ child: upstreams, ready }, { child: store, ready: storeReady }] = await Promise.all([
    startRole<{ endpoints: EndpointSpec[] }>('upstreams'),
    startRole<{ url: string }>('store'),
  ]);
  const mix = ready.endpoints;
  const byKind = (kind: Kind) => mix.filter((e) => e.kind === kind).length;
  console.log(`Mix: ${byKind('fast')} fast (20-150 ms/request), ${byKind('slow')} slow (1-3 s/request), ${byKind('hang')} hang, ${byKind('dead')} dead (refused)`);

  const dynamodb = localDynamoDbClient(storeReady.url);
  const dataKeys = new LocalKeyFileProvider(randomBytes(32));
  const rows: Row[] = [];
  try {
    for (const concurrency of CONCURRENCIES) {
      // A fresh table: the cold cycle starts from nothing stored, as a new deployment does.
      const table = `registry-bench-${concurrency}-${Date.now()}`;
      await ensureRegistryTable(dynamodb, table);
      const service = new RegistryService({
        store: new DynamoDbRegistryStore(dynamodb, table),
        cipher: new EnvelopeCipher(dataKeys),
        urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
      });
      const registerStarted = Date.now();
      const orgs = await Promise.all(
        Array.from({ length: ORGS }, async (_, i) => (await service.createOrg({ name: `Bench org ${i}`, plan: 'pro', ipAllowlist: [] })).item.orgId),
      );
      const mcpCount = Math.ceil(mix.length / PER_MCP);
      const kindByUrl = new Map(mix.map((e) => [e.url, e.kind]));
      const kindById = new Map<string, Kind>();
      await inParallel(mcpCount, 16, async (m) => {
        const { item } = await service.createMcp(orgs[m % ORGS]!, {
          slug: `mcp-${m}`,
          endpoints: mix.slice(m * PER_MCP, (m + 1) * PER_MCP).map((e) => ({ url: e.url, weight: 100 })),
          upstreamAuth: { type: 'none' },
          toolPolicy: { allow: [], deny: [] },
          timeouts: {},
        });
        for (const endpoint of item.endpoints) kindById.set(endpoint.id, kindByUrl.get(endpoint.url)!);
      });
      console.log(`\nconcurrency ${concurrency}: registered ${mcpCount} MCPs / ${mix.length} endpoints in ${((Date.now() - registerStarted) / 1000).toFixed(1)} s`);

      let events = 0;
      const states = new Map<string, EndpointHealth>();
      const runtime = createHealthRuntime({
        dynamodb,
        registryTable: table,
        dataKeys,
        events: { publish: async (batch: HealthEvent[]) => void (events += batch.length) },
        allowLoopback: true,
        region: 'bench',
        probeTimeoutMs: PROBE_TIMEOUT_MS,
        concurrency,
        onState: (state) => void states.set(state.endpointId, state),
      });
      try {
        for (let n = 0; n < CYCLES; n++) {
          const cycle = n === 0 ? 'cold' : 'warm';
          const row = await measureCycle(concurrency, cycle, () => runtime.checker.runCycle(), upstreams, store, () => {
            const n = events;
            events = 0;
            return n;
          });
          rows.push(row);
          printRow(row, statusesByKind(states, kindById));
        }
      } finally {
        await runtime.close();
      }
    }
  } finally {
    dynamodb.destroy();
    await stopChildren();
  }

  printSummary(rows);
  console.log(`\nTotal bench time ${((Date.now() - started) / 1000).toFixed(0)} s.`);
}

async function measureCycle(
  concurrency: number,
  cycle: 'cold' | 'warm',
  run: () => Promise<CycleReport>,
  upstreams: ChildProcess,
  store: ChildProcess,
  takeEvents: () => number,
): Promise<Row> {
  const [upBefore, storeBefore] = await Promise.all([childStats(upstreams), childStats(store)]);
  const cpuBefore = process.cpuUsage();
  let peakRss = process.memoryUsage.rss();
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 50);
  const t0 = performance.now();
  let report: CycleReport;
  try {
    report = await run();
  } finally {
    clearInterval(sampler);
  }
  const wallS = (performance.now() - t0) / 1000;
  peakRss = Math.max(peakRss, process.memoryUsage.rss());
  const cpuAfter = process.cpuUsage();
  const [upAfter, storeAfter] = await Promise.all([childStats(upstreams), childStats(store)]);
  if (GC_EXPOSED) (globalThis as unknown as { gc: () => void }).gc();
  const heapAfterMb = process.memoryUsage().heapUsed / 2 ** 20;
  const storeCalls: Record<string, number> = {};
  for (const [op, n] of Object.entries(storeAfter.counts ?? {})) {
    const delta = n - (storeBefore.counts?.[op] ?? 0);
    if (delta > 0) storeCalls[op] = delta;
  }
  return {
    concurrency,
    cycle,
    report,
    wallS,
    probesPerS: report.endpoints / wallS,
    checkerCpuMs: cpuMs(cpuBefore, cpuAfter),
    upstreamCpuMs: cpuMs(upBefore.cpu, upAfter.cpu),
    upstreamRequests: (upAfter.requests ?? 0) - (upBefore.requests ?? 0),
    storeCalls,
    peakRssMb: peakRss / 2 ** 20,
    heapAfterMb,
    events: takeEvents(),
  };
}

/** Per kind of endpoint: its statuses and error classes after the cycle, e.g. `hang: unhealthy 34 (timeout 34)`. */
function statusesByKind(states: ReadonlyMap<string, EndpointHealth>, kindById: ReadonlyMap<string, Kind>): string {
  const kinds: Kind[] = ['fast', 'slow', 'hang', 'dead'];
  return kinds
    .map((kind) => {
      const of = [...states.values()].filter((state) => kindById.get(state.endpointId) === kind);
      const statuses = (['healthy', 'degraded', 'unhealthy'] as const).map((status) => [status, of.filter((x) => x.status === status).length] as const).filter(([, n]) => n > 0);
      const errors = new Map<string, number>();
      for (const state of of) if (state.errorClass) errors.set(state.errorClass, (errors.get(state.errorClass) ?? 0) + 1);
      const errorText = errors.size > 0 ? ` (${[...errors].map(([c, n]) => `${c} ${n}`).join(', ')})` : '';
      return `${kind}: ${statuses.map(([status, n]) => `${status} ${n}`).join(', ')}${errorText}`;
    })
    .join('; ');
}

function printRow(row: Row, kinds: string): void {
  const r = row.report;
  const calls = Object.entries(row.storeCalls)
    .map(([op, n]) => `${op} ${n}`)
    .join(', ');
  console.log(
    `  ${row.cycle}: ${row.wallS.toFixed(1)} s, healthy ${r.statusCounts.healthy} / degraded ${r.statusCounts.degraded} / unhealthy ${r.statusCounts.unhealthy}, ` +
      `writes ${r.writes} (transitions ${r.transitions}), events ${row.events}, failures ${r.failures}, ` +
      `checker CPU ${(row.checkerCpuMs / 1000).toFixed(1)} s, upstream CPU ${(row.upstreamCpuMs / 1000).toFixed(1)} s for ${row.upstreamRequests} requests; store calls: ${calls}`,
  );
  console.log(`    by kind: ${kinds}`);
}

function printSummary(rows: Row[]): void {
  const header = ['concurrency', 'cycle', 'endpoints', 'duration s', 'healthy', 'degraded', 'unhealthy', 'writes', 'probes/s', 'checker CPU s', 'CPU ms/probe', 'peak RSS MB', 'heap after MB'];
  const table = rows.map((row) => [
    String(row.concurrency),
    row.cycle,
    String(row.report.endpoints),
    row.wallS.toFixed(1),
    String(row.report.statusCounts.healthy),
    String(row.report.statusCounts.degraded),
    String(row.report.statusCounts.unhealthy),
    String(row.report.writes),
    row.probesPerS.toFixed(0),
    (row.checkerCpuMs / 1000).toFixed(1),
    (row.checkerCpuMs / row.report.endpoints).toFixed(2),
    row.peakRssMb.toFixed(0),
    GC_EXPOSED ? row.heapAfterMb.toFixed(0) : '-',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...table.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log('\n' + line(header));
  console.log(`|${widths.map((w, i) => (i < 2 ? `:${'-'.repeat(w + 1)}` : `${'-'.repeat(w + 1)}:`)).join('|')}|`);
  for (const cells of table) console.log(line(cells));

  // Linear in the warm cycle's rate, which includes the cycle's tail (the last probes running
  // into their deadline): conservative for more endpoints than measured.
  console.log(
    `\nCapacity per invocation (one shard), ${INTERVAL_S} s interval: the function's timeout is ${LAMBDA_TIMEOUT_S} s (interval - 10 s), ` +
      `its Duration alarm fires at ${Math.round(LAMBDA_TIMEOUT_S * DURATION_ALARM_SHARE)} s; "well within" is <= ${INTERVAL_S * WELL_WITHIN_SHARE} s:`,
  );
  const lastWarm = CONCURRENCIES.map((c) => rows.filter((r) => r.cycle === 'warm' && r.concurrency === c).at(-1)).filter((r): r is Row => r !== undefined);
  for (const row of lastWarm) {
    const within = (seconds: number) => Math.floor(row.probesPerS * seconds);
    const cpuPerProbeS = row.checkerCpuMs / 1000 / row.report.endpoints;
    // The checker is one event loop; a 1,024 MB Lambda gets ~0.58 vCPU.
    const byLambdaCpu = Math.floor((LAMBDA_TIMEOUT_S * LAMBDA_VCPU) / cpuPerProbeS);
    console.log(
      `  concurrency ${String(row.concurrency).padStart(3)}: ${row.report.endpoints} endpoints in ${row.wallS.toFixed(1)} s ` +
        `(${((row.wallS / INTERVAL_S) * 100).toFixed(0)} % of the interval), ${row.probesPerS.toFixed(0)} probes/s -> ` +
        `~${within(INTERVAL_S * WELL_WITHIN_SHARE)} endpoints in ${INTERVAL_S * WELL_WITHIN_SHARE} s, ~${within(LAMBDA_TIMEOUT_S * DURATION_ALARM_SHARE)} before the alarm, ` +
        `~${within(LAMBDA_TIMEOUT_S)} before the timeout; CPU ${(cpuPerProbeS * 1000).toFixed(2)} ms/probe -> ` +
        `~${byLambdaCpu} probes per ${LAMBDA_TIMEOUT_S} s on ${LAMBDA_VCPU.toFixed(2)} vCPU${byLambdaCpu < within(LAMBDA_TIMEOUT_S) ? ' (CPU-bound there)' : ''}`,
    );
  }
  const defaultRow = lastWarm.find((r) => r.concurrency === DEFAULT_CONCURRENCY);
  if (defaultRow) {
    const ok = defaultRow.wallS <= INTERVAL_S * WELL_WITHIN_SHARE;
    console.log(
      `\nDefault concurrency ${DEFAULT_CONCURRENCY}: ${ok ? 'checks' : 'does NOT check'} ${defaultRow.report.endpoints} endpoints well within one ${INTERVAL_S} s interval ` +
        `(${defaultRow.wallS.toFixed(1)} s; target <= ${INTERVAL_S * WELL_WITHIN_SHARE} s).`,
    );
  }
}

/** Runs `task(0..count-1)` with at most `size` at a time. */
async function inParallel(count: number, size: number, task: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(size, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
}

const role = process.env.BENCH_HEALTH_ROLE;
if (role === 'upstreams' || role === 'store') {
  process.on('disconnect', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
  if (role === 'store') runStore();
  else
    runUpstreams().catch((error: unknown) => {
      console.error(error);
      process.exit(1);
    });
} else {
  main().catch(async (error: unknown) => {
    console.error(error);
    await stopChildren();
    process.exit(1);
  });
}
