/**
 * A closed-loop load generator on undici's Pool: `concurrency` workers, each sending its next
 * request as soon as the previous answer has been read in full, for a fixed duration. Every
 * request's latency (send to last body byte) is recorded.
 */
import { Pool } from 'undici';

export interface McpTarget {
  readonly name: string;
  readonly origin: string;
  readonly path: string;
  /** Headers sent with every request (credentials, session id, protocol version). */
  readonly headers: Record<string, string>;
  /** Milliseconds the upstream's `work` tool waits before answering; undefined calls `echo`. */
  readonly toolMs?: number;
}

export interface LoadResult {
  readonly requests: number;
  readonly errors: number;
  readonly elapsedMs: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly meanMs: number;
}

export const MCP_HEADERS = { 'content-type': 'application/json', accept: 'application/json, text/event-stream' };

let nextId = 1;
export function echoCall(toolMs?: number): string {
  const params = toolMs === undefined ? { name: 'echo', arguments: { message: 'hello plexmcp' } } : { name: 'work', arguments: { ms: toolMs, message: 'hello plexmcp' } };
  return JSON.stringify({ jsonrpc: '2.0', id: nextId++, method: 'tools/call', params });
}

export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export function summarize(samples: number[]): { p50: number; p99: number; mean: number } {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const v of sorted) sum += v;
  return { p50: percentile(sorted, 50), p99: percentile(sorted, 99), mean: sum / sorted.length };
}

/** One pool per target, sized for the highest concurrency; connections are kept alive between phases. */
export function poolFor(origin: string, connections: number): Pool {
  return new Pool(origin, { connections, pipelining: 1, keepAliveTimeout: 60_000 });
}

/** Sends one tools/call; returns whether it was a 200 with a JSON-RPC result. */
export async function callOnce(pool: Pool, target: McpTarget): Promise<boolean> {
  const res = await pool.request({ path: target.path, method: 'POST', headers: { ...MCP_HEADERS, ...target.headers }, body: echoCall(target.toolMs) });
  const text = await res.body.text();
  return res.statusCode === 200 && text.includes('"result"') && text.includes('hello plexmcp');
}

export async function runLoad(pool: Pool, target: McpTarget, options: { concurrency: number; durationMs: number }): Promise<LoadResult> {
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const deadline = started + options.durationMs;
  const worker = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now();
      const ok = await callOnce(pool, target).catch(() => false);
      if (ok) latencies.push(performance.now() - t0);
      else errors++;
    }
  };
  await Promise.all(Array.from({ length: options.concurrency }, worker));
  const elapsedMs = performance.now() - started;
  const stats = summarize(latencies);
  return { requests: latencies.length, errors, elapsedMs, rps: (latencies.length / elapsedMs) * 1000, p50Ms: stats.p50, p99Ms: stats.p99, meanMs: stats.mean };
}
