/**
 * A small client for the admin API (`/admin/v1`), on the global `fetch`. `typed()` is the
 * admin app's own typed client (hono/client over the app's type): paths, parameters and answers
 * checked against the routes, so the CLI keeps no request types of its own for what uses it.
 */
import { type ClientResponse, hc } from 'hono/client';
import type { AdminApp } from '../../lambda/core/admin/app';
import { ApiRequestError, CliError, type FieldProblem } from './errors';

/** The typed client's `/admin/v1` tree: `api.orgs[':orgId'].audit.$get({ param, query })`. */
export type AdminApi = ReturnType<typeof hc<AdminApp>>['admin']['v1'];

/** What a typed call answers on success (2xx). */
export type Answer<R> = R extends ClientResponse<infer T, infer S> ? (S extends 200 | 201 | 202 | 204 ? T : never) : never;

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Readonly<Record<string, string | number | undefined>>;
  readonly headers?: Readonly<Record<string, string>>;
}

export const USER_AGENT = 'plexmcp-cli/0.1';
const REQUEST_TIMEOUT_MS = 30_000;
const MAX_PAGES = 10_000;
const ADMIN_SUFFIX = '/admin/v1';

export class AdminClient {
  constructor(
    /** The admin API base, e.g. `http://127.0.0.1:8787/admin/v1`. */
    readonly apiUrl: string,
    private readonly token: string,
    private readonly fetchImpl: FetchLike = (input, init) => fetch(input, init),
  ) {}

  /** The typed client, sending through this client (token, timeout, no redirects). */
  typed(): AdminApi {
    const base = this.apiUrl.slice(0, -ADMIN_SUFFIX.length);
    const client = hc<AdminApp>(base, {
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        // hono/client hands its headers over as a Headers object (content-type for JSON bodies).
        this.send(input instanceof Request ? input.url : String(input), init?.method ?? 'GET', Object.fromEntries(new Headers(init?.headers).entries()), init?.body as string | undefined),
    });
    return client.admin.v1;
  }

  /** The success body of a typed call, or the API's error as ApiRequestError. */
  async answer<R extends ClientResponse<unknown, number, 'json' | 'text'>>(call: Promise<R>): Promise<Answer<R>> {
    return this.read<Answer<R>>(await call);
  }

  get<T>(path: string, query?: RequestOptions['query']): Promise<T> {
    return this.request<T>('GET', path, { query });
  }

  post<T>(path: string, body?: unknown, headers?: Record<string, string>): Promise<T> {
    return this.request<T>('POST', path, { body, headers });
  }

  patch<T>(path: string, body: unknown): Promise<T> {
    return this.request<T>('PATCH', path, { body });
  }

  delete(path: string): Promise<unknown> {
    return this.request<unknown>('DELETE', path);
  }

  /** Follows `nextCursor` until the last page and returns every item. */
  async listAll<T>(path: string): Promise<T[]> {
    const items: T[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const res = await this.get<{ items?: T[]; nextCursor?: string }>(path, { cursor });
      items.push(...(Array.isArray(res?.items) ? res.items : []));
      cursor = res?.nextCursor || undefined;
      if (cursor === undefined || seen.has(cursor)) return items;
      seen.add(cursor);
    }
    return items;
  }

  async request<T>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const url = new URL(this.apiUrl + path);
    for (const [name, value] of Object.entries(options.query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    const headers: Record<string, string> = { ...options.headers };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    return this.read<T>(await this.send(url.toString(), method, headers, options.body === undefined ? undefined : JSON.stringify(options.body)));
  }

  private async send(url: string, method: string, headers: Record<string, string>, body: string | undefined): Promise<Response> {
    try {
      return await this.fetchImpl(url, {
        method,
        headers: { accept: 'application/json', 'user-agent': USER_AGENT, ...headers, authorization: `Bearer ${this.token}` },
        body,
        // A redirect could carry the token elsewhere; the admin API never redirects.
        redirect: 'manual',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (err) {
      throw new CliError('unreachable', `cannot reach ${this.apiUrl}: ${describeFetchError(err)}`);
    }
  }

  private async read<T>(res: Response | ClientResponse<unknown>): Promise<T> {
    const text = await res.text();
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      throw new CliError(
        'redirect',
        `the server answered ${res.status}${location ? ` (redirect to ${location})` : ''}; check --url`,
      );
    }
    if (!res.ok) throw toApiError(res as Response, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError('bad_response', `the server answered ${res.status} with a body that is not JSON`);
    }
  }
}

function toApiError(res: Response, text: string): ApiRequestError {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  const error = (body as { error?: unknown } | undefined)?.error;
  if (error && typeof error === 'object') {
    const e = error as { code?: unknown; message?: unknown; requestId?: unknown; details?: unknown };
    const details: FieldProblem[] = Array.isArray(e.details)
      ? e.details
          .filter((d): d is { path?: unknown; message?: unknown } => !!d && typeof d === 'object')
          .map((d) => ({ path: String(d.path ?? ''), message: String(d.message ?? '') }))
      : [];
    return new ApiRequestError(
      res.status,
      typeof e.code === 'string' && e.code ? e.code : `http_${res.status}`,
      typeof e.message === 'string' && e.message ? e.message : res.statusText || `HTTP ${res.status}`,
      details,
      typeof e.requestId === 'string' ? e.requestId : undefined,
    );
  }
  return new ApiRequestError(res.status, `http_${res.status}`, res.statusText || `HTTP ${res.status}`);
}

function describeFetchError(err: unknown): string {
  // Duck-typed rather than `instanceof Error`: fetch's errors may come from another realm.
  const e = (err ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (e.name === 'TimeoutError') return `no answer within ${REQUEST_TIMEOUT_MS / 1000} s`;
  const cause = (e.cause ?? {}) as { code?: unknown; message?: unknown };
  if (typeof cause.code === 'string') return cause.code;
  if (typeof cause.message === 'string' && cause.message) return cause.message;
  return typeof e.message === 'string' && e.message ? e.message : String(err);
}

/** `encodeURIComponent` for one path segment. */
export const seg = (value: string): string => encodeURIComponent(value);
