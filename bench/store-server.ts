/**
 * Benchmark child process: dynalite (DynamoDB's API, in memory) on a loopback port, standing in
 * for DynamoDB as a separate service. Counts the requests it serves by operation so the bench
 * can report store calls per gateway request under load; answers `{ type: 'stats' }` over IPC
 * with those counts and the process's CPU time.
 */
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';

const counts: Record<string, number> = {};
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.on('request', (req) => {
  const operation = String(req.headers['x-amz-target'] ?? 'unknown').split('.').pop()!;
  counts[operation] = (counts[operation] ?? 0) + 1;
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), counts: { ...counts } });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
