/**
 * The form that creates an API key: name, role, which MCP servers it may use, tool/resource/prompt
 * rules per MCP (`<mcp-slug>:<pattern>`, as the CLI's --allow-tool etc.), expiry and rate limit.
 */
import type { InferRequestType } from 'hono/client';
import { useState } from 'preact/hooks';
import { type AdminApi, all, answer, ApiFailure, type AnswerOf, type FieldProblem } from '../api';
import { FormError, listOf, type PathMatch, PatternList, problemFor } from '../policy-fields';
import { useSession } from '../session-context';
import { describedBy, Field, Loaded, useAction, useAsync } from '../ui';

export type CreatedKey = AnswerOf<AdminApi['orgs'][':orgId']['keys']['$post']>;
type CreateKeyBody = InferRequestType<AdminApi['orgs'][':orgId']['keys']['$post']>['json'];
type Scopes = NonNullable<CreateKeyBody['scopes']>;
type PerMcp = Record<string, { allow: string[]; deny: string[] }>;

const FEATURES = [
  { id: 'tools', singular: 'tool', label: 'tools', example: 'github:search_*' },
  { id: 'resources', singular: 'resource', label: 'resources', example: 'docs:file:///docs/*' },
  { id: 'prompts', singular: 'prompt', label: 'prompts', example: 'github:summarize*' },
] as const;
type Feature = (typeof FEATURES)[number]['id'];
type RuleText = Record<`${Feature}-${'allow' | 'deny'}`, string>;

const NO_RULES: RuleText = { 'tools-allow': '', 'tools-deny': '', 'resources-allow': '', 'resources-deny': '', 'prompts-allow': '', 'prompts-deny': '' };

/**
 * The per-MCP policies of one feature from its rule lines (split at the first colon, as the CLI
 * does); a line that is not a rule, or names an MCP the key may not use, is a problem at `path`.
 */
function rulesOf(feature: Feature, allow: string, deny: string, mcps: '*' | string[], problems: FieldProblem[]): PerMcp | undefined {
  const policies: PerMcp = {};
  for (const [list, text] of [['allow', allow], ['deny', deny]] as const) {
    listOf(text).forEach((rule, i) => {
      const path = `scopes.${feature}.(rules).${list}.${i}`;
      const problem = (message: string) => problems.push({ path, message: `${rule}: ${message}` });
      const colon = rule.indexOf(':');
      if (colon <= 0 || colon === rule.length - 1) return void problem('expected <mcp-slug>:<pattern> (slug * for every MCP)');
      const slug = rule.slice(0, colon);
      const pattern = rule.slice(colon + 1);
      if (feature === 'resources' && pattern.startsWith('//')) return void problem('starts with a URI, not an MCP slug (use *:<uri-pattern> for every MCP)');
      if (mcps !== '*' && slug !== '*' && !mcps.includes(slug)) return void problem(`MCP ${slug} is not one the key may use`);
      policies[slug] ??= { allow: [], deny: [] };
      policies[slug][list].push(pattern);
    });
  }
  return Object.keys(policies).length > 0 ? policies : undefined;
}

/** A problem the API reports for one rule list (`scopes.tools.github.allow.0`), or one found here. */
const rulePath = (feature: Feature, list: 'allow' | 'deny'): PathMatch => (path) => new RegExp(`^scopes\\.${feature}\\.[^.]+\\.${list}(\\.|$)`).test(path);

export function KeyForm({ onCreated, onCancel }: { onCreated: (created: CreatedKey) => void; onCancel: () => void }) {
  const { api, orgId } = useSession();
  const [mcpList] = useAsync(() => all((query) => api.orgs[':orgId'].mcps.$get({ param: { orgId: orgId! }, query })), [api, orgId]);
  const [name, setName] = useState('');
  const [role, setRole] = useState<'member' | 'admin'>('member');
  const [allMcps, setAllMcps] = useState(true);
  const [chosen, setChosen] = useState<string[]>([]);
  const [rules, setRules] = useState<RuleText>(NO_RULES);
  const [expires, setExpires] = useState('');
  const [rateLimit, setRateLimit] = useState('');

  const create = useAction(async () => {
    if (!orgId) return;
    const mcps: '*' | string[] = allMcps ? '*' : chosen;
    const problems: FieldProblem[] = [];
    if (!allMcps && chosen.length === 0) problems.push({ path: 'scopes.mcps', message: 'pick at least one MCP server, or allow all' });
    const scopes: Scopes = { mcps };
    for (const f of FEATURES) {
      const policies = rulesOf(f.id, rules[`${f.id}-allow`], rules[`${f.id}-deny`], mcps, problems);
      if (policies) scopes[f.id] = policies;
    }
    const json: CreateKeyBody = { name, role, scopes };
    if (expires !== '') {
      const at = new Date(expires);
      if (Number.isNaN(at.getTime())) problems.push({ path: 'expiresAt', message: 'is not a date and time' });
      else json.expiresAt = at.toISOString();
    }
    if (rateLimit.trim() !== '') json.rateLimitPerMinute = Number(rateLimit);
    if (problems.length > 0) throw new ApiFailure(400, 'validation_failed', 'Some fields need fixing', problems);
    onCreated(await answer(api.orgs[':orgId'].keys.$post({ param: { orgId }, header: {}, json })));
  });
  const error = create.error;
  const shown: PathMatch[] = ['name', 'role', 'scopes.mcps', 'expiresAt', 'rateLimitPerMinute', ...FEATURES.flatMap((f) => [rulePath(f.id, 'allow'), rulePath(f.id, 'deny')])];
  const expiresError = problemFor(error, 'expiresAt');
  const rateError = problemFor(error, 'rateLimitPerMinute');
  const mcpsError = problemFor(error, 'scopes.mcps');

  return (
    <form
      class="panel key-form"
      aria-label="New API key"
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        void create.run();
      }}
    >
      <h2>New API key</h2>
      <div class="row">
        <Field id="key-name" label="Name" hint='What the key is for, e.g. "claude-desktop alice".' error={problemFor(error, 'name')}>
          <input {...describedBy('key-name', { hint: true, error: problemFor(error, 'name') })} value={name} autocomplete="off" onInput={(e) => setName((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="key-role" label="Role" hint="Admin keys manage the org (this console, the admin API); member keys only call MCP servers." error={problemFor(error, 'role')}>
          <select {...describedBy('key-role', { hint: true, error: problemFor(error, 'role') })} value={role} onChange={(e) => setRole((e.target as HTMLSelectElement).value as 'member' | 'admin')}>
            <option value="member">member</option>
            <option value="admin">admin</option>
          </select>
        </Field>
      </div>
      <fieldset aria-describedby={mcpsError ? 'key-mcps-error' : undefined}>
        <legend>MCP servers the key may use</legend>
        <label class="check">
          <input type="checkbox" checked={allMcps} onChange={(e) => setAllMcps((e.target as HTMLInputElement).checked)} /> All MCP servers (also ones added later)
        </label>
        {allMcps ? null : (
          <Loaded state={mcpList}>
            {(items) => (
              <div class="checks">
                {items.map((mcp) => (
                  <label class="check" key={mcp.slug}>
                    <input
                      type="checkbox"
                      checked={chosen.includes(mcp.slug)}
                      onChange={(e) => {
                        const on = (e.target as HTMLInputElement).checked;
                        setChosen((list) => (on ? [...list, mcp.slug] : list.filter((s) => s !== mcp.slug)));
                      }}
                    />{' '}
                    <code>{mcp.slug}</code> {mcp.displayName}
                  </label>
                ))}
              </div>
            )}
          </Loaded>
        )}
        {mcpsError ? (
          <small id="key-mcps-error" class="field-error" role="alert">
            {mcpsError}
          </small>
        ) : null}
      </fieldset>
      {FEATURES.map((f) => (
        <fieldset class="policy" key={f.id}>
          <legend>{`${f.singular[0]!.toUpperCase()}${f.singular.slice(1)} rules`}</legend>
          <div class="row">
            <PatternList
              id={`key-${f.id}-allow`}
              label={`Allowed ${f.label}`}
              hint={`One <mcp-slug>:<pattern> per line, e.g. ${f.example}. Empty: all.`}
              value={rules[`${f.id}-allow`]}
              error={problemFor(error, rulePath(f.id, 'allow'))}
              onInput={(text) => setRules((r) => ({ ...r, [`${f.id}-allow`]: text }))}
            />
            <PatternList
              id={`key-${f.id}-deny`}
              label={`Denied ${f.label}`}
              hint="One <mcp-slug>:<pattern> per line; denied wins over allowed."
              value={rules[`${f.id}-deny`]}
              error={problemFor(error, rulePath(f.id, 'deny'))}
              onInput={(text) => setRules((r) => ({ ...r, [`${f.id}-deny`]: text }))}
            />
          </div>
        </fieldset>
      ))}
      <div class="row">
        <Field id="key-expires" label="Expires" hint="Your local time; empty: never." error={expiresError}>
          <input {...describedBy('key-expires', { hint: true, error: expiresError })} type="datetime-local" value={expires} onInput={(e) => setExpires((e.target as HTMLInputElement).value)} />
        </Field>
        <Field id="key-rate" label="Requests per minute" hint="Empty: the plan's limit." error={rateError}>
          <input {...describedBy('key-rate', { hint: true, error: rateError })} type="number" min={1} step={1} value={rateLimit} onInput={(e) => setRateLimit((e.target as HTMLInputElement).value)} />
        </Field>
      </div>
      <FormError error={error} shown={shown} />
      <div class="actions">
        <button type="submit" disabled={create.busy}>
          Create key
        </button>
        <button type="button" class="secondary" onClick={onCancel}>
          Cancel
        </button>
      </div>
    </form>
  );
}
