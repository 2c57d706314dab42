/**
 * OAuth grants (a section of `#/keys`): the MCP clients an org admin approved on the consent page,
 * with what they may reach, and revoking one. A grant's client name is what the client calls
 * itself (its registration or metadata document), so it is shown as text beside its client id.
 */
import { type AdminApi, all, answer, type AnswerOf, ApiFailure, type PageItem } from '../api';
import { useSession } from '../session-context';
import { ConfirmButton, ErrorNote, Loaded, Time, useAction, useAsync, StatusCell } from '../ui';

type Grant = PageItem<AnswerOf<AdminApi['orgs'][':orgId']['grants']['$get']>>;

/**
 * The org's grants. `changed` is bumped by the keys list when it revokes a key (a grant's backing
 * key revokes the grant); `onRevoked` tells it when a grant is revoked here (its key is too).
 */
export function GrantsSection({ changed, onRevoked }: { changed: number; onRevoked: () => void }) {
  const { api, orgId } = useSession();
  const [grants, reload] = useAsync(async () => {
    try {
      return await all((query) => api.orgs[':orgId'].grants.$get({ param: { orgId: orgId! }, query }));
    } catch (error) {
      // A deployment without OAuth: nothing to list, which is not an error of the page.
      if (error instanceof ApiFailure && error.code === 'oauth_unavailable') return undefined;
      throw error;
    }
  }, [api, orgId, changed]);
  const revoke = useAction(async (grantId: string) => {
    await answer(api.orgs[':orgId'].grants[':grantId'].revoke.$post({ param: { orgId: orgId!, grantId } }));
    reload();
    onRevoked();
  });
  return (
    <section aria-labelledby="grants-heading">
      <h2 id="grants-heading">OAuth grants</h2>
      <p class="muted">
        MCP clients (Claude, ChatGPT, VS Code, …) an org admin approved on the consent page. Each acts as a key of its own, listed above as
        “OAuth: client name”; revoking the grant stops its tokens and their refresh.
      </p>
      <ErrorNote error={revoke.error} />
      <Loaded state={grants}>
        {(items) =>
          items === undefined ? (
            <p class="muted">OAuth is not configured in this deployment.</p>
          ) : items.length === 0 ? (
            <p class="muted">No OAuth grants yet.</p>
          ) : (
            <table aria-label="OAuth grants">
              <thead>
                <tr>
                  <th scope="col">Client</th>
                  <th scope="col">Client ID</th>
                  <th scope="col">MCP servers</th>
                  <th scope="col">Created</th>
                  <th scope="col">Last used</th>
                  <th scope="col">Status</th>
                  <th scope="col">
                    <span class="visually-hidden">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {items.map((grant) => (
                  <GrantRow key={grant.grantId} grant={grant} busy={revoke.busy} onRevoke={() => void revoke.run(grant.grantId)} />
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </section>
  );
}

function GrantRow({ grant, busy, onRevoke }: { grant: Grant; busy: boolean; onRevoke: () => void }) {
  const status = grant.revokedAt ? 'revoked' : 'active';
  return (
    <tr>
      <td>{grant.clientName}</td>
      <td>
        <code>{grant.clientId}</code>
      </td>
      <td>{grant.scopes.mcps === '*' ? 'all' : grant.scopes.mcps.join(', ')}</td>
      <td>
        <Time at={grant.createdAt} />
      </td>
      <td>
        <Time at={grant.lastUsedAt} />
      </td>
      <StatusCell status={status} revokedAt={grant.revokedAt} />
      <td>
        {grant.revokedAt ? null : (
          <ConfirmButton question={`Revoke the OAuth grant of ${grant.clientName} (${grant.clientId})? Its tokens are refused from now on and cannot be refreshed.`} onConfirm={onRevoke} disabled={busy}>
            Revoke <span class="visually-hidden">OAuth grant of {grant.clientName}</span>
          </ConfirmButton>
        )}
      </td>
    </tr>
  );
}
