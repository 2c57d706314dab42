/**
 * The console's client for the admin API: the admin app's own typed client (hono/client over
 * `AdminApp`, the same one the CLI uses), on the page's origin, with the signed-in bearer token.
 * Calls go to `<base>/admin/v1/…`, where `<base>` is what the console's own URL has before
 * `console/` (so a stage path such as `/prod` is kept). Same origin: no CORS, no cookies.
 */
import { type ClientResponse, hc } from 'hono/client';
import type { AdminApp } from '../../lambda/core/admin/app';
import { encodingParams } from '../../lambda/core/admin/encoded-params';

export type AdminApi = ReturnType<typeof hc<AdminApp>>['admin']['v1'];

/** What a typed call answers on success (2xx). */
export type Answer<R> = R extends ClientResponse<infer T, infer S> ? (S extends 200 | 201 | 202 | 204 ? T : never) : never;
/** What a typed route answers on success: `AnswerOf<AdminApi['whoami']['$get']>`. */
export type AnswerOf<F> = F extends (...args: never[]) => Promise<infer R> ? Answer<R> : never;
/** The item type of a page answer (`{ items, nextCursor? }`). */
export type PageItem<A> = A extends { items: readonly (infer I)[] } ? I : never;

export type Whoami = AnswerOf<AdminApi['whoami']['$get']>;

/** One field the API named in a validation error (`details[]`). */
export interface FieldProblem {
  readonly path: string;
  readonly message: string;
}

/** An error answer of the API: its stable code, message and field problems. */
export class ApiFailure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: readonly FieldProblem[] = [],
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiFailure';
  }

  /** The message for one field (`name`, `endpoints.0.url`), if the API named it. */
  forField(path: string): string | undefined {
    return this.details.find((d) => d.path === path)?.message;
  }
}

/** The gateway's base URL (where `/mcp/{slug}` and `/admin/v1` live), from the console's own URL. */
export function gatewayBase(): string {
  const here = new URL(location.href);
  const path = here.pathname.replace(/\/console(?:\/.*)?$/, '');
  return `${here.origin}${path}`;
}

const REQUEST_TIMEOUT_MS = 30_000;

/** The typed client for a bearer token. */
export function adminApi(token: string): AdminApi {
  const client = hc<AdminApp>(gatewayBase(), {
    fetch: (input: string | URL | Request, init?: RequestInit) =>
      fetch(input, {
        ...init,
        headers: { ...Object.fromEntries(new Headers(init?.headers).entries()), accept: 'application/json', authorization: `Bearer ${token}` },
        // The admin API never redirects; a redirect could carry the token elsewhere.
        redirect: 'error',
        credentials: 'omit',
        cache: 'no-store',
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      }),
  });
  return encodingParams(client.admin.v1, (name) => new ApiFailure(0, 'empty_parameter', `${name} must not be empty`));
}

type AnyResponse = ClientResponse<unknown, number, 'json' | 'text'>;

/** The success body of a typed call, or the API's error as ApiFailure. */
export async function answer<R extends AnyResponse>(call: Promise<R>): Promise<Answer<R>> {
  let res: R;
  try {
    res = await call;
  } catch (error) {
    if (error instanceof ApiFailure) throw error;
    throw new ApiFailure(0, 'unreachable', 'The gateway did not answer. Is it running?');
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    throw new ApiFailure(res.status, 'bad_response', `The gateway answered ${res.status} with a body that is not JSON`);
  }
  if (res.ok) return body as Answer<R>;
  const error = (body as { error?: { code?: unknown; message?: unknown; details?: unknown; requestId?: unknown } } | undefined)?.error;
  const details = Array.isArray(error?.details)
    ? (error.details as { path?: unknown; message?: unknown }[]).map((d) => ({ path: String(d?.path ?? ''), message: String(d?.message ?? '') }))
    : [];
  throw new ApiFailure(
    res.status,
    typeof error?.code === 'string' ? error.code : `http_${res.status}`,
    typeof error?.message === 'string' ? error.message : `HTTP ${res.status}`,
    details,
    typeof error?.requestId === 'string' ? error.requestId : undefined,
  );
}

type PageCall = (query: { cursor?: string }) => Promise<AnyResponse>;

/** Every item of a paged list, following `nextCursor` (at most `maxPages` pages). */
export async function all<C extends PageCall>(page: C, maxPages = 50): Promise<PageItem<AnswerOf<C>>[]> {
  const items: PageItem<AnswerOf<C>>[] = [];
  const seen = new Set<string>();
  let cursor: string | undefined;
  for (let n = 0; n < maxPages; n++) {
    const res = (await answer(page({ cursor }))) as { items?: PageItem<AnswerOf<C>>[]; nextCursor?: string } | undefined;
    items.push(...(res?.items ?? []));
    cursor = res?.nextCursor || undefined;
    if (cursor === undefined || seen.has(cursor)) break;
    seen.add(cursor);
  }
  return items;
}
