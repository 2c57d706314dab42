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
  return async (url, init) => withoutScope((await undiciFetch(String(url), { ...(init as object), redirect: 'manual', dispatcher })) as unknown as Response);
}

/** oidc-provider's own cap on a client metadata document. */
const MAX_DOCUMENT_BYTES = 5 * 1024;

/**
 * A document's `scope` is dropped (as a registration's is): MCP scopes are resource scopes granted
 * at consent, and oidc-provider refuses a client whose `scope` is not one of its OpenID scopes.
 * Anything that is not a small JSON object is passed on untouched, for oidc-provider to refuse.
 */
async function withoutScope(response: Response): Promise<Response> {
  if (response.status !== 200) return response;
  const length = Number(response.headers.get('content-length') ?? 0);
  if (length > MAX_DOCUMENT_BYTES) return response;
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of response.body ?? []) {
    size += (chunk as Uint8Array).length;
    // Too large: rather than read on (leaving the loop cancels the stream), hand oidc-provider a
    // body over its cap, which it refuses.
    if (size > MAX_DOCUMENT_BYTES) return new Response(new Uint8Array(MAX_DOCUMENT_BYTES + 1), { status: response.status, headers: response.headers });
    chunks.push(chunk as Uint8Array);
  }
  const bytes = Buffer.concat(chunks);
  const passOn = () => new Response(bytes, { status: response.status, headers: response.headers });
  let document: unknown;
  try {
    document = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return passOn();
  }
  if (document === null || typeof document !== 'object' || Array.isArray(document) || !('scope' in document)) return passOn();
  const rest = { ...(document as Record<string, unknown>) };
  delete rest.scope;
  const headers = new Headers(response.headers);
  headers.delete('content-length');
  return new Response(JSON.stringify(rest), { status: response.status, headers });
}
