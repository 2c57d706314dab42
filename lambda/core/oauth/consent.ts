/**
 * The consent page of the authorization server: where an org admin signs in (with an org admin
 * API key, or — when one is configured — at the organisation's identity provider, whose ID token
 * names the org: external-sign-in.ts) and approves an MCP client for their org — which MCP
 * servers, which scopes, and optionally which tools — or denies it. The page is server-rendered
 * HTML with no script at all (consent-page.ts), and each form is protected twice:
 * a token bound to the interaction (HMAC with the provider's cookie key) and the browser's
 * `Origin`, which must be the gateway's own.
 *
 * Two steps, no server-side state between them: the sign-in form posts the key (or the provider
 * sends the browser back to the callback, which sets a cookie on this interaction's path and
 * returns to the page); the answer is the approval form, carrying a signed, short-lived proof of
 * that sign-in (never the key) that the approval posts back.
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { html } from 'hono/html';
import { parse as parseCookies, serialize as serializeCookie } from 'hono/utils/cookie';
import type { Provider } from 'oidc-provider';
import type { AuditActor } from '../audit/entry';
import { ApiError } from '../errors';
import type { ApiKey, FeaturePolicy, KeyScopes } from '../model';
import { MAX_POLICY_PATTERNS, NAME_PATTERN, RESOURCE_PATTERN } from '../policy-patterns';
import { mountPath, OAUTH_ROUTES } from './routes';
import { type Approver, approvalForm, type ClientView, CONSENT_STYLESHEET_PATH, type LimitFields, page, POLICY_FEATURES, type PolicyFeature, redirect, send, signInForm, STYLESHEET } from './consent-page';
import { type ExternalSignIn, safeEqual, type SignedInUser, type SignInRefusal } from './external-sign-in';
import type { GrantService } from './grants';
import { resourceUri, slugOfResource } from './resource-metadata';
import { MCP_SCOPES } from './scopes';

export interface ConsentDeps {
  readonly provider: Provider;
  readonly issuer: string;
  /** Signs the form tokens (the provider's newest cookie key). */
  readonly formKey: string;
  /** An org admin key presented on the sign-in form: its record, or an ApiError (401 unknown, 403 not admin). */
  readonly authenticateAdmin: (presented: string) => Promise<ApiKey>;
  /** A signed-in admin's key again by id at approval (it may have been revoked meanwhile). */
  readonly adminKey: (keyId: string) => Promise<ApiKey | undefined>;
  /** Sign-in at the organisation's identity provider, beside the key. @default none - org admin keys only */
  readonly externalSignIn?: ExternalSignIn;
  /** Whether an org exists (one an identity provider's claim names). */
  readonly orgExists: (orgId: string) => Promise<boolean>;
  /** The org's MCP servers to choose from. */
  readonly listMcps: (orgId: string) => Promise<readonly { slug: string; name?: string }[]>;
  readonly grants: GrantService;
  /** The caller's address for the audit entry (the socket's locally, API Gateway's in AWS). */
  readonly sourceIp: (req: IncomingMessage) => string;
  readonly requestId: (req: IncomingMessage) => string;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/** How long the approval form stays valid after signing in. */
const SIGN_IN_VALID_MS = 10 * 60_000;
const MAX_FORM_BYTES = 64 * 1024;
/** The cookie the identity provider's callback leaves on the interaction's path: the sign-in proof. */
const SIGN_IN_COOKIE = 'plexmcp_signin';

type ConsentAction = 'show' | 'login' | 'idp' | 'confirm' | 'deny';

/** `/oauth/consent/<uid>[/<action>]`, or undefined. */
function parsePath(url: string): { uid: string; action: ConsentAction } | undefined {
  const match = /^\/oauth\/consent\/([A-Za-z0-9_-]{1,128})(?:\/(login|idp|confirm|deny))?(?:\?|$)/.exec(url);
  if (!match) return undefined;
  return { uid: match[1]!, action: (match[2] as ConsentAction | undefined) ?? 'show' };
}

function isSignInCallback(url: string): boolean {
  return url === OAUTH_ROUTES.signInCallback || url.startsWith(`${OAUTH_ROUTES.signInCallback}?`);
}

/** Whether `url` is a consent page path this handler answers. */
export function isConsentPath(url: string): boolean {
  return url === CONSENT_STYLESHEET_PATH || isSignInCallback(url) || parsePath(url) !== undefined;
}


const orgOf = (approver: Approver) => (approver.kind === 'key' ? approver.key.orgId : approver.user.orgId);

/** What the proof of a sign-in names: the key's id (read again at approval), or the user as vouched for. */
type SignedInAs = { readonly keyId: string } | { readonly user: SignedInUser };

const REFUSALS: Record<SignInRefusal, { status: number; message: (provider: string) => string }> = {
  sign_in_expired: { status: 400, message: () => 'This sign-in could not be matched to this browser, or it expired.' },
  provider_refused: { status: 401, message: (provider) => `${provider} did not sign you in.` },
  provider_failed: { status: 502, message: (provider) => `The answer of ${provider} could not be verified.` },
  no_org: { status: 403, message: (provider) => `Your account at ${provider} is not an admin of an organisation on this gateway.` },
  several_orgs: { status: 403, message: (provider) => `Your account at ${provider} names several organisations; ask the operator to map it to one.` },
};

export function consentHandler(deps: ConsentDeps) {
  const now = deps.now ?? Date.now;
  const mount = mountPath(deps.issuer);
  const secure = deps.issuer.startsWith('https:');
  const sign = (value: string) => createHmac('sha256', deps.formKey).update(value).digest('base64url');
  const csrfFor = (uid: string) => sign(`csrf\n${uid}`);
  const sameOrigin = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    return origin === undefined || origin === new URL(deps.issuer).origin;
  };
  const expiredPage = (res: ServerResponse) => page(res, 400, undefined, html`<h1>This sign-in has expired</h1><p>Go back to the application and connect again.</p>`, mount);

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '';
    if (url === CONSENT_STYLESHEET_PATH) return send(res, 200, STYLESHEET, 'text/css; charset=utf-8');
    if (isSignInCallback(url)) return signInCallback(req, res);
    const path = parsePath(url)!;
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await deps.provider.interactionDetails(req, res);
    } catch {
      return expiredPage(res);
    }
    if (details.uid !== path.uid) return expiredPage(res);
    const params = details.params as Record<string, string | undefined>;
    const client = await deps.provider.Client.find(params.client_id ?? '');
    if (!client) return page(res, 400, undefined, html`<h1>Unknown application</h1>`, mount);
    const view: ClientView = {
      uid: path.uid,
      clientId: client.clientId,
      clientName: (client.clientName as string | undefined) || client.clientId,
      redirectOrigin: new URL(params.redirect_uri!).origin,
      requestedSlug: params.resource ? slugOfResource(deps.issuer, params.resource) : undefined,
      requestedScopes: (params.scope ?? MCP_SCOPES.join(' ')).split(' ').filter((s) => (MCP_SCOPES as readonly string[]).includes(s)),
      csrf: csrfFor(path.uid),
      mount,
      provider: deps.externalSignIn?.displayName,
    };

    if (req.method === 'GET' && path.action === 'show') {
      // Back from the identity provider: its sign-in, as a cookie on this interaction's path.
      const proof = parseCookies(req.headers.cookie ?? '', SIGN_IN_COOKIE)[SIGN_IN_COOKIE];
      const approver = proof ? await signedIn(proof, path.uid) : undefined;
      if (approver) return page(res, 200, view, approvalForm(view, approver, await deps.listMcps(orgOf(approver)), proof!));
      return page(res, 200, view, signInForm(view));
    }
    if (req.method === 'GET' && path.action === 'idp' && deps.externalSignIn) return beginExternalSignIn(res, view, deps.externalSignIn);
    if (req.method !== 'POST' || path.action === 'show' || path.action === 'idp') return send(res, 405, 'Method not allowed', 'text/plain; charset=utf-8');
    const form = await readForm(req);
    if (!form || !sameOrigin(req) || !safeEqual(form.get('csrf') ?? '', view.csrf)) {
      return page(res, 403, view, html`<h1>This form could not be accepted</h1><p>Start again from the application.</p>`);
    }

    if (path.action === 'deny') {
      await deps.provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'An org admin denied the request' }, { mergeWithLastSubmission: false });
      return;
    }

    if (path.action === 'login') {
      let admin: ApiKey;
      try {
        admin = await deps.authenticateAdmin((form.get('key') ?? '').trim());
      } catch (error) {
        const message = error instanceof ApiError && error.status === 403 ? 'This key has no admin rights: sign in with an org admin key.' : 'This key is not valid: it may be mistyped, revoked or expired.';
        return page(res, 401, view, signInForm(view, message));
      }
      const mcps = await deps.listMcps(admin.orgId);
      return page(res, 200, view, approvalForm(view, { kind: 'key', key: admin }, mcps, proofOf(path.uid, { keyId: admin.keyId })));
    }

    // confirm
    const approver = await signedIn(form.get('signin') ?? '', path.uid);
    if (!approver) return page(res, 401, view, signInForm(view, 'Your sign-in expired: sign in again.'));
    const orgId = orgOf(approver);
    const available = new Set((await deps.listMcps(orgId)).map((m) => m.slug));
    const mcps = form.getAll('mcp').filter((slug) => available.has(slug));
    const scopes = form.getAll('scope').filter((s) => (MCP_SCOPES as readonly string[]).includes(s));
    const limits = limitsOf(form);
    const problem = mcps.length === 0 ? 'Choose at least one MCP server.' : scopes.length === 0 ? 'Choose at least one permission.' : limits.problem;
    if (problem !== undefined) return page(res, 400, view, approvalForm(view, approver, await deps.listMcps(orgId), form.get('signin')!, problem, limitFieldsOf(form)));
    const keyScopes: KeyScopes = { mcps, ...limits.policies };
    const grantId = randomBytes(16).toString('base64url');
    const actor: AuditActor =
      approver.kind === 'key'
        ? { kind: 'key', keyId: approver.key.keyId, name: approver.key.name }
        : { kind: 'user', issuer: approver.user.issuer, subject: approver.user.subject, name: approver.user.name };
    const backing = await deps.grants.create(
      { orgId, grantId, clientId: view.clientId, clientName: view.clientName, scopes: keyScopes },
      { actor, sourceIp: deps.sourceIp(req), requestId: deps.requestId(req) },
    );
    // oidc-provider's grant, under the same id: the resources (each approved server, and the
    // root resource of a client that found the gateway's root metadata) with the approved scopes.
    const grant = new deps.provider.Grant({ jti: grantId, accountId: backing.keyId, clientId: view.clientId } as never);
    const scope = scopes.join(' ');
    for (const slug of mcps) grant.addResourceScope(resourceUri(deps.issuer, slug), scope);
    grant.addResourceScope(`${deps.issuer}/mcp`, scope);
    await grant.save();
    if (approver.kind === 'user') res.appendHeader('Set-Cookie', signInCookie(path.uid, '', 0));
    await deps.provider.interactionFinished(req, res, { login: { accountId: backing.keyId, remember: false }, consent: { grantId } }, { mergeWithLastSubmission: false });
  };

  /** A signed proof that `who` signed in for interaction `uid`, valid SIGN_IN_VALID_MS. */
  function proofOf(uid: string, who: SignedInAs): string {
    const body = `${uid}.${Buffer.from(JSON.stringify(who)).toString('base64url')}.${now() + SIGN_IN_VALID_MS}`;
    return `${body}.${sign(`sign-in\n${body}`)}`;
  }

  /** Who a proof says signed in for `uid`: a key only while it is still a live org admin key. */
  async function signedIn(proof: string, uid: string): Promise<Approver | undefined> {
    const [proofUid, who, expires, mac] = proof.split('.');
    if (!proofUid || !who || !expires || !mac) return undefined;
    if (proofUid !== uid || !safeEqual(mac, sign(`sign-in\n${proofUid}.${who}.${expires}`)) || Number(expires) < now()) return undefined;
    const as = JSON.parse(Buffer.from(who, 'base64url').toString('utf8')) as SignedInAs;
    if ('user' in as) return deps.externalSignIn ? { kind: 'user', user: as.user } : undefined;
    const key = await deps.adminKey(as.keyId);
    const live = key && key.role === 'admin' && !key.revokedAt && !key.oauth && !(key.expiresAt && Date.parse(key.expiresAt) <= now());
    return live ? { kind: 'key', key } : undefined;
  }

  // Lax: the provider's redirect back is a top-level navigation from another site.
  function signInCookie(uid: string, value: string, maxAge: number): string {
    return serializeCookie(SIGN_IN_COOKIE, value, { path: `${mount}${OAUTH_ROUTES.consent}/${uid}`, httpOnly: true, secure, sameSite: 'Lax', maxAge });
  }

  function callbackCookie(name: string, value: string, maxAge: number): string {
    return serializeCookie(name, value, { path: `${mount}${OAUTH_ROUTES.signInCallback}`, httpOnly: true, secure, sameSite: 'Lax', maxAge });
  }

  /** "Sign in with <provider>": to the provider, with the cookie that lets only this browser come back. */
  async function beginExternalSignIn(res: ServerResponse, view: ClientView, signIn: ExternalSignIn): Promise<void> {
    let start: Awaited<ReturnType<ExternalSignIn['begin']>>;
    try {
      start = await signIn.begin(view.uid, `${deps.issuer}${OAUTH_ROUTES.signInCallback}`);
    } catch {
      return page(res, 503, view, signInForm(view, undefined, `${signIn.displayName} cannot be reached; try again, or sign in with an org admin key.`));
    }
    res.appendHeader('Set-Cookie', callbackCookie(start.cookie.name, start.cookie.value, start.cookie.maxAgeSeconds));
    redirect(res, start.location);
  }

  /**
   * The identity provider's answer: with this browser's sign-in cookie, the user's org from the ID
   * token, then back to the consent page with the sign-in proof as a cookie on its path.
   */
  async function signInCallback(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const signIn = deps.externalSignIn;
    if (!signIn || req.method !== 'GET') return send(res, 404, 'Not found', 'text/plain; charset=utf-8');
    const callbackUrl = new URL(`${deps.issuer}${req.url}`);
    const cookieName = signIn.cookieNameFor(callbackUrl.searchParams.get('state') ?? '');
    const cookie = cookieName ? parseCookies(req.headers.cookie ?? '', cookieName)[cookieName] : undefined;
    const outcome = await signIn.complete(callbackUrl, cookie);
    if (cookieName) res.appendHeader('Set-Cookie', callbackCookie(cookieName, '', 0));
    const refuse = (uid: string | undefined, refusal: SignInRefusal) => {
      const { status, message } = REFUSALS[refusal];
      const back = uid ? html`<p><a href="${mount}${OAUTH_ROUTES.consent}/${uid}">Back to the sign-in</a></p>` : html`<p>Start again from the application.</p>`;
      page(res, status, undefined, html`<h1>Not signed in</h1><p>${message(signIn.displayName)}</p>${back}`, mount);
    };
    if (!outcome.ok) return refuse(outcome.uid, outcome.refusal);
    if (!(await deps.orgExists(outcome.user.orgId))) return refuse(outcome.uid, 'no_org');
    res.appendHeader('Set-Cookie', signInCookie(outcome.uid, proofOf(outcome.uid, { user: outcome.user }), SIGN_IN_VALID_MS / 1000));
    redirect(res, `${mount}${OAUTH_ROUTES.consent}/${outcome.uid}`);
  }
}

const LIMIT_RULES: Record<PolicyFeature, { pattern: RegExp; problem: string }> = {
  tools: { pattern: NAME_PATTERN, problem: 'Tool patterns are letters, digits, _ . - / : and *, one per line.' },
  resources: { pattern: RESOURCE_PATTERN, problem: 'Resource patterns are URIs of up to 512 characters with * as the wildcard, one per line.' },
  prompts: { pattern: NAME_PATTERN, problem: 'Prompt patterns are letters, digits, _ . - / : and *, one per line.' },
};

type Policies = { tools: Record<string, FeaturePolicy>; resources?: Record<string, FeaturePolicy>; prompts?: Record<string, FeaturePolicy> };

/**
 * The approval's limits as a key's policies (for every approved server: `*`), with the same
 * pattern rules as the admin API's; with `problem` (and no policies) when a list breaks them.
 */
function limitsOf(form: URLSearchParams): { policies: Policies; problem?: string } {
  const policies: Policies = { tools: {} };
  for (const feature of POLICY_FEATURES) {
    const { pattern, problem } = LIMIT_RULES[feature];
    const allow = patterns(form.get(`allow-${feature}`) ?? '', pattern);
    const deny = patterns(form.get(`deny-${feature}`) ?? '', pattern);
    if (allow === undefined || deny === undefined) return { policies: { tools: {} }, problem: `${problem} (at most ${MAX_POLICY_PATTERNS} in each list)` };
    if (allow.length > 0 || deny.length > 0) policies[feature] = { '*': { allow, deny } };
  }
  return { policies };
}

/** The limit fields as entered, to show them again with a problem. */
function limitFieldsOf(form: URLSearchParams): LimitFields {
  const fields: LimitFields = {};
  for (const feature of POLICY_FEATURES) {
    for (const list of ['allow', 'deny'] as const) fields[`${list}-${feature}`] = form.get(`${list}-${feature}`) ?? '';
  }
  return fields;
}

/** Patterns one per line, or undefined when one does not match `pattern` or there are too many. */
function patterns(text: string, pattern: RegExp): string[] | undefined {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length > MAX_POLICY_PATTERNS || lines.some((l) => !pattern.test(l))) return undefined;
  return lines;
}

/** An `application/x-www-form-urlencoded` body of at most MAX_FORM_BYTES, or undefined. */
async function readForm(req: IncomingMessage): Promise<URLSearchParams | undefined> {
  if (!/^application\/x-www-form-urlencoded\b/i.test(req.headers['content-type'] ?? '')) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_FORM_BYTES) return undefined;
    chunks.push(chunk as Buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
