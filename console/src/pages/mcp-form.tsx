/**
 * The form that creates or edits an MCP server: endpoints (several, weighted), upstream auth with
 * a write-only secret, tool/resource/prompt policies and pricing. The API's validation problems
 * are shown on the fields they name.
 */
import type { InferRequestType } from 'hono/client';
import { useState } from 'preact/hooks';
import { type AdminApi, answer, ApiFailure, type AnswerOf } from '../api';
import { FormError, linesOf, listOf, type PathMatch, PolicyFields, type PolicyText, problemFor } from '../policy-fields';
import { useSession } from '../session-context';
import { describedBy, Field, useAction } from '../ui';

export type McpServer = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['$get']>;
type CreateBody = InferRequestType<AdminApi['orgs'][':orgId']['mcps']['$post']>['json'];
type UpdateBody = InferRequestType<AdminApi['orgs'][':orgId']['mcps'][':slug']['$patch']>['json'];
type AuthType = McpServer['upstreamAuth']['type'];

interface EndpointRow {
  readonly key: number;
  readonly url: string;
  readonly weight: string;
}

interface PriceRow {
  readonly key: number;
  readonly tool: string;
  readonly price: string;
}

const AUTH_TYPES: { value: AuthType; label: string }[] = [
  { value: 'none', label: 'None' },
  { value: 'bearer', label: 'Bearer token' },
  { value: 'header', label: 'Custom header' },
  { value: 'basic', label: 'Basic (username and password)' },
];

/** Where the API reports a problem with the secret of each auth type. */
const SECRET_PATH: Record<Exclude<AuthType, 'none'>, string> = { bearer: 'upstreamAuth.token', header: 'upstreamAuth.value', basic: 'upstreamAuth.password' };
const SECRET_LABEL: Record<Exclude<AuthType, 'none'>, string> = { bearer: 'Token', header: 'Header value', basic: 'Password' };

let nextRowKey = 1;
const rowKey = () => nextRowKey++;

const policyText = (p: { allow: readonly string[]; deny: readonly string[] } | undefined): PolicyText => ({ allow: linesOf(p?.allow), deny: linesOf(p?.deny) });
const policyOf = (p: PolicyText) => ({ allow: listOf(p.allow), deny: listOf(p.deny) });

/** A number typed in a field; NaN (sent as null) lets the API name the field when it is not one. */
const numberOf = (text: string) => (text.trim() === '' ? Number.NaN : Number(text));

export function McpForm({ current, onSaved, onCancel }: { current?: McpServer; onSaved: (mcp: McpServer) => void; onCancel: () => void }) {
  const { api, orgId } = useSession();
  const editing = current !== undefined;
  const [slug, setSlug] = useState(current?.slug ?? '');
  const [displayName, setDisplayName] = useState(current?.displayName ?? '');
  const [endpoints, setEndpoints] = useState<EndpointRow[]>(() =>
    current ? current.endpoints.map((e) => ({ key: rowKey(), url: e.url, weight: String(e.weight) })) : [{ key: rowKey(), url: '', weight: '100' }],
  );
  const [authType, setAuthType] = useState<AuthType>(current?.upstreamAuth.type ?? 'none');
  const [headerName, setHeaderName] = useState(current?.upstreamAuth.headerName ?? '');
  const [username, setUsername] = useState(current?.upstreamAuth.username ?? '');
  // Write-only: never filled from the server (it never sends it); empty on edit keeps the stored one.
  const [secret, setSecret] = useState('');
  const [toolPolicy, setToolPolicy] = useState(policyText(current?.toolPolicy));
  const [resourcePolicy, setResourcePolicy] = useState(policyText(current?.resourcePolicy));
  const [promptPolicy, setPromptPolicy] = useState(policyText(current?.promptPolicy));
  const [perCallUsd, setPerCallUsd] = useState(current?.pricing?.perCallUsd === undefined ? '' : String(current.pricing.perCallUsd));
  const [prices, setPrices] = useState<PriceRow[]>(() => Object.entries(current?.pricing?.tools ?? {}).map(([tool, price]) => ({ key: rowKey(), tool, price: String(price) })));

  const storedAuthKept = editing && authType === current.upstreamAuth.type && (authType !== 'header' || headerName === (current.upstreamAuth.headerName ?? '')) && (authType !== 'basic' || username === (current.upstreamAuth.username ?? ''));

  const upstreamAuth = (): CreateBody['upstreamAuth'] | undefined => {
    if (authType === 'none') return editing && current.upstreamAuth.type === 'none' ? undefined : { type: 'none' };
    // An empty secret on edit keeps the stored credential, as long as nothing else of it changed.
    if (secret === '' && storedAuthKept && current.hasUpstreamSecret) return undefined;
    if (secret === '' && editing) {
      throw new ApiFailure(400, 'secret_required', 'Enter the secret again: the upstream auth changed', [{ path: SECRET_PATH[authType], message: 'is needed again when the auth type, header name or username changes' }]);
    }
    if (authType === 'bearer') return { type: 'bearer', token: secret };
    if (authType === 'header') return { type: 'header', headerName: headerName.trim(), value: secret };
    return { type: 'basic', username, password: secret };
  };

  const pricing = (): CreateBody['pricing'] => {
    const tools = Object.fromEntries(prices.filter((p) => p.tool.trim() !== '' || p.price.trim() !== '').map((p) => [p.tool.trim(), numberOf(p.price)]));
    const priced = perCallUsd.trim() !== '' || Object.keys(tools).length > 0;
    if (!priced) return editing && current.pricing ? null : undefined;
    return { ...(perCallUsd.trim() !== '' ? { perCallUsd: numberOf(perCallUsd) } : {}), ...(Object.keys(tools).length > 0 ? { tools } : {}) };
  };

  const endpointList = () => endpoints.map((e) => ({ url: e.url.trim(), weight: numberOf(e.weight) }));

  const save = useAction(async () => {
    if (!orgId) return;
    const auth = upstreamAuth();
    const policies = { toolPolicy: policyOf(toolPolicy), resourcePolicy: policyOf(resourcePolicy), promptPolicy: policyOf(promptPolicy) };
    if (!editing) {
      const json: CreateBody = { slug: slug.trim(), endpoints: endpointList(), ...policies };
      if (displayName.trim() !== '') json.displayName = displayName;
      if (auth) json.upstreamAuth = auth;
      const price = pricing();
      if (price !== undefined) json.pricing = price;
      onSaved(await answer(api.orgs[':orgId'].mcps.$post({ param: { orgId }, header: {}, json })));
      return;
    }
    const json: UpdateBody = { ...policies };
    if (displayName.trim() !== '' && displayName !== current.displayName) json.displayName = displayName;
    const eps = endpointList();
    // Endpoints are sent only when changed: an unchanged list keeps its ids and health states anyway, but says less in the audit log.
    if (JSON.stringify(eps) !== JSON.stringify(current.endpoints.map((e) => ({ url: e.url, weight: e.weight })))) json.endpoints = eps;
    if (auth) json.upstreamAuth = auth;
    const price = pricing();
    if (price !== undefined) json.pricing = price;
    onSaved(await answer(api.orgs[':orgId'].mcps[':slug'].$patch({ param: { orgId, slug: current.slug }, json })));
  });
  const error = save.error;
  const id = editing ? 'mcp-edit' : 'mcp-new';
  const shown: PathMatch[] = [
    'slug', 'displayName', 'endpoints', 'upstreamAuth', 'toolPolicy', 'resourcePolicy', 'promptPolicy', 'pricing.perCallUsd',
    (path) => prices.some((row) => path === `pricing.tools.${row.tool.trim()}` || path.startsWith(`pricing.tools.${row.tool.trim()}.`)),
  ];

  const setEndpoint = (key: number, change: Partial<EndpointRow>) => setEndpoints((rows) => rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  const setPrice = (key: number, change: Partial<PriceRow>) => setPrices((rows) => rows.map((r) => (r.key === key ? { ...r, ...change } : r)));
  const endpointsError = error?.forField('endpoints');
  const secretPath = authType === 'none' ? undefined : SECRET_PATH[authType];
  const secretError = secretPath ? problemFor(error, secretPath) : undefined;

  return (
    <form
      class="panel mcp-form"
      aria-label={editing ? `Edit ${current.displayName}` : 'New MCP server'}
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void save.run();
      }}
    >
      <h2>{editing ? 'Edit MCP server' : 'New MCP server'}</h2>
      <div class="row">
        {editing ? (
          <p class="field">
            <strong>Slug</strong> <code>{current.slug}</code>
          </p>
        ) : (
          <Field id={`${id}-slug`} label="Slug" hint="Lower-case letters, digits and inner hyphens; the path /mcp/<slug>. Cannot be changed later." error={error?.forField('slug')}>
            <input {...describedBy(`${id}-slug`, { hint: true, error: error?.forField('slug') })} value={slug} autocomplete="off" spellcheck={false} onInput={(e) => setSlug((e.target as HTMLInputElement).value)} />
          </Field>
        )}
        <Field id={`${id}-name`} label="Display name" hint={editing ? undefined : 'Optional; the slug when empty.'} error={error?.forField('displayName')}>
          <input {...describedBy(`${id}-name`, { hint: !editing, error: error?.forField('displayName') })} value={displayName} autocomplete="off" onInput={(e) => setDisplayName((e.target as HTMLInputElement).value)} />
        </Field>
      </div>

      <fieldset>
        <legend>Endpoints</legend>
        <p class="muted">Requests are spread over healthy endpoints in proportion to their weight (1-1000).</p>
        {endpointsError ? (
          <p class="field-error" role="alert">
            {endpointsError}
          </p>
        ) : null}
        {endpoints.map((row, i) => {
          const urlError = error?.forField(`endpoints.${i}.url`);
          const weightError = error?.forField(`endpoints.${i}.weight`);
          return (
            <div class="row endpoint-row" key={row.key}>
              <Field id={`${id}-ep-${row.key}-url`} label={`Endpoint ${i + 1} URL`} error={urlError}>
                <input {...describedBy(`${id}-ep-${row.key}-url`, { error: urlError })} type="url" value={row.url} autocomplete="off" spellcheck={false} placeholder="https://mcp.example.com/mcp" onInput={(e) => setEndpoint(row.key, { url: (e.target as HTMLInputElement).value })} />
              </Field>
              <Field id={`${id}-ep-${row.key}-weight`} label={`Endpoint ${i + 1} weight`} error={weightError}>
                <input {...describedBy(`${id}-ep-${row.key}-weight`, { error: weightError })} type="number" min={1} max={1000} step={1} value={row.weight} onInput={(e) => setEndpoint(row.key, { weight: (e.target as HTMLInputElement).value })} />
              </Field>
              <button type="button" class="secondary" disabled={endpoints.length === 1} onClick={() => setEndpoints((rows) => rows.filter((r) => r.key !== row.key))}>
                Remove endpoint {i + 1}
              </button>
            </div>
          );
        })}
        <button type="button" class="secondary" onClick={() => setEndpoints((rows) => [...rows, { key: rowKey(), url: '', weight: '100' }])}>
          Add endpoint
        </button>
      </fieldset>

      <fieldset>
        <legend>Upstream auth</legend>
        <p class="muted">What the gateway sends to the upstream. The secret is write-only: it is stored encrypted and never shown again.</p>
        <div class="row">
          <Field id={`${id}-auth-type`} label="Auth type" error={problemFor(error, 'upstreamAuth.type')}>
            <select {...describedBy(`${id}-auth-type`, { error: problemFor(error, 'upstreamAuth.type') })} value={authType} onChange={(e) => setAuthType((e.target as HTMLSelectElement).value as AuthType)}>
              {AUTH_TYPES.map((t) => (
                <option key={t.value} value={t.value}>
                  {t.label}
                </option>
              ))}
            </select>
          </Field>
          {authType === 'header' ? (
            <Field id={`${id}-auth-header`} label="Header name" hint="e.g. X-Api-Key" error={problemFor(error, 'upstreamAuth.headerName')}>
              <input {...describedBy(`${id}-auth-header`, { hint: true, error: problemFor(error, 'upstreamAuth.headerName') })} value={headerName} autocomplete="off" spellcheck={false} onInput={(e) => setHeaderName((e.target as HTMLInputElement).value)} />
            </Field>
          ) : null}
          {authType === 'basic' ? (
            <Field id={`${id}-auth-user`} label="Username" error={problemFor(error, 'upstreamAuth.username')}>
              <input {...describedBy(`${id}-auth-user`, { error: problemFor(error, 'upstreamAuth.username') })} value={username} autocomplete="off" onInput={(e) => setUsername((e.target as HTMLInputElement).value)} />
            </Field>
          ) : null}
          {authType !== 'none' ? (
            <Field
              id={`${id}-auth-secret`}
              label={SECRET_LABEL[authType]}
              hint={editing && current.hasUpstreamSecret ? 'Leave empty to keep the stored one.' : 'Write-only: it will not be shown again.'}
              error={secretError}
            >
              <input {...describedBy(`${id}-auth-secret`, { hint: true, error: secretError })} type="password" autocomplete="new-password" value={secret} onInput={(e) => setSecret((e.target as HTMLInputElement).value)} />
            </Field>
          ) : null}
        </div>
      </fieldset>

      <PolicyFields id={`${id}-tools`} legend="Tool policy" what="tools" example="search_*" path="toolPolicy" value={toolPolicy} onChange={setToolPolicy} error={error} />
      <PolicyFields id={`${id}-resources`} legend="Resource policy" what="resources" example="file:///docs/*" path="resourcePolicy" value={resourcePolicy} onChange={setResourcePolicy} error={error} />
      <PolicyFields id={`${id}-prompts`} legend="Prompt policy" what="prompts" example="summarize*" path="promptPolicy" value={promptPolicy} onChange={setPromptPolicy} error={error} />

      <fieldset>
        <legend>Pricing (USD)</legend>
        <p class="muted">What the upstream charges per answered request; a tool price replaces the price per call for that tool. Empty: not priced.</p>
        <Field id={`${id}-per-call`} label="Price per call" error={problemFor(error, 'pricing.perCallUsd')}>
          <input {...describedBy(`${id}-per-call`, { error: problemFor(error, 'pricing.perCallUsd') })} type="number" min={0} step="any" value={perCallUsd} onInput={(e) => setPerCallUsd((e.target as HTMLInputElement).value)} />
        </Field>
        {prices.map((row, i) => {
          const toolError = problemFor(error, `pricing.tools.${row.tool.trim()}`);
          return (
            <div class="row" key={row.key}>
              <Field id={`${id}-price-${row.key}-tool`} label={`Tool ${i + 1} name`} error={toolError}>
                <input {...describedBy(`${id}-price-${row.key}-tool`, { error: toolError })} value={row.tool} autocomplete="off" spellcheck={false} onInput={(e) => setPrice(row.key, { tool: (e.target as HTMLInputElement).value })} />
              </Field>
              <Field id={`${id}-price-${row.key}-usd`} label={`Tool ${i + 1} price per call`}>
                <input id={`${id}-price-${row.key}-usd`} type="number" min={0} step="any" value={row.price} onInput={(e) => setPrice(row.key, { price: (e.target as HTMLInputElement).value })} />
              </Field>
              <button type="button" class="secondary" onClick={() => setPrices((rows) => rows.filter((r) => r.key !== row.key))}>
                Remove tool price {i + 1}
              </button>
            </div>
          );
        })}
        <button type="button" class="secondary" onClick={() => setPrices((rows) => [...rows, { key: rowKey(), tool: '', price: '' }])}>
          Add tool price
        </button>
      </fieldset>

      <FormError error={error} shown={shown} />
      <div class="actions">
        <button type="submit" disabled={save.busy}>
          {editing ? 'Save changes' : 'Create MCP server'}
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
