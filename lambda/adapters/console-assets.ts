import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ConsoleAssets, ConsoleFile } from '../core/console/console-app';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/**
 * The built console (scripts/build-console.cjs) in `dir`, read once into memory (it is a few
 * hundred kilobytes at most); undefined when `dir` has no `index.html` (not built). Files of other
 * types (the build's manifest) are not served.
 */
export function loadConsoleAssets(dir: string): ConsoleAssets | undefined {
  if (!existsSync(join(dir, 'index.html'))) return undefined;
  const files = new Map<string, ConsoleFile>();
  for (const name of readdirSync(dir)) {
    const type = CONTENT_TYPES[name.slice(name.lastIndexOf('.'))];
    if (type === undefined) continue;
    const body = readFileSync(join(dir, name));
    files.set(name, {
      body,
      contentType: type,
      etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 27)}"`,
      immutable: name !== 'index.html',
    });
  }
  return files;
}
