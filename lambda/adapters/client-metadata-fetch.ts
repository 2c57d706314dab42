import { safeLookup } from './undici-upstream';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Agent, fetch: undiciFetch } = require('undici') as typeof import('undici');

export interface ClientMetadataFetchOptions {
  /** Local mode: loopback addresses are allowed (every other private range stays refused). */
  readonly allowLoopback: boolean;
  /** Extra trusted CA certificates (PEM), e.g. for a client metadata document on a loopback test server. @default the system's */
  readonly ca?: string;
}

/**
 * The fetch oidc-provider uses for client ID metadata documents: through the MCP URL policy's
 * connect-time address check (a name that resolves to a private, link-local or metadata address
 * is refused when connecting, whatever it resolved to before), never following a redirect.
 * oidc-provider bounds the time (2.5 s) and the body size, and checks that the document's
 * `client_id` is its URL.
 */
export function clientMetadataFetch(options: ClientMetadataFetchOptions): (url: URL | string, init: RequestInit) => Promise<Response> {
  const dispatcher = new Agent({ connect: { lookup: safeLookup(options.allowLoopback) as never, timeout: 2_500, ...(options.ca ? { ca: options.ca } : {}) } });
  // oidc-provider passes a dispatcher of its own (Node's fetch's SSRF guard): ours replaces it.
  return (url, init) => undiciFetch(String(url), { ...(init as object), redirect: 'manual', dispatcher }) as unknown as Promise<Response>;
}
