/**
 * Test support for the CLI: in-memory I/O, a recording admin API stub on 127.0.0.1:0, temp dirs.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { runCli, type CliIo } from '../../bin/cli/main';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export type IoOverrides = Partial<Omit<CliIo, 'env'>> & { env?: Record<string, string | undefined>; stdinText?: string };

const NOWHERE = join(tmpdir(), 'plexmcp-cli-test-nonexistent');

/** Runs the CLI in-process with captured output. `env` replaces the real environment. */
export async function run(argv: string[], overrides: IoOverrides = {}): Promise<RunResult> {
  let stdout = '';
  let stderr = '';
  const { stdinText, ...rest } = overrides;
  const io: CliIo = {
    // Never the real config file or a real .plexmcp/operator-token: both point into an empty place.
    cwd: NOWHERE,
    columns: 100,
    ...rest,
    env: { XDG_CONFIG_HOME: join(NOWHERE, 'config'), ...rest.env },
    stdin: stdinText !== undefined ? Readable.from([Buffer.from(stdinText)]) : rest.stdin,
    stdout: { write: (s: string) => (stdout += s) },
    stderr: { write: (s: string) => (stderr += s) },
  };
  const code = await runCli(argv, io);
  return { code, stdout, stderr };
}

export interface RecordedRequest {
  method: string;
  path: string;
  query: Record<string, string>;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, or undefined when there was none. */
  body: unknown;
  rawBody: string;
}

export interface StubResponse {
  status?: number;
  body?: unknown;
  headers?: Record<string, string>;
}

type Route = (req: RecordedRequest) => StubResponse | undefined;

/** An admin API stand-in that records every request and answers from `routes` (first match wins). */
export class StubServer {
  readonly requests: RecordedRequest[] = [];
  private routes: { method: string; path: string | RegExp; answer: StubResponse | Route }[] = [];
  private server?: Server;
  url = '';

  on(method: string, path: string | RegExp, answer: StubResponse | Route): this {
    this.routes.push({ method, path, answer });
    return this;
  }

  /** Requests other than the `GET /whoami` lookups. */
  get calls(): RecordedRequest[] {
    return this.requests.filter((r) => r.path !== '/admin/v1/whoami');
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const rawBody = Buffer.concat(chunks).toString('utf8');
        const url = new URL(req.url ?? '/', 'http://stub');
        const recorded: RecordedRequest = {
          method: req.method ?? '',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers: req.headers,
          body: rawBody ? JSON.parse(rawBody) : undefined,
          rawBody,
        };
        this.requests.push(recorded);
        let answer: StubResponse | undefined;
        for (const route of this.routes) {
          const pathMatches = typeof route.path === 'string' ? route.path === url.pathname : route.path.test(url.pathname);
          if (route.method === recorded.method && pathMatches) {
            answer = typeof route.answer === 'function' ? route.answer(recorded) : route.answer;
            if (answer) break;
          }
        }
        answer ??= { status: 404, body: { error: { code: 'not_found', message: 'No such route', requestId: 'req-404' } } };
        const status = answer.status ?? 200;
        res.writeHead(status, { ...(answer.body !== undefined ? { 'content-type': 'application/json' } : {}), ...answer.headers });
        res.end(answer.body === undefined ? undefined : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

export async function tempDir(): Promise<{ path: string; cleanup: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'plexmcp-cli-'));
  return { path, cleanup: () => rm(path, { recursive: true, force: true }) };
}

export const OPERATOR = { principal: 'operator' };

export const sampleOrg = {
  orgId: 'org_aaaaaaaaaaaaaaaa',
  name: 'Acme',
  plan: 'pro',
  ipAllowlist: ['10.0.0.0/8'],
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-02T00:00:00.000Z',
};

export const sampleMcp = {
  orgId: sampleOrg.orgId,
  slug: 'github',
  displayName: 'GitHub',
  endpoints: [
    { id: 'ep_1', url: 'https://a.example/mcp', weight: 100 },
    { id: 'ep_2', url: 'https://b.example/mcp', weight: 50 },
  ],
  upstreamAuth: { type: 'bearer' },
  hasUpstreamSecret: true,
  toolPolicy: { allow: [], deny: ['delete_*'] },
  timeouts: { connectMs: 5000, firstByteMs: 60000, idleMs: 300000 },
  createdAt: '2026-01-01T00:00:00.000Z',
  updatedAt: '2026-01-01T00:00:00.000Z',
};

export const sampleKey = {
  keyId: 'kkkkkkkkkkkkkkkk',
  orgId: sampleOrg.orgId,
  name: 'alice',
  role: 'member',
  scopes: { mcps: ['github'], tools: { github: { allow: ['search_*'], deny: [] } } },
  rateLimitPerMinute: 30,
  createdAt: '2026-01-01T00:00:00.000Z',
};
