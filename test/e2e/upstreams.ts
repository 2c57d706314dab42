/**
 * Real MCP upstreams for the end-to-end tests, all on loopback:
 *
 * - `startEverything()`: `@modelcontextprotocol/server-everything` (Streamable HTTP, stateful
 *   sessions, SSE, resumability) as a child process on a free port, with a bounded readiness wait.
 * - `startSdkUpstream()`: an MCP server built with the SDK (`McpServer` +
 *   `StreamableHTTPServerTransport`) on `node:http`, in this process, on 127.0.0.1:0.
 * - `refusedLoopbackUrl()`: a loopback URL nothing listens on (a dead endpoint).
 *
 * Every start has a time limit and every handle has an idempotent `stop()`/`close()`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createServer as createHttpServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type AddressInfo } from 'node:net';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport, type EventStore } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';

// ---------------------------------------------------------------------------------------------
// ports
// ---------------------------------------------------------------------------------------------

/** A port that was free on 127.0.0.1 a moment ago (another process may still take it: retry). */
export async function freeLoopbackPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** `http://127.0.0.1:<port>/mcp` where nothing listens: connections are refused. */
export async function refusedLoopbackUrl(): Promise<string> {
  return `http://127.0.0.1:${await freeLoopbackPort()}/mcp`;
}

/** Resolves once something accepts TCP connections on 127.0.0.1:`port`, or rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.setTimeout(1_000);
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('timeout', () => {
        socket.destroy();
        resolve(false);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// ---------------------------------------------------------------------------------------------
// server-everything as a child process
// ---------------------------------------------------------------------------------------------

export interface UpstreamProcess {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  readonly child: ChildProcess;
  /** True once the process has exited. */
  readonly exited: boolean;
  /** Everything it wrote to stdout and stderr so far (for failure messages). */
  output(): string;
  /** SIGKILL and wait for the exit: a crash, as an upstream sees it. Idempotent. */
  kill(): Promise<void>;
  /** SIGTERM, SIGKILL after 3 s, wait for the exit. Idempotent. */
  stop(): Promise<void>;
}

export interface StartEverythingOptions {
  /** Longest wait for "listening" per attempt. @default 20_000 */
  readonly readyTimeoutMs?: number;
  /** Attempts on a port another process took meanwhile. @default 3 */
  readonly attempts?: number;
}

const EVERYTHING_ENTRY = require.resolve('@modelcontextprotocol/server-everything/dist/index.js');

/**
 * Starts `server-everything streamableHttp` on a free port and waits (bounded) until it accepts
 * connections. Note: server-everything binds every interface (it takes only `PORT`); the tests
 * reach it on 127.0.0.1 only.
 */
export async function startEverything(options: StartEverythingOptions = {}): Promise<UpstreamProcess> {
  const attempts = options.attempts ?? 3;
  let lastError: unknown;
  for (let attempt = 0; attempt < attempts; attempt++) {
    const port = await freeLoopbackPort();
    try {
      return await startEverythingOn(port, options.readyTimeoutMs ?? 20_000);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startEverythingOn(port: number, readyTimeoutMs: number): Promise<UpstreamProcess> {
  const child = spawn(process.execPath, [EVERYTHING_ENTRY, 'streamableHttp'], {
    env: { ...process.env, PORT: String(port) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  child.stdout!.on('data', (chunk: Buffer) => {
    if (output.length < 64_000) output += chunk.toString();
  });
  child.stderr!.on('data', (chunk: Buffer) => {
    if (output.length < 64_000) output += chunk.toString();
  });

  const stop = async (signal: NodeJS.Signals) => {
    if (exited) return;
    child.kill(signal);
    const force = setTimeout(() => child.kill('SIGKILL'), 3_000);
    await exit;
    clearTimeout(force);
  };

  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`server-everything did not listen within ${readyTimeoutMs} ms:\n${output}`)), readyTimeoutMs);
      const onData = () => {
        if (output.includes('listening on port')) {
          clearTimeout(timer);
          child.stderr!.off('data', onData);
          resolve();
        }
      };
      child.stderr!.on('data', onData);
      // `exit` only ever resolves (on the child's exit), so nothing is left unhandled.
      void exit.then(() => {
        clearTimeout(timer);
        reject(new Error(`server-everything exited with code ${child.exitCode} before listening:\n${output}`));
      });
    });
    await waitForPort(port, readyTimeoutMs);
  } catch (error) {
    await stop('SIGKILL');
    throw error;
  }

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    port,
    pid: child.pid!,
    child,
    get exited() {
      return exited;
    },
    output: () => output,
    kill: () => stop('SIGKILL'),
    stop: () => stop('SIGTERM'),
  };
}

// ---------------------------------------------------------------------------------------------
// SDK-built Streamable HTTP servers in this process
// ---------------------------------------------------------------------------------------------

/** One HTTP request the SDK upstream received (before the MCP transport saw it). */
export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The parsed JSON body of a POST (undefined otherwise or when it was not JSON). */
  readonly body?: unknown;
  /** When the response's connection closed (`Date.now()`); undefined while it is open. */
  readonly closedAt?: number;
  /** Whether the whole response was written before it closed (false: the peer went away first). */
  readonly completed?: boolean;
}

export interface SdkUpstreamOptions {
  /** Registers tools, resources and prompts on every new `McpServer` (one per session, or per request when stateless). */
  readonly setup?: (server: McpServer) => void;
  /** Stateful sessions with random ids (`Mcp-Session-Id`). @default true */
  readonly stateful?: boolean;
  /** Answer with JSON instead of SSE. @default false */
  readonly enableJsonResponse?: boolean;
  /** Makes streams resumable (`Last-Event-ID`). A new store per session is made by the factory. */
  readonly eventStore?: () => EventStore;
  /** @default 'sdk-upstream' */
  readonly name?: string;
  /** @default '/mcp' */
  readonly path?: string;
  /**
   * Sees every request first (after its body was read); return true when it answered it itself
   * (e.g. to play a 401, a 500, a stall or a broken stream).
   */
  readonly intercept?: (req: IncomingMessage, res: ServerResponse, body: unknown) => boolean | Promise<boolean>;
}

export interface SdkUpstream {
  /** The MCP endpoint, `http://127.0.0.1:<port>/mcp`. */
  readonly url: string;
  readonly port: number;
  readonly server: Server;
  /** Every request, in order of arrival. */
  readonly requests: SeenRequest[];
  /** Live sessions (stateful mode), by the upstream's own session id. */
  readonly sessions: ReadonlyMap<string, StreamableHTTPServerTransport>;
  /** Closes every session and the HTTP server (dropping open connections). Idempotent. */
  close(): Promise<void>;
}

/** Largest body the SDK upstream reads; bigger ones are answered 413 here. */
const SDK_UPSTREAM_MAX_BODY = 16 * 1024 * 1024;

export async function startSdkUpstream(options: SdkUpstreamOptions = {}): Promise<SdkUpstream> {
  const stateful = options.stateful ?? true;
  const path = options.path ?? '/mcp';
  const requests: SeenRequest[] = [];
  const sessions = new Map<string, StreamableHTTPServerTransport>();
  const servers = new Set<McpServer>();

  const newServer = () => {
    const mcp = new McpServer({ name: options.name ?? 'sdk-upstream', version: '1.0.0' }, { capabilities: { logging: {} } });
    options.setup?.(mcp);
    servers.add(mcp);
    return mcp;
  };
  const jsonRpcError = (res: ServerResponse, status: number, code: number, message: string) => {
    if (res.headersSent) return;
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code, message } }));
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const raw = await readBody(req);
    let body: unknown;
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    const seen: { -readonly [K in keyof SeenRequest]: SeenRequest[K] } = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
    requests.push(seen);
    res.once('close', () => {
      seen.closedAt = Date.now();
      seen.completed = res.writableFinished;
    });
    if (options.intercept && (await options.intercept(req, res, body))) return;
    if (new URL(req.url ?? '/', 'http://x').pathname !== path) return jsonRpcError(res, 404, -32601, 'Not found');
    if (req.method === 'POST' && raw.length > 0 && body === undefined) return jsonRpcError(res, 400, -32700, 'Parse error');

    if (!stateful) {
      const mcp = newServer();
      const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: options.enableJsonResponse });
      res.on('close', () => {
        // The exchange is over; a failure to tear down this one-request server changes nothing.
        transport.close().catch(() => undefined);
        mcp.close().catch(() => undefined);
        servers.delete(mcp);
      });
      await mcp.connect(transport);
      await transport.handleRequest(req, res, body);
      return;
    }

    const sessionId = req.headers['mcp-session-id'];
    if (typeof sessionId === 'string') {
      const transport = sessions.get(sessionId);
      if (!transport) return jsonRpcError(res, 404, -32001, 'Session not found');
      await transport.handleRequest(req, res, body);
      return;
    }
    if (req.method !== 'POST' || !isInitializeRequest(body)) {
      return jsonRpcError(res, 400, -32000, 'Bad Request: No valid session ID provided');
    }
    const mcp = newServer();
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      enableJsonResponse: options.enableJsonResponse,
      eventStore: options.eventStore?.(),
      onsessioninitialized: (id) => {
        sessions.set(id, transport);
      },
    });
    transport.onclose = () => {
      if (transport.sessionId) sessions.delete(transport.sessionId);
      servers.delete(mcp);
    };
    await mcp.connect(transport);
    await transport.handleRequest(req, res, body);
  };

  const server = createHttpServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof BodyTooLarge) return jsonRpcError(res, 413, -32600, 'Body too large');
      jsonRpcError(res, 500, -32603, `Internal error: ${(error as Error).message}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}${path}`,
    port,
    server,
    requests,
    sessions,
    close() {
      closing ??= (async () => {
        for (const transport of [...sessions.values()]) await transport.close().catch(() => undefined);
        for (const mcp of [...servers]) await mcp.close().catch(() => undefined);
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      })();
      return closing;
    },
  };
}

class BodyTooLarge extends Error {}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > SDK_UPSTREAM_MAX_BODY) throw new BodyTooLarge();
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

// ---------------------------------------------------------------------------------------------
// raw MCP over HTTP (for what an SDK client hides: status codes, headers, SSE timing)
// ---------------------------------------------------------------------------------------------

/** One Server-Sent Event. */
export interface SseEvent {
  readonly id?: string;
  readonly event?: string;
  readonly data: string;
}

/** Parses an SSE byte stream into events as the bytes arrive (comments and `retry:` skipped). */
export async function* sseEvents(body: ReadableStream<Uint8Array>): AsyncGenerator<SseEvent> {
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = body.getReader();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true }).replace(/\r\n?/g, '\n');
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id: string | undefined;
        let event: string | undefined;
        const data: string[] = [];
        for (const line of block.split('\n')) {
          const colon = line.indexOf(':');
          if (colon === 0) continue; // comment
          const field = colon < 0 ? line : line.slice(0, colon);
          const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
          if (field === 'id') id = value;
          else if (field === 'event') event = value;
          else if (field === 'data') data.push(value);
        }
        if (data.length > 0) yield { id, event, data: data.join('\n') };
      }
    }
  } finally {
    await reader.cancel().catch(() => undefined);
  }
}

export interface McpHttpAnswer {
  readonly status: number;
  readonly headers: Headers;
  /** JSON-RPC messages of the body: the JSON body, or every SSE event's data, parsed. */
  readonly messages: Record<string, any>[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** SSE event ids, in order (SSE answers only). */
  readonly eventIds: string[];
}

/** The MCP protocol revision the raw helpers speak. */
export const RAW_PROTOCOL_VERSION = '2025-06-18';

/**
 * Sends one MCP HTTP request (POST with `message`, or GET/DELETE without) and reads the whole
 * answer, JSON or SSE. Bounded by `timeoutMs`.
 */
export async function mcpHttp(
  url: string,
  options: {
    apiKey?: string;
    sessionId?: string;
    method?: 'POST' | 'GET' | 'DELETE';
    message?: unknown;
    headers?: Record<string, string>;
    timeoutMs?: number;
  } = {},
): Promise<McpHttpAnswer> {
  const method = options.method ?? (options.message === undefined ? 'GET' : 'POST');
  const headers: Record<string, string> = {
    accept: method === 'GET' ? 'text/event-stream' : 'application/json, text/event-stream',
    'mcp-protocol-version': RAW_PROTOCOL_VERSION,
    ...(options.apiKey ? { authorization: `Bearer ${options.apiKey}` } : {}),
    ...(options.sessionId ? { 'mcp-session-id': options.sessionId } : {}),
    ...(options.message === undefined ? {} : { 'content-type': 'application/json' }),
    ...options.headers,
  };
  const res = await fetch(url, {
    method,
    headers,
    body: options.message === undefined ? undefined : JSON.stringify(options.message),
    signal: AbortSignal.timeout(options.timeoutMs ?? 15_000),
  });
  const messages: Record<string, any>[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  const eventIds: string[] = [];
  if ((res.headers.get('content-type') ?? '').startsWith('text/event-stream') && res.body) {
    for await (const event of sseEvents(res.body)) {
      if (event.id) eventIds.push(event.id);
      messages.push(JSON.parse(event.data));
    }
  } else {
    const text = await res.text();
    if (text) {
      const parsed = JSON.parse(text);
      messages.push(...(Array.isArray(parsed) ? parsed : [parsed]));
    }
  }
  return { status: res.status, headers: res.headers, messages, eventIds };
}

/** `initialize` + `notifications/initialized` over raw HTTP; returns the session id the answer carried. */
export async function rawInitialize(url: string, apiKey?: string, headers?: Record<string, string>): Promise<{ sessionId: string; answer: McpHttpAnswer }> {
  const answer = await mcpHttp(url, {
    apiKey,
    headers,
    message: {
      jsonrpc: '2.0',
      id: 0,
      method: 'initialize',
      params: { protocolVersion: RAW_PROTOCOL_VERSION, capabilities: {}, clientInfo: { name: 'plexmcp-e2e-raw', version: '1.0.0' } },
    },
  });
  const sessionId = answer.headers.get('mcp-session-id');
  if (answer.status !== 200 || !sessionId) throw new Error(`initialize answered ${answer.status}: ${JSON.stringify(answer.messages)}`);
  const initialized = await mcpHttp(url, { apiKey, sessionId, headers, message: { jsonrpc: '2.0', method: 'notifications/initialized' } });
  if (initialized.status !== 202) throw new Error(`notifications/initialized answered ${initialized.status}`);
  return { sessionId, answer };
}
