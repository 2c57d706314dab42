import { useEffect, useState } from 'preact/hooks';

/** The console's pages, addressed by the URL fragment (`#/keys`): the server serves one document. */
export const PAGES = [
  { id: 'overview', title: 'Overview' },
  { id: 'mcps', title: 'MCP servers' },
  { id: 'keys', title: 'API keys' },
  { id: 'audit', title: 'Audit log' },
  { id: 'webhooks', title: 'Webhooks & alerts' },
  { id: 'connect', title: 'Connect' },
] as const;
/** The operator's own page: every org. */
export const FLEET_PAGE = { id: 'fleet', title: 'Fleet' } as const;

export type PageId = (typeof PAGES)[number]['id'] | typeof FLEET_PAGE.id;

const PAGE_IDS: ReadonlySet<string> = new Set([...PAGES.map((p) => p.id), FLEET_PAGE.id]);

/** The page in the fragment and what follows it (`#/mcps/github` → mcps, ['github']). */
export interface Route {
  readonly page: PageId;
  readonly rest: readonly string[];
}

export function parseRoute(hash: string): Route | undefined {
  const parts = hash.replace(/^#\/?/, '').split('/').filter(Boolean).map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return p;
    }
  });
  const [page, ...rest] = parts;
  return page !== undefined && PAGE_IDS.has(page) ? { page: page as PageId, rest } : undefined;
}

export function href(page: PageId, ...rest: string[]): string {
  return `#/${[page, ...rest].map(encodeURIComponent).join('/')}`;
}

export function useRoute(fallback: PageId): Route {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const onChange = () => setHash(location.hash);
    window.addEventListener('hashchange', onChange);
    return () => window.removeEventListener('hashchange', onChange);
  }, []);
  return parseRoute(hash) ?? { page: fallback, rest: [] };
}
