/**
 * The credential the console signs in with, kept in `sessionStorage` only: it lasts as long as the
 * tab, is not shared with other tabs, and is never written to `localStorage` or a cookie. The
 * console adds no credential of its own; every API call carries this bearer token.
 */
const STORAGE_KEY = 'plexmcp.console.token';

export function savedToken(): string | null {
  return sessionStorage.getItem(STORAGE_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(STORAGE_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}
