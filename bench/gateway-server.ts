/**
 * Benchmark child process: the local gateway exactly as `plexmcp serve` runs it (`serve()`:
 * Hono on @hono/node-server, the admin API beside `/mcp/{slug}`, no request logging), except
 * that its DynamoDB is the bench's dynalite child (`dynamodbEndpoint`) instead of the embedded
 * engine, so the store runs in its own process as DynamoDB would.
 * Reports `{ type: 'ready', baseUrl, adminUrl, operatorToken }` over IPC; answers `{ type: 'stats' }`
 * with its CPU time; with `{ type: 'profile-start' }` / `{ type: 'profile-stop', path }` writes a
 * CPU profile of what happened in between.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '../lambda/local/serve';

async function main(): Promise<void> {
  const dynamodbEndpoint = process.env.BENCH_DYNAMODB_ENDPOINT;
  if (!dynamodbEndpoint) throw new Error('BENCH_DYNAMODB_ENDPOINT is not set');
  const dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-bench-gw-'));
  const gateway = await serve({ port: 0, dataDir, dynamodbEndpoint, log: () => undefined });
  const stop = async () => {
    await gateway.close().catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  let profiler: Session | undefined;
  process.on('message', (message: { type?: string; path?: string }) => {
    if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage() });
    // BENCH_CPU_PROF: a CPU profile of one measured phase only (no start-up, no other phases).
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
  process.send!({ type: 'ready', baseUrl: gateway.baseUrl, adminUrl: gateway.adminUrl, operatorToken: gateway.operatorToken });
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
