/**
 * API keys (`#/keys`): the org's keys (never their secrets), a form for a new one, and revoking;
 * then the org's OAuth grants (grants.tsx), whose backing keys are marked in the keys list.
 * A new key's secret is shown once, from this component's state only: it is in no storage and no
 * URL, so a reload or leaving the page loses it, as the API does.
 */
import { useState } from 'preact/hooks';
import { type AdminApi, all, answer, type AnswerOf, type PageItem } from '../api';
import { policySummary } from '../policy-fields';
import { useSession } from '../session-context';
import { ConfirmButton, CopyButton, ErrorNote, Loaded, PageHeader, Time, useAction, useAsync, StatusCell } from '../ui';
import { GrantsSection } from './grants';
import { type CreatedKey, KeyForm } from './key-form';

type ApiKey = PageItem<AnswerOf<AdminApi['orgs'][':orgId']['keys']['$get']>>;
type Policies = Record<string, { allow: string[]; deny: string[] }> | undefined;

export function KeysPage(_props: { rest: readonly string[] }) {
  const { api, orgId, whoami } = useSession();
  const [keys, reload] = useAsync(() => all((query) => api.orgs[':orgId'].keys.$get({ param: { orgId: orgId! }, query })), [api, orgId]);
  const [creating, setCreating] = useState(false);
  const [created, setCreated] = useState<CreatedKey | undefined>(undefined);
  // Bumped when a key is revoked here: a grant's backing key revokes the grant, listed below.
  const [keysChanged, setKeysChanged] = useState(0);
  const revoke = useAction(async (keyId: string) => {
    await answer(api.orgs[':orgId'].keys[':keyId'].revoke.$post({ param: { orgId: orgId!, keyId } }));
    reload();
    setKeysChanged((n) => n + 1);
  });
  const ownKeyId = whoami.principal === 'key' ? whoami.keyId : undefined;
  return (
    <>
      <PageHeader title="API keys">
        {creating ? null : (
          <button
            type="button"
            onClick={() => {
              setCreated(undefined);
              setCreating(true);
            }}
          >
            New API key
          </button>
        )}
      </PageHeader>
      {created ? <SecretOnce created={created} onDone={() => setCreated(undefined)} /> : null}
      {creating ? (
        <KeyForm
          onCreated={(c) => {
            setCreating(false);
            setCreated(c);
            reload();
          }}
          onCancel={() => setCreating(false)}
        />
      ) : null}
      <ErrorNote error={revoke.error} />
      <Loaded state={keys}>
        {(items) =>
          items.length === 0 ? (
            <p class="muted">No API keys yet.</p>
          ) : (
            <table aria-label="API keys">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">ID</th>
                  <th scope="col">Role</th>
                  <th scope="col">MCP servers</th>
                  <th scope="col">Policies</th>
                  <th scope="col">Expires</th>
                  <th scope="col">Status</th>
                  <th scope="col">Last used</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((key) => (
                  <KeyRow key={key.keyId} apiKey={key} own={key.keyId === ownKeyId} busy={revoke.busy} onRevoke={() => void revoke.run(key.keyId)} />
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
      <GrantsSection changed={keysChanged} onRevoked={reload} />
    </>
  );
}

/** The new key's secret, once, with a warning; dismissing it forgets it. */
function SecretOnce({ created, onDone }: { created: CreatedKey; onDone: () => void }) {
  return (
    <section class="panel secret-panel" aria-labelledby="key-created">
      <h2 id="key-created">Key created: {created.key.name}</h2>
      <p class="warning" role="alert">
        Copy the key now. It will not be shown again: PlexMCP keeps only its hash.
      </p>
      <div class="secret">
        <code aria-label="New API key secret">{created.secret}</code>
        <CopyButton text={created.secret} label="Copy key" />
      </div>
      <p class="muted">
        Key id <code>{created.key.keyId}</code>, role {created.key.role}.
      </p>
      <button type="button" class="secondary" onClick={onDone}>
        I have stored it
      </button>
    </section>
  );
}

function statusOf(key: ApiKey): 'revoked' | 'expired' | 'active' {
  if (key.revokedAt) return 'revoked';
  if (key.expiresAt && Date.parse(key.expiresAt) <= Date.now()) return 'expired';
  return 'active';
}

function KeyRow({ apiKey: key, own, busy, onRevoke }: { apiKey: ApiKey; own: boolean; busy: boolean; onRevoke: () => void }) {
  const status = statusOf(key);
  const policies = [
    ...policyLines('tools', key.scopes.tools),
    ...policyLines('resources', key.scopes.resources),
    ...policyLines('prompts', key.scopes.prompts),
  ];
  return (
    <tr>
      <td>
        {key.name}
        {own ? <span class="muted"> (this session)</span> : null}
        {key.oauth ? <span class="muted"> (OAuth grant)</span> : null}
      </td>
      <td>
        <code>{key.keyId}</code>
      </td>
      <td>{key.role}</td>
      <td>{key.scopes.mcps === '*' ? 'all' : key.scopes.mcps.join(', ')}</td>
      <td>
        {policies.length === 0 ? (
          <span class="muted">none</span>
        ) : (
          <ul class="plain">
            {policies.map((line) => (
              <li key={line}>{line}</li>
            ))}
          </ul>
        )}
      </td>
      <td>{key.expiresAt ? <Time at={key.expiresAt} /> : <span class="muted">never</span>}</td>
      <StatusCell status={status} revokedAt={key.revokedAt} />
      <td>
        <Time at={key.lastUsedAt} />
      </td>
      <td>
        {status === 'revoked' ? null : (
          <ConfirmButton
            question={
              own
                ? `Revoke ${key.name}? It is the key this console is signed in with: the console stops working until you sign in with another.`
                : key.oauth
                  ? `Revoke the key ${key.name} (${key.keyId})? It backs the OAuth grant of ${key.oauth.clientName}: the grant is revoked with it, its tokens refused from now on.`
                  : `Revoke the key ${key.name} (${key.keyId})? Agents using it are refused from now on.`
            }
            onConfirm={onRevoke}
            disabled={busy}
          >
            Revoke <span class="visually-hidden">{key.name}</span>
          </ConfirmButton>
        )}
      </td>
    </tr>
  );
}

function policyLines(feature: string, policies: Policies): string[] {
  return Object.entries(policies ?? {}).map(([slug, policy]) => `${feature} ${slug}: ${policySummary(policy)}`);
}
