/**
 * Benchmark child process: an MCP server built with the SDK, Streamable HTTP, stateful (one
 * transport per session), with an `echo` tool and a `work` tool that waits `ms` first. Two paths,
 * so one process serves both answer styles the bench compares:
 *   - `/json`: `enableJsonResponse: true` (a POST is answered with one JSON body);
 *   - `/sse`:  `enableJsonResponse: false` (a POST is answered with a Server-Sent Events stream
 *     that ends after the result, as most SDK servers and server-everything answer).
 * A session keeps the style of the path it was created on.
 * Reports `{ type: 'ready', jsonUrl, sseUrl }` over IPC once it listens on a loopback port;
 * answers `{ type: 'stats' }` with its CPU time and peak RSS.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';

const PATHS = { '/json': true, '/sse': false } as const;
const transports = new Map<string, StreamableHTTPServerTransport>();

async function newSession(enableJsonResponse: boolean): Promise<StreamableHTTPServerTransport> {
  const transport = new StreamableHTTPServerTransport({
    sessionIdGenerator: () => randomUUID(),
    enableJsonResponse,
    onsessioninitialized: (id) => void transports.set(id, transport),
  });
  transport.onclose = () => {
    if (transport.sessionId) transports.delete(transport.sessionId);
  };
  const server = new McpServer({ name: 'bench-echo', version: '1.0.0' });
  server.registerTool('echo', { description: 'Echoes its message', inputSchema: { message: z.string() } }, async ({ message }) => ({
    content: [{ type: 'text', text: message }],
  }));
  // A tool that does real-world-like work: waits `ms` (a database query, an API call) and echoes.
  server.registerTool('work', { description: 'Waits ms, then echoes', inputSchema: { ms: z.number(), message: z.string() } }, async ({ ms, message }) => {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return { content: [{ type: 'text', text: message }] };
  });
  await server.connect(transport);
  return transport;
}

/**
 * SDK 1.32's JSON response mode never releases a finished request's stream mapping on a stateful
 * transport (typescript-sdk issue #2559, fix for v1.x open in PR #2747): every POST leaves an
 * entry behind until the session closes, about 4.6 KB measured here. Over a bench run that is
 * hundreds of MB of live heap in the upstream, and its garbage collection slows every target that
 * runs late in the run. This releases, after each JSON-mode request, the mappings no request
 * refers to any more (a request's two entries are set in one synchronous block, so none is caught
 * half made). It reads the SDK's private fields; if they are not there (the SDK changed), it does
 * nothing and says so once.
 */
let sweepWarned = false;
function releaseFinishedJsonStreams(transport: StreamableHTTPServerTransport): void {
  const inner = (transport as unknown as { _webStandardTransport?: { _streamMapping?: unknown; _requestToStreamMapping?: unknown } })._webStandardTransport;
  const streams = inner?._streamMapping;
  const requests = inner?._requestToStreamMapping;
  if (!(streams instanceof Map) || !(requests instanceof Map)) {
    if (!sweepWarned) console.error('bench upstream: SDK internals changed, the JSON-mode stream-mapping workaround is off');
    sweepWarned = true;
    return;
  }
  const live = new Set(requests.values());
  for (const [streamId, stream] of streams as Map<unknown, { resolveJson?: unknown }>) {
    if (stream.resolveJson && !live.has(streamId)) streams.delete(streamId);
  }
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

function refuse(res: ServerResponse, status: number, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32000, message } }));
}

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = (req.url ?? '').split('?')[0]! as keyof typeof PATHS;
  if (!(path in PATHS)) return refuse(res, 404, 'no such path');
  const sessionId = req.headers['mcp-session-id'];
  const body = req.method === 'POST' ? await readJson(req) : undefined;
  let transport = typeof sessionId === 'string' ? transports.get(sessionId) : undefined;
  if (!transport) {
    if (sessionId !== undefined || !isInitializeRequest(body)) return refuse(res, sessionId === undefined ? 400 : 404, 'no such session');
    transport = await newSession(PATHS[path]);
  }
  await transport.handleRequest(req, res, body);
  if (PATHS[path]) releaseFinishedJsonStreams(transport);
}

const http = createServer((req, res) => {
  handle(req, res).catch(() => {
    if (!res.headersSent) res.writeHead(500);
    res.end();
  });
});
// Longer than any pause between the bench's phases, so idle pools are not closed under it.
http.keepAliveTimeout = 120_000;
http.listen(0, '127.0.0.1', () => {
  const { port } = http.address() as AddressInfo;
  process.send!({ type: 'ready', jsonUrl: `http://127.0.0.1:${port}/json`, sseUrl: `http://127.0.0.1:${port}/sse` });
});
process.on('message', (message: { type?: string }) => {
  if (message.type === 'stats') process.send!({ type: 'stats', cpu: process.cpuUsage(), maxRssKiB: process.resourceUsage().maxRSS });
});
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));
