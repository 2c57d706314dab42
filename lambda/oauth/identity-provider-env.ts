/**
 * The consent page's identity provider as the OAuth function's environment carries it (written by
 * the OAuthServer construct, lib/oauth-server.ts): `PLEXMCP_IDP`, JSON of the provider without its
 * secret, and `PLEXMCP_IDP_CLIENT_SECRET_ARN`, the Secrets Manager secret whose value is the
 * client secret (read with the cookie keys, so a rotation reaches warm instances the same way).
 *
 * The checks are the construct's too ({@link identityProviderProblem}), so a configuration that
 * synthesizes is one the function accepts; the function checks again because its environment can
 * be edited outside CloudFormation, and a wrong one must fail at init, naming the variable, rather
 * than as a sign-in that never works.
 */
import type { ConsentIdentityProvider } from '../core/oauth/external-sign-in';

export const IDENTITY_PROVIDER_ENV = 'PLEXMCP_IDP';
export const IDENTITY_PROVIDER_SECRET_ENV = 'PLEXMCP_IDP_CLIENT_SECRET_ARN';

/** The provider as `PLEXMCP_IDP` holds it: everything but the client secret. */
export type IdentityProviderConfig = Omit<ConsentIdentityProvider, 'clientSecret'>;

export interface IdentityProviderEnv {
  readonly provider: IdentityProviderConfig;
  /** The secret holding the client secret; undefined for a public client (PKCE only). */
  readonly clientSecretArn?: string;
}

/** The longest org id a claim may map to (ExternalSignIn drops longer ones). */
export const MAX_IDP_ORG_ID_LENGTH = 128;
/** The longest button label: "Sign in with <displayName>". */
export const MAX_IDP_DISPLAY_NAME_LENGTH = 100;

const FIELDS = ['issuer', 'clientId', 'displayName', 'orgClaim', 'orgs', 'scopes'] as const;

/**
 * What is wrong with an identity provider configuration, phrased after its field
 * (`issuer must be …`), or undefined when nothing is. Checks the shape of each field only: whether
 * the issuer answers, and the claim is in its ID tokens, shows at the first sign-in.
 */
export function identityProviderProblem(config: { readonly [field: string]: unknown }): string | undefined {
  const { issuer, clientId, displayName, orgClaim, orgs, scopes } = config;
  if (!isIssuer(issuer)) {
    return `issuer must be an https:// URL without credentials, query, fragment or trailing slash after a path (the issuer exactly as the provider's discovery document names it), got ${JSON.stringify(issuer)}`;
  }
  if (!isTrimmedText(clientId)) return `clientId must be a non-empty string without surrounding spaces, got ${JSON.stringify(clientId)}`;
  if (displayName !== undefined && !(isTrimmedText(displayName) && displayName.length <= MAX_IDP_DISPLAY_NAME_LENGTH)) {
    return `displayName must be 1-${MAX_IDP_DISPLAY_NAME_LENGTH} characters without surrounding spaces, got ${JSON.stringify(displayName)}`;
  }
  if (!isTrimmedText(orgClaim)) return `orgClaim must be the name of an ID token claim (a non-empty string without surrounding spaces), got ${JSON.stringify(orgClaim)}`;
  if (orgs !== undefined) {
    if (typeof orgs !== 'object' || orgs === null || Array.isArray(orgs) || Object.keys(orgs).length === 0) {
      // An empty map would let no one sign in: almost certainly not what was meant.
      return `orgs must map at least one claim value to an org id, got ${JSON.stringify(orgs)}`;
    }
    for (const [value, orgId] of Object.entries(orgs)) {
      if (value === '') return 'orgs must not map the empty claim value';
      if (typeof orgId !== 'string' || orgId === '' || orgId.length > MAX_IDP_ORG_ID_LENGTH) {
        return `orgs[${JSON.stringify(value)}] must be an org id of 1-${MAX_IDP_ORG_ID_LENGTH} characters, got ${JSON.stringify(orgId)}`;
      }
    }
  }
  if (scopes !== undefined && !(Array.isArray(scopes) && scopes.every((scope) => typeof scope === 'string' && /^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)))) {
    // RFC 6749 section 3.3: scope tokens are printable ASCII without spaces, quotes or backslashes.
    return `scopes must be a list of scope names, each without spaces, got ${JSON.stringify(scopes)}`;
  }
  return undefined;
}

/**
 * The identity provider from the function's environment, or undefined when `PLEXMCP_IDP` is
 * unset (the consent page then signs in with org admin keys only). Throws, naming the variable,
 * on anything that is not a complete, valid configuration.
 */
export function parseIdentityProviderEnv(json: string | undefined, clientSecretArn: string | undefined): IdentityProviderEnv | undefined {
  if (json === undefined || json === '') {
    if (clientSecretArn) throw new Error(`environment variable ${IDENTITY_PROVIDER_SECRET_ENV} is set without ${IDENTITY_PROVIDER_ENV}`);
    return undefined;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    throw new Error(`environment variable ${IDENTITY_PROVIDER_ENV} is not JSON`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error(`environment variable ${IDENTITY_PROVIDER_ENV} must be a JSON object {issuer, clientId, orgClaim, displayName?, orgs?, scopes?}`);
  }
  const config = parsed as Record<string, unknown>;
  // A misspelt optional field would otherwise be dropped without a word (say `org` for `orgs`,
  // which would turn claim values into org ids).
  const unknown = Object.keys(config).filter((field) => !(FIELDS as readonly string[]).includes(field));
  if (unknown.length > 0) throw new Error(`environment variable ${IDENTITY_PROVIDER_ENV} has unknown fields: ${unknown.join(', ')} (known: ${FIELDS.join(', ')})`);
  const problem = identityProviderProblem(config);
  if (problem !== undefined) throw new Error(`environment variable ${IDENTITY_PROVIDER_ENV}: ${problem}`);
  const provider: IdentityProviderConfig = {
    issuer: config.issuer as string,
    clientId: config.clientId as string,
    orgClaim: config.orgClaim as string,
    ...(config.displayName !== undefined ? { displayName: config.displayName as string } : {}),
    ...(config.orgs !== undefined ? { orgs: config.orgs as Record<string, string> } : {}),
    ...(config.scopes !== undefined ? { scopes: config.scopes as string[] } : {}),
  };
  return { provider, ...(clientSecretArn ? { clientSecretArn } : {}) };
}

/**
 * The client secret from its secret's value: the secret itself as plain text (trimmed, as a value
 * pasted with a newline is). Refuses an empty value, and JSON key/value pairs, which the
 * Secrets Manager console writes by default and which the provider would refuse as a secret.
 */
export function parseClientSecret(value: string): string {
  const secret = value.trim();
  if (secret === '') throw new Error('the identity provider client secret is empty');
  if (secret.startsWith('{')) {
    let json = false;
    try {
      JSON.parse(secret);
      json = true;
    } catch {
      // Not JSON: a secret that happens to begin with a brace.
    }
    if (json) throw new Error('the identity provider client secret must be the secret itself as plain text, not JSON key/value pairs');
  }
  return secret;
}

function isIssuer(value: unknown): value is string {
  if (typeof value !== 'string' || !value.startsWith('https://') || /[?#\s]/.test(value)) return false;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return false;
  }
  // openid-client compares the discovery document's issuer with this one as URLs: the bare host
  // with or without its slash is the same issuer, a path with a trailing slash is another.
  return url.protocol === 'https:' && url.hostname !== '' && url.username === '' && url.password === '' && (url.pathname === '/' || !url.pathname.endsWith('/'));
}

function isTrimmedText(value: unknown): value is string {
  return typeof value === 'string' && value !== '' && value.trim() === value;
}
