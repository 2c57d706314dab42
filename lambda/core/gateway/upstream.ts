import type { Timeouts } from '../model';

/** One request to an upstream MCP endpoint. */
export interface UpstreamRequest {
  readonly url: string;
  readonly method: 'POST' | 'GET' | 'DELETE';
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
  readonly timeouts: Timeouts;
  /** Aborted when the client goes away: the upstream request is cancelled with it. */
  readonly signal: AbortSignal;
}

/** Response headers by lower-case name, repeated ones joined with ", " (a web Headers is one). */
export interface ResponseHeaders {
  get(name: string): string | null;
}

export interface UpstreamResponse {
  readonly status: number;
  readonly headers: ResponseHeaders;
  /** Streamed as it arrives; errors if the upstream stalls beyond the idle timeout or dies. */
  readonly body: ReadableStream<Uint8Array>;
  /**
   * The whole body at once, for single JSON answers (cheaper than the stream); rejects past
   * `limit` bytes. Use either this or `body`, not both.
   */
  readAll(limit: number): Promise<Uint8Array>;
}

/** A body larger than the limit the caller gave. */
export class UpstreamBodyTooLargeError extends Error {
  constructor() {
    super('upstream body too large');
    this.name = 'UpstreamBodyTooLargeError';
  }
}

/** The connection failed before anything was sent: another endpoint may take the request. */
export class UpstreamConnectError extends Error {
  constructor(readonly reason: string) {
    super(`upstream connection failed: ${reason}`);
    this.name = 'UpstreamConnectError';
  }
}

/** No response headers within the first-byte timeout. */
export class UpstreamTimeoutError extends Error {
  constructor() {
    super('upstream did not answer in time');
    this.name = 'UpstreamTimeoutError';
  }
}

/** The request may have reached the upstream, which then failed (reset, closed). */
export class UpstreamFailedError extends Error {
  constructor(readonly reason: string) {
    super(`upstream failed: ${reason}`);
    this.name = 'UpstreamFailedError';
  }
}

/** How the gateway talks HTTP to upstreams (undici in both Lambda and local mode). */
export interface UpstreamClient {
  send(request: UpstreamRequest): Promise<UpstreamResponse>;
}
