import { performance } from 'node:perf_hooks';
import { checkEndpointUrl, type Resolver } from '../core/url-policy';
import { signDelivery } from '../core/webhooks/signing';
import { systemResolver } from './dns-resolver';
import { Agent, dispatchRequest, safeLookup } from './undici-upstream';

/**
 * One webhook delivery attempt. The URL is checked with the MCP endpoint URL policy (https only
 * in AWS mode, every resolved address public unicast) before anything is sent, and again at
 * connect time through the same safe lookup as the gateway's upstream client, so a name that
 * was public when the check ran cannot be re-pointed at the gateway's network or a metadata
 * service. Redirects are never followed: undici's Agent has no redirect interceptor, so a 3xx is
 * just a status, and a failure. Nothing from the receiver but its status and Retry-After header
 * is kept: bodies never reach results or logs.
 */

/** Total budget of one attempt (connect, send, headers), as the Standard Webhooks guidance. */
export const DEFAULT_ATTEMPT_TIMEOUT_MS = 15_000;

/** Stable codes for an attempt that did not end in a 2xx. */
export type WebhookErrorClass =
  | 'forbidden_url' // refused by the URL policy before any connection
  | 'forbidden_address' // the host resolved to a forbidden address at connect time
  | 'timeout'
  | 'connect_failed' // refused, unreachable, no such host
  | 'tls' // certificate or handshake failure
  | 'network' // the connection broke mid-exchange
  | 'redirect' // a 3xx: not followed
  | 'http_status'; // any other non-2xx status

export interface WebhookAttempt {
  readonly url: string;
  /** The message id: the same on every attempt of one event. */
  readonly id: string;
  /** The event as JSON text; signed and sent byte for byte. */
  readonly body: string;
  /** Current secret first, then the previous one during a rotation's overlap. */
  readonly secrets: readonly string[];
}

export interface AttemptResult {
  /** The receiver's status, when it answered. */
  readonly status?: number;
  readonly latencyMs: number;
  readonly errorClass?: WebhookErrorClass;
  /** The receiver's Retry-After header, for the schedule (a header value, not a body). */
  readonly retryAfter?: string;
}

export interface WebhookSenderOptions {
  /** Local mode: plain http and loopback receivers are allowed. Never in AWS. */
  readonly allowLoopback: boolean;
  /** Resolver for the pre-connection check; the system resolver by default. */
  readonly resolve?: Resolver;
  /** Total time an attempt may take; DEFAULT_ATTEMPT_TIMEOUT_MS by default (tests shorten it). */
  readonly timeoutMs?: number;
  /** Clock for the signature timestamp. */
  readonly now?: () => Date;
}

const CONNECT_FAILURES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL']);
const TIMEOUTS = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT']);
const TLS_FAILURES = /^(ERR_TLS_|ERR_SSL_|CERT_|DEPTH_ZERO_SELF_SIGNED_CERT$|SELF_SIGNED_CERT_IN_CHAIN$|UNABLE_TO_)/;
/** Enough of an answer body to keep the connection reusable; the rest is dropped with it. */
const DRAIN_LIMIT_BYTES = 64 * 1024;

export class WebhookSender {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly resolve: Resolver;
  private readonly now: () => Date;

  constructor(private readonly options: WebhookSenderOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
    this.resolve = options.resolve ?? systemResolver;
    this.now = options.now ?? (() => new Date());
    this.agent = new Agent({
      connect: { timeout: this.timeoutMs, lookup: safeLookup(options.allowLoopback) as never },
      keepAliveTimeout: 10_000,
      keepAliveMaxTimeout: 30_000,
    });
  }

  async send(attempt: WebhookAttempt): Promise<AttemptResult> {
    const started = performance.now();
    const elapsed = () => Math.round(performance.now() - started);
    const checked = await checkEndpointUrl(attempt.url, 'url', { allowLoopback: this.options.allowLoopback, resolve: this.resolve });
    if ('problem' in checked) return { latencyMs: elapsed(), errorClass: 'forbidden_url' };

    // Signed per attempt: receivers refuse timestamps older than 5 minutes, and retries come later.
    const signed = signDelivery({ id: attempt.id, timestamp: this.now(), body: attempt.body }, attempt.secrets);
    const url = new URL(checked.url);
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new Error('webhook attempt timed out')), this.timeoutMs);
    try {
      const res = await dispatchRequest(this.agent, {
        origin: url.origin,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...signed, 'content-type': 'application/json', 'user-agent': 'PlexMCP-Webhooks/1' },
        body: attempt.body,
        signal: abort.signal,
        headersTimeout: this.timeoutMs,
        bodyTimeout: this.timeoutMs,
      });
      const latencyMs = elapsed();
      // The answer's body is never read into memory or kept; draining is only for connection reuse.
      res.body.dump({ limit: DRAIN_LIMIT_BYTES }).catch(() => undefined);
      const header = res.headers['retry-after'];
      const retryAfter = Array.isArray(header) ? header[0] : header;
      const status = res.statusCode;
      const errorClass: WebhookErrorClass | undefined =
        status >= 200 && status <= 299 ? undefined : status >= 300 && status <= 399 ? 'redirect' : 'http_status';
      return { status, latencyMs, ...(errorClass ? { errorClass } : {}), ...(retryAfter !== undefined ? { retryAfter } : {}) };
    } catch (error) {
      return { latencyMs: elapsed(), errorClass: abort.signal.aborted ? 'timeout' : errorClassOf(error) };
    } finally {
      clearTimeout(timer);
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function errorClassOf(error: unknown): WebhookErrorClass {
  const code = (error as { code?: string }).code ?? (error as { cause?: { code?: string } }).cause?.code ?? '';
  if (code === 'PLEXMCP_FORBIDDEN_ADDRESS') return 'forbidden_address';
  if (TIMEOUTS.has(code)) return 'timeout';
  if (CONNECT_FAILURES.has(code)) return 'connect_failed';
  if (TLS_FAILURES.test(code)) return 'tls';
  return 'network';
}
