/**
 * The consent page's HTML: the sign-in form, the approval form and the refusal pages, written with
 * hono/html (every interpolated value escaped), served with a CSP that allows no script, and the
 * stylesheet (the console's look). consent.ts decides which one a request gets.
 */
import type { ServerResponse } from 'node:http';
import { html, raw } from 'hono/html';
import type { ApiKey } from '../model';
import { OAUTH_ROUTES } from './routes';
import type { SignedInUser } from './external-sign-in';
import { MCP_SCOPES } from './scopes';

export const CONSENT_STYLESHEET_PATH = `${OAUTH_ROUTES.consent}.css`;

/** Who signed in on the consent page: an org admin key, or a user the identity provider vouched for. */
export type Approver = { readonly kind: 'key'; readonly key: ApiKey } | { readonly kind: 'user'; readonly user: SignedInUser };

export interface ClientView {
  readonly uid: string;
  readonly clientId: string;
  readonly clientName: string;
  readonly redirectOrigin: string;
  readonly requestedSlug: string | undefined;
  readonly requestedScopes: readonly string[];
  readonly csrf: string;
  /** The issuer's path, in front of every URL the page writes (a stage path in AWS). */
  readonly mount: string;
  /** The identity provider's name, when one signs admins in. */
  readonly provider: string | undefined;
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

export function signInForm(view: ClientView, problem?: string, notice?: string) {
  return html`<h1>Connect ${view.clientName}</h1>
    ${clientSummary(view)}
    ${notice ? html`<p class="error" role="alert">${notice}</p>` : ''}
    ${view.provider ? html`<p><a class="button" href="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/idp">Sign in with ${view.provider}</a></p><p class="muted">or with an org admin API key:</p>` : ''}
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/login">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <div class="field${problem ? ' invalid' : ''}">
        <label for="key">Org admin API key</label>
        <input id="key" name="key" type="password" autocomplete="off" spellcheck="false" required${problem ? raw(' aria-invalid="true" aria-describedby="key-error"') : ''}>
        ${problem ? html`<small id="key-error" class="field-error" role="alert">${problem}</small>` : ''}
      </div>
      <button type="submit"${view.provider ? raw(' class="secondary"') : ''}>Sign in</button>
    </form>
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/deny">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="secondary">Deny</button>
    </form>`;
}

/** How the approval form names who signed in. */
function approverLabel(approver: Approver, provider: string | undefined) {
  return approver.kind === 'key' ? html`Signed in with key ${approver.key.name} (${approver.key.keyId}).` : html`Signed in as ${approver.user.name} at ${provider}, for organisation ${approver.user.orgId}.`;
}

/** What a grant may be limited to, as an API key's policies are: tools, resources and prompts. */
export const POLICY_FEATURES = ['tools', 'resources', 'prompts'] as const;
export type PolicyFeature = (typeof POLICY_FEATURES)[number];
/** The approval form's limit fields as entered (`allow-tools`, `deny-resources`, …), to show them again. */
export type LimitFields = Partial<Record<`${'allow' | 'deny'}-${PolicyFeature}`, string>>;

const POLICY_LABELS: Record<PolicyFeature, { legend: string; example: string }> = {
  tools: { legend: 'Tools', example: 'search_*' },
  resources: { legend: 'Resources (URIs)', example: 'file:///docs/*' },
  prompts: { legend: 'Prompts', example: 'summarize' },
};

export function approvalForm(view: ClientView, approver: Approver, mcps: readonly { slug: string; name?: string }[], signin: string, problem?: string, limits: LimitFields = {}) {
  return html`<h1>Approve ${view.clientName}</h1>
    ${clientSummary(view)}
    <p class="muted">${approverLabel(approver, view.provider)}</p>
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
      <details${Object.values(limits).some(Boolean) ? raw(' open') : ''}>
        <summary>Limit what it may use (optional)</summary>
        <p class="muted">Patterns one per line, <code>*</code> as the wildcard, as an API key's policies; an empty list allows all.</p>
        ${POLICY_FEATURES.map(
          (feature) => html`<fieldset>
            <legend>${POLICY_LABELS[feature].legend}</legend>
            <div class="field"><label for="allow-${feature}">Only these</label><textarea id="allow-${feature}" name="allow-${feature}" rows="2" placeholder="${POLICY_LABELS[feature].example}">${limits[`allow-${feature}`] ?? ''}</textarea></div>
            <div class="field"><label for="deny-${feature}">Never these</label><textarea id="deny-${feature}" name="deny-${feature}" rows="2">${limits[`deny-${feature}`] ?? ''}</textarea></div>
          </fieldset>`,
        )}
      </details>
      <button type="submit">Approve</button>
    </form>
    <form method="post" action="${view.mount}${OAUTH_ROUTES.consent}/${view.uid}/deny">
      <input type="hidden" name="csrf" value="${view.csrf}">
      <button type="submit" class="secondary">Deny</button>
    </form>`;
}

export function page(res: ServerResponse, status: number, view: ClientView | undefined, body: unknown, mount = view?.mount ?? ''): void {
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

export function redirect(res: ServerResponse, location: string): void {
  res.statusCode = 303;
  res.setHeader('Location', location);
  res.setHeader('Cache-Control', 'no-store');
  res.end();
}

export function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', type);
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(body);
}

/** The console's look, small enough to live here (the page has no script and loads nothing else). */
export const STYLESHEET = `
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
a.button { display: inline-block; text-decoration: none; padding: 0.4rem 0.9rem; border-radius: 6px; border: 1px solid #0b5cad; background: #0b5cad; color: #fff; }
form + form { margin-top: 0.5rem; }
:focus-visible { outline: 3px solid #ffbf47; outline-offset: 2px; }
`;
