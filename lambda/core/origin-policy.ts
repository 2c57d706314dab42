/**
 * DNS-rebinding defences shared by the gateway and the admin API. The MCP transport spec: servers
 * MUST validate `Origin` on every request and answer 403 when it is present and not allowed.
 * Agents (SDKs, mcp-remote, Claude Desktop) send no `Origin`; browsers always do, so by default
 * every browser origin is refused.
 */

/** `scheme://host[:port]` in lower case with default ports dropped, or undefined when it is not an origin. */
export function normalizeOrigin(origin: string): string | undefined {
  if (origin.length > 2048) return undefined;
  try {
    const url = new URL(origin);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') return undefined;
    if (url.username || url.password || (url.pathname !== '/' && url.pathname !== '') || url.search || url.hash) return undefined;
    return url.origin.toLowerCase();
  } catch {
    return undefined;
  }
}

/** Whether a request with this `Origin` header value (null when absent) may proceed. */
export function originAllowed(origin: string | null, allowedOrigins: readonly string[]): boolean {
  if (origin === null) return true;
  const normalized = normalizeOrigin(origin);
  if (normalized === undefined) return false; // `null`, opaque or malformed origins
  return allowedOrigins.some((allowed) => normalizeOrigin(allowed) === normalized);
}

const LOOPBACK_NAMES = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * Whether a `Host` header names this machine's loopback interface (with any port). A server bound
 * to loopback refuses other names: a page on a rebound DNS name reaches it with `Host: evil.test`.
 */
export function isLoopbackHost(host: string | null): boolean {
  if (host === null) return false;
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::(\d{1,5}))?$/i.exec(host.trim());
  if (!match) return false;
  const name = match[1]!.toLowerCase();
  return LOOPBACK_NAMES.has(name) || name.endsWith('.localhost') || /^127(?:\.\d{1,3}){3}$/.test(name);
}
