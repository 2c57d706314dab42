import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import * as ipaddr from 'ipaddr.js';
import type { GatewayAnswer } from '../core/gateway/exchange';
import { GATEWAY_FORBIDDEN, jsonRpcErrorBody } from '../core/gateway/jsonrpc';
import { isLoopbackHost } from '../core/origin-policy';

export const HOST_NOT_ALLOWED = 'host_not_allowed';
export const HOST_NOT_ALLOWED_MESSAGE = 'This server is bound to loopback and answers only requests for localhost or a loopback address';

/** Whether a listening socket's address is a loopback one (127.0.0.0/8, ::1, or IPv4-mapped 127.x). */
export function isLoopbackAddress(address: string): boolean {
  return ipaddr.isValid(address) && ipaddr.process(address).range() === 'loopback';
}

/**
 * DNS-rebinding defence for `plexmcp serve` bound to loopback: a web page on a name that the
 * attacker re-points at 127.0.0.1 reaches this server with that name in `Host`, so every request
 * whose `Host` is not a loopback name is refused with 403 `host_not_allowed` before anything else
 * runs (no body is read). `/mcp/...` answers are JSON-RPC errors (`id: null`, the body is never
 * read), like the gateway's own; every other path gets the admin API's error shape. Bound to
 * another address the operator chose to be reachable under other names, and `enabled` is false.
 */
export function loopbackHostGuard(enabled: () => boolean): MiddlewareHandler {
  return async (c, next) => {
    if (!enabled() || isLoopbackHost(c.req.header('host') ?? null)) return next();
    const answer = hostNotAllowedAnswer(randomUUID(), c.req.path === '/mcp' || c.req.path.startsWith('/mcp/'));
    return new Response(answer.body, { status: answer.status, headers: answer.headers });
  };
}

/** The 403 `host_not_allowed` answer: a JSON-RPC error for `/mcp/...` (`mcp`), the admin API's error shape otherwise. */
export function hostNotAllowedAnswer(requestId: string, mcp: boolean): GatewayAnswer & { readonly body: string } {
  const body = mcp
    ? jsonRpcErrorBody(null, GATEWAY_FORBIDDEN, HOST_NOT_ALLOWED_MESSAGE, { code: HOST_NOT_ALLOWED, requestId })
    : JSON.stringify({ error: { code: HOST_NOT_ALLOWED, message: HOST_NOT_ALLOWED_MESSAGE, requestId } });
  const headers = { 'content-type': 'application/json', 'x-request-id': requestId, 'cache-control': 'no-store', 'content-length': String(Buffer.byteLength(body)) };
  return { status: 403, headers, body };
}
