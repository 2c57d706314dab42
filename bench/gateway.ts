/**
 * `npm run bench`: what the gateway costs on the warm path, on loopback, in one run (~45 s).
 *
 * Processes (so that no two parts share an event loop):
 *   - this process: the load generator (undici Pool, closed loop) and the in-process measurements;
 *   - upstream: an SDK-built MCP server, Streamable HTTP, JSON responses, stateful (upstream-server.ts);
 *   - store: dynalite, standing in for DynamoDB as a separate service (store-server.ts);
 *   - gateway: `serve()` as `plexmcp serve` runs it, using the store child (gateway-server.ts).
 *
 * Both sides get the same client and session handling: initialize once, then `tools/call echo`
 * with the session id (the upstream's, or the gateway's sealed one plus the API key).
 *
 * Measures and prints:
 *   1. tools/call p50/p99 latency at concurrency 1 and throughput at concurrency 16, direct and
 *      through the gateway, and their ratios;
 *   2. ApiKeyAuthenticator.authenticate on a cache hit vs a cold Argon2id verify (in-process);
 *   3. store round trips per warm tools/call, counted on the SDK client's middleware stack of an
 *      in-process gateway (and, as a cross-check, at the store during the load run);
 *   4. the store round trip itself (the per-minute counter's UpdateItem) and whether
 *      "p50 overhead ≤ one store round trip + 1 ms" and "throughput ≥ 70 % of direct" hold.
 *
 * Environment: BENCH_SECONDS (per measured phase, default 5), BENCH_WARMUP_SECONDS (default 2),
 * BENCH_CONCURRENCY (default 16), BENCH_CPU_PROF=<dir> (CPU profiles of the gateway child over its
 * measured phases: <dir>/gateway-c1.cpuprofile and gateway-c16.cpuprofile).
 * Targets are reported, never asserted: the bench exits 0 unless it could not run.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LATEST_PROTOCOL_VERSION } from '@modelcontextprotocol/sdk/types.js';
import { ensureCountersTable } from '../lambda/adapters/dynamodb-counters';
import { SignedDynamoDbCounters } from '../lambda/adapters/signed-dynamodb-counters';
import { DynamoDbRegistryStore, ensureRegistryTable } from '../lambda/adapters/dynamodb-registry-store';
import { systemResolver } from '../lambda/adapters/dns-resolver';
import { createGatewayRuntime } from '../lambda/adapters/gateway-runtime';
import { LocalKeyFileProvider } from '../lambda/adapters/local-key-file';
import { CreateKeySchema, CreateMcpSchema } from '../lambda/core/admin/schemas';
import { ApiKeyAuthenticator, generateApiKey, VerifiedKeyCache, type KeyLookup } from '../lambda/core/api-keys';
import { EnvelopeCipher } from '../lambda/core/envelope';
import type { StoredApiKey } from '../lambda/core/model';
import { RegistryService } from '../lambda/core/registry-service';
import { localDynamoDbClient } from '../lambda/local/dynamodb-engine';
import { startChild, stopChildren } from './children';
import { callOnce, echoCall, MCP_HEADERS, poolFor, runLoad, summarize, type LoadResult, type McpTarget } from './load';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 2);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
/** How long the `work` tool of the realistic-tool phase takes. */
const WORK_MS = Number(process.env.BENCH_WORK_MS ?? 20);
const CPU_PROF_DIR = process.env.BENCH_CPU_PROF;
const SLUG = 'echo';

// ---------------------------------------------------------------- child processes

function start<T>(file: string, env: Record<string, string> = {}, execArgv: string[] = []): Promise<{ child: ChildProcess; ready: T }> {
  return startChild<T>(resolve(__dirname, file), file, { env, execArgv });
}

interface ChildStats {
  readonly cpu: NodeJS.CpuUsage;
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

const PROCESSES = ['client', 'upstream', 'gateway', 'store'] as const;
type ProcessName = (typeof PROCESSES)[number];
type Snapshot = Record<ProcessName, ChildStats>;

/** A measured phase: its load result plus each process's CPU time and the store's served calls during it. */
interface Phase extends LoadResult {
  readonly cpuMs: Record<ProcessName, number>;
  readonly storeCalls: Record<string, number>;
}

async function snapshot(procs: Record<Exclude<ProcessName, 'client'>, ChildProcess>): Promise<Snapshot> {
  const [upstream, gateway, store] = await Promise.all([childStats(procs.upstream), childStats(procs.gateway), childStats(procs.store)]);
  return { client: { cpu: process.cpuUsage() }, upstream, gateway, store };
}

async function measured(procs: Record<Exclude<ProcessName, 'client'>, ChildProcess>, run: () => Promise<LoadResult>): Promise<Phase> {
  const before = await snapshot(procs);
  const result = await run();
  const after = await snapshot(procs);
  const cpuMs = Object.fromEntries(
    PROCESSES.map((name) => [name, (after[name].cpu.user + after[name].cpu.system - before[name].cpu.user - before[name].cpu.system) / 1000]),
  ) as Record<ProcessName, number>;
  const storeCalls: Record<string, number> = {};
  for (const [op, n] of Object.entries(after.store.counts ?? {})) {
    const delta = n - (before.store.counts?.[op] ?? 0);
    if (delta > 0) storeCalls[op] = delta;
  }
  return { ...result, cpuMs, storeCalls };
}

/** With BENCH_CPU_PROF, a CPU profile of the gateway child over `run` only, as <dir>/<name>.cpuprofile. */
async function profiled<T>(gateway: ChildProcess, name: string, run: () => Promise<T>): Promise<T> {
  if (!CPU_PROF_DIR) return run();
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

/** initialize + notifications/initialized; returns the headers the session's calls carry. */
async function openSession(url: string, extra: Record<string, string>): Promise<Record<string, string>> {
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
  if (init.status !== 200 || !sessionId) throw new Error(`initialize at ${url} -> ${init.status} ${text}`);
  const protocolVersion = (JSON.parse(text) as { result: { protocolVersion: string } }).result.protocolVersion;
  const headers = { ...extra, 'mcp-session-id': sessionId, 'mcp-protocol-version': protocolVersion };
  const initialized = await fetch(url, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body: JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }) });
  await initialized.text();
  if (initialized.status !== 202) throw new Error(`notifications/initialized at ${url} -> ${initialized.status}`);
  return headers;
}

function target(name: string, url: string, headers: Record<string, string>): McpTarget {
  const { origin, pathname } = new URL(url);
  return { name, origin, path: pathname, headers };
}

// ---------------------------------------------------------------- provisioning

async function provisionServed(adminUrl: string, operatorToken: string, upstreamUrl: string): Promise<string> {
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
  // Enterprise plan and a high per-key limit: the bench measures the checks, not refusals.
  const org = await admin<{ orgId: string }>('/orgs', { name: 'bench', plan: 'enterprise' });
  await admin(`/orgs/${org.orgId}/mcps`, { slug: SLUG, endpoints: [{ url: upstreamUrl }] });
  const key = await admin<{ secret: string }>(`/orgs/${org.orgId}/keys`, { name: 'bench', role: 'member', scopes: { mcps: [SLUG], tools: {} }, rateLimitPerMinute: 1_000_000 });
  return key.secret;
}

// ---------------------------------------------------------------- 2. authentication

async function measureAuth(): Promise<{ warm: { p50: number; p99: number }; cold: { p50: number; p99: number }; warmN: number; coldN: number }> {
  const generated = await generateApiKey();
  const at = new Date().toISOString();
  const record: StoredApiKey = {
    keyId: generated.keyId,
    orgId: 'org_bench',
    name: 'bench',
    role: 'member',
    scopes: { mcps: '*', tools: {} },
    createdAt: at,
    lastUsedAt: at,
    secretHash: generated.secretHash,
  };
  // In-memory store: the figures are the authenticator's own cost, not a store read.
  const store: KeyLookup = { getKey: async (id) => (id === record.keyId ? record : undefined), touchKey: async () => undefined };
  const options = { defer: () => undefined }; // as the gateway runtime: lastUsedAt off the request path

  const coldN = 10;
  const cold: number[] = [];
  for (let i = 0; i < coldN + 1; i++) {
    const authenticator = new ApiKeyAuthenticator(store, { ...options, cache: new VerifiedKeyCache() });
    const t0 = performance.now();
    await authenticator.authenticate(generated.fullKey);
    if (i > 0) cold.push(performance.now() - t0); // the first also warms up argon2
  }

  const warmN = 20_000;
  const authenticator = new ApiKeyAuthenticator(store, { ...options, cache: new VerifiedKeyCache() });
  await authenticator.authenticate(generated.fullKey);
  for (let i = 0; i < 2_000; i++) await authenticator.authenticate(generated.fullKey);
  const warm: number[] = [];
  for (let i = 0; i < warmN; i++) {
    const t0 = performance.now();
    await authenticator.authenticate(generated.fullKey);
    warm.push(performance.now() - t0);
  }
  return { warm: summarize(warm), cold: summarize(cold), warmN, coldN };
}

// ---------------------------------------------------------------- 3. store calls per request

type CallKind = 'rate-limit counter UpdateItem' | 'quota flush UpdateItem' | 'lastUsedAt UpdateItem' | 'registry read' | 'other';

/**
 * Counts every HTTP request the SDK client sends (per attempt: the deserialize step runs inside
 * the retry loop), by kind; `log` also gets each call as "Operation table-key-shape".
 */
function countStoreCalls(client: DynamoDBClient, countersTable: string, log: string[]): Map<CallKind, number> {
  const counts = new Map<CallKind, number>();
  client.middlewareStack.add(
    (next) => async (args) => {
      const request = (args as { request?: { headers?: Record<string, string>; body?: unknown } }).request;
      const operation = String(request?.headers?.['x-amz-target'] ?? '').split('.').pop();
      let input: { TableName?: string; Key?: Record<string, { S?: string }> } = {};
      try {
        const body = request?.body;
        input = JSON.parse(body instanceof Uint8Array ? new TextDecoder().decode(body) : String(body ?? '{}'));
      } catch {
        // not JSON: counted as other
      }
      // Key values without ids: "rpm#<key>#<minute>" -> "rpm", "ORG#<id>" + "MCP#echo" -> "ORG/MCP#echo".
      const shape = Object.values(input.Key ?? {})
        .map((v, i) => (i === 0 ? String(v.S).split('#')[0] : String(v.S)))
        .join('/');
      log.push(`${operation} ${shape}`.trim());
      let kind: CallKind = 'other';
      if (operation === 'UpdateItem' && input.TableName === countersTable) kind = shape === 'rpm' ? 'rate-limit counter UpdateItem' : 'quota flush UpdateItem';
      else if (operation === 'UpdateItem') kind = 'lastUsedAt UpdateItem';
      else if (operation === 'GetItem' || operation === 'Query' || operation === 'BatchGetItem') kind = 'registry read';
      counts.set(kind, (counts.get(kind) ?? 0) + 1);
      return next(args);
    },
    { step: 'deserialize', name: 'benchStoreCallCounter' },
  );
  return counts;
}

/**
 * The counter writes bypass the SDK client (SignedDynamoDbCounters), so they are counted on that
 * class instead: each method call is exactly one UpdateItem request.
 */
function countSignedCounterCalls(counts: Map<CallKind, number>, log: string[]): void {
  const proto = SignedDynamoDbCounters.prototype;
  const incrementBelow = proto.incrementBelow;
  const add = proto.add;
  const count = (kind: CallKind, shape: string) => {
    log.push(`UpdateItem ${shape}`);
    counts.set(kind, (counts.get(kind) ?? 0) + 1);
  };
  proto.incrementBelow = function (...args) {
    count('rate-limit counter UpdateItem', 'rpm');
    return incrementBelow.apply(this, args);
  };
  proto.add = function (...args) {
    count('quota flush UpdateItem', 'quota');
    return add.apply(this, args);
  };
}

async function measureStoreCalls(storeUrl: string, upstreamUrl: string) {
  const registryTable = 'bench-inprocess-registry';
  const countersTable = 'bench-inprocess-counters';
  const client = localDynamoDbClient(storeUrl);
  const dir = mkdtempSync(join(tmpdir(), 'plexmcp-bench-inproc-'));
  try {
    await ensureRegistryTable(client, registryTable);
    await ensureCountersTable(client, countersTable);
    const dataKeys = LocalKeyFileProvider.fromFile(join(dir, 'master.key'));
    const service = new RegistryService({
      store: new DynamoDbRegistryStore(client, registryTable),
      cipher: new EnvelopeCipher(dataKeys),
      urlPolicy: { allowLoopback: true, resolve: systemResolver },
    });
    const { item: org } = await service.createOrg({ name: 'bench', plan: 'enterprise', ipAllowlist: [] });
    await service.createMcp(org.orgId, CreateMcpSchema.parse({ slug: SLUG, endpoints: [{ url: upstreamUrl }] }));
    const { secret } = await service.createKey(org.orgId, CreateKeySchema.parse({ name: 'bench', scopes: { mcps: [SLUG], tools: {} }, rateLimitPerMinute: 1_000_000 }));

    const runtime = await createGatewayRuntime({
      dynamodb: client,
      registryTable,
      countersTable,
      dataKeys,
      allowLoopback: true,
      region: 'bench',
      usage: () => undefined,
    });
    const log: string[] = [];
    const counts = countStoreCalls(client, countersTable, log);
    countSignedCounterCalls(counts, log);
    const total = () => [...counts.values()].reduce((a, b) => a + b, 0);
    let requestNo = 0;
    const post = async (body: string, headers: Record<string, string>) => {
      const request = new Request(`http://127.0.0.1/mcp/${SLUG}`, { method: 'POST', headers: { ...MCP_HEADERS, ...headers }, body });
      const response = await runtime.handle(request, { slug: SLUG, sourceIp: '127.0.0.1', requestId: `bench-${requestNo++}` });
      return { response, text: await response.text() };
    };
    const auth = { authorization: `Bearer ${secret}` };
    const init = await post(
      JSON.stringify({ jsonrpc: '2.0', id: 0, method: 'initialize', params: { protocolVersion: LATEST_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'plexmcp-bench', version: '1.0.0' } } }),
      auth,
    );
    await runtime.drain();
    const coldCalls = [...log];
    const session = {
      ...auth,
      'mcp-session-id': init.response.headers.get('mcp-session-id')!,
      'mcp-protocol-version': (JSON.parse(init.text) as { result: { protocolVersion: string } }).result.protocolVersion,
    };
    await post(JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), session);
    for (let i = 0; i < 50; i++) await post(echoCall(), session);
    await runtime.drain();

    counts.clear();
    const n = 1_000;
    const perRequest: number[] = [];
    for (let i = 0; i < n; i++) {
      const before = total();
      const { response, text } = await post(echoCall(), session);
      if (response.status !== 200 || !text.includes('hello plexmcp')) throw new Error(`in-process tools/call -> ${response.status} ${text}`);
      perRequest.push(total() - before);
    }
    await runtime.drain();
    const byKind = Object.fromEntries(counts) as Partial<Record<CallKind, number>>;
    await runtime.close();
    const histogram = new Map<number, number>();
    for (const k of perRequest) histogram.set(k, (histogram.get(k) ?? 0) + 1);
    return { n, byKind, coldCalls, histogram: [...histogram].sort((a, b) => a[0] - b[0]) };
  } finally {
    client.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------- 4. store round trip

interface StoreRtt {
  readonly p50: number;
  readonly p99: number;
  readonly n: number;
  /** CPU per call on the calling side (the gateway's counter client) and in the store process, in ms. */
  readonly clientCpuMs: number;
  readonly storeCpuMs: number;
}

async function measureStoreRtt(storeUrl: string, storeChild: ChildProcess): Promise<StoreRtt> {
  const client = localDynamoDbClient(storeUrl);
  try {
    await ensureCountersTable(client, 'bench-rtt-counters');
    // The gateway's exact per-request call, through the same client it uses.
    const counters = await SignedDynamoDbCounters.fromClient(client, 'bench-rtt-counters');
    const expires = Math.floor(Date.now() / 1000) + 600;
    for (let i = 0; i < 200; i++) await counters.incrementBelow('rpm#bench-rtt', 1e9, expires);
    const n = 2_000;
    const samples: number[] = [];
    const storeBefore = (await childStats(storeChild)).cpu;
    const clientBefore = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await counters.incrementBelow('rpm#bench-rtt', 1e9, expires);
      samples.push(performance.now() - t0);
    }
    const clientCpu = process.cpuUsage(clientBefore);
    const storeAfter = (await childStats(storeChild)).cpu;
    const storeCpu = storeAfter.user + storeAfter.system - storeBefore.user - storeBefore.system;
    await counters.close();
    return { ...summarize(samples), n, clientCpuMs: (clientCpu.user + clientCpu.system) / 1000 / n, storeCpuMs: storeCpu / 1000 / n };
  } finally {
    client.destroy();
  }
}

// ---------------------------------------------------------------- output

const ms = (v: number) => `${v.toFixed(2)} ms`;
const us = (v: number) => `${(v * 1000).toFixed(1)} µs`;

/** A Markdown table; `align` has one letter per column, l or r (default: first left, others right). */
function table(headers: string[], rows: string[][], align = 'l' + 'r'.repeat(headers.length - 1)): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const right = (i: number) => align[i] === 'r';
  const line = (cells: string[]) => '| ' + cells.map((c, i) => (right(i) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ') + ' |';
  const rule = '|' + widths.map((w, i) => '-'.repeat(w + 1) + (right(i) ? ':' : '-')).join('|') + '|';
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

function loadRow(name: string, r: LoadResult): string[] {
  return [name, String(r.requests), String(r.errors), r.rps.toFixed(0), ms(r.p50Ms), ms(r.p99Ms), ms(r.meanMs)];
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const startedAt = Date.now();
  const cpu = cpus();
  console.log(`PlexMCP gateway benchmark — ${new Date().toISOString()}`);
  console.log(
    `node ${process.version}, ${cpu.length} vCPU (${cpu[0]?.model.trim() ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(1)} GiB, ` +
      `load average ${loadavg()[0]!.toFixed(2)} at start (other work on the machine skews every figure)`,
  );
  console.log(`phases: warm-up ${WARMUP_SECONDS} s, measured ${SECONDS} s each; latency at concurrency 1, throughput at concurrency ${CONCURRENCY}`);
  console.log('');

  const [store, upstream] = await Promise.all([start<{ url: string }>('store-server.ts'), start<{ url: string }>('upstream-server.ts')]);
  const gateway = await start<{ baseUrl: string; adminUrl: string; operatorToken: string }>('gateway-server.ts', { BENCH_DYNAMODB_ENDPOINT: store.ready.url });
  const apiKey = await provisionServed(gateway.ready.adminUrl, gateway.ready.operatorToken, upstream.ready.url);

  // ---- 1. latency and throughput, direct vs gateway
  const directUrl = upstream.ready.url;
  const gatewayUrl = `${gateway.ready.baseUrl}/mcp/${SLUG}`;
  const direct = target('direct', directUrl, await openSession(directUrl, {}));
  const viaGateway = target('gateway', gatewayUrl, await openSession(gatewayUrl, { authorization: `Bearer ${apiKey}` }));
  const directPool = poolFor(direct.origin, CONCURRENCY);
  const gatewayPool = poolFor(viaGateway.origin, CONCURRENCY);
  if (!(await callOnce(directPool, direct)) || !(await callOnce(gatewayPool, viaGateway))) throw new Error('a first tools/call failed');

  const procs = { upstream: upstream.child, gateway: gateway.child, store: store.child };
  const phase = { durationMs: SECONDS * 1000 };
  await runLoad(directPool, direct, { concurrency: CONCURRENCY, durationMs: WARMUP_SECONDS * 1000 });
  await runLoad(gatewayPool, viaGateway, { concurrency: CONCURRENCY, durationMs: WARMUP_SECONDS * 1000 });
  // Interleaved, so a slow stretch of the machine does not land on one side only.
  const directC1 = await measured(procs, () => runLoad(directPool, direct, { ...phase, concurrency: 1 }));
  const gatewayC1 = await measured(procs, () => profiled(gateway.child, 'gateway-c1', () => runLoad(gatewayPool, viaGateway, { ...phase, concurrency: 1 })));
  const directCn = await measured(procs, () => runLoad(directPool, direct, { ...phase, concurrency: CONCURRENCY }));
  const gatewayCn = await measured(procs, () => profiled(gateway.child, `gateway-c${CONCURRENCY}`, () => runLoad(gatewayPool, viaGateway, { ...phase, concurrency: CONCURRENCY })));
  // The same at c=16 with a tool that takes WORK_MS, as real tools do: what agents experience.
  const directWork = await runLoad(directPool, { ...direct, toolMs: WORK_MS }, { ...phase, concurrency: CONCURRENCY });
  const gatewayWork = await runLoad(gatewayPool, { ...viaGateway, toolMs: WORK_MS }, { ...phase, concurrency: CONCURRENCY });
  await Promise.all([directPool.close(), gatewayPool.close()]);

  // ---- 2–4. in-process measurements (no load running)
  const storeRtt = await measureStoreRtt(store.ready.url, store.child);
  const auth = await measureAuth();
  const calls = await measureStoreCalls(store.ready.url, upstream.ready.url);
  await stopChildren();

  // ---- report
  console.log(`1. tools/call (echo), initialize once then calls with the session id`);
  console.log(
    table(
      ['target', 'requests', 'errors', 'req/s', 'p50', 'p99', 'mean'],
      [
        loadRow('direct, c=1', directC1),
        loadRow('gateway, c=1', gatewayC1),
        loadRow(`direct, c=${CONCURRENCY}`, directCn),
        loadRow(`gateway, c=${CONCURRENCY}`, gatewayCn),
      ],
    ),
  );
  const overheadP50 = gatewayC1.p50Ms - directC1.p50Ms;
  const overheadP99 = gatewayC1.p99Ms - directC1.p99Ms;
  const throughputPct = (gatewayCn.rps / directCn.rps) * 100;
  console.log('');
  console.log(
    table(
      ['ratio (gateway / direct)', 'value'],
      [
        ['p50 latency, c=1', `${(gatewayC1.p50Ms / directC1.p50Ms).toFixed(2)}× (+${ms(overheadP50)})`],
        ['p99 latency, c=1', `${(gatewayC1.p99Ms / directC1.p99Ms).toFixed(2)}× (+${ms(overheadP99)})`],
        [`p50 latency, c=${CONCURRENCY}`, `${(gatewayCn.p50Ms / directCn.p50Ms).toFixed(2)}× (+${ms(gatewayCn.p50Ms - directCn.p50Ms)})`],
        [`p99 latency, c=${CONCURRENCY}`, `${(gatewayCn.p99Ms / directCn.p99Ms).toFixed(2)}× (+${ms(gatewayCn.p99Ms - directCn.p99Ms)})`],
        [`throughput, c=${CONCURRENCY}`, `${throughputPct.toFixed(0)} %`],
      ],
    ),
  );

  console.log('');
  console.log(`   CPU time per request by process (process.cpuUsage over each phase; ${cpu.length} vCPU shared by all of them):`);
  const cpuRow = (name: string, r: Phase) => {
    const n = r.requests + r.errors;
    const total = PROCESSES.reduce((sum, p) => sum + r.cpuMs[p], 0);
    return [name, ...PROCESSES.map((p) => us(r.cpuMs[p] / n)), us(total / n), `${((total / r.elapsedMs / cpu.length) * 100).toFixed(0)} %`];
  };
  console.log(
    table(
      ['phase', ...PROCESSES, 'total', 'CPU busy'],
      [cpuRow('direct, c=1', directC1), cpuRow('gateway, c=1', gatewayC1), cpuRow(`direct, c=${CONCURRENCY}`, directCn), cpuRow(`gateway, c=${CONCURRENCY}`, gatewayCn)],
    ),
  );

  console.log('');
  console.log('2. ApiKeyAuthenticator.authenticate, in-process (in-memory key store)');
  console.log(
    table(
      ['path', 'samples', 'p50', 'p99'],
      [
        ['warm: verified-key cache hit', String(auth.warmN), us(auth.warm.p50), us(auth.warm.p99)],
        ['cold: Argon2id verify (m=19 MiB, t=2, p=1)', String(auth.coldN), ms(auth.cold.p50), ms(auth.cold.p99)],
      ],
    ),
  );

  console.log('');
  console.log(`3. Store round trips per warm tools/call (in-process gateway, SDK middleware count over ${calls.n} sequential calls)`);
  const per = (kind: CallKind) => ((calls.byKind[kind] ?? 0) / calls.n).toFixed(3);
  console.log(
    table(
      ['store call', 'count', 'per request', 'when'],
      [
        ['rate-limit counter UpdateItem', String(calls.byKind['rate-limit counter UpdateItem'] ?? 0), per('rate-limit counter UpdateItem'), 'on the request path'],
        ['quota flush UpdateItem', String(calls.byKind['quota flush UpdateItem'] ?? 0), per('quota flush UpdateItem'), 'beside it, every 50 requests or 5 s'],
        ['lastUsedAt UpdateItem', String(calls.byKind['lastUsedAt UpdateItem'] ?? 0), per('lastUsedAt UpdateItem'), 'beside it, at most once a minute per key'],
        ['registry reads', String(calls.byKind['registry read'] ?? 0), per('registry read'), 'cache misses only (key, org, MCP, endpoint health)'],
        ['other', String(calls.byKind.other ?? 0), per('other'), ''],
      ],
      'lrrl',
    ),
  );
  console.log(`   store calls made while each request was in flight: ${calls.histogram.map(([k, n]) => `${k} call${k === 1 ? '' : 's'} × ${n}`).join(', ')}`);
  console.log(`   cold initialize (first request, caches empty): ${calls.coldCalls.join(', ')}`);
  const servedTotal = Object.values(gatewayCn.storeCalls).reduce((a, b) => a + b, 0);
  const attempted = gatewayCn.requests + gatewayCn.errors;
  console.log(
    `   cross-check, counted at the store during the gateway c=${CONCURRENCY} run: ${servedTotal} calls for ${attempted} requests = ` +
      `${(servedTotal / attempted).toFixed(3)} per request (${Object.entries(gatewayCn.storeCalls).map(([op, n]) => `${op} ${n}`).join(', ')})`,
  );

  console.log('');
  console.log('4. Targets');
  const overheadTarget = storeRtt.p50 + 1;
  console.log(
    table(
      ['figure', 'value', 'target', 'holds'],
      [
        [`store round trip (counter UpdateItem, dynalite), n=${storeRtt.n}`, `p50 ${ms(storeRtt.p50)}, p99 ${ms(storeRtt.p99)}`, '', ''],
        ['  of which CPU per call: gateway client / store', `${us(storeRtt.clientCpuMs)} / ${us(storeRtt.storeCpuMs)}`, '', ''],
        ['p50 overhead (gateway p50 − direct p50, c=1)', ms(overheadP50), `≤ ${ms(overheadTarget)} (RTT p50 + 1 ms)`, overheadP50 <= overheadTarget ? 'yes' : 'NO'],
        [`throughput (gateway / direct, c=${CONCURRENCY}), echo (a tool that does nothing)`, `${throughputPct.toFixed(0)} %`, '≥ 70 %', throughputPct >= 70 ? 'yes' : 'NO'],
        [
          `throughput (gateway / direct, c=${CONCURRENCY}), a ${WORK_MS} ms tool: ${gatewayWork.rps.toFixed(0)} / ${directWork.rps.toFixed(0)} req/s`,
          `${((gatewayWork.rps / directWork.rps) * 100).toFixed(0)} %`,
          '≥ 70 %',
          gatewayWork.rps / directWork.rps >= 0.7 ? 'yes' : 'NO',
        ],
      ],
      'lrrl',
    ),
  );
  const errors = directC1.errors + gatewayC1.errors + directCn.errors + gatewayCn.errors + directWork.errors + gatewayWork.errors;
  if (errors > 0) console.log(`\nWARNING: ${errors} requests failed during the load phases.`);
  console.log(`\nbench took ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
}

main()
  .catch(async (error) => {
    console.error(error);
    process.exitCode = 1;
  })
  .finally(() => stopChildren());
