/**
 * `npm run bench:cold`: the size and the cold init of each bundled Lambda function (gateway,
 * admin, health), this working tree side by side with the bundles of a base commit (default
 * fcaa7c1, before issue 8's bundle work), in one run.
 *
 * Bundles: this tree's are built with `esbuildOptionsFor` (lib/lambda-defaults.ts), the options
 * `cdk synth` passes to esbuild (test/lib/lambda-defaults checks that the two builds are byte for
 * byte the same); the base commit's sources come from `git archive` and are built with the
 * options that commit's lib/lambda-defaults.ts passed (OLD_BUNDLING below), against this tree's
 * node_modules. Each bundle sits in its own folder with node_modules/argon2 beside it, as in the
 * asset.
 *
 * What is timed, in a fresh `node` process per run (the Lambda environment: NODE_OPTIONS as
 * each tree's PlexFunction sets it, AWS endpoints pointed at local stand-ins; no tsx, no jest):
 *   - require: `require('<bundle>/index.js')` — module evaluation, the Lambda init phase;
 *   - first: the first invocation of the exported handler, to the end of its answer:
 *       gateway: an MCP `initialize` through a streamifyResponse stand-in (as
 *         test/support/streamify-harness.ts), timed to the response stream's end. It does
 *         everything a cold instance's first request does: runtime creation (session key from
 *         the registry, decrypted with KMS), the key read and its Argon2id verification, org and
 *         MCP reads, the rate-limit counter write, the health status read, the upstream
 *         credential's decryption, and the proxied call to an MCP SDK server (JSON answer);
 *       admin: `GET /admin/v1/orgs/{orgId}/mcps` with the operator token (its Secrets Manager
 *         read, a registry query), timed to the handler's result;
 *       health: one cycle over one MCP (`runShard`). The function runs in AWS mode, where the
 *         probe refuses the loopback endpoint before any network call: the cycle's store reads
 *         and writes are timed, an upstream's answer is not.
 * One discarded run per variant first (it creates the session key; it loads the files into the
 * page cache), then COLD_INIT_RUNS rounds (default 7), variants interleaved in each round; the
 * table shows medians. DynamoDB is dynalite in this process, KMS and Secrets Manager the
 * loopback fake of test/support/fake-aws-json.ts, EventBridge a loopback stub, the upstream an
 * MCP SDK server — all in this process, which is idle while a child runs. Each tree has its own
 * tables, seeded by this tree's RegistryService. Figures are reported, never asserted: the bench
 * exits 0 unless it could not run; a variant that fails says so in the table.
 *
 * Environment: COLD_INIT_RUNS (default 7), COLD_INIT_BASE (the base commit, default fcaa7c1;
 * `none` skips it), COLD_INIT_CPU_PROF (a folder: a V8 CPU profile of every measured child, one
 * subfolder per variant; profiling slows what it measures).
 */
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { gzipSync } from 'node:zlib';
import { KMSClient } from '@aws-sdk/client-kms';
import * as esbuild from 'esbuild';
import { ensureCountersTable } from '../lambda/adapters/dynamodb-counters';
import { DynamoDbRegistryStore, ensureRegistryTable } from '../lambda/adapters/dynamodb-registry-store';
import { KmsDataKeyProvider } from '../lambda/adapters/kms-data-keys';
import { EnvelopeCipher } from '../lambda/core/envelope';
import { RegistryService } from '../lambda/core/registry-service';
import { startEmbeddedDynamoDb } from '../lambda/local/dynamodb-engine';
import { esbuildOptionsFor, PROJECT_ROOT } from '../lib/lambda-defaults';
import { startSdkUpstream } from '../test/e2e/upstreams';
import { startFakeKmsAndSecrets } from '../test/support/fake-aws-json';

export const FUNCTIONS = ['gateway', 'admin', 'health'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

/** The bundling options of lib/lambda-defaults.ts before issue 8 (fcaa7c1 up to 5894cf8): what NodejsFunction got then. */
const OLD_BUNDLING = { bundle: true, platform: 'node', target: 'node22', format: 'cjs', minify: true, sourcemap: true, sourcesContent: false, external: ['argon2'] as string[] } as const;

const KEY_ARN = 'arn:aws:kms:us-east-1:111111111111:key/mrk-cold-init';
const OPERATOR_SECRET = 'plexmcp/cold-init-operator';
const OPERATOR_TOKEN = 'cold-init-operator-token-0123456789abcdef';
const UPSTREAM_TOKEN = 'cold-init-upstream-token';
const MARK = 'COLD_INIT_RESULT ';
const CHILD_TIMEOUT_MS = 60_000;

export interface BundleSize {
  readonly minified: number;
  readonly gzip: number;
  readonly map: number;
}

export interface ColdInitRow {
  readonly fn: FunctionName;
  /** 'base' (the base commit) or 'tree' (this working tree). */
  readonly tree: 'base' | 'tree';
  readonly sourceMaps: boolean;
  readonly size: BundleSize;
  /** Medians in ms, wall clock and CPU (user + system, all threads); undefined when the variant failed (see `failure`). */
  readonly requireMs?: number;
  readonly firstMs?: number;
  readonly totalMs?: number;
  readonly requireCpuMs?: number;
  readonly firstCpuMs?: number;
  readonly totalCpuMs?: number;
  /** Node.js's own start, to the first line of the child script (the same for every bundle). */
  readonly bootMs?: number;
  readonly runs: number;
  readonly failure?: string;
}

/**
 * The child: plain CommonJS run by plain `node`, so that nothing but the bundle is loaded and
 * timed. argv: bundle path, function name, the event as JSON.
 */
const CHILD = `'use strict';
const booted = performance.now();
const { PassThrough } = require('node:stream');
const [bundle, fn, eventJson] = process.argv.slice(2);
const event = JSON.parse(eventJson);
// The Lambda runtime's response streaming, as test/support/streamify-harness.ts stands in for it.
globalThis.awslambda = {
  streamifyResponse: (handler) => handler,
  HttpResponseStream: { from(stream, metadata) { stream.write(JSON.stringify(metadata)); stream.write(Buffer.alloc(8)); return stream; } },
};
const context = { awsRequestId: 'cold-init', getRemainingTimeInMillis: () => 29000 };
const t0 = performance.now();
const c0 = process.cpuUsage();
const mod = require(bundle);
const t1 = performance.now();
const c1 = process.cpuUsage();
const cpuMs = (from, to) => (to.user - from.user + to.system - from.system) / 1000;
async function first() {
  if (fn === 'gateway') {
    const stream = new PassThrough();
    const parts = [];
    stream.on('data', (d) => parts.push(d));
    const ended = new Promise((resolve) => stream.on('end', () => resolve(performance.now())));
    const done = mod.handler(event, stream, context);
    const at = await ended;
    const cpu = process.cpuUsage();
    await done;
    const all = Buffer.concat(parts);
    const prelude = JSON.parse(all.subarray(0, all.indexOf(Buffer.alloc(8))).toString('utf8'));
    // A failure's stable error code (never its message), for the table.
    const code = prelude.statusCode >= 400 ? (all.subarray(all.indexOf(Buffer.alloc(8)) + 8).toString('utf8').match(/"code":"([a-z_]+)"/) || [])[1] : undefined;
    return { at, cpu, status: prelude.statusCode, code };
  }
  const result = await mod.handler(event, context);
  const at = performance.now();
  const cpu = process.cpuUsage();
  if (fn === 'admin') return { at, cpu, status: result.statusCode };
  return { at, cpu, status: result && result.endpoints === 1 ? 200 : 500 };
}
first().then(
  ({ at, cpu, status, code }) => {
    const timings = { booted, require: t1 - t0, first: at - t1, requireCpu: cpuMs(c0, c1), firstCpu: cpuMs(c1, cpu) };
    process.stdout.write('\\n${MARK}' + JSON.stringify({ ...timings, status, code }) + '\\n');
    process.exit(0);
  },
  (error) => {
    process.stdout.write('\\n${MARK}' + JSON.stringify({ error: String(error && error.name) }) + '\\n');
    process.exit(1);
  },
);
`;

interface Built {
  readonly dir: string;
  readonly size: BundleSize;
}

function sizeOf(dir: string): BundleSize {
  const code = readFileSync(join(dir, 'index.js'));
  return { minified: code.length, gzip: gzipSync(code, { level: 9 }).length, map: statSync(join(dir, 'index.js.map')).size };
}

/** node_modules/argon2 beside the bundle, as CDK installs it into the asset. */
function linkArgon2(dir: string): void {
  mkdirSync(join(dir, 'node_modules'), { recursive: true });
  symlinkSync(join(PROJECT_ROOT, 'node_modules', 'argon2'), join(dir, 'node_modules', 'argon2'), 'dir');
}

async function buildTree(work: string): Promise<Record<FunctionName, Built>> {
  const out = {} as Record<FunctionName, Built>;
  for (const fn of FUNCTIONS) {
    const dir = join(work, 'tree', fn);
    await esbuild.build({ ...esbuildOptionsFor(join(PROJECT_ROOT, 'lambda', fn, 'handler.ts'), join(dir, 'index.js')), logLevel: 'error' });
    linkArgon2(dir);
    out[fn] = { dir, size: sizeOf(dir) };
  }
  return out;
}

/** The base commit's sources (git archive: no worktree, nothing changes in the repository). */
async function buildBase(work: string, commit: string): Promise<Record<FunctionName, Built>> {
  const src = join(work, 'base-src');
  mkdirSync(src, { recursive: true });
  const archive = execFileSync('git', ['-C', PROJECT_ROOT, 'archive', '--format=tar', commit, 'lambda', 'tsconfig.json', 'package.json'], { maxBuffer: 64 * 1024 * 1024 });
  execFileSync('tar', ['-x', '-C', src], { input: archive });
  symlinkSync(join(PROJECT_ROOT, 'node_modules'), join(src, 'node_modules'), 'dir');
  const out = {} as Record<FunctionName, Built>;
  for (const fn of FUNCTIONS) {
    const dir = join(work, 'base', fn);
    await esbuild.build({ ...OLD_BUNDLING, entryPoints: [join(src, 'lambda', fn, 'handler.ts')], outfile: join(dir, 'index.js'), logLevel: 'error' });
    linkArgon2(dir);
    out[fn] = { dir, size: sizeOf(dir) };
  }
  return out;
}

/** EventBridge PutEvents, accepted (the health function publishes status changes). */
async function startEventBridgeStub(): Promise<{ endpoint: string; server: Server }> {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/x-amz-json-1.1' });
      res.end(JSON.stringify({ FailedEntryCount: 0, Entries: [{ EventId: 'cold-init' }] }));
    });
  });
  await new Promise<void>((resolvePromise) => server.listen(0, '127.0.0.1', resolvePromise));
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

interface Seeded {
  readonly registryTable: string;
  readonly countersTable: string;
  readonly orgId: string;
  readonly apiKey: string;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

interface ChildResult {
  readonly require: number;
  readonly first: number;
  readonly requireCpu: number;
  readonly firstCpu: number;
  readonly booted: number;
  readonly status: number;
  readonly code?: string;
}

function runChild(bundleDir: string, fn: FunctionName, event: unknown, env: Record<string, string>, childScript: string, profileDir?: string): Promise<ChildResult> {
  return new Promise((resolvePromise, reject) => {
    const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
    const child = spawn(process.execPath, [...profile, childScript, join(bundleDir, 'index.js'), fn, JSON.stringify(event)], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), CHILD_TIMEOUT_MS);
    child.on('error', reject);
    child.on('close', () => {
      clearTimeout(timer);
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      if (!line) return reject(new Error(`no result (${stderr.trim().split('\n').pop() ?? 'no output'})`));
      const result = JSON.parse(line.slice(MARK.length)) as ChildResult & { error?: string };
      if (result.error) return reject(new Error(result.error));
      if (result.status >= 400) return reject(new Error(`status ${result.status}${result.code ? ` ${result.code}` : ''}`));
      resolvePromise(result);
    });
  });
}

export interface ColdInitOptions {
  readonly runs?: number;
  /** The base commit to compare with; undefined: none. */
  readonly base?: string;
  /** Writes a V8 CPU profile of every measured child into `<cpuProfileDir>/<function>-<tree>[-nosm]/`. */
  readonly cpuProfileDir?: string;
  readonly log?: (line: string) => void;
}

/** Builds, seeds and measures; returns one row per variant. Cleans up after itself. */
export async function measureColdInit(options: ColdInitOptions = {}): Promise<ColdInitRow[]> {
  const runs = options.runs ?? 7;
  const log = options.log ?? (() => undefined);
  const work = mkdtempSync(join(tmpdir(), 'plexmcp-cold-init-'));
  const db = await startEmbeddedDynamoDb();
  const aws = await startFakeKmsAndSecrets({ [OPERATOR_SECRET]: OPERATOR_TOKEN });
  const events = await startEventBridgeStub();
  const upstream = await startSdkUpstream({
    enableJsonResponse: true,
    intercept: (req, res) => {
      if (req.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`) return false;
      res.writeHead(401).end();
      return true;
    },
  });
  try {
    log('building bundles');
    const trees: { tree: 'base' | 'tree'; built: Record<FunctionName, Built> }[] = [{ tree: 'tree', built: await buildTree(work) }];
    let baseFailure: string | undefined;
    if (options.base) {
      try {
        trees.unshift({ tree: 'base', built: await buildBase(work, options.base) });
      } catch (error) {
        baseFailure = `base ${options.base} not built: ${(error as Error).message.split('\n')[0]}`;
        log(baseFailure);
      }
    }

    const kms = new KMSClient({ endpoint: aws.endpoint, region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
    const seed = async (tree: string): Promise<Seeded> => {
      const registryTable = `cold-${tree}-registry`;
      const countersTable = `cold-${tree}-counters`;
      await ensureRegistryTable(db.client, registryTable);
      await ensureCountersTable(db.client, countersTable);
      const service = new RegistryService({
        store: new DynamoDbRegistryStore(db.client, registryTable),
        cipher: new EnvelopeCipher(new KmsDataKeyProvider(kms, KEY_ARN)),
        urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
      });
      const org = await service.createOrg({ name: `Cold ${tree}`, plan: 'pro', ipAllowlist: [] });
      await service.createMcp(org.item.orgId, {
        slug: 'echo',
        endpoints: [{ url: upstream.url, weight: 100 }],
        upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN },
        toolPolicy: { allow: [], deny: [] },
        timeouts: {},
      });
      const key = await service.createKey(org.item.orgId, { name: 'agent', role: 'member', scopes: { mcps: '*', tools: {} } });
      return { registryTable, countersTable, orgId: org.item.orgId, apiKey: key.secret };
    };

    const baseEnv = {
      PATH: process.env.PATH ?? '',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'cold',
      AWS_SECRET_ACCESS_KEY: 'cold',
      AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
      AWS_ENDPOINT_URL_KMS: aws.endpoint,
      AWS_ENDPOINT_URL_SECRETS_MANAGER: aws.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.endpoint,
      PLEXMCP_KMS_KEY_ID: KEY_ARN,
    };
    const childScript = join(work, 'child.cjs');
    writeFileSync(childScript, CHILD);

    interface Variant {
      readonly fn: FunctionName;
      readonly tree: 'base' | 'tree';
      readonly sourceMaps: boolean;
      readonly built: Built;
      readonly env: Record<string, string>;
      readonly event: unknown;
      readonly results: ChildResult[];
      failure?: string;
    }
    const variants: Variant[] = [];
    for (const { tree, built } of trees) {
      for (const fn of FUNCTIONS) {
        // Its own tables for each function: the health cycle's statuses (the AWS-mode probe marks
        // the loopback endpoint down) must not route the gateway's requests away.
        const seeded = await seed(`${tree}-${fn}`);
        const fnEnv: Record<FunctionName, Record<string, string>> = {
          // Local mode: the upstream is on loopback.
          gateway: { PLEXMCP_REGISTRY_TABLE: seeded.registryTable, PLEXMCP_COUNTERS_TABLE: seeded.countersTable, PLEXMCP_MODE: 'local' },
          // The measured request is a read: the audit table (required since issue 10) is not touched.
          admin: { PLEXMCP_REGISTRY_TABLE: seeded.registryTable, PLEXMCP_AUDIT_TABLE: 'cold-init-audit', PLEXMCP_OPERATOR_SECRET_ARN: OPERATOR_SECRET, PLEXMCP_MODE: 'aws' },
          health: { PLEXMCP_REGISTRY_TABLE: seeded.registryTable, PLEXMCP_EVENT_BUS_NAME: 'cold-init' },
        };
        const fnEvent: Record<FunctionName, unknown> = {
          gateway: gatewayEvent(seeded.apiKey),
          admin: adminEvent(`/admin/v1/orgs/${seeded.orgId}/mcps`),
          health: { shard: 0, shards: 1 },
        };
        // As deployed: the base commit's PlexFunction set NODE_OPTIONS=--enable-source-maps, this
        // tree's sets nothing (lib/lambda-defaults.ts). This tree's gateway also runs with the flag,
        // to show what it costs.
        const sourceMapModes = tree === 'base' ? [true] : fn === 'gateway' ? [false, true] : [false];
        for (const sourceMaps of sourceMapModes) {
          const env = { ...baseEnv, ...fnEnv[fn], ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}) };
          variants.push({ fn, tree, sourceMaps, built: built[fn], env, event: fnEvent[fn], results: [] });
        }
      }
    }

    for (let round = 0; round <= runs; round++) {
      log(round === 0 ? 'warm-up run of every variant' : `round ${round}/${runs}`);
      for (const v of variants) {
        if (v.failure) continue;
        try {
          const profileDir = options.cpuProfileDir && round > 0 ? join(resolve(options.cpuProfileDir), `${v.fn}-${v.tree}${v.tree === 'tree' && v.sourceMaps ? '-sm' : ''}`) : undefined;
          // The bundle's source map beside its profiles: positions in the minified file mean nothing without it.
          if (profileDir && round === 1) {
            mkdirSync(profileDir, { recursive: true });
            copyFileSync(join(v.built.dir, 'index.js.map'), join(profileDir, 'index.js.map'));
          }
          const result = await runChild(v.built.dir, v.fn, v.event, v.env, childScript, profileDir);
          if (round > 0) v.results.push(result);
        } catch (error) {
          v.failure = (error as Error).message;
        }
      }
    }

    const rows: ColdInitRow[] = variants.map((v) => ({
      fn: v.fn,
      tree: v.tree,
      sourceMaps: v.sourceMaps,
      size: v.built.size,
      runs: v.results.length,
      failure: v.failure,
      ...(v.failure
        ? {}
        : {
            requireMs: median(v.results.map((r) => r.require)),
            firstMs: median(v.results.map((r) => r.first)),
            totalMs: median(v.results.map((r) => r.require + r.first)),
            requireCpuMs: median(v.results.map((r) => r.requireCpu)),
            firstCpuMs: median(v.results.map((r) => r.firstCpu)),
            totalCpuMs: median(v.results.map((r) => r.requireCpu + r.firstCpu)),
            bootMs: median(v.results.map((r) => r.booted)),
          }),
    }));
    if (baseFailure) for (const fn of FUNCTIONS) rows.unshift({ fn, tree: 'base', sourceMaps: true, size: { minified: 0, gzip: 0, map: 0 }, runs: 0, failure: baseFailure });
    return rows;
  } finally {
    await upstream.close().catch(() => undefined);
    await new Promise<void>((resolvePromise) => events.server.close(() => resolvePromise()));
    await aws.close().catch(() => undefined);
    await db.close().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

function gatewayEvent(apiKey: string) {
  const headers: Record<string, string> = {
    host: 'abc.execute-api.us-east-1.amazonaws.com',
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${apiKey}`,
  };
  return {
    resource: '/mcp/{slug}',
    path: '/mcp/echo',
    httpMethod: 'POST',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { slug: 'echo' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'cold-init', version: '1' } } }),
    isBase64Encoded: false,
    requestContext: { requestId: 'cold-init-1', identity: { sourceIp: '198.51.100.7' }, stage: 'v1' },
  };
}

function adminEvent(path: string) {
  const headers: Record<string, string> = { host: 'abc.execute-api.us-east-1.amazonaws.com', authorization: `Bearer ${OPERATOR_TOKEN}` };
  return {
    resource: '/admin/{proxy+}',
    path,
    httpMethod: 'GET',
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: path.replace(/^\/admin\//, '') },
    stageVariables: null,
    body: null,
    isBase64Encoded: false,
    requestContext: { requestId: 'cold-init-admin', stage: 'v1', path: `/v1${path}`, httpMethod: 'GET', identity: { sourceIp: '203.0.113.9' } },
  };
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} KB`;
const ms = (value: number | undefined) => (value === undefined ? '—' : `${value.toFixed(0)} ms`);
const pair = (wall: number | undefined, cpu: number | undefined) => `${ms(wall)} / ${ms(cpu)}`;
const percent = (value: number | undefined, of: number | undefined) => (value === undefined || of === undefined ? '—' : `${((value / of) * 100).toFixed(0)} %`);

/** The table, as Markdown, with this tree's figures against the base commit's. */
export function formatColdInit(rows: readonly ColdInitRow[], base?: string): string {
  const lines = [
    '| function | bundle | minified | gzip | source map | require (wall / CPU) | first request (wall / CPU) | require + first (wall / CPU) | vs base (wall / CPU) |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|',
  ];
  for (const row of rows) {
    const baseRow = rows.find((r) => r.fn === row.fn && r.tree === 'base' && r.sourceMaps);
    const label = row.tree === 'base' ? (base ?? 'base') : `this tree${row.sourceMaps ? ', with --enable-source-maps' : ''}`;
    const ratio = row.tree === 'tree' && baseRow ? `${percent(row.totalMs, baseRow.totalMs)} / ${percent(row.totalCpuMs, baseRow.totalCpuMs)}` : '';
    const sizes = row.size.minified === 0 ? ['—', '—', '—'] : [kb(row.size.minified), kb(row.size.gzip), kb(row.size.map)];
    const timing = row.failure
      ? [`failed: ${row.failure}`, '', '']
      : [pair(row.requireMs, row.requireCpuMs), pair(row.firstMs, row.firstCpuMs), pair(row.totalMs, row.totalCpuMs)];
    lines.push(`| ${row.fn} | ${label} | ${sizes.join(' | ')} | ${timing.join(' | ')} | ${ratio} |`);
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const runs = Number(process.env.COLD_INIT_RUNS ?? 7);
  if (!Number.isInteger(runs) || runs < 1) throw new Error('COLD_INIT_RUNS must be a positive integer');
  const baseSetting = process.env.COLD_INIT_BASE ?? 'fcaa7c1';
  const base = baseSetting === 'none' ? undefined : baseSetting;
  const loadBefore = loadavg()[0]!;
  const rows = await measureColdInit({ runs, base, cpuProfileDir: process.env.COLD_INIT_CPU_PROF || undefined, log: (line) => console.error(`cold-init: ${line}`) });
  const boot = rows.find((r) => r.bootMs !== undefined)?.bootMs;
  console.log(`\nCold init of the bundled Lambda functions: ${runs} fresh processes per variant, medians; node ${process.version}, ${cpus().length} × ${cpus()[0]?.model ?? 'cpu'}, load average ${loadBefore.toFixed(1)} → ${loadavg()[0]!.toFixed(1)}.`);
  console.log('require: module evaluation (the init phase). first request: gateway an MCP initialize to the end of its streamed answer; admin GET /admin/v1/orgs/{id}/mcps;');
  console.log('health one runShard cycle. CPU: user + system of the whole process (Argon2id runs on a worker thread). Sizes in KiB.');
  console.log(`Node.js's own start before the bundle is required: ~${ms(boot)}, not included.\n`);
  console.log(formatColdInit(rows, base));
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
