/**
 * Signing in on the consent page with the organisation's own identity provider (Amazon Cognito,
 * Okta, Entra ID, any OpenID Provider) instead of an org admin API key. The consent page sends the
 * browser to the provider (authorization code with PKCE, `state` and `nonce`); the provider sends
 * it back to the callback, where the code is exchanged and the ID token verified (openid-client:
 * signature, issuer, audience, expiry, nonce, RFC 9207 `iss`), and one claim of the ID token
 * names the org the user may approve clients for.
 *
 * The browser that started the sign-in is the one that must finish it: the PKCE verifier, `nonce`
 * and `state` travel in a cookie signed with the consent form key, scoped to the callback path
 * and named after the interaction, so a callback without that browser's cookie is refused (no
 * login CSRF, no code injection).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import * as oidc from 'openid-client';

export interface ConsentIdentityProvider {
  /**
   * The OpenID Provider's issuer: `https://cognito-idp.<region>.amazonaws.com/<user pool id>`,
   * `https://<org>.okta.com`, `https://login.microsoftonline.com/<tenant>/v2.0`. Its discovery
   * document is `<issuer>/.well-known/openid-configuration`.
   */
  readonly issuer: string;
  /** The gateway's client id at the provider (its redirect URI: `<gateway>/oauth/signin/callback`). */
  readonly clientId: string;
  /** The client's secret, for a confidential client (`client_secret_basic`, or `_post` where the provider offers only that). @default none - a public client, PKCE only */
  readonly clientSecret?: string;
  /** What the consent page's button says: "Sign in with <displayName>". @default the issuer's host name */
  readonly displayName?: string;
  /**
   * The ID token claim that says which org the user administers: a string, or an array of strings
   * (a groups claim such as `cognito:groups`, Okta's `groups`, Entra's `roles`).
   */
  readonly orgClaim: string;
  /**
   * Claim values to org ids (`{ "plexmcp-admins-acme": "acme" }`); a value not listed grants
   * nothing. Without it, the claim's value is the org id itself.
   * @default none
   */
  readonly orgs?: Readonly<Record<string, string>>;
  /** The scopes asked for (`openid` is always among them). @default ['openid', 'email', 'profile'] */
  readonly scopes?: readonly string[];
}

/** Someone the identity provider vouched for, as the consent page and the audit log name them. */
export interface SignedInUser {
  readonly issuer: string;
  readonly subject: string;
  /** The `email`, `name` or `preferred_username` claim, else the subject. */
  readonly name: string;
  readonly orgId: string;
}

export type SignInRefusal =
  /** No sign-in of this browser is waiting (no cookie, another interaction, expired, tampered). */
  | 'sign_in_expired'
  /** The provider answered with an error (the user cancelled, or the provider refused). */
  | 'provider_refused'
  /** The code exchange or the ID token check failed. */
  | 'provider_failed'
  /** The ID token names no org this gateway knows of. */
  | 'no_org'
  /** The ID token names more than one org. */
  | 'several_orgs';

export type SignInOutcome = { readonly ok: true; readonly uid: string; readonly user: SignedInUser } | { readonly ok: false; readonly uid?: string; readonly refusal: SignInRefusal };

export interface ExternalSignInOptions {
  readonly provider: ConsentIdentityProvider;
  /** Signs the sign-in cookie (the consent form key). */
  readonly signingKey: string;
  /** Plain-http issuers (a provider on loopback, local mode only). @default false */
  readonly allowInsecure?: boolean;
  /** Deadline of each request to the provider (discovery, token, keys). @default 5_000 */
  readonly timeoutMs?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/** How long a sign-in at the provider may take. */
export const EXTERNAL_SIGN_IN_TTL_SECONDS = 600;
const COOKIE_PREFIX = 'plexmcp_idp_';
const MAX_ORG_ID = 128;

export interface SignInStart {
  /** Where to send the browser: the provider's authorization endpoint. */
  readonly location: string;
  /** The cookie that binds the callback to this browser (path: the callback). */
  readonly cookie: { readonly name: string; readonly value: string; readonly maxAgeSeconds: number };
}

export class ExternalSignIn {
  readonly displayName: string;
  private readonly now: () => number;
  private configuration?: Promise<oidc.Configuration>;

  constructor(private readonly options: ExternalSignInOptions) {
    this.displayName = options.provider.displayName || new URL(options.provider.issuer).hostname;
    this.now = options.now ?? Date.now;
  }

  /** The authorization request for interaction `uid`, whose answer goes to `callbackUrl`. */
  async begin(uid: string, callbackUrl: string): Promise<SignInStart> {
    const config = await this.config();
    const verifier = oidc.randomPKCECodeVerifier();
    const nonce = oidc.randomNonce();
    const state = `${uid}.${oidc.randomState()}`;
    const expires = this.now() + EXTERNAL_SIGN_IN_TTL_SECONDS * 1000;
    const location = oidc.buildAuthorizationUrl(config, {
      redirect_uri: callbackUrl,
      scope: this.scopes().join(' '),
      response_type: 'code',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    const payload = `${state}.${verifier}.${nonce}.${expires}`;
    return { location: location.href, cookie: { name: cookieName(uid), value: `${payload}.${this.mac(payload)}`, maxAgeSeconds: EXTERNAL_SIGN_IN_TTL_SECONDS } };
  }

  /** The name of the cookie a callback for `state` needs, or undefined for a state that names no interaction. */
  cookieNameFor(state: string): string | undefined {
    const uid = uidOfState(state);
    return uid === undefined ? undefined : cookieName(uid);
  }

  /**
   * The provider's answer at `callbackUrl` (the URL it redirected to, with its query), checked
   * against the browser's sign-in cookie, then exchanged for an ID token whose claim names the org.
   */
  async complete(callbackUrl: URL, cookie: string | undefined): Promise<SignInOutcome> {
    const state = callbackUrl.searchParams.get('state') ?? '';
    const uid = uidOfState(state);
    const waiting = uid !== undefined && cookie !== undefined ? this.readCookie(cookie, state) : undefined;
    if (uid === undefined || waiting === undefined) return { ok: false, refusal: 'sign_in_expired' };
    if (callbackUrl.searchParams.has('error')) return { ok: false, uid, refusal: 'provider_refused' };
    let claims: oidc.IDToken | undefined;
    try {
      const tokens = await oidc.authorizationCodeGrant(await this.config(), callbackUrl, { pkceCodeVerifier: waiting.verifier, expectedState: state, expectedNonce: waiting.nonce, idTokenExpected: true });
      claims = tokens.claims();
    } catch {
      return { ok: false, uid, refusal: 'provider_failed' };
    }
    if (!claims) return { ok: false, uid, refusal: 'provider_failed' };
    const orgs = this.orgsOf(claims[this.options.provider.orgClaim]);
    if (orgs.length === 0) return { ok: false, uid, refusal: 'no_org' };
    if (orgs.length > 1) return { ok: false, uid, refusal: 'several_orgs' };
    const name = [claims.email, claims.name, claims.preferred_username].find((v): v is string => typeof v === 'string' && v !== '') ?? claims.sub;
    return { ok: true, uid, user: { issuer: claims.iss, subject: claims.sub, name: name.slice(0, 200), orgId: orgs[0]! } };
  }

  /** The org ids a claim value maps to (through `orgs` when given), distinct. */
  private orgsOf(value: unknown): string[] {
    const values = typeof value === 'string' ? [value] : Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
    const mapping = this.options.provider.orgs;
    const mapped = values.map((v) => (mapping ? (Object.hasOwn(mapping, v) ? mapping[v] : undefined) : v));
    return [...new Set(mapped.filter((org): org is string => typeof org === 'string' && org !== '' && org.length <= MAX_ORG_ID))];
  }

  private scopes(): string[] {
    return [...new Set(['openid', ...(this.options.provider.scopes ?? ['email', 'profile'])])];
  }

  private readCookie(cookie: string, state: string): { verifier: string; nonce: string } | undefined {
    const parts = cookie.split('.');
    if (parts.length !== 6) return undefined;
    const [uid, random, verifier, nonce, expires, mac] = parts as [string, string, string, string, string, string];
    const payload = `${uid}.${random}.${verifier}.${nonce}.${expires}`;
    if (!safeEqual(mac, this.mac(payload)) || `${uid}.${random}` !== state || !(Number(expires) > this.now())) return undefined;
    return { verifier, nonce };
  }

  private mac(payload: string): string {
    return createHmac('sha256', this.options.signingKey).update(`idp-sign-in\n${payload}`).digest('base64url');
  }

  /**
   * The provider's configuration from its discovery document, read once (again after a failure).
   * A confidential client authenticates as the provider says it can: `client_secret_basic` (the
   * one every OAuth server must support, and Okta's default) unless only `client_secret_post` is
   * listed.
   */
  private config(): Promise<oidc.Configuration> {
    const { provider, allowInsecure } = this.options;
    const timeoutMs = this.options.timeoutMs ?? 5_000;
    const fetchWithDeadline: oidc.CustomFetch = (url, init) => fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) } as RequestInit);
    const execute = allowInsecure ? [oidc.allowInsecureRequests] : [];
    this.configuration ??= oidc
      .discovery(new URL(provider.issuer), provider.clientId, undefined, oidc.None(), { execute, [oidc.customFetch]: fetchWithDeadline })
      .then((discovered) => {
        const secret = provider.clientSecret;
        if (!secret) return discovered;
        const methods = discovered.serverMetadata().token_endpoint_auth_methods_supported;
        const auth = methods?.includes('client_secret_post') && !methods.includes('client_secret_basic') ? oidc.ClientSecretPost(secret) : oidc.ClientSecretBasic(secret);
        const config = new oidc.Configuration(discovered.serverMetadata(), provider.clientId, secret, auth);
        config[oidc.customFetch] = fetchWithDeadline;
        for (const apply of execute) apply(config);
        return config;
      })
      .catch((error: unknown) => {
        this.configuration = undefined;
        throw error;
      });
    return this.configuration;
  }
}

function cookieName(uid: string): string {
  return `${COOKIE_PREFIX}${uid}`;
}

/** The interaction a `state` belongs to (`<uid>.<random>`), or undefined. */
function uidOfState(state: string): string | undefined {
  const match = /^([A-Za-z0-9_-]{1,128})\.[A-Za-z0-9_-]{16,128}$/.exec(state);
  return match?.[1];
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
