/**
 * A small client for the admin API (`/admin/v1`), on the global `fetch`. `typed()` is the
 * admin app's own typed client (hono/client over the app's type): paths, parameters and answers
 * checked against the routes, so the CLI keeps no request types of its own for what uses it.
 */
import { type ClientResponse, hc } from 'hono/client';
import type { AdminApp } from '../../lambda/core/admin/app';
import { encodingParams } from '../../lambda/core/admin/encoded-params';
import { ApiRequestError, CliError, type FieldProblem, usageError } from './errors';

/** The typed client's `/admin/v1` tree: `api.orgs[':orgId'].audit.$get({ param, query })`. */
export type AdminApi = ReturnType<typeof hc<AdminApp>>['admin']['v1'];

/** What a typed call answers on success (2xx). */
export type Answer<R> = R extends ClientResponse<infer T, infer S> ? (S extends 200 | 201 | 202 | 204 ? T : never) : never;

/** What a typed route answers on success: `AnswerOf<AdminApi['whoami']['$get']>`. */
export type AnswerOf<F> = F extends (...args: never[]) => Promise<infer R> ? Answer<R> : never;

/** The answers the CLI prints, as the routes' schemas declare them. */
export type Whoami = AnswerOf<AdminApi['whoami']['$get']>;
export type PlanView = AnswerOf<AdminApi['plans']['$get']>['items'][number];
export type OrgView = AnswerOf<AdminApi['orgs'][':orgId']['$get']>;
export type OrgListItem = PageItem<AnswerOf<AdminApi['orgs']['$get']>>;
export type McpView = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['$get']>;
export type McpHealth = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['health']['$get']>;
export type McpTools = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['tools']['$get']>;
export type KeyView = AnswerOf<AdminApi['orgs'][':orgId']['keys'][':keyId']['$get']>;
export type AlertView = AnswerOf<AdminApi['orgs'][':orgId']['alerts']['$post']>;
export type UsageView = AnswerOf<AdminApi['orgs'][':orgId']['usage']['$get']>;

/** The item type of a page answer (`{ items, nextCursor? }`). */
export type PageItem<A> = A extends { items: readonly (infer I)[] } ? I : never;

/** Any answer of a typed call. */
type AnyResponse = ClientResponse<unknown, number, 'json' | 'text'>;
/** A typed call that answers one page of a list. */
type PageCall = (query: { cursor?: string }) => Promise<AnyResponse>;

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface TypedOptions {
  /** Bounds the whole call, the answer's body included. @default 30 s */
  readonly timeoutMs?: number;
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
  typed(options: TypedOptions = {}): AdminApi {
    const base = this.apiUrl.slice(0, -ADMIN_SUFFIX.length);
    const timeoutMs = options.timeoutMs ?? REQUEST_TIMEOUT_MS;
    const client = hc<AdminApp>(base, {
      fetch: (input: string | URL | Request, init?: RequestInit) =>
        // hono/client hands its headers over as a Headers object (content-type for JSON bodies).
        this.send(input instanceof Request ? input.url : String(input), init?.method ?? 'GET', Object.fromEntries(new Headers(init?.headers).entries()), init?.body as string | undefined, timeoutMs),
    });
    return encodingParams(client.admin.v1, (name) => usageError(`${name} must not be empty`));
  }

  /** The success body of a typed call, or the API's error as ApiRequestError. */
  async answer<R extends AnyResponse>(call: Promise<R>): Promise<Answer<R>> {
    return this.read<Answer<R>>(await call);
  }

  /** The success body of a typed call as text (the usage export), or the API's error as ApiRequestError. */
  async answerText(call: Promise<AnyResponse>): Promise<string> {
    const res = await call;
    const text = await res.text();
    this.check(res, text);
    return text;
  }

  /**
   * Every item of a paged list: calls `page` with each `nextCursor` until the last page (a
   * cursor seen before ends it too, so a server that loops cannot keep the CLI going).
   */
  async all<C extends PageCall>(page: C): Promise<PageItem<AnswerOf<C>>[]> {
    const items: PageItem<AnswerOf<C>>[] = [];
    const seen = new Set<string>();
    let cursor: string | undefined;
    for (let n = 0; n < MAX_PAGES; n++) {
      const res = (await this.answer(page({ cursor }))) as { items?: PageItem<AnswerOf<C>>[]; nextCursor?: string } | undefined;
      items.push(...(Array.isArray(res?.items) ? res.items : []));
      cursor = res?.nextCursor || undefined;
      if (cursor === undefined || seen.has(cursor)) return items;
      seen.add(cursor);
    }
    return items;
  }

  private async send(url: string, method: string, headers: Record<string, string>, body: string | undefined, timeoutMs: number): Promise<Response> {
    try {
      return await this.fetchImpl(url, {
        method,
        headers: { accept: 'application/json', 'user-agent': USER_AGENT, ...headers, authorization: `Bearer ${this.token}` },
        body,
        // A redirect could carry the token elsewhere; the admin API never redirects.
        redirect: 'manual',
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (err) {
      throw new CliError('unreachable', `cannot reach ${this.apiUrl}: ${describeFetchError(err, timeoutMs)}`);
    }
  }

  private async read<T>(res: AnyResponse): Promise<T> {
    const text = await res.text();
    this.check(res, text);
    if (text === '') return undefined as T;
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError('bad_response', `the server answered ${res.status} with a body that is not JSON`);
    }
  }

  /** Throws for a redirect or an error answer. */
  private check(res: AnyResponse, text: string): void {
    if (res.status >= 300 && res.status < 400) {
      const location = res.headers.get('location');
      throw new CliError(
        'redirect',
        `the server answered ${res.status}${location ? ` (redirect to ${location})` : ''}; check --url`,
      );
    }
    if (!res.ok) throw toApiError(res, text);
  }
}

function toApiError(res: AnyResponse, text: string): ApiRequestError {
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

function describeFetchError(err: unknown, timeoutMs: number): string {
  // Duck-typed rather than `instanceof Error`: fetch's errors may come from another realm.
  const e = (err ?? {}) as { name?: unknown; message?: unknown; cause?: unknown };
  if (e.name === 'TimeoutError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = (e.cause ?? {}) as { code?: unknown; message?: unknown };
  if (typeof cause.code === 'string') return cause.code;
  if (typeof cause.message === 'string' && cause.message) return cause.message;
  return typeof e.message === 'string' && e.message ? e.message : String(err);
}
