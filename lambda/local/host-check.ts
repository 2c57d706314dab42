import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import * as ipaddr from 'ipaddr.js';
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
    const requestId = randomUUID();
    const headers = { 'Content-Type': 'application/json', 'X-Request-Id': requestId, 'Cache-Control': 'no-store' };
    if (c.req.path === '/mcp' || c.req.path.startsWith('/mcp/')) {
      const body = jsonRpcErrorBody(null, GATEWAY_FORBIDDEN, HOST_NOT_ALLOWED_MESSAGE, { code: HOST_NOT_ALLOWED, requestId });
      return new Response(body, { status: 403, headers });
    }
    const body = JSON.stringify({ error: { code: HOST_NOT_ALLOWED, message: HOST_NOT_ALLOWED_MESSAGE, requestId } });
    return new Response(body, { status: 403, headers });
  };
}
