/**
 * The bare reverse-proxy baseline the gateway is compared with: what any hop in front of an MCP
 * server costs at least.
 *   - nginx when it is installed (Debian: `apt-get install nginx-light`), run unprivileged on a
 *     loopback port with a generated configuration: `proxy_pass` to an `upstream` block with
 *     `keepalive 64`, HTTP/1.1 and an empty `Connection` header towards the upstream (so its
 *     connections are reused), `proxy_buffering off` so SSE streams through, no access log, and
 *     no per-connection request limit on either side (nginx closes a keep-alive connection after
 *     1,000 requests by default, which would add reconnects to its figures only);
 *   - otherwise a minimal node:http pipe proxy (pipe-proxy.ts).
 * BENCH_PROXY=nginx|node forces one; BENCH_NGINX_WORKERS sets nginx's worker_processes (default 1,
 * the same one event loop the gateway gets).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { startChild, track } from './children';
import { cpuMsOf, peakRssKiBOf, processTree } from './proc';

export interface ProxyStats {
  readonly cpuMs: number;
  readonly maxRssKiB: number;
}

export interface ProxyBaseline {
  readonly kind: 'nginx' | 'node';
  /** e.g. "nginx 1.22.1 (1 worker)" */
  readonly label: string;
  readonly origin: string;
  stats(): Promise<ProxyStats>;
}

function nginxVersion(): { version: string; configure: string } | undefined {
  try {
    // nginx prints -V to stderr; execFileSync's output is stdout, so fold stderr into it.
    const out = execFileSync('sh', ['-c', 'nginx -V 2>&1'], { encoding: 'utf8' });
    const version = /nginx version: nginx\/(\S+)/.exec(out)?.[1];
    return version ? { version, configure: out } : undefined;
  } catch {
    return undefined;
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((done) => server.close(() => done()));
  return port;
}

async function waitForPort(port: number, child: ChildProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited with code ${child.exitCode}`);
    const open = await new Promise<boolean>((done) => {
      const socket = createConnection({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        done(true);
      });
      socket.on('error', () => done(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** The nginx configuration: everything it writes stays under `dir`, nothing needs root. */
export function nginxConf(options: { dir: string; port: number; upstream: URL; workers: number; configure: string }): string {
  // Temp paths compiled into this nginx (`nginx -V`) are moved under `dir`; directives of modules
  // left out of the build would be unknown to it, so only those it names are set.
  const temps = [...options.configure.matchAll(/--http-([a-z-]+)-temp-path=/g)].map((m) => {
    const name = m[1]!.replace(/-/g, '_'); // client_body, proxy, fastcgi, uwsgi, scgi
    return `  ${name}_temp_path ${join(options.dir, `${name}_temp`)};`;
  });
  return `daemon off;
worker_processes ${options.workers};
pid ${join(options.dir, 'nginx.pid')};
error_log stderr warn;
events { worker_connections 4096; }
http {
  access_log off;
${temps.join('\n')}
  keepalive_requests 10000000;
  keepalive_timeout 120s;
  upstream mcp {
    server ${options.upstream.hostname}:${options.upstream.port};
    keepalive 64;
    keepalive_requests 10000000;
    keepalive_timeout 120s;
  }
  server {
    listen 127.0.0.1:${options.port};
    location / {
      proxy_pass http://mcp;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`;
}

async function startNginx(upstream: URL, version: string, configure: string): Promise<ProxyBaseline> {
  const dir = mkdtempSync(join(tmpdir(), 'plexmcp-bench-nginx-'));
  // By then nginx is stopped (stopChildren runs before the bench exits).
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const workers = Number(process.env.BENCH_NGINX_WORKERS ?? 1);
  // A port taken between freePort and nginx's bind fails the start: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const conf = join(dir, 'nginx.conf');
    writeFileSync(conf, nginxConf({ dir, port, upstream, workers, configure }));
    const child = spawn('nginx', ['-e', 'stderr', '-p', dir, '-c', conf], { stdio: ['ignore', 'inherit', 'inherit'] });
    try {
      await waitForPort(port, child, 5_000);
    } catch (error) {
      child.kill('SIGKILL');
      if (attempt >= 3) throw error;
      continue;
    }
    track(child, 'nginx');
    const pid = child.pid!;
    return {
      kind: 'nginx',
      label: `nginx ${version} (${workers} worker${workers === 1 ? '' : 's'}, keepalive 64 to the upstream)`,
      origin: `http://127.0.0.1:${port}`,
      // Workers are the master's children; read them each time (a worker could be respawned).
      stats: async () => {
        const pids = processTree(pid);
        return { cpuMs: cpuMsOf(pids), maxRssKiB: peakRssKiBOf(pids) };
      },
    };
  }
}

async function startPipeProxy(upstream: URL, why: string): Promise<ProxyBaseline> {
  const { child, ready } = await startChild<{ origin: string }>(resolve(__dirname, 'pipe-proxy.ts'), 'pipe-proxy.ts', {
    env: { BENCH_UPSTREAM_ORIGIN: upstream.origin },
  });
  return {
    kind: 'node',
    label: `node:http pipe proxy (${why})`,
    origin: ready.origin,
    stats: () =>
      new Promise((done) => {
        child.on('message', function onStats(message: { type?: string; cpu: NodeJS.CpuUsage; maxRssKiB: number }) {
          if (message.type !== 'stats') return;
          child.off('message', onStats);
          done({ cpuMs: (message.cpu.user + message.cpu.system) / 1000, maxRssKiB: message.maxRssKiB });
        });
        child.send({ type: 'stats' });
      }),
  };
}

/** Starts the baseline in front of `upstreamOrigin` (the proxy forwards every path as it is). */
export async function startProxyBaseline(upstreamOrigin: string): Promise<ProxyBaseline> {
  const upstream = new URL(upstreamOrigin);
  const wanted = process.env.BENCH_PROXY;
  if (wanted === 'node') return startPipeProxy(upstream, 'BENCH_PROXY=node');
  const nginx = nginxVersion();
  if (nginx) return startNginx(upstream, nginx.version, nginx.configure);
  if (wanted === 'nginx') throw new Error('BENCH_PROXY=nginx, but nginx is not installed (apt-get install nginx-light)');
  return startPipeProxy(upstream, 'nginx is not installed; apt-get install nginx-light for the nginx baseline');
}
