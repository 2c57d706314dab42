import { useState } from 'preact/hooks';
import { adminApi, answer, ApiFailure, type AdminApi, type Whoami } from '../api';
import { describedBy, ErrorNote, Field } from '../ui';

/** What the sign-in form reports for a credential the API refused or that has no admin rights. */
export function signInProblem(error: ApiFailure): string {
  if (error.status === 401) return 'This key or token is not valid: it may be mistyped, revoked or expired.';
  if (error.code === 'admin_role_required') return 'This is a member key: it can call MCP servers but has no admin rights. Sign in with an org admin key or the operator token.';
  if (error.code === 'origin_not_allowed') return 'The gateway refused this page’s origin. Open the console at the gateway’s own address.';
  return error.message;
}

/**
 * Checks a pasted credential with `GET /whoami`, then (for a key) that it may administer its org
 * (`GET /orgs/{orgId}`, which a member key is refused).
 */
export async function checkCredential(token: string): Promise<{ api: AdminApi; whoami: Whoami }> {
  const api = adminApi(token);
  const whoami = await answer(api.whoami.$get());
  if (whoami.principal === 'key') await answer(api.orgs[':orgId'].$get({ param: { orgId: whoami.orgId } }));
  return { api, whoami };
}

export function SignIn({ onSignedIn, notice }: { onSignedIn: (token: string, api: AdminApi, whoami: Whoami) => void; notice?: string }) {
  const [token, setToken] = useState('');
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState<string | undefined>(undefined);
  const [failure, setFailure] = useState<ApiFailure | undefined>(undefined);
  const submit = async (event: Event) => {
    event.preventDefault();
    const value = token.trim();
    if (value === '') {
      setProblem('Paste an org admin key (pmcp_…) or the operator token.');
      return;
    }
    setBusy(true);
    setProblem(undefined);
    setFailure(undefined);
    try {
      const { api, whoami } = await checkCredential(value);
      onSignedIn(value, api, whoami);
    } catch (error) {
      const failed = error instanceof ApiFailure ? error : new ApiFailure(0, 'console_error', String(error));
      setProblem(signInProblem(failed));
      if (failed.status !== 401 && failed.code !== 'admin_role_required') setFailure(failed);
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="sign-in" id="main">
      <h1>PlexMCP console</h1>
      <p>Sign in with an org admin API key or the operator token. It is kept in this tab only (session storage) and sent to this gateway’s admin API.</p>
      {notice ? <p class="notice" role="status">{notice}</p> : null}
      <form onSubmit={(e) => void submit(e)} noValidate>
        <Field id="token" label="Admin key or operator token" error={problem}>
          <input {...describedBy('token', { error: problem })} type="password" autoComplete="off" spellcheck={false} value={token} onInput={(e) => setToken((e.target as HTMLInputElement).value)} />
        </Field>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
      <ErrorNote error={failure} />
    </main>
  );
}
