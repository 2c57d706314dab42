import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { Readable } from 'node:stream';
import type * as Undici from 'undici';
import { forbiddenAddressReason } from '../core/url-policy';
import {
  UpstreamBodyTooLargeError,
  UpstreamConnectError,
  UpstreamFailedError,
  UpstreamTimeoutError,
  type UpstreamClient,
  type UpstreamRequest,
  type UpstreamResponse,
  type ResponseHeaders,
} from '../core/gateway/upstream';

/*
 * undici, without its package entry. `require('undici')` loads every part of undici — fetch,
 * WebSocket, EventSource, caches, mocks, proxy agents — about 740 KB of the gateway's bundle and
 * their evaluation at cold start, and esbuild cannot drop the unused parts of CommonJS. The data
 * plane needs the HTTP/1 dispatchers and `request`, so it loads those files directly (undici has
 * no `exports` map: the paths resolve under Node, tsx, jest and esbuild alike). The types are the
 * package's own. `request` is called on the dispatcher, as the package entry's wrapper does: the
 * entry is also what copies the API methods onto Dispatcher.prototype, so `pool.request` would
 * not exist here.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- deep CommonJS paths have no typings; typed by the package's own declarations */
export const Agent = require('undici/lib/dispatcher/agent') as typeof Undici.Agent;
export const Pool = require('undici/lib/dispatcher/pool') as typeof Undici.Pool;
// ...and as types, so that `import { Agent, Pool }` from here reads like the import from 'undici'.
export type Agent = Undici.Agent;
export type Pool = Undici.Pool;
const apiRequest = require('undici/lib/api/api-request') as (this: Undici.Dispatcher, options: Undici.Dispatcher.RequestOptions) => Promise<Undici.Dispatcher.ResponseData>;
const errors = require('undici/lib/core/errors') as typeof Undici.errors;
/* eslint-enable @typescript-eslint/no-require-imports */

/** One request on `dispatcher` (an Agent or a Pool); `origin` and `path` are in the options. */
export function dispatchRequest(dispatcher: Undici.Dispatcher, options: Undici.Dispatcher.RequestOptions): Promise<Undici.Dispatcher.ResponseData> {
  return apiRequest.call(dispatcher, options);
}

/** Errors that mean nothing reached the upstream, so another endpoint may take the request. */
const CONNECT_ERROR_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL',
  'UND_ERR_CONNECT_TIMEOUT', 'PLEXMCP_FORBIDDEN_ADDRESS', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED',
]);

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;

/**
 * DNS lookup that refuses forbidden addresses at connect time, so a host name that pointed at a
 * public address when it was registered cannot be re-pointed (DNS rebinding) at the gateway's
 * own network or a metadata service.
 */
export function safeLookup(allowLoopback: boolean) {
  return (hostname: string, options: { all?: boolean; family?: number }, callback: LookupCallback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (error, addresses) => {
      if (error) return callback(error, []);
      const forbidden = addresses.find((a) => forbiddenAddressReason(a.address, allowLoopback) !== undefined);
      if (forbidden || addresses.length === 0) {
        const refusal: NodeJS.ErrnoException = new Error('upstream host resolves to a forbidden address');
        refusal.code = 'PLEXMCP_FORBIDDEN_ADDRESS';
        return callback(refusal, []);
      }
      if (options.all) return callback(null, addresses);
      return callback(null, addresses[0]!.address, addresses[0]!.family);
    });
  };
}

/**
 * Upstream HTTP through undici: connection pooling, a connect timeout per agent, first-byte
 * (headers) and idle (body) timeouts per request, and cancellation from the client's signal.
 */
export class UndiciUpstreamClient implements UpstreamClient {
  private readonly agents = new Map<number, Agent>();

  constructor(private readonly options: { allowLoopback: boolean }) {}

  private agent(connectMs: number): Agent {
    let agent = this.agents.get(connectMs);
    if (!agent) {
      agent = new Agent({
        connect: { timeout: connectMs, lookup: safeLookup(this.options.allowLoopback) as never },
        keepAliveTimeout: 30_000,
        // Upstreams may answer slowly but must not hold sockets forever.
        keepAliveMaxTimeout: 60_000,
      });
      this.agents.set(connectMs, agent);
    }
    return agent;
  }

  async send(req: UpstreamRequest): Promise<UpstreamResponse> {
    try {
      const url = new URL(req.url);
      const res = await dispatchRequest(this.agent(req.timeouts.connectMs), {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: req.method,
        headers: req.headers,
        body: req.body,
        signal: req.signal,
        headersTimeout: req.timeouts.firstByteMs,
        bodyTimeout: req.timeouts.idleMs,
      });
      const headers = headerLookup(res.headers);
      let stream: ReadableStream<Uint8Array> | undefined;
      return {
        status: res.statusCode,
        headers,
        get body() {
          stream ??= pulledStream(res.body);
          return stream;
        },
        readAll: (limit) => readAll(res.body, limit),
      };
    } catch (error) {
      throw classify(error);
    }
  }

  async close(): Promise<void> {
    await Promise.all([...this.agents.values()].map((agent) => agent.close()));
  }
}

/**
 * undici's response headers (lower-case names, repeated ones as arrays) read as web Headers read
 * them, without copying them into a Headers object (which would also load Node's fetch classes).
 */
function headerLookup(raw: Record<string, string | string[] | undefined>): ResponseHeaders {
  return {
    get(name) {
      const value = raw[name];
      return value === undefined ? null : Array.isArray(value) ? value.join(', ') : value;
    },
  };
}

/**
 * undici's response body as a web stream, read one chunk per pull. Not `Readable.toWeb`: when its
 * stream is cancelled while the body still has data coming (the gateway discarding an upstream
 * 401, a client going away mid-stream), the adapter enqueues into the closed controller from a
 * 'data' handler, and that TypeError is an uncaught exception that ends the process.
 */
function pulledStream(body: Readable): ReadableStream<Uint8Array> {
  // Errors reach the reader through the iterator; without a listener, one that happens while
  // nobody is reading (or the abort of a cancelled body) would be an uncaught 'error' event.
  body.on('error', () => undefined);
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        // Rejects when the upstream dies or idles past bodyTimeout: the stream errors with it.
        const { done, value } = await chunks.next();
        if (done) controller.close();
        else controller.enqueue(value);
      },
      cancel() {
        // Ends the upstream request (undici drops the connection of an unfinished body).
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Reads a whole body straight from undici's stream (no web-stream hops), up to `limit` bytes. */
async function readAll(body: Readable, limit: number): Promise<Uint8Array> {
  body.on('error', () => undefined);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      body.destroy();
      throw new UpstreamBodyTooLargeError();
    }
    chunks.push(chunk);
  }
  return chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
}

function classify(error: unknown): Error {
  if (error instanceof errors.HeadersTimeoutError) return new UpstreamTimeoutError();
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code;
  if (code && CONNECT_ERROR_CODES.has(code)) return new UpstreamConnectError(code);
  if ((error as Error).name === 'AbortError') return error as Error;
  return new UpstreamFailedError(code ?? (error as Error).name ?? 'unknown');
}
