/**
 * The consent page of the authorization server: where an org admin signs in (with an org admin
 * API key) and approves an MCP client for their org — which MCP servers, which scopes, and
 * optionally which tools — or denies it. The page is server-rendered HTML with no script at all
 * (its CSP allows none), every client-supplied value escaped, and each form protected twice:
 * a token bound to the interaction (HMAC with the provider's cookie key) and the browser's
 * `Origin`, which must be the gateway's own.
 *
 * Two steps, no server-side state between them: the sign-in form posts the key; the answer is
 * the approval form, carrying a signed, short-lived proof of that sign-in (never the key) that
 * the approval posts back.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { html, raw } from 'hono/html';
import type { Provider } from 'oidc-provider';
import { ApiError } from '../errors';
import type { ApiKey, KeyScopes } from '../model';
import { mountPath, OAUTH_ROUTES } from './authorization-server';
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
const MAX_FORM_BYTES = 16 * 1024;
const MAX_PATTERNS = 50;
const PATTERN = /^[A-Za-z0-9_.\-/:*]{1,128}$/;

export const CONSENT_STYLESHEET_PATH = `${OAUTH_ROUTES.consent}.css`;

/** `/oauth/consent/<uid>[/<action>]`, or undefined. */
function parsePath(url: string): { uid: string; action: 'show' | 'login' | 'confirm' | 'deny' } | undefined {
  const match = /^\/oauth\/consent\/([A-Za-z0-9_-]{1,128})(?:\/(login|confirm|deny))?(?:\?|$)/.exec(url);
  if (!match) return undefined;
  return { uid: match[1]!, action: (match[2] as 'login' | 'confirm' | 'deny' | undefined) ?? 'show' };
}

/** Whether `url` is a consent page path this handler answers. */
export function isConsentPath(url: string): boolean {
  return url === CONSENT_STYLESHEET_PATH || parsePath(url) !== undefined;
}

export function consentHandler(deps: ConsentDeps) {
  const now = deps.now ?? Date.now;
  const sign = (value: string) => createHmac('sha256', deps.formKey).update(value).digest('base64url');
  const csrfFor = (uid: string) => sign(`csrf\n${uid}`);
  const sameOrigin = (req: IncomingMessage) => {
    const origin = req.headers.origin;
    return origin === undefined || origin === new URL(deps.issuer).origin;
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '';
    if (url === CONSENT_STYLESHEET_PATH) return send(res, 200, STYLESHEET, 'text/css; charset=utf-8');
    const path = parsePath(url)!;
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await deps.provider.interactionDetails(req, res);
    } catch {
      return page(res, 400, undefined, html`<h1>This sign-in has expired</h1><p>Go back to the application and connect again.</p>`, mountPath(deps.issuer));
    }
    if (details.uid !== path.uid) return page(res, 400, undefined, html`<h1>This sign-in has expired</h1><p>Go back to the application and connect again.</p>`, mountPath(deps.issuer));
    const params = details.params as Record<string, string | undefined>;
    const client = await deps.provider.Client.find(params.client_id ?? '');
    if (!client) return page(res, 400, undefined, html`<h1>Unknown application</h1>`, mountPath(deps.issuer));
    const view: ClientView = {
      uid: path.uid,
      clientId: client.clientId,
      clientName: (client.clientName as string | undefined) || client.clientId,
      redirectOrigin: new URL(params.redirect_uri!).origin,
      requestedSlug: params.resource ? slugOfResource(deps.issuer, params.resource) : undefined,
      requestedScopes: (params.scope ?? MCP_SCOPES.join(' ')).split(' ').filter((s) => (MCP_SCOPES as readonly string[]).includes(s)),
      csrf: csrfFor(path.uid),
      mount: mountPath(deps.issuer),
    };

    if (req.method === 'GET' && path.action === 'show') return page(res, 200, view, signInForm(view));
    if (req.method !== 'POST' || path.action === 'show') return send(res, 405, 'Method not allowed', 'text/plain; charset=utf-8');
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
      const proof = `${path.uid}.${admin.keyId}.${now() + SIGN_IN_VALID_MS}`;
      return page(res, 200, view, approvalForm(view, admin, mcps, `${proof}.${sign(proof)}`));
    }

    // confirm
    const admin = await signedInAdmin(form.get('signin') ?? '', path.uid);
    if (!admin) return page(res, 401, view, signInForm(view, 'Your sign-in expired: sign in again.'));
    const available = new Set((await deps.listMcps(admin.orgId)).map((m) => m.slug));
    const mcps = form.getAll('mcp').filter((slug) => available.has(slug));
    const scopes = form.getAll('scope').filter((s) => (MCP_SCOPES as readonly string[]).includes(s));
    const tools = patterns(form.get('allowTools') ?? '');
    const deniedTools = patterns(form.get('denyTools') ?? '');
    if (mcps.length === 0 || scopes.length === 0 || tools === undefined || deniedTools === undefined) {
      const mcpList = await deps.listMcps(admin.orgId);
      const problem = mcps.length === 0 ? 'Choose at least one MCP server.' : scopes.length === 0 ? 'Choose at least one permission.' : 'Tool patterns are letters, digits, _ . - / : and *, one per line.';
      return page(res, 400, view, approvalForm(view, admin, mcpList, form.get('signin')!, problem));
    }
    const keyScopes: KeyScopes = { mcps, tools: tools.length || deniedTools.length ? { '*': { allow: tools, deny: deniedTools } } : {} };
    const grantId = randomBytes(16).toString('base64url');
    const backing = await deps.grants.create(
      { orgId: admin.orgId, grantId, clientId: view.clientId, clientName: view.clientName, scopes: keyScopes },
      { actor: { kind: 'key', keyId: admin.keyId, name: admin.name }, sourceIp: deps.sourceIp(req), requestId: deps.requestId(req) },
    );
    // oidc-provider's grant, under the same id: the resources (each approved server, and the
    // root resource of a client that found the gateway's root metadata) with the approved scopes.
    const grant = new deps.provider.Grant({ jti: grantId, accountId: backing.keyId, clientId: view.clientId } as never);
    const scope = scopes.join(' ');
    for (const slug of mcps) grant.addResourceScope(resourceUri(deps.issuer, slug), scope);
    grant.addResourceScope(`${deps.issuer}/mcp`, scope);
    await grant.save();
    await deps.provider.interactionFinished(req, res, { login: { accountId: backing.keyId, remember: false }, consent: { grantId } }, { mergeWithLastSubmission: false });
  };

  async function signedInAdmin(token: string, uid: string): Promise<ApiKey | undefined> {
    const [tokenUid, keyId, expires, mac] = token.split('.');
    if (!tokenUid || !keyId || !expires || !mac) return undefined;
    if (tokenUid !== uid || !safeEqual(mac, sign(`${tokenUid}.${keyId}.${expires}`)) || Number(expires) < now()) return undefined;
    const key = await deps.adminKey(keyId);
    const live = key && key.role === 'admin' && !key.revokedAt && !key.oauth && !(key.expiresAt && Date.parse(key.expiresAt) <= now());
    return live ? key : undefined;
  }
}

interface ClientView {
  readonly uid: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly redirectOrigin: string;
  readonly requestedSlug: string | undefined;
  readonly requestedScopes: readonly string[];
  readonly csrf: string;
  /** The issuer's path, in front of every URL the page writes (a stage path in AWS). */
  readonly mount: string;
}

const SCOPE_LABELS: Record<(typeof MCP_SCOPES)[number], string> = {
  'mcp:tools': 'Call tools',
  'mcp:resources': 'Read resources',
  'mcp:prompts': 'Use prompts',
};

function clientSummary(view: ClientView) {
  const viaDocument = /^https:\/\//.test(view.clientId);
  return html`<section class="client">
    <p><strong class="client-name">${view.clientName}</strong> wants to use MCP servers of your organisation through this gateway.</p>
    <p>After approval you return to <strong>${view.redirectOrigin}</strong>.</p>
    <p class="muted">${viaDocument ? html`Identified by its metadata document at ${view.clientId}.` : html`This application registered itself; its name is what it says it is.`}</p>
  </section>`;
}

function signInForm(view: ClientView, problem?: string) {
  return html`<h1>Connect ${view.clientName}</h1>
    ${clientSummary(view)}
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/login">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <div class="field${problem ? ' invalid' : ''}">
        <label for="key">Org admin API key</label>
        <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required${problem ? raw(' aria-invalid="true" aria-describedby="key-error"') : ''}>
        ${problem ? html`<small id="key-error" class="field-error" role="alert">${problem}</small>` : ''}
      </div>
      <button type="submit">Sign in</button>
    </form>
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/deny">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="secondary">Deny</button>
    </form>`;
}

function approvalForm(view: ClientView, admin: ApiKey, mcps: readonly { slug: string; name?: string }[], signin: string, problem?: string) {
  return html`<h1>Approve ${view.clientName}</h1>
    ${clientSummary(view)}
    <p class="muted">Signed in with key ${admin.name} (${admin.keyId}).</p>
    ${problem ? html`<p class="error" role="alert">${problem}</p>` : ''}
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/confirm">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <input type="hidden" name="signin" value="${signin}">
      <fieldset>
        <legend>MCP servers it may use</legend>
        ${mcps.length === 0 ? html`<p>Your organisation has no MCP servers yet.</p>` : ''}
        ${mcps.map(
          (m) => html`<div class="check"><input type="checkbox" id="mcp-${m.slug}" name="mcp" value="${m.slug}"${m.slug === view.requestedSlug ? raw(' checked') : ''}><label for="mcp-${m.slug}">${m.name ?? m.slug} <code>${m.slug}</code></label></div>`,
        )}
      </fieldset>
      <fieldset>
        <legend>What it may do</legend>
        ${MCP_SCOPES.map(
          (s) => html`<div class="check"><input type="checkbox" id="scope-${s.replace(':', '-')}" name="scope" value="${s}"${view.requestedScopes.includes(s) ? raw(' checked') : ''}><label for="scope-${s.replace(':', '-')}">${SCOPE_LABELS[s]} <code>${s}</code></label></div>`,
        )}
      </fieldset>
      <details>
        <summary>Limit the tools (optional)</summary>
        <div class="field"><label for="allowTools">Only these tools (patterns, one per line; empty: all)</label><textarea id="allowTools" name="allowTools" rows="3"></textarea></div>
        <div class="field"><label for="denyTools">Never these tools</label><textarea id="denyTools" name="denyTools" rows="3"></textarea></div>
      </details>
      <button type="submit">Approve</button>
    </form>
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/deny">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="secondary">Deny</button>
    </form>`;
}

/** Patterns one per line, or undefined when one is not a pattern or there are too many. */
function patterns(text: string): string[] | undefined {
  const lines = text.split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
  if (lines.length > MAX_PATTERNS || lines.some((l) => !PATTERN.test(l))) return undefined;
  return lines;
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
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

function page(res: ServerResponse, status: number, view: ClientView | undefined, body: unknown, mount = view?.mount ?? ''): void {
  // No script; forms post to this origin, and the approval's redirect goes on to the client's.
  const formAction = view ? `'self' ${view.redirectOrigin}` : "'self'";
  const document = html`<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>PlexMCP — connect an application</title><link rel="icon" href="data:,"><link rel="stylesheet" href="${mount}${CONSENT_STYLESHEET_PATH}"></head><body><main class="consent">${body}</main></body></html>`;
  res.setHeader('Content-Security-Policy', `default-src 'none'; style-src 'self'; img-src 'self' data:; form-action ${formAction}; frame-ancestors 'none'; base-uri 'none'`);
  res.setHeader('X-Frame-Options', 'DENY');
  // same-origin, not no-referrer: under no-referrer a browser sends `Origin: null` with the
  // form posts, and the Origin check needs the real one.
  res.setHeader('Referrer-Policy', 'same-origin');
  send(res, status, String(document), 'text/html; charset=utf-8');
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}

/** The console's look, small enough to live here (the page has no script and loads nothing else). */
const STYLESHEET = `
:root { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; font-size: 15px; line-height: 1.45; color: #1b1f24; background: #f6f7f9; }
body { margin: 0; }
.consent { max-width: 520px; margin: 8vh auto; background: #fff; border: 1px solid #d0d7de; border-radius: 8px; padding: 1.5rem 2rem; }
h1 { font-size: 1.4rem; margin: 0 0 0.75rem; }
.muted { color: #57606a; }
.client-name { word-break: break-word; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 0.9em; }
fieldset { border: 1px solid #d0d7de; border-radius: 6px; margin: 0 0 1rem; padding: 0.5rem 0.75rem; }
legend { font-weight: 600; }
.check { display: flex; gap: 0.5rem; align-items: baseline; margin: 0.25rem 0; }
.field { display: flex; flex-direction: column; gap: 0.25rem; margin-bottom: 0.75rem; }
.field label { font-weight: 600; font-size: 0.9rem; }
input[type=password], textarea { font: inherit; padding: 0.4rem 0.5rem; border: 1px solid #d0d7de; border-radius: 6px; }
.field.invalid input { border-color: #b42318; }
.field-error, .error { color: #b42318; }
button { font: inherit; padding: 0.4rem 0.9rem; border-radius: 6px; border: 1px solid #0b5cad; background: #0b5cad; color: #fff; cursor: pointer; margin-top: 0.5rem; }
button.secondary { background: #fff; color: #0b5cad; }
form + form { margin-top: 0.5rem; }
:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
`;
