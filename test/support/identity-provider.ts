/**
 * An OpenID Provider on loopback for the consent page's external sign-in: oidc-provider (OpenID
 * Certified) with its development login form (any user name signs in as that account, then a
 * "Continue" consent), a confidential client for the gateway, and the users' claims in the ID
 * token as Cognito, Okta and Entra put a groups claim there.
 *
 * The server listens before the gateway starts (the gateway is configured with its issuer); the
 * provider itself is made once the gateway's callback URL is known (`attach`).
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';
import type { Page } from 'playwright-core';
import type { ConsentIdentityProvider } from '../../lambda/core/oauth/external-sign-in';

export interface TestIdentityProvider {
  /** What the gateway is configured with (issuer, client id and secret, groups claim). */
  readonly config: ConsentIdentityProvider;
  /** Makes the provider, with the gateway's callback as its client's only redirect URI. */
  attach(callbackUrl: string): void;
  close(): Promise<void>;
}

export interface TestIdentityProviderOptions extends Pick<ConsentIdentityProvider, 'orgs' | 'displayName'> {
  /** How the gateway's client authenticates at the token endpoint: the only method the provider offers. @default 'client_secret_basic' */
  readonly clientAuth?: 'client_secret_basic' | 'client_secret_post';
}

/** The users' claims: `groups` is the claim the gateway is configured with; `org` a string one. */
export type TestUsers = Readonly<Record<string, { readonly email: string; readonly groups: readonly unknown[]; readonly org?: unknown }>>;

export async function startTestIdentityProvider(users: TestUsers, options: TestIdentityProviderOptions = {}): Promise<TestIdentityProvider> {
  let listener: ((req: IncomingMessage, res: ServerResponse) => void) | undefined;
  const server = createServer((req, res) => (listener ? listener(req, res) : void res.writeHead(503).end()));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientId = 'plexmcp-consent';
  const clientSecret = randomBytes(24).toString('base64url');
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    config: { issuer, clientId, clientSecret, orgClaim: 'groups', ...(options.orgs ? { orgs: options.orgs } : {}), ...(options.displayName ? { displayName: options.displayName } : {}) },
    attach(callbackUrl) {
      const clientAuth = options.clientAuth ?? 'client_secret_basic';
      const provider = quietly(() => new Provider(issuer, {
        clients: [{ client_id: clientId, client_secret: clientSecret, redirect_uris: [callbackUrl], token_endpoint_auth_method: clientAuth }],
        clientAuthMethods: [clientAuth],
        findAccount: async (_ctx, id) => {
          const user = users[id];
          return user ? { accountId: id, claims: () => ({ sub: id, name: id, email: user.email, groups: [...user.groups], ...(user.org === undefined ? {} : { org: user.org }) }) } : undefined;
        },
        claims: { openid: ['sub'], email: ['email'], profile: ['name', 'groups', 'org'] },
        // The claims of the granted scopes in the ID token itself, where the gateway reads them.
        conformIdTokenClaims: false,
        features: { devInteractions: { enabled: true } },
        pkce: { required: () => true },
        jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'test' }] },
        cookies: { keys: [randomBytes(16).toString('hex')] },
        ttl: { Interaction: 600, Session: 600, Grant: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
      }));
      const engine = provider.callback();
      listener = (req, res) => void engine(req, res);
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

/** Without oidc-provider's warnings that the development login and the in-memory store are on: a test provider is meant to have both. */
function quietly<T>(make: () => T): T {
  const warn = console.warn;
  console.warn = () => undefined;
  try {
    return make();
  } finally {
    console.warn = warn;
  }
}

/** The provider's development login and consent, as the user `login`; resolves back on the gateway. */
export async function signInAtProvider(page: Page, login: string, gatewayOrigin: string): Promise<void> {
  await page.locator('input[name=login]').fill(login);
  await page.locator('input[name=password]').fill('any');
  await page.getByRole('button', { name: 'Sign-in' }).click();
  await Promise.all([page.waitForURL((url) => url.origin === gatewayOrigin), page.getByRole('button', { name: 'Continue' }).click()]);
}
