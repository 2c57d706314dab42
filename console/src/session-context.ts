import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { AdminApi, Whoami } from './api';

/** Who is signed in, the org the pages show, and the client that calls the API as them. */
export interface ConsoleSession {
  readonly api: AdminApi;
  readonly whoami: Whoami;
  /** The org the pages show: the key's own org, or the one the operator picked (undefined: none yet). */
  readonly orgId: string | undefined;
  readonly isOperator: boolean;
  /** The operator picks the org the pages show (the switcher and the Fleet page call it); a key's org is fixed. */
  readonly pickOrg: (orgId: string) => void;
}

export const SessionContext = createContext<ConsoleSession | null>(null);

export function useSession(): ConsoleSession {
  const session = useContext(SessionContext);
  if (!session) throw new Error('useSession outside a signed-in console');
  return session;
}
