import { useCallback, useMemo, useState } from 'preact/hooks';
import { all, type AdminApi, type Whoami } from './api';
import { AuditPage } from './pages/audit';
import { ConnectPage } from './pages/connect';
import { FleetPage } from './pages/fleet';
import { KeysPage } from './pages/keys';
import { McpsPage } from './pages/mcps';
import { OverviewPage } from './pages/overview';
import { checkCredential, SignIn } from './pages/sign-in';
import { WebhooksPage } from './pages/webhooks';
import { FLEET_PAGE, href, PAGES, type PageId, useRoute } from './router';
import { forgetToken, savedToken, saveToken } from './session';
import { type ConsoleSession, SessionContext } from './session-context';
import { Loaded, useAsync, useFocusHeading } from './ui';

const ORG_STORAGE_KEY = 'plexmcp.console.org';

interface SignedIn {
  readonly token: string;
  readonly api: AdminApi;
  readonly whoami: Whoami;
}

export function App() {
  const [signedIn, setSignedIn] = useState<SignedIn | undefined>(undefined);
  const [notice, setNotice] = useState<string | undefined>(undefined);
  // A token kept from earlier in this tab is checked again (it may have been revoked since).
  const [restoring] = useAsync(async () => {
    const token = savedToken();
    if (!token || signedIn) return undefined;
    try {
      const { api, whoami } = await checkCredential(token);
      setSignedIn({ token, api, whoami });
    } catch {
      forgetToken();
      setNotice('Your session ended: sign in again.');
    }
    return undefined;
  }, []);
  const signOut = () => {
    forgetToken();
    sessionStorage.removeItem(ORG_STORAGE_KEY);
    setSignedIn(undefined);
    setNotice('Signed out.');
  };
  if (!signedIn) {
    if (restoring.status === 'loading' && savedToken()) return <p class="muted" role="status">Loading…</p>;
    return (
      <SignIn
        notice={notice}
        onSignedIn={(token, api, whoami) => {
          saveToken(token);
          setNotice(undefined);
          setSignedIn({ token, api, whoami });
        }}
      />
    );
  }
  return <Console signedIn={signedIn} onSignOut={signOut} />;
}

function Console({ signedIn, onSignOut }: { signedIn: SignedIn; onSignOut: () => void }) {
  const isOperator = signedIn.whoami.principal === 'operator';
  const route = useRoute(isOperator ? FLEET_PAGE.id : 'overview');
  const [pickedOrg, setPickedOrg] = useState<string | undefined>(() => sessionStorage.getItem(ORG_STORAGE_KEY) ?? undefined);
  const orgId = signedIn.whoami.principal === 'key' ? signedIn.whoami.orgId : pickedOrg;
  const pickOrg = useCallback((id: string) => {
    sessionStorage.setItem(ORG_STORAGE_KEY, id);
    setPickedOrg(id);
  }, []);
  const session = useMemo<ConsoleSession>(() => ({ api: signedIn.api, whoami: signedIn.whoami, orgId, isOperator, pickOrg }), [signedIn, orgId, isOperator, pickOrg]);
  const main = useFocusHeading(route.page);
  const pages: { id: PageId; title: string }[] = [...(isOperator ? [FLEET_PAGE] : []), ...PAGES];
  return (
    <SessionContext.Provider value={session}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <div class="layout">
        <nav class="sidebar" aria-label="Console">
          <p class="brand">PlexMCP</p>
          {isOperator ? <OrgSwitcher api={signedIn.api} orgId={orgId} onPick={pickOrg} /> : null}
          <ul>
            {pages.map((p) => (
              <li key={p.id}>
                <a href={href(p.id)} aria-current={route.page === p.id ? 'page' : undefined}>
                  {p.title}
                </a>
              </li>
            ))}
          </ul>
          <p class="who">
            {isOperator ? 'Operator' : `Org admin key ${signedIn.whoami.principal === 'key' ? signedIn.whoami.keyId : ''}`}
          </p>
          <button type="button" class="secondary" onClick={onSignOut}>
            Sign out
          </button>
        </nav>
        <main id="main" ref={main} class="content">
          {needsOrg(route.page, isOperator) && orgId === undefined ? (
            <p>Pick an organisation first (the list at the top of the menu), or open the Fleet page.</p>
          ) : (
            <Page id={route.page} rest={route.rest} />
          )}
        </main>
      </div>
    </SessionContext.Provider>
  );
}

/** Every page shows one org, but the operator's Fleet and Audit log (the system chain without an org). */
function needsOrg(page: PageId, isOperator: boolean): boolean {
  return !(page === FLEET_PAGE.id || (isOperator && page === 'audit'));
}

function Page({ id, rest }: { id: PageId; rest: readonly string[] }) {
  switch (id) {
    case 'fleet':
      return <FleetPage />;
    case 'overview':
      return <OverviewPage />;
    case 'mcps':
      return <McpsPage rest={rest} />;
    case 'keys':
      return <KeysPage rest={rest} />;
    case 'audit':
      return <AuditPage />;
    case 'webhooks':
      return <WebhooksPage rest={rest} />;
    case 'connect':
      return <ConnectPage />;
  }
}

function OrgSwitcher({ api, orgId, onPick }: { api: AdminApi; orgId: string | undefined; onPick: (id: string) => void }) {
  const [orgs] = useAsync(() => all((query) => api.orgs.$get({ query })), [api]);
  return (
    <Loaded state={orgs}>
      {(items) => (
        <div class="field">
          <label for="org-switcher">Organisation</label>
          <select id="org-switcher" value={orgId ?? ''} onChange={(e) => onPick((e.target as HTMLSelectElement).value)}>
            <option value="" disabled>
              Pick one…
            </option>
            {items.map((org) => (
              <option key={org.orgId} value={org.orgId}>
                {org.name} ({org.plan})
              </option>
            ))}
          </select>
        </div>
      )}
    </Loaded>
  );
}
