/**
 * Phase 6: send the request to the first endpoint that takes it. Only a connection that failed
 * before anything was sent moves on to the next endpoint; an upstream that refuses the gateway's
 * credentials, redirects or fails is the gateway's own 502 (its body could carry internals).
 */
import type { Endpoint, StoredMcpServer } from '../model';
import { credentialHeaders } from './credentials';
import { GatewayError } from './errors';
import type { RequestHeaders } from './exchange';
import type { PassiveHealth } from './passive-health';
import type { HttpMethod } from './read-request';
import type { Route } from './route';
import { UpstreamConnectError, UpstreamTimeoutError, type UpstreamClient, type UpstreamResponse } from './upstream';

/** Headers passed from the client to the upstream; everything else (incl. hop-by-hop) is dropped. */
const FORWARDED_REQUEST_HEADERS = ['accept', 'content-type', 'mcp-protocol-version', 'last-event-id'];

export interface Sent {
  readonly response: UpstreamResponse;
  readonly endpoint: Endpoint;
}

export interface OutgoingRequest {
  readonly method: HttpMethod;
  readonly headers: Record<string, string>;
  readonly body?: Uint8Array;
  readonly signal: AbortSignal;
}

/**
 * The headers the upstream receives: the client's protocol headers, the validated `Mcp-*` headers
 * of MCP 2026-07-28, the upstream's own session id and the gateway's credential for it.
 */
/** W3C Trace Context: `tracestate` carries at most 32 members of 256 characters, in practice ≤ 512. */
const MAX_TRACESTATE_CHARS = 512;
const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;

/**
 * A `traceparent` the upstream may receive (W3C Trace Context level 1): version 00 form, not the
 * forbidden version ff, trace id and parent id not all zeros. An invalid one is dropped with its
 * `tracestate`, as the specification says a receiver does.
 */
function validTraceparent(value: string): boolean {
  const match = TRACEPARENT.exec(value);
  return match !== null && match[1] !== 'ff' && !/^0+$/.test(match[2]!) && !/^0+$/.test(match[3]!);
}

export function upstreamHeaders(
  clientHeaders: RequestHeaders,
  requestId: string,
  mcp: StoredMcpServer,
  secret: string | undefined,
  mcpHeaders: Readonly<Record<string, string>>,
  upstreamSessionId: string | undefined,
): Record<string, string> {
  const headers: Record<string, string> = { 'user-agent': 'plexmcp-gateway', 'x-request-id': requestId };
  for (const name of FORWARDED_REQUEST_HEADERS) {
    const value = clientHeaders.get(name);
    if (value !== null) headers[name] = value;
  }
  Object.assign(headers, mcpHeaders);
  const traceparent = clientHeaders.get('traceparent');
  if (traceparent !== null && validTraceparent(traceparent)) {
    headers.traceparent = traceparent;
    const tracestate = clientHeaders.get('tracestate');
    if (tracestate !== null && tracestate.length <= MAX_TRACESTATE_CHARS) headers.tracestate = tracestate;
  }
  if (upstreamSessionId) headers['mcp-session-id'] = upstreamSessionId;
  if (secret !== undefined) Object.assign(headers, credentialHeaders(mcp.upstreamAuth, secret));
  return headers;
}

export async function sendWithFailover(
  upstream: UpstreamClient,
  passiveHealth: PassiveHealth,
  mcp: StoredMcpServer,
  route: Route,
  outgoing: OutgoingRequest,
): Promise<Sent> {
  let connectTimedOut = false;
  for (const candidate of route.candidates) {
    let response: UpstreamResponse;
    try {
      response = await upstream.send({ url: candidate.url, method: outgoing.method, headers: outgoing.headers, body: outgoing.body, signal: outgoing.signal, timeouts: mcp.timeouts });
    } catch (error) {
      if (error instanceof UpstreamConnectError) {
        passiveHealth.markDown(candidate.id);
        connectTimedOut ||= error.reason === 'UND_ERR_CONNECT_TIMEOUT';
        continue; // nothing was sent: the next endpoint may take it
      }
      if (error instanceof UpstreamTimeoutError) throw new GatewayError('upstream_timeout');
      // Nobody receives this answer; the usage record says who ended the request.
      if (outgoing.signal.aborted) throw new GatewayError('client_closed_request');
      throw new GatewayError('upstream_unavailable');
    }
    passiveHealth.markUp(candidate.id);
    await refuseUpstreamFailure(response);
    return { response, endpoint: candidate };
  }
  // Every endpoint failed before anything was sent: a session must start over elsewhere;
  // otherwise a connect timeout is reported as such, refusals as no healthy endpoint.
  throw new GatewayError(route.inSession ? 'session_not_found' : connectTimedOut ? 'upstream_timeout' : 'mcp_unhealthy');
}

async function refuseUpstreamFailure(response: UpstreamResponse): Promise<void> {
  if (response.status === 401 || response.status === 403) {
    // The upstream refused *our* credentials; passing 401 on would make the client think its
    // own key is bad (and start an OAuth flow).
    await response.body.cancel().catch(() => undefined);
    throw new GatewayError('upstream_auth_failed');
  }
  if ((response.status >= 300 && response.status < 400) || response.status >= 500) {
    // Redirects are not followed (they could point anywhere) and upstream failure bodies may
    // carry its internals (stack traces, hosts): both become the gateway's own 502.
    await response.body.cancel().catch(() => undefined);
    throw new GatewayError('upstream_error');
  }
}
