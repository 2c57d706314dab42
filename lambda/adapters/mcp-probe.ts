/**
 * The health monitor's MCP-level probe of one endpoint: initialize, list what the server offers,
 * end the session. A bare HTTP 200 is not healthy; the server has to speak MCP.
 *
 * The SDK `Client` and `StreamableHTTPClientTransport` do the protocol; every HTTP request they
 * make goes through this module's fetch, built on undici's `request`, which
 *
 * - connects through `safeLookup` (a host name that now resolves to a forbidden address is refused
 *   at connect time; IP-literal URLs, which undici never looks up, are checked before anything is
 *   sent), with the target's connect timeout (one undici `Agent` per connect timeout, reused);
 * - never follows a redirect (any 3xx is `redirect`; the SDK's own same-origin following never
 *   sees one);
 * - caps every response body at `maxResponseBytes` (a counting stream that errors, cancelling
 *   the body, so a huge answer is never buffered);
 * - aborts everything at the probe's deadline (`timeoutMs` for the whole probe, close included);
 * - answers the transport's optional standalone GET (SSE) stream with a local 405, so the probe
 *   does not hold a long-lived stream open on the upstream.
 *
 * Steps: `initialize` (+ `notifications/initialized`); `tools/list` following `nextCursor` up to
 * `maxPages` pages; `resources/list` and `prompts/list` the same way, only if the server's
 * capabilities advertise them; then `DELETE` of the session and `client.close()`, errors ignored.
 * `tools/list` goes through `client.request`, not `client.listTools`, so the upstream's output
 * schemas are not compiled into validators.
 *
 * Result:
 * - `latencyMs`: the initialize round trip (connection set-up included) when initialize succeeds,
 *   otherwise the time until the probe failed.
 * - initialize or `tools/list` fails: `ok: false` with the error class (tools are the point).
 * - `resources/list` or `prompts/list` fails, or a list still had a `nextCursor` after
 *   `maxPages` pages: `ok: true`, `errorClass: 'partial'`, and metadata of what was read (a list
 *   that failed is empty; a cut-short list holds its first pages). Its hash covers only that, so
 *   it differs from the full one: do not report a tools change from a partial result.
 * - otherwise `ok: true` with the metadata.
 *
 * Error classes: connection errors by code (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, ENOTFOUND/
 * EAI_AGAIN, PLEXMCP_FORBIDDEN_ADDRESS, TLS certificate codes); 3xx `redirect`; 401/403
 * `auth_rejected`; other non-2xx `http_status` with `httpStatus`; a body past the cap
 * `too_large`; a request answered with neither JSON nor SSE, unparsable JSON, a message that is
 * not JSON-RPC (also in an SSE event, which fails the step at once rather than at the deadline),
 * or a body cut off mid-way `invalid_response`; a JSON-RPC error, a result of the wrong shape or an
 * unsupported protocol version `protocol_error`; the deadline `timeout`.
 *
 * The result only ever holds an error class, an HTTP status and the metadata: never an upstream
 * message, URL or body. Errors never escape `probe()`.
 */
import { isIP } from 'node:net';
import type { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from 'undici';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import {
  ListPromptsResultSchema,
  ListResourcesResultSchema,
  ListToolsResultSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js';
import { buildMetadata } from '../core/health/metadata';
import type { NamedItem, ProbeErrorClass, ProbeResult, ToolInfo } from '../core/health/model';
import { forbiddenAddressReason } from '../core/url-policy';
import { safeLookup } from './undici-upstream';

export interface McpProbeOptions {
  /** Local mode: loopback upstreams are allowed (never in AWS). */
  readonly allowLoopback: boolean;
  /** Deadline for the whole probe, close included. @default 10_000 */
  readonly timeoutMs?: number;
  /** Largest body of any one HTTP response. @default 1 MiB */
  readonly maxResponseBytes?: number;
  /** Most pages read per list. @default 10 */
  readonly maxPages?: number;
}

export interface ProbeTarget {
  readonly url: string;
  /** The upstream credential headers, already built (e.g. `authorization`). */
  readonly headers: Record<string, string>;
  readonly connectTimeoutMs: number;
}

export interface McpProbe {
  probe(target: ProbeTarget): Promise<ProbeResult>;
  /** Closes the pooled connections. Probes after this open new ones. */
  close(): Promise<void>;
}

export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
export const DEFAULT_PROBE_MAX_RESPONSE_BYTES = 1024 * 1024;
export const DEFAULT_PROBE_MAX_PAGES = 10;

const CLIENT_INFO = { name: 'plexmcp-health-probe', version: '1.0.0' };

export function createMcpProbe(options: McpProbeOptions): McpProbe {
  const settings: ProbeSettings = {
    allowLoopback: options.allowLoopback,
    timeoutMs: options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS,
    maxResponseBytes: options.maxResponseBytes ?? DEFAULT_PROBE_MAX_RESPONSE_BYTES,
    maxPages: Math.max(1, options.maxPages ?? DEFAULT_PROBE_MAX_PAGES),
  };
  const agents = new Map<number, Agent>();
  const agentFor = (connectTimeoutMs: number): Agent => {
    let agent = agents.get(connectTimeoutMs);
    if (!agent) {
      agent = new Agent({
        connect: { timeout: connectTimeoutMs, lookup: safeLookup(settings.allowLoopback) as never },
        // Reused within a probe (initialize, lists, DELETE); gone well before the next one, so
        // that a probe does not report a stale pooled connection instead of the endpoint's state.
        keepAliveTimeout: 4_000,
        keepAliveMaxTimeout: 10_000,
      });
      agents.set(connectTimeoutMs, agent);
    }
    return agent;
  };

  return {
    async probe(target) {
      const started = performance.now();
      try {
        const refused = checkTarget(target.url, settings.allowLoopback);
        if (refused) return { ok: false, latencyMs: 0, errorClass: refused };
        return await new ProbeRun(settings, agentFor(target.connectTimeoutMs)).run(target);
      } catch {
        // Not expected (ProbeRun catches what it can foresee); never let anything escape.
        return { ok: false, latencyMs: Math.round(performance.now() - started), errorClass: 'unknown' };
      }
    },
    async close() {
      const all = [...agents.values()];
      agents.clear();
      await Promise.all(all.map((agent) => agent.close().catch(() => undefined)));
    },
  };
}

// ---------------------------------------------------------------------------------------------

interface ProbeSettings {
  readonly allowLoopback: boolean;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  readonly maxPages: number;
}

/** A failure as the probe reports it. Its message is the class only: nothing from the upstream. */
class ProbeFailure extends Error {
  constructor(
    readonly errorClass: ProbeErrorClass,
    readonly httpStatus?: number,
  ) {
    super(`probe failed: ${errorClass}${httpStatus ? ` ${httpStatus}` : ''}`);
    this.name = 'ProbeFailure';
  }
}

/** One step of a probe (initialize, one list, close): its own abort, tied to the deadline. */
interface Step {
  readonly controller: AbortController;
  readonly signal: AbortSignal;
  /** The first failure seen while this step ran, which is what it reports. */
  failure?: ProbeFailure;
}

class ProbeRun {
  private readonly deadline = new AbortController();
  private readonly deadlineAt: number;
  private readonly started = performance.now();
  private step: Step;
  private closing = false;
  /** When `notifications/initialized` went out, i.e. when the initialize result had come back. */
  private initializedAt?: number;

  constructor(
    private readonly settings: ProbeSettings,
    private readonly dispatcher: Agent,
  ) {
    this.deadlineAt = this.started + settings.timeoutMs;
    this.step = this.begin();
  }

  async run(target: ProbeTarget): Promise<ProbeResult> {
    const timer = setTimeout(() => this.deadline.abort(new ProbeFailure('timeout')), this.settings.timeoutMs);
    const transport = new StreamableHTTPClientTransport(new URL(target.url), {
      fetch: this.fetch,
      requestInit: { headers: target.headers },
      // A POST stream that ends early is not resumed: the probe wants an answer, not a retry.
      reconnectionOptions: { maxRetries: 0, initialReconnectionDelay: 0, maxReconnectionDelay: 0, reconnectionDelayGrowFactor: 1 },
    });
    const client = new Client(CLIENT_INFO, { capabilities: {} });
    client.onerror = (error) => this.transportError(error);
    try {
      return await this.steps(client, transport);
    } finally {
      await this.close(client, transport);
      clearTimeout(timer);
    }
  }

  private async steps(client: Client, transport: StreamableHTTPClientTransport): Promise<ProbeResult> {
    let step = this.begin();
    try {
      await client.connect(transport, this.requestOptions(step));
    } catch (error) {
      return this.failed(step, error);
    }
    const latencyMs = Math.round((this.initializedAt ?? performance.now()) - this.started);

    step = this.begin();
    let tools: ListResult<ToolInfo>;
    try {
      tools = await this.listAll(async (params) => {
        const page = await client.request({ method: 'tools/list', params }, ListToolsResultSchema, this.requestOptions(step));
        const items = page.tools.map((tool) => ({
          name: tool.name,
          title: tool.title ?? tool.annotations?.title,
          description: tool.description,
          inputSchema: tool.inputSchema,
        }));
        return { items, nextCursor: page.nextCursor };
      });
    } catch (error) {
      return this.failed(step, error);
    }

    let partial = tools.truncated;
    /** resources and prompts are optional: a failure makes the result partial, not failed. */
    const optional = async (list: (step: Step) => Promise<ListResult<NamedItem>>): Promise<NamedItem[]> => {
      try {
        const result = await list(this.begin());
        if (result.truncated) partial = true;
        return result.items;
      } catch {
        partial = true;
        return [];
      }
    };
    const capabilities = client.getServerCapabilities() ?? {};
    const resources = capabilities.resources
      ? await optional((listStep) =>
          this.listAll(async (params) => {
            const page = await client.request({ method: 'resources/list', params }, ListResourcesResultSchema, this.requestOptions(listStep));
            return { items: page.resources.map((r) => ({ name: r.name, uri: r.uri, description: r.description })), nextCursor: page.nextCursor };
          }),
        )
      : [];
    const prompts = capabilities.prompts
      ? await optional((listStep) =>
          this.listAll(async (params) => {
            const page = await client.request({ method: 'prompts/list', params }, ListPromptsResultSchema, this.requestOptions(listStep));
            return { items: page.prompts.map((p) => ({ name: p.name, description: p.description })), nextCursor: page.nextCursor };
          }),
        )
      : [];

    return {
      ok: true,
      latencyMs,
      ...(partial ? { errorClass: 'partial' as const } : {}),
      metadata: buildMetadata(tools.items, resources, prompts),
    };
  }

  /** Follows `nextCursor` for at most `maxPages` pages; `truncated` when there were more. */
  private async listAll<T>(page: (params: { cursor: string } | undefined) => Promise<{ items: T[]; nextCursor?: string }>): Promise<ListResult<T>> {
    const items: T[] = [];
    let cursor: string | undefined;
    for (let n = 0; n < this.settings.maxPages; n++) {
      const result = await page(cursor === undefined ? undefined : { cursor });
      for (const item of result.items) items.push(item);
      cursor = result.nextCursor;
      if (cursor === undefined) return { items, truncated: false };
    }
    return { items, truncated: true };
  }

  /** Sends DELETE for the session and closes the client, within what is left of the deadline. */
  private async close(client: Client, transport: StreamableHTTPClientTransport): Promise<void> {
    this.closing = true;
    this.begin();
    await transport.terminateSession().catch(() => undefined);
    await client.close().catch(() => undefined);
  }

  private failed(step: Step, error: unknown): ProbeResult {
    const failure = step.failure ?? (this.deadline.signal.aborted ? new ProbeFailure('timeout') : classifyThrown(error));
    return {
      ok: false,
      latencyMs: Math.round(performance.now() - this.started),
      errorClass: failure.errorClass,
      ...(failure.httpStatus !== undefined ? { httpStatus: failure.httpStatus } : {}),
    };
  }

  private begin(): Step {
    const controller = new AbortController();
    this.step = { controller, signal: linkedSignal([this.deadline.signal], controller) };
    return this.step;
  }

  /** Records the step's first failure and aborts the step, so a waiting request fails now. */
  private record(step: Step, failure: ProbeFailure): void {
    if (this.closing || step.signal.aborted) return;
    step.failure = failure;
    step.controller.abort(failure);
  }

  private requestOptions(step: Step) {
    // The SDK's own timer is set past the deadline: the deadline (an abort) decides.
    return { signal: step.signal, timeout: Math.max(1, Math.ceil(this.deadlineAt - performance.now())) + 1_000 };
  }

  /**
   * Errors the transport reports without failing a request (a bad SSE event is skipped and the
   * request would wait for the deadline): a body that is not JSON or not JSON-RPC fails the step.
   */
  private transportError(error: unknown): void {
    if (errorName(error) === 'SyntaxError' || isZodError(error)) this.record(this.step, new ProbeFailure('invalid_response'));
  }

  /**
   * The transport's fetch, on undici's `request` (not undici's `fetch`, which refuses the fetch
   * standard's "bad ports" such as 6000 or 10080 that the gateway itself would reach): no
   * redirects, bounded bodies, the step's abort.
   */
  private readonly fetch = async (input: string | URL, init?: RequestInit): Promise<Response> => {
    const method = (init?.method ?? 'GET').toUpperCase();
    // The standalone SSE stream is optional in MCP; a probe does not need it.
    if (method === 'GET') return new Response(null, { status: 405 });

    const step = this.step;
    const signal = init?.signal ? linkedSignal([init.signal, step.signal]) : step.signal;
    const message = parseMessage(init?.body);
    const carriesRequest = message !== undefined && 'method' in message && 'id' in message;
    if (message?.method === 'notifications/initialized' && this.initializedAt === undefined) this.initializedAt = performance.now();

    let res: Dispatcher.ResponseData;
    try {
      res = await request(input, {
        method: method as Dispatcher.HttpMethod,
        headers: Object.fromEntries(new Headers(init?.headers).entries()),
        body: typeof init?.body === 'string' ? init.body : undefined,
        signal,
        dispatcher: this.dispatcher,
        headersTimeout: this.settings.timeoutMs,
        bodyTimeout: this.settings.timeoutMs,
      });
    } catch (error) {
      if (signal.aborted) throw step.failure ?? new ProbeFailure('timeout');
      const failure = networkFailure(error) ?? new ProbeFailure('unknown');
      this.record(step, failure);
      throw failure;
    }
    // Errors reach a reader through the iterator below; one while nobody reads (or the abort of a
    // dropped body) must not be an uncaught 'error' event.
    res.body.on('error', () => undefined);

    const status = res.statusCode;
    const headers = new Headers();
    for (const [name, value] of Object.entries(res.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    const drop = () => res.body.destroy();
    const fail = (failure: ProbeFailure): never => {
      drop();
      this.record(step, failure);
      throw failure;
    };
    if (status >= 300 && status < 400) {
      // Never followed, not even within the origin (the SDK would).
      if (!this.closing) fail(new ProbeFailure('redirect'));
      drop();
      return new Response(null, { status });
    }
    if (status < 200 || status > 599) fail(new ProbeFailure('invalid_response'));
    if (!this.closing) {
      if (status === 401 || status === 403) fail(new ProbeFailure('auth_rejected'));
      if (status > 299) fail(new ProbeFailure('http_status', status));
      const contentType = (headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (carriesRequest && contentType !== 'application/json' && contentType !== 'text/event-stream') {
        // A request must be answered with JSON or SSE: a plain "OK" is not MCP.
        fail(new ProbeFailure('invalid_response'));
      }
      if (Number(headers.get('content-length') ?? '0') > this.settings.maxResponseBytes) fail(new ProbeFailure('too_large'));
    }

    if (status === 204 || status === 205) {
      drop();
      return new Response(null, { status, headers });
    }
    const body = cappedBody(
      res.body,
      this.settings.maxResponseBytes,
      () => {
        const failure = new ProbeFailure('too_large');
        this.record(step, failure);
        return failure;
      },
      () => {
        // The body broke off (connection reset, truncated): not a whole MCP answer.
        if (!signal.aborted) this.record(step, new ProbeFailure('invalid_response'));
        return step.failure ?? new ProbeFailure('timeout');
      },
    );
    return new Response(body, { status, headers });
  };
}

/**
 * A signal that aborts when `controller` or any of `sources` does, with the first reason: what
 * `AbortSignal.any` does, minus a leak. Node keeps a composite signal of `AbortSignal.any` in a
 * global set while it has an abort listener, and the SDK's `Protocol.request` never removes the
 * one it adds: every probe (client, transport, buffers) stayed reachable for good, ~30 KB each.
 * A plain controller's signal, linked by listeners on per-probe sources, goes with its probe.
 */
function linkedSignal(sources: readonly AbortSignal[], controller = new AbortController()): AbortSignal {
  for (const source of sources) {
    if (source.aborted) {
      controller.abort(source.reason);
      break;
    }
    source.addEventListener('abort', () => controller.abort(source.reason), { once: true });
  }
  return controller.signal;
}

interface ListResult<T> {
  readonly items: T[];
  readonly truncated: boolean;
}

/**
 * undici's response body as a web stream, with a count: past `maxBytes` it errors (and destroys
 * the body, which ends the upstream request) instead of passing more on. One chunk per pull, so
 * nothing is read ahead of the reader. (Not `Readable.toWeb`: cancelling it while data still
 * arrives throws from a 'data' handler.)
 */
function cappedBody(body: Readable, maxBytes: number, tooLarge: () => Error, broken: () => Error): ReadableStream<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]() as AsyncIterator<Uint8Array>;
  let seen = 0;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let next: IteratorResult<Uint8Array>;
        try {
          next = await chunks.next();
        } catch {
          controller.error(broken());
          return;
        }
        if (next.done) {
          controller.close();
          return;
        }
        seen += next.value.byteLength;
        if (seen > maxBytes) {
          body.destroy();
          controller.error(tooLarge());
          return;
        }
        controller.enqueue(next.value);
      },
      cancel() {
        body.destroy();
      },
    },
    { highWaterMark: 0 },
  );
}

/** Refuses, before anything is sent, what the connect-time DNS check cannot see. */
function checkTarget(raw: string, allowLoopback: boolean): ProbeErrorClass | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return 'unknown';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'forbidden_address';
  // undici does not look up IP literals, so safeLookup never sees them.
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(host) !== 0 && forbiddenAddressReason(host, allowLoopback) !== undefined) return 'forbidden_address';
  return undefined;
}

function parseMessage(body: unknown): { method?: unknown; id?: unknown } | undefined {
  if (typeof body !== 'string') return undefined;
  try {
    const parsed: unknown = JSON.parse(body);
    return parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as { method?: unknown; id?: unknown }) : undefined;
  } catch {
    return undefined;
  }
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID',
  'CERT_REVOKED', 'CERT_UNTRUSTED', 'CERT_REJECTED', 'HOSTNAME_MISMATCH', 'EPROTO',
]);

/** The class of a connection-level error, from its code (or its causes' codes). */
function networkFailure(error: unknown): ProbeFailure | undefined {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') {
      const errorClass = networkClass(code);
      if (errorClass) return new ProbeFailure(errorClass);
    }
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function networkClass(code: string): ProbeErrorClass | undefined {
  switch (code) {
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
      return 'connect_refused';
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'ETIMEDOUT':
      return 'connect_timeout';
    // undici's own header and body timers equal the probe's deadline and, on a busy event loop,
    // may fire just before it.
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
      return 'timeout';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EAI_FAIL':
    case 'EAI_NONAME':
    case 'ENODATA':
      return 'dns';
    case 'PLEXMCP_FORBIDDEN_ADDRESS':
      return 'forbidden_address';
    case 'ECONNRESET':
    case 'EPIPE':
    case 'UND_ERR_SOCKET':
    case 'UND_ERR_CLOSED':
      return 'invalid_response';
  }
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS_') || code.startsWith('ERR_SSL_')) return 'tls';
  if (code.startsWith('HPE_')) return 'invalid_response';
  return undefined;
}

/** What a thrown error means when no step failure was recorded and the deadline did not pass. */
function classifyThrown(error: unknown): ProbeFailure {
  if (error instanceof ProbeFailure) return error;
  // A JSON-RPC error from the server. (The SDK's own request timer is set past the deadline, so
  // an McpError is never a timeout here, whatever its code.)
  if (error instanceof McpError) return new ProbeFailure('protocol_error');
  if (error instanceof StreamableHTTPError) {
    const status = error.code;
    if (status === undefined || status < 0) return new ProbeFailure('invalid_response');
    if (status === 401 || status === 403) return new ProbeFailure('auth_rejected');
    return new ProbeFailure('http_status', status);
  }
  // By name: a SyntaxError from Response.json() may come from another realm (e.g. under jest).
  if (errorName(error) === 'SyntaxError') return new ProbeFailure('invalid_response');
  // A result that does not match the method's schema.
  if (isZodError(error)) return new ProbeFailure('protocol_error');
  // The SDK's checks of the initialize result (unsupported protocol version, no result).
  const message = (error as { message?: unknown } | null)?.message;
  if (typeof message === 'string' && /^Server('s protocol version is not supported| sent invalid initialize result)/.test(message)) {
    return new ProbeFailure('protocol_error');
  }
  return networkFailure(error) ?? new ProbeFailure('unknown');
}

function errorName(error: unknown): string | undefined {
  if (error === null || typeof error !== 'object') return undefined;
  const name = (error as { name?: unknown }).name;
  return typeof name === 'string' ? name : undefined;
}

function isZodError(error: unknown): boolean {
  return errorName(error) === 'ZodError' || (errorName(error) !== undefined && Array.isArray((error as { issues?: unknown }).issues));
}
