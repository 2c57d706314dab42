/**
 * `GET /.well-known/oauth-protected-resource[/mcp/{slug}]` (RFC 9728), for both hosts: the
 * metadata an OAuth client reads after a 401 (or on its own, where the challenge header did not
 * reach it). A pure function of the public base URL and the path: no registry read, so it says
 * the same for a slug no org has (nothing to enumerate). Browser-based clients (MCP Inspector)
 * fetch it cross-origin, often with an `MCP-Protocol-Version` header that makes the browser send
 * a preflight first: both are answered for any origin, as the document holds nothing secret.
 */
import type { GatewayAnswer } from './exchange';
import { PROTECTED_RESOURCE_WELL_KNOWN, protectedResourceMetadata } from '../oauth/resource-metadata';

export { PROTECTED_RESOURCE_WELL_KNOWN } from '../oauth/resource-metadata';

const CORS = {
  'access-control-allow-origin': '*',
  'access-control-allow-methods': 'GET, HEAD, OPTIONS',
  'access-control-allow-headers': '*',
  'access-control-max-age': '86400',
} as const;

/**
 * The answer for `method` on `pathname` (the request's path, starting with the well-known
 * prefix). `baseUrl` undefined (a host that cannot tell its public URL) is 404: metadata that
 * names the wrong resource would be worse than none.
 */
export function protectedResourceAnswer(method: string, pathname: string, baseUrl: string | undefined, requestId: string): GatewayAnswer {
  const verb = method.toUpperCase();
  if (verb === 'OPTIONS') return { status: 204, headers: { ...CORS, 'x-request-id': requestId }, body: null };
  if (verb !== 'GET' && verb !== 'HEAD') return json(405, { error: 'method_not_allowed', message: 'Use GET' }, requestId, { allow: 'GET, HEAD, OPTIONS' });
  const path = pathname.startsWith(PROTECTED_RESOURCE_WELL_KNOWN) ? pathname.slice(PROTECTED_RESOURCE_WELL_KNOWN.length) : undefined;
  const metadata = baseUrl === undefined || path === undefined ? undefined : protectedResourceMetadata(baseUrl, path);
  if (!metadata) return json(404, { error: 'not_found', message: 'No protected resource is described at this path' }, requestId);
  const answer = json(200, metadata, requestId, { 'cache-control': 'public, max-age=300' });
  return verb === 'HEAD' ? { ...answer, body: null } : answer;
}

function json(status: number, value: unknown, requestId: string, extra: Record<string, string> = {}): GatewayAnswer {
  const body = JSON.stringify(value);
  return {
    status,
    headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), 'x-request-id': requestId, ...CORS, ...extra },
    body,
  };
}
