/**
 * Where the authorization server answers, below the issuer: what the local server, the gateway and
 * the CDK routes need to know of it without loading the server itself (oidc-provider is loaded
 * only where the authorization server runs, and in local mode on its first request).
 */
/** Where the authorization server's endpoints are, below the issuer. */
export const OAUTH_ROUTES = {
  authorization: '/oauth/authorize',
  token: '/oauth/token',
  registration: '/oauth/register',
  revocation: '/oauth/revoke',
  jwks: '/oauth/jwks',
  consent: '/oauth/consent',
  /** Where an identity provider sends an org admin back to (external-sign-in.ts). */
  signInCallback: '/oauth/signin/callback',
} as const;
export const AUTHORIZATION_SERVER_WELL_KNOWN = '/.well-known/oauth-authorization-server';

/**
 * The issuer's path (an API Gateway stage: `/prod`), which every URL the server writes into a page
 * or a redirect starts with; `''` for an issuer at the root of its host.
 */
export function mountPath(issuer: string): string {
  return new URL(issuer).pathname.replace(/\/$/, '');
}

/** Whether a request path is the authorization server's (its endpoints, metadata and consent page). */
export function isAuthorizationServerPath(url: string): boolean {
  return url.startsWith('/oauth/') || url === AUTHORIZATION_SERVER_WELL_KNOWN || url.startsWith(`${AUTHORIZATION_SERVER_WELL_KNOWN}?`);
}

