/**
 * The gateway as an OAuth resource server (RFC 9728, MCP authorization): each `/mcp/{slug}` is a
 * protected resource whose canonical URI is `<base>/mcp/<slug>`, described at the path-inserted
 * well-known URL `<base>/.well-known/oauth-protected-resource/mcp/<slug>`. The base URL is this
 * deployment's public one (the authorization server's issuer too), so the metadata needs no
 * registry read: it says the same for every slug, whether or not an org has it (no enumeration).
 */
import { MCP_SCOPES } from './scopes';

export const PROTECTED_RESOURCE_WELL_KNOWN = '/.well-known/oauth-protected-resource';
const SLUG_PATTERN = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/** `<base>/mcp/<slug>`: the `resource` a token for this MCP server is issued for. */
export function resourceUri(baseUrl: string, slug: string): string {
  return `${baseUrl}/mcp/${slug}`;
}

/** Where the metadata of `/mcp/<slug>` is (what a 401's `resource_metadata` names). */
export function resourceMetadataUrl(baseUrl: string, slug: string): string {
  return `${baseUrl}${PROTECTED_RESOURCE_WELL_KNOWN}/mcp/${slug}`;
}

/** The slug of a resource URI of this deployment, or undefined when it is not one. */
export function slugOfResource(baseUrl: string, resource: string): string | undefined {
  const prefix = `${baseUrl}/mcp/`;
  if (!resource.startsWith(prefix)) return undefined;
  const slug = resource.slice(prefix.length);
  return SLUG_PATTERN.test(slug) ? slug : undefined;
}

export interface ProtectedResourceMetadata {
  readonly resource: string;
  readonly authorization_servers: readonly string[];
  readonly scopes_supported: readonly string[];
  readonly bearer_methods_supported: readonly string[];
  readonly resource_name: string;
}

/**
 * The metadata for the path after the well-known prefix: `/mcp/<slug>` describes that MCP
 * server; `''` (the root form, for clients that ask the origin) describes the gateway's MCP
 * servers as one resource, `<base>/mcp`. Anything else is undefined (404).
 */
export function protectedResourceMetadata(baseUrl: string, path: string): ProtectedResourceMetadata | undefined {
  let resource: string;
  if (path === '' || path === '/') resource = `${baseUrl}/mcp`;
  else {
    const slug = /^\/mcp\/([^/]+)$/.exec(path)?.[1];
    if (slug === undefined || !SLUG_PATTERN.test(slug)) return undefined;
    resource = resourceUri(baseUrl, slug);
  }
  return {
    resource,
    authorization_servers: [baseUrl],
    scopes_supported: MCP_SCOPES,
    bearer_methods_supported: ['header'],
    resource_name: 'PlexMCP gateway',
  };
}

/**
 * The metadata URL a challenge names: the MCP's own, or the root form when the request's slug is
 * not a slug at all (it is then never quoted into a header).
 */
function challengedMetadataUrl(baseUrl: string, slug: string): string {
  return SLUG_PATTERN.test(slug) ? resourceMetadataUrl(baseUrl, slug) : `${baseUrl}${PROTECTED_RESOURCE_WELL_KNOWN}`;
}

/** `WWW-Authenticate` of a 401 for `/mcp/<slug>`: where the metadata is, and every scope. */
export function unauthorizedChallenge(baseUrl: string, slug: string, error?: 'invalid_token'): string {
  const parts = [`resource_metadata="${challengedMetadataUrl(baseUrl, slug)}"`, `scope="${MCP_SCOPES.join(' ')}"`];
  if (error) parts.unshift(`error="${error}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * `WWW-Authenticate` of a 403 `insufficient_scope`: the scopes the request needs together with
 * those the token has, in one challenge, so that a client can step up in one authorization.
 */
export function insufficientScopeChallenge(baseUrl: string, slug: string, scopes: readonly string[]): string {
  return `Bearer error="insufficient_scope", scope="${scopes.join(' ')}", resource_metadata="${challengedMetadataUrl(baseUrl, slug)}", error_description="The access token lacks a scope this request needs"`;
}
