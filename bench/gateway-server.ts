/**
 * Benchmark child process: the local gateway as `plexmcp serve` (`npm start`) runs it, bundled by
 * scripts/build-local.cjs and run on plain node with npm start's node flags: `serve()`
 * with a fresh data directory, request logging off, the health monitor on its default timer.
 * Two configurations, chosen by BENCH_STORE:
 *   - `embedded` (what `npm start` uses): no `dynamodbEndpoint`, so `serve()` starts its own
 *     dynalite, persisted under the data directory, in THIS process, on this event loop. Its
 *     operations are counted at the engine (engine-ops.ts), with nothing put in between.
 *   - `external`: `dynamodbEndpoint` = BENCH_DYNAMODB_ENDPOINT (the bench's store child), the
 *     store in its own process as DynamoDB would be; that child counts the operations.
 * Reports `{ type: 'ready', baseUrl, adminUrl, operatorToken, engineCounted }` over IPC, where
 * engineCounted says whether the embedded engine's operations are being seen (they must be: the
 * start-up itself creates tables). Answers `{ type: 'stats' }` with its CPU time, peak RSS and the
 * embedded engine's operation counts, `{ type: 'heap' }` with the heap left after a full collection; with `{ type: 'profile-start' }` / `{ type: 'profile-stop',
 * path }` writes a CPU profile of what happened in between. BENCH_MEM_TRACE=1 prints its memory
 * (RssAnon, RssFile, V8 heap, external) to stderr every 2 s.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countDynaliteServers } from './engine-ops';

type ServeModule = typeof import('../lambda/local/serve');

async function main(): Promise<void> {
  const store = process.env.BENCH_STORE ?? 'embedded';
  const dynamodbEndpoint = store === 'external' ? process.env.BENCH_DYNAMODB_ENDPOINT : undefined;
  if (store === 'external' && !dynamodbEndpoint) throw new Error('BENCH_STORE=external needs BENCH_DYNAMODB_ENDPOINT');
  // Before serve() and the engine module are loaded: the engine module keeps dynalite's export.
  const counts = countDynaliteServers();
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { serve } = require('../lambda/local/serve') as ServeModule;
  const dataDir = mkdtempSync(join(tmpdir(), `plexmcp-bench-gw-${store}-`));
  // BENCH_ANALYTICS=0: without the in-process usage analytics, to measure what they cost.
  const gateway = await serve({ port: 0, dataDir, dynamodbEndpoint, log: () => undefined, analytics: process.env.BENCH_ANALYTICS !== '0' });
  const engineCounted = Object.values(counts).some((n) => n > 0);
  const stop = async () => {
    await gateway.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  let profiler: Session | undefined;
  process.on('message', (message: { type?: string; path?: string }) => {
    if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), maxRssKiB: process.resourceUsage().maxRSS, counts: { ...counts } });
    // Live heap after a full collection (the bench starts this child with --expose-gc): whether the
    // heap keeps what requests leave behind. Asked only outside the measured cells.
    if (message.type === 'heap') {
      const gc = (globalThis as { gc?: () => void }).gc;
      gc?.();
      process.send!({ type: 'heap', heapUsedKiB: gc ? process.memoryUsage().heapUsed / 1024 : NaN });
    }
    // BENCH_CPU_PROF: a CPU profile of one measured cell only (no start-up, no other cells).
    if (message.type === 'profile-start') {
      profiler = new Session();
      profiler.connect();
      profiler.post('Profiler.enable', () => profiler!.post('Profiler.start', () => process.send!({ type: 'profile-started' })));
    }
    if (message.type === 'profile-stop' && profiler) {
      profiler.post('Profiler.stop', (error, result) => {
        if (!error) writeFileSync(message.path!, JSON.stringify(result.profile));
        profiler!.disconnect();
        profiler = undefined;
        process.send!({ type: 'profile-stopped' });
      });
    }
  });
  if (process.env.BENCH_MEM_TRACE) {
    setInterval(() => {
      const m = process.memoryUsage();
      const f = (v: number) => Math.round(v / 1048576);
      const status = readFileSync('/proc/self/status', 'utf8');
      const kib = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024);
      console.error(`mem ${store}: anon ${kib('RssAnon')} file ${kib('RssFile')} threads ${kib('Threads') * 1024} rss ${f(m.rss)} heapTotal ${f(m.heapTotal)} heapUsed ${f(m.heapUsed)} external ${f(m.external)} arrayBuffers ${f(m.arrayBuffers)}`);
    }, 2000).unref();
  }
  process.send!({ type: 'ready', baseUrl: gateway.baseUrl, adminUrl: gateway.adminUrl, operatorToken: gateway.operatorToken, engineCounted });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
