/**
 * The local server's front for `/mcp/{slug}`: node:http straight into the core gateway. A web
 * Request/Response pair per request (what Hono on @hono/node-server builds) costs a Headers copy,
 * an AbortController wired to the socket, a web stream over the request body, a Response and a
 * header object rebuilt from it — a large share of what a proxy hop costs. Here the core reads the
 * request's own headers (joined from `rawHeaders` exactly as web Headers join them), its body as
 * the socket delivers it, and its answer is written with one `writeHead`.
 *
 * Only plain paths take this way (`/mcp/` and a slug of unreserved characters, then the end or a
 * query): every other request goes to `fallback` (the Hono app), so odd paths (percent-encoding,
 * dot segments) keep exactly the URL semantics they have there, `/mcp/:slug` included.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import { GatewayError } from '../core/gateway/errors';
import type { Gateway, GatewayAnswer, GatewayRequest, RequestHeaders } from '../core/gateway/exchange';
import { isLoopbackHost } from '../core/origin-policy';
import { hostNotAllowedAnswer } from './host-check';

/** `/mcp/<slug>` where the URL parser changes nothing (the slug is percent-decoded by no one). */
const PLAIN_MCP_PATH = /^\/mcp\/([A-Za-z0-9._~-]+)(?:\?|$)/;

/** After the answer, an unread request body is read and dropped for at most this long, and this much (then the connection is closed). */
const DRAIN_TIMEOUT_MS = 500;
const MAX_DRAIN_BYTES = 64 * 1024 * 1024;

export interface GatewayFrontOptions {
  readonly gateway: Gateway;
  /** Everything that is not a plain `/mcp/{slug}` request. */
  readonly fallback: RequestListener;
  /** Whether only loopback `Host` names are served (host-check.ts). */
  readonly loopbackOnly: () => boolean;
}

export function gatewayFront(options: GatewayFrontOptions): RequestListener {
  // Clients send the same Host on every request: the last verdict is kept.
  let lastHost: string | null = null;
  let lastHostAllowed = false;
  const hostAllowed = (host: string | null) => {
    if (host !== lastHost) {
      lastHostAllowed = isLoopbackHost(host);
      lastHost = host;
    }
    return lastHostAllowed;
  };
  return (req, res) => {
    const match = PLAIN_MCP_PATH.exec(req.url ?? '');
    const slug = match?.[1];
    if (slug === undefined || slug === '.' || slug === '..') return options.fallback(req, res);
    const headers = new NodeRequestHeaders(req);
    if (options.loopbackOnly() && !hostAllowed(headers.get('host'))) {
      return writeFixed(req, res, hostNotAllowedAnswer(randomUUID(), true));
    }
    const abort = new AbortController();
    // The client went away before the answer was complete: the upstream request ends with it.
    res.once('close', () => {
      if (!res.writableFinished) abort.abort(new Error('client went away'));
    });
    options.gateway(new NodeGatewayRequest(req, headers, abort.signal), { slug, sourceIp: req.socket.remoteAddress ?? '', requestId: randomUUID() }).then(
      (answer) => {
        try {
          write(req, res, answer);
        } catch {
          // A header Node refuses to write (the core forwards only checked values): no answer, and
          // the upstream's stream, if any, is let go.
          if (answer.body instanceof ReadableStream) void answer.body.cancel().catch(() => undefined);
          res.destroy();
        }
      },
      () => res.destroy(), // the core answers every failure itself: nothing to send
    );
  };
}

/*
 * A note on closures: under tsx (`npm run plexmcp -- serve`, the tests), esbuild's transform keeps
 * function names by wrapping every function that gets one (`const f = () => …`, `{ f: () => … }`)
 * in a defineProperty call — per request, for closures made per request. The per-request code
 * here makes its closures anonymous (passed straight as arguments) or uses methods.
 */

class NodeGatewayRequest implements GatewayRequest {
  readonly method: string;

  constructor(
    private readonly req: IncomingMessage,
    readonly headers: RequestHeaders,
    readonly signal: AbortSignal,
  ) {
    this.method = req.method ?? '';
  }

  readBody(limit: number): Promise<Uint8Array> {
    return readBody(this.req, limit);
  }
}

/**
 * Request headers by lower-case name: Node's own `headers` object when no name repeats (the usual
 * case: nothing is copied), otherwise joined from `rawHeaders` with ", " as web Headers join them
 * (Node's `headers` keeps only the first of some, such as Authorization, and two Authorization
 * headers must stay ambiguous).
 */
export class NodeRequestHeaders implements RequestHeaders {
  private readonly values: Readonly<Record<string, string | string[] | undefined>>;

  constructor(req: Pick<IncomingMessage, 'headers' | 'rawHeaders'>) {
    const parsed = req.headers;
    let names = 0;
    for (const name in parsed) if (Object.hasOwn(parsed, name)) names++;
    this.values = names * 2 === req.rawHeaders.length ? parsed : joined(req.rawHeaders);
  }

  get(name: string): string | null {
    const value = Object.hasOwn(this.values, name) ? this.values[name] : undefined;
    if (typeof value === 'string') return value;
    return Array.isArray(value) ? value.join(', ') : null;
  }

  forEach(callback: (value: string, name: string) => void): void {
    for (const name in this.values) {
      const value = this.get(name);
      if (value !== null) callback(value, name);
    }
  }
}

function joined(raw: readonly string[]): Record<string, string> {
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const seen = values[name];
    values[name] = seen === undefined ? raw[i + 1]! : `${seen}, ${raw[i + 1]!}`;
  }
  return values;
}

/** The whole body as it arrives, refused as soon as it passes `limit` (the rest is drained after the answer). */
function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  // The client went away while the gateway was looking at the headers.
  if (req.destroyed) return Promise.reject(new GatewayError('invalid_request', {}, 'The request body could not be read'));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    // The listeners stay (they do nothing once settled): data past the limit is dropped as it comes.
    req.on('data', (chunk: Buffer) => {
      if (settled) return;
      size += chunk.length;
      if (size > limit) {
        settled = true;
        reject(new GatewayError('body_too_large'));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (settled) return;
      settled = true;
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks));
    });
    // An aborted upload errors or closes before it ends.
    req.on('error', () => {
      if (settled) return;
      settled = true;
      reject(new GatewayError('invalid_request', {}, 'The request body could not be read'));
    });
    req.on('close', () => {
      if (settled) return;
      settled = true;
      reject(new GatewayError('invalid_request', {}, 'The request body could not be read'));
    });
  });
}

function write(req: IncomingMessage, res: ServerResponse, answer: GatewayAnswer): void {
  const { body } = answer;
  if (body === null || typeof body === 'string' || body instanceof Uint8Array) return writeFixed(req, res, answer);
  if (res.destroyed) {
    void body.cancel().catch(() => undefined);
    return;
  }
  res.writeHead(answer.status, answer.headers);
  void pump(body, res).finally(() => drainUnread(req));
}

function writeFixed(req: IncomingMessage, res: ServerResponse, answer: GatewayAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body ?? undefined);
  drainUnread(req);
}

/**
 * Writes a stream to the client as it arrives, with back-pressure. Each write is a system call
 * that wakes the client, so what arrives together goes out together: the headers wait for the
 * first chunk, up to HEADERS_WAIT_MS (a stream may stay silent for minutes; its headers go out
 * alone then), and a chunk waits until the end of the current turn of the event loop for what
 * the stream has already received after it — typically its end, which then closes the answer in
 * the same write. Nothing waits for the network. The client going away cancels the stream (and
 * with it the upstream request); a stream that fails ends the client's connection without the
 * final chunk, so the client sees the answer broken off.
 */
async function pump(stream: ReadableStream<Uint8Array>, res: ServerResponse): Promise<void> {
  const reader = stream.getReader();
  const cancel = () => void reader.cancel().catch(() => undefined);
  res.once('close', cancel);
  try {
    let next = reader.read();
    let result = await firstOf(next, HEADERS_WAIT_MS);
    if (result === NOT_YET) {
      res.flushHeaders();
      result = await next;
    }
    for (;;) {
      if (result.done) {
        res.end();
        return;
      }
      const chunk = result.value;
      next = reader.read();
      result = await firstOf(next);
      if (result !== NOT_YET && result.done) {
        res.end(chunk);
        return;
      }
      if (!res.write(chunk)) await writable(res);
      if (res.destroyed) return;
      if (result === NOT_YET) result = await next;
    }
  } catch {
    res.destroy();
  } finally {
    res.off('close', cancel);
  }
}

/** How long the headers of a streamed answer wait for its first chunk to go out with it. */
const HEADERS_WAIT_MS = 10;
const NOT_YET = Symbol('not yet');

/**
 * `read` if it settles within `ms`, or else by the end of this turn of the event loop (after its
 * I/O: whatever arrived with what was just read has been passed on by then); NOT_YET otherwise.
 */
function firstOf<T>(read: Promise<T>, ms?: number): Promise<T | typeof NOT_YET> {
  let timer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  const deadline = new Promise<typeof NOT_YET>((resolve) => {
    timer = ms === undefined ? setImmediate(resolve, NOT_YET) : setTimeout(resolve, ms, NOT_YET);
  });
  return Promise.race([read, deadline]).finally(() => (ms === undefined ? clearImmediate(timer as NodeJS.Immediate) : clearTimeout(timer as NodeJS.Timeout)));
}

function writable(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

/**
 * A body the gateway did not read (refused from the headers, or past the limit) is read and
 * dropped after the answer, so the connection can serve the next request; a client that keeps
 * sending has its connection closed after DRAIN_TIMEOUT_MS or MAX_DRAIN_BYTES.
 */
function drainUnread(req: IncomingMessage): void {
  if (req.readableEnded || req.destroyed) return;
  let bytes = 0;
  const stop = () => {
    clearTimeout(timer);
    req.off('data', onData);
    req.off('end', stop);
    req.off('error', stop);
  };
  const close = () => {
    stop();
    req.socket.destroySoon();
  };
  const onData = (chunk: Buffer) => {
    bytes += chunk.length;
    if (bytes > MAX_DRAIN_BYTES) close();
  };
  const timer = setTimeout(close, DRAIN_TIMEOUT_MS);
  timer.unref();
  req.on('data', onData);
  req.on('end', stop);
  req.on('error', stop);
  req.resume();
}
