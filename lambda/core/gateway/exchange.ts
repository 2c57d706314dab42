/**
 * What the core gateway reads of a request and what it answers with: the few things a proxy hop
 * needs (method, headers, the body on demand, a signal for the client going away; status, headers
 * and a body), not web Request/Response objects. A host adapts its own objects to these without
 * copying: `plexmcp serve` straight from node:http (lambda/local/gateway-front.ts), anything that
 * has a web Request (the Lambda adapter, tests) through `fromWebRequest` and `toWebResponse`.
 */
import { GatewayError } from './errors';
import { readStreamBounded } from './streams';

/** Request headers by lower-case name. A web `Headers` object is one. */
export interface RequestHeaders {
  /** The value of `name` (lower case), repeated headers joined with ", " as web Headers do; null when absent. */
  get(name: string): string | null;
  /** Every header once, with its lower-case name and its (joined) value. */
  forEach(callback: (value: string, name: string) => void): void;
}

export interface GatewayRequest {
  /** The HTTP method as received. */
  readonly method: string;
  readonly headers: RequestHeaders;
  /**
   * The whole body. Rejects with GatewayError `body_too_large` as soon as it passes `limit` bytes
   * (whatever Content-Length said) and with `invalid_request` when it cannot be read. Called at
   * most once, and only once the caller is known.
   */
  readBody(limit: number): Promise<Uint8Array>;
  /** Aborted when the client goes away: the upstream request is cancelled with it. */
  readonly signal: AbortSignal;
}

export interface GatewayAnswer {
  readonly status: number;
  /** Lower-case names. A body of known length comes with its `content-length`. */
  readonly headers: Record<string, string>;
  /** A stream is passed on chunk by chunk as it arrives; cancelling it ends the upstream request. */
  readonly body: Uint8Array | string | ReadableStream<Uint8Array> | null;
}

export interface GatewayRequestInfo {
  readonly slug: string;
  /** The caller's address as the network saw it (never X-Forwarded-For from the client). */
  readonly sourceIp: string;
  readonly requestId: string;
  /**
   * This deployment's public base URL as the client reached it (`https://<domain>[/<stage>]`,
   * `http://127.0.0.1:8787`; public-url.ts): OAuth resource URIs and challenges are built on it.
   * @default GatewayDeps.publicBaseUrl of the request's headers
   */
  readonly baseUrl?: string;
}

/** The data plane for one request (gateway.ts). */
export type Gateway = (request: GatewayRequest, info: GatewayRequestInfo) => Promise<GatewayAnswer>;

/** A web Request as the core reads it: its own Headers and signal, its body stream read bounded. */
export function fromWebRequest(request: Request): GatewayRequest {
  return {
    method: request.method,
    headers: request.headers,
    signal: request.signal,
    readBody: async (limit) => {
      if (!request.body) return new Uint8Array();
      try {
        return await readStreamBounded(request.body, limit);
      } catch (error) {
        if (error instanceof GatewayError) throw error;
        throw new GatewayError('invalid_request', {}, 'The request body could not be read');
      }
    },
  };
}

/** The answer as a web Response (the length of a fixed body is the Response's own business). */
export function toWebResponse(answer: GatewayAnswer): Response {
  const headers = new Headers(answer.headers);
  headers.delete('content-length');
  return new Response(answer.body, { status: answer.status, headers });
}
