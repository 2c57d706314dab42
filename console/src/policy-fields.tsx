/**
 * What the MCP server and API key forms share: allow/deny pattern lists edited as one pattern per
 * line, and putting the API's validation problems (`details[].path`) on the fields they name.
 */
import type { ApiFailure } from './api';
import { describedBy, ErrorNote, Field } from './ui';

/** The text of a pattern list: one pattern per line. */
export function linesOf(list: readonly string[] | undefined): string {
  return (list ?? []).join('\n');
}

/** The patterns of a textarea: one per line, blank lines dropped. */
export function listOf(text: string): string[] {
  return text
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

export interface PolicyText {
  readonly allow: string;
  readonly deny: string;
}

/** Which API paths a field shows: one path (and everything under it) or a test. */
export type PathMatch = string | ((path: string) => boolean);

function matches(match: PathMatch, path: string): boolean {
  return typeof match === 'string' ? path === match || path.startsWith(`${match}.`) : match(path);
}

/**
 * The API's message for a field, from the problems whose path is `match` or lies under it; a
 * problem under a list names its line (`toolPolicy.allow.2` → "line 3: …").
 */
export function problemFor(error: ApiFailure | undefined, match: PathMatch): string | undefined {
  if (!error) return undefined;
  const found = error.details.filter((d) => matches(match, d.path));
  if (found.length === 0) return undefined;
  return found
    .map((d) => {
      const line = /\.(\d+)$/.exec(d.path);
      return line && typeof match === 'string' && d.path !== match ? `line ${Number(line[1]) + 1}: ${d.message}` : d.message;
    })
    .join('; ');
}

/**
 * A form's error: the API's message (ErrorNote) and the field problems no field of the form
 * shows (`shown` lists what the fields show), so none is lost.
 */
export function FormError({ error, shown }: { error: ApiFailure | undefined; shown: readonly PathMatch[] }) {
  if (!error) return null;
  const rest = error.details.filter((d) => !shown.some((m) => matches(m, d.path)));
  return (
    <>
      <ErrorNote error={error} />
      {rest.length > 0 ? (
        <ul class="field-error">
          {rest.map((d, i) => (
            <li key={i}>
              <code>{d.path}</code> {d.message}
            </li>
          ))}
        </ul>
      ) : null}
    </>
  );
}

/** A textarea of patterns, one per line, as a labelled field. */
export function PatternList({ id, label, hint, value, error, onInput }: { id: string; label: string; hint?: string; value: string; error?: string; onInput: (text: string) => void }) {
  return (
    <Field id={id} label={label} hint={hint} error={error}>
      <textarea
        {...describedBy(id, { hint: hint !== undefined, error })}
        rows={3}
        spellcheck={false}
        autocomplete="off"
        value={value}
        onInput={(e) => onInput((e.target as HTMLTextAreaElement).value)}
      />
    </Field>
  );
}

/**
 * One policy (allow and deny lists) in a fieldset. `path` is where the API reports its problems
 * (`toolPolicy` → `toolPolicy.allow.0`).
 */
export function PolicyFields({ id, legend, what, example, value, onChange, error, path }: {
  id: string;
  legend: string;
  what: string;
  example: string;
  value: PolicyText;
  onChange: (next: PolicyText) => void;
  error: ApiFailure | undefined;
  path: string;
}) {
  return (
    <fieldset class="policy">
      <legend>{legend}</legend>
      <div class="row">
        <PatternList
          id={`${id}-allow`}
          label={`Allowed ${what}`}
          hint={`One pattern per line, * as the wildcard (e.g. ${example}). Empty: all are allowed.`}
          value={value.allow}
          error={problemFor(error, `${path}.allow`)}
          onInput={(allow) => onChange({ ...value, allow })}
        />
        <PatternList
          id={`${id}-deny`}
          label={`Denied ${what}`}
          hint="One pattern per line; a denied one is refused even when allowed."
          value={value.deny}
          error={problemFor(error, `${path}.deny`)}
          onInput={(deny) => onChange({ ...value, deny })}
        />
      </div>
    </fieldset>
  );
}

/** A policy as a short text: "allow a, b · deny c", or "all" when it has no rules. */
export function policySummary(policy: { readonly allow: readonly string[]; readonly deny: readonly string[] } | undefined): string {
  if (!policy || (policy.allow.length === 0 && policy.deny.length === 0)) return 'all';
  return [policy.allow.length > 0 ? `allow ${policy.allow.join(', ')}` : '', policy.deny.length > 0 ? `deny ${policy.deny.join(', ')}` : ''].filter(Boolean).join(' · ');
}
