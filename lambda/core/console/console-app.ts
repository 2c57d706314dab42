import { Hono } from 'hono';

/** Where the console is served, below the gateway's base URL. */
export const CONSOLE_BASE_PATH = '/console';

/** One built file of the console (scripts/build-console.cjs). */
export interface ConsoleFile {
  readonly body: Uint8Array;
  readonly contentType: string;
  /** A strong validator: the content's hash. */
  readonly etag: string;
  /** Named by its content hash: cacheable for good. */
  readonly immutable: boolean;
}

/** The built console: file name → file (`index.html`, `app-<hash>.js`, `app-<hash>.css`). */
export type ConsoleAssets = ReadonlyMap<string, ConsoleFile>;

/**
 * The console's response headers. The page runs only its own script and stylesheet (no inline
 * script or style, no eval), talks only to its own origin, cannot be framed (clickjacking), sends
 * no Referer (its URL never leaves the page) and is not sniffed into another type.
 */
export const CONSOLE_SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
  ].join('; '),
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Permissions-Policy': 'camera=(), microphone=(), geolocation=(), payment=()',
};

const FILE_NAME = /^[A-Za-z0-9._-]{1,100}$/;

/**
 * The web console's routes: `GET /console/` is the page, `GET /console/<file>` its script and
 * stylesheet; `/console` redirects to `/console/` (relative, so a stage path in front is kept).
 * Served by `plexmcp serve` and by the admin function in AWS, on the admin API's origin, so the
 * page calls the API without CORS. Without `assets` (not built) every console path answers 503
 * `console_unavailable`.
 */
export function consoleRoutes(assets: ConsoleAssets | undefined) {
  const app = new Hono();
  app.use(`${CONSOLE_BASE_PATH}/*`, async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) c.header(name, value);
  });
  app.use(CONSOLE_BASE_PATH, async (c, next) => {
    await next();
    for (const [name, value] of Object.entries(CONSOLE_SECURITY_HEADERS)) c.header(name, value);
  });
  app.on(['GET', 'HEAD'], CONSOLE_BASE_PATH, (c) => {
    c.header('Cache-Control', 'no-store');
    // Relative: `/prod/console` → `/prod/console/` behind an API Gateway stage path.
    return c.redirect('console/', 308);
  });
  app.on(['GET', 'HEAD'], `${CONSOLE_BASE_PATH}/:file{[^/]*}`, (c) => {
    if (assets === undefined) return unavailable();
    const name = c.req.param('file') || 'index.html';
    const file = FILE_NAME.test(name) ? assets.get(name) : undefined;
    if (file === undefined) return c.json({ error: { code: 'not_found', message: 'No such console file' } }, 404, { 'Cache-Control': 'no-store' });
    const cacheControl = file.immutable ? 'public, max-age=31536000, immutable' : 'no-cache';
    if (c.req.header('if-none-match') === file.etag) return c.body(null, 304, { ETag: file.etag, 'Cache-Control': cacheControl });
    const headers = { 'Content-Type': file.contentType, 'Content-Length': String(file.body.byteLength), ETag: file.etag, 'Cache-Control': cacheControl };
    return c.req.method === 'HEAD' ? c.body(null, 200, headers) : c.body(file.body as Uint8Array<ArrayBuffer>, 200, headers);
  });
  app.all(`${CONSOLE_BASE_PATH}/*`, (c) => c.json({ error: { code: 'method_not_allowed', message: 'The console answers GET and HEAD' } }, 405, { Allow: 'GET, HEAD' }));
  app.all(CONSOLE_BASE_PATH, (c) => c.json({ error: { code: 'method_not_allowed', message: 'The console answers GET and HEAD' } }, 405, { Allow: 'GET, HEAD' }));
  return app;
}

function unavailable(): Response {
  return new Response(JSON.stringify({ error: { code: 'console_unavailable', message: 'The console was not built into this deployment (node scripts/build-console.cjs)' } }), {
    status: 503,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  });
}
