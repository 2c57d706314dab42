/**
 * Benchmark child process: the fallback reverse-proxy baseline when nginx is not installed: a
 * minimal node:http proxy that pipes each request to BENCH_UPSTREAM_ORIGIN over a keep-alive
 * agent (64 sockets, as the nginx baseline's `keepalive 64`) and pipes the answer back, headers
 * as they are except the hop-by-hop ones. No buffering, so SSE streams through.
 * Reports `{ type: 'ready', origin }`; answers `{ type: 'stats' }` with its CPU time and peak RSS.
 */
import { Agent, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';

const upstream = new URL(process.env.BENCH_UPSTREAM_ORIGIN ?? '');
const agent = new Agent({ keepAlive: true, maxSockets: 64, keepAliveMsecs: 60_000 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function withoutHopByHop(headers: NodeJS.Dict<string | string[]>): NodeJS.Dict<string | string[]> {
  const out: NodeJS.Dict<string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
  return out;
}

const server = createServer((req, res) => {
  const forward = request(
    { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: withoutHopByHop(req.headers), agent },
    (answer) => {
      res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
      answer.pipe(res);
    },
  );
  forward.on('error', () => {
    if (!res.headersSent) res.writeHead(502);
    res.end();
  });
  req.pipe(forward);
});
server.keepAliveTimeout = 120_000;
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.send!({ type: 'ready', origin: `http://127.0.0.1:${port}` });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), maxRssKiB: process.resourceUsage().maxRSS });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
