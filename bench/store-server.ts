/**
 * Benchmark child process: dynalite (DynamoDB's API, in memory) on a loopback port, standing in
 * for DynamoDB as a separate service (the "external store" configuration). Counts the requests it
 * serves by operation so the bench can report store calls per gateway request under load; answers
 * `{ type: 'stats' }` over IPC with those counts, the process's CPU time and peak RSS.
 */
import type { AddressInfo } from 'node:net';
import dynalite from 'dynalite';
import { countOperations, type OperationCounts } from './engine-ops';

const counts: OperationCounts = {};
const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
countOperations(server, counts);
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ type: 'ready', url: `http://127.0.0.1:${port}` });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), maxRssKiB: process.resourceUsage().maxRSS, counts: { ...counts } });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
