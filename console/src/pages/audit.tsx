/**
 * The audit log: the org's chain of changes (or, for the operator, the system chain of refused
 * requests), filtered and paged as the API does, and the server's verification of the chain.
 * Secret fields are never in an entry (the API records only that they changed).
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import { answer, type AdminApi, type AnswerOf, type ApiFailure, type PageItem } from '../api';
import { useSession } from '../session-context';
import { asFailure, describedBy, ErrorNote, Field, PageHeader, Time, useAction } from '../ui';
import { VerificationResult, type AuditVerification } from './audit-verification';
import { actorText } from '../../../lambda/core/audit/actor-text';

type AuditPage = AnswerOf<AdminApi['orgs'][':orgId']['audit']['$get']>;
type AuditEntry = PageItem<AuditPage>;

const PAGE_SIZE = '50';

interface Filters {
  readonly from: string;
  readonly to: string;
  readonly action: string;
}

const NO_FILTERS: Filters = { from: '', to: '', action: '' };

/** A `datetime-local` value (the reader's local time) as the API's ISO instant. */
function instant(local: string): string | undefined {
  if (local === '') return undefined;
  const date = new Date(local);
  return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
}

export function AuditPage() {
  const { api, orgId, isOperator } = useSession();
  // The operator may read the system chain; an org admin only its org's.
  const [systemChain, setSystemChain] = useState(orgId === undefined);
  const scope = systemChain && isOperator ? 'system' : 'org';
  return (
    <>
      <PageHeader title="Audit log" />
      <p class="muted">
        {scope === 'system'
          ? 'The system chain: refused admin requests (bad tokens, keys reaching into other orgs), in sequence order.'
          : 'Every change made through the admin API in this organisation, oldest first. Each entry is hash-chained to the one before it.'}
      </p>
      {isOperator && orgId !== undefined ? (
        <div class="field audit-scope">
          <label>
            <input type="checkbox" checked={systemChain} onChange={(e) => setSystemChain((e.target as HTMLInputElement).checked)} /> Show the system chain instead
          </label>
        </div>
      ) : null}
      <AuditChain key={`${scope}:${orgId ?? ''}`} api={api} orgId={scope === 'org' ? orgId : undefined} />
    </>
  );
}

function AuditChain({ api, orgId }: { api: AdminApi; orgId: string | undefined }) {
  const [draft, setDraft] = useState<Filters>(NO_FILTERS);
  const [entries, setEntries] = useState<AuditEntry[] | undefined>(undefined);
  const [nextCursor, setNextCursor] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined);
  const [loading, setLoading] = useState(false);
  const [applied, setApplied] = useState<Filters>(NO_FILTERS);

  const fetchPage = async (filters: Filters, cursor: string | undefined): Promise<AuditPage> => {
    const query = {
      limit: PAGE_SIZE,
      ...(instant(filters.from) ? { from: instant(filters.from) } : {}),
      ...(instant(filters.to) ? { to: instant(filters.to) } : {}),
      ...(filters.action.trim() ? { action: filters.action.trim() } : {}),
      ...(cursor ? { cursor } : {}),
    };
    return orgId === undefined ? answer(api.audit.$get({ query })) : answer(api.orgs[':orgId'].audit.$get({ param: { orgId }, query }));
  };

  // Only the latest request's answer is shown (an earlier, slower one is dropped).
  const latest = useRef(0);
  const load = async (filters: Filters, cursor: string | undefined) => {
    const request = ++latest.current;
    setLoading(true);
    setFailure(undefined);
    try {
      const page = await fetchPage(filters, cursor);
      if (request !== latest.current) return;
      setEntries((previous) => (cursor ? [...(previous ?? []), ...page.items] : page.items));
      setNextCursor(page.nextCursor);
      setApplied(filters);
    } catch (error) {
      if (request === latest.current) setFailure(asFailure(error));
    } finally {
      if (request === latest.current) setLoading(false);
    }
  };

  // The first page, unfiltered (the component is re-keyed, so mounted again, for another chain).
  useEffect(() => void load(NO_FILTERS, undefined), []);

  const fieldError = (path: string) => failure?.forField(path);
  const set = (name: keyof Filters) => (e: Event) => setDraft({ ...draft, [name]: (e.target as HTMLInputElement).value });
  return (
    <>
      <Verification api={api} orgId={orgId} />
      <section aria-labelledby="audit-entries">
        <h2 id="audit-entries">Entries</h2>
        <form
          class="row panel"
          aria-label="Filter audit entries"
          onSubmit={(e) => {
            e.preventDefault();
            void load(draft, undefined);
          }}
        >
          <Field id="audit-from" label="From" hint="At or after (your local time)" error={fieldError('from')}>
            <input {...describedBy('audit-from', { hint: true, error: fieldError('from') })} type="datetime-local" step={1} value={draft.from} onInput={set('from')} />
          </Field>
          <Field id="audit-to" label="Until" hint="Before (your local time)" error={fieldError('to')}>
            <input {...describedBy('audit-to', { hint: true, error: fieldError('to') })} type="datetime-local" step={1} value={draft.to} onInput={set('to')} />
          </Field>
          <Field id="audit-action" label="Action" hint="Exact, e.g. webhook.created" error={fieldError('action')}>
            <input {...describedBy('audit-action', { hint: true, error: fieldError('action') })} type="text" spellcheck={false} value={draft.action} onInput={set('action')} />
          </Field>
          <div class="actions audit-filter-actions">
            <button type="submit" disabled={loading}>
              Apply filters
            </button>
            <button
              type="button"
              class="secondary"
              disabled={loading}
              onClick={() => {
                setDraft(NO_FILTERS);
                void load(NO_FILTERS, undefined);
              }}
            >
              Clear
            </button>
          </div>
        </form>
        <ErrorNote error={failure} />
        {entries === undefined ? (
          loading ? <p class="muted" role="status">Loading…</p> : null
        ) : (
          <EntryTable entries={entries} filtered={applied.from !== '' || applied.to !== '' || applied.action !== ''} />
        )}
        {nextCursor ? (
          <button type="button" class="secondary" disabled={loading} onClick={() => void load(applied, nextCursor)}>
            {loading ? 'Loading…' : 'Load more'}
          </button>
        ) : null}
      </section>
    </>
  );
}

function EntryTable({ entries, filtered }: { entries: readonly AuditEntry[]; filtered: boolean }) {
  if (entries.length === 0) return <p>{filtered ? 'No entries match these filters.' : 'No audit entries yet.'}</p>;
  return (
    <table class="audit-table">
      <caption class="muted">
        {entries.length} {entries.length === 1 ? 'entry' : 'entries'} shown
      </caption>
      <thead>
        <tr>
          <th scope="col" class="num">Seq</th>
          <th scope="col">Time</th>
          <th scope="col">Actor</th>
          <th scope="col">Action</th>
          <th scope="col">Target</th>
          <th scope="col">Outcome</th>
          <th scope="col">Changes</th>
        </tr>
      </thead>
      <tbody>
        {entries.map((entry) => (
          <tr key={entry.seq}>
            <td class="num">{entry.seq}</td>
            <td>
              <Time at={entry.time} />
            </td>
            <td>
              {actorText(entry.actor)}
              <div class="muted audit-ip">{entry.sourceIp}</div>
            </td>
            <td>
              <code>{entry.action}</code>
            </td>
            <td>
              {entry.target.type} <code>{entry.target.id}</code>
            </td>
            <td>{entry.outcome === 'unknown' ? <span class="badge unknown" title="The writer stopped before recording whether its change was committed; the target’s current state says which">unknown</span> : <span class="badge ok">recorded</span>}</td>
            <td>
              <Changes changes={entry.changes} />
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}


/** A value as text: strings as they are, anything else as JSON. */
function valueText(value: unknown): string {
  if (value === undefined) return '—';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function Changes({ changes }: { changes: AuditEntry['changes'] }) {
  if (changes.length === 0) return <span class="muted">—</span>;
  return (
    <ul class="audit-changes">
      {changes.map((change, i) => (
        <li key={i}>
          <code>{change.field}</code>
          {change.secret ? <span class="muted"> changed (secret: value not recorded)</span> : ` ${valueText(change.old)} → ${valueText(change.new)}`}
        </li>
      ))}
    </ul>
  );
}

function Verification({ api, orgId }: { api: AdminApi; orgId: string | undefined }) {
  const [result, setResult] = useState<AuditVerification | undefined>(undefined);
  const verify = useAction(async () => {
    setResult(undefined);
    setResult(orgId === undefined ? await answer(api.audit.verification.$get()) : await answer(api.orgs[':orgId'].audit.verification.$get({ param: { orgId } })));
  });
  return (
    <section aria-labelledby="audit-verify" class="panel">
      <h2 id="audit-verify">Chain verification</h2>
      <p class="muted">The gateway recomputes every entry’s hash and link, checks each signed digest against the digest public key, and compares the end of the chain with the stored head.</p>
      <button type="button" disabled={verify.busy} onClick={() => void verify.run()}>
        {verify.busy ? 'Verifying…' : 'Verify chain'}
      </button>
      <ErrorNote error={verify.error} />
      {result ? <VerificationResult result={result} /> : null}
    </section>
  );
}
