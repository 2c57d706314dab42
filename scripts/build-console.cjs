'use strict';
/**
 * Builds the web console (`console/src`, Preact and uPlot) into static files: `index.html`, one
 * script and one stylesheet named by their content hash (so they can be cached for good), and
 * `manifest.json` with each file's size and gzipped size. The gateway serves the directory at
 * `/console/` — `plexmcp serve` from `dist/console` (built by `npm start`'s prestart), the admin
 * function in AWS from the copy that its bundling puts beside `index.js` (lib/admin-api.ts).
 *
 * The page has no inline script or style (the console's Content-Security-Policy allows only its
 * own files) and fetches nothing from elsewhere: it works offline.
 *
 * `node scripts/build-console.cjs [outDir]` builds (default `dist/console`);
 * `require('./build-console.cjs').buildConsole(outDir)` returns the manifest.
 */
const { mkdirSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { basename, join, resolve } = require('node:path');
const { gzipSync } = require('node:zlib');

const ROOT = resolve(__dirname, '..');
const DEFAULT_OUT_DIR = join(ROOT, 'dist', 'console');

/** The bundle budget the issue sets: the whole page, gzipped. */
const GZIP_BUDGET_BYTES = 200 * 1024;

function esbuildOptions(outDir) {
  return {
    entryPoints: [join(ROOT, 'console', 'src', 'main.tsx')],
    outdir: outDir,
    entryNames: 'app-[hash]',
    assetNames: 'asset-[hash]',
    bundle: true,
    minify: true,
    sourcemap: false,
    format: 'esm',
    platform: 'browser',
    target: ['chrome120', 'firefox120', 'safari17'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    metafile: true,
    write: true,
    legalComments: 'none',
    logLevel: 'error',
  };
}

function indexHtml(script, stylesheet) {
  // Relative URLs: the console works under any base path (`/console/` locally, `/prod/console/`
  // on an API Gateway stage URL).
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="referrer" content="no-referrer">',
    '<title>PlexMCP console</title>',
    // No favicon request (it would be a 404 on every load).
    '<link rel="icon" href="data:,">',
    `<link rel="stylesheet" href="./${stylesheet}">`,
    `<script type="module" src="./${script}"></script>`,
    '</head>',
    '<body>',
    '<div id="app"><noscript>The PlexMCP console needs JavaScript.</noscript></div>',
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

async function buildConsole(outDir = DEFAULT_OUT_DIR) {
  const esbuild = require('esbuild');
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const result = await esbuild.build(esbuildOptions(outDir));
  const outputs = Object.keys(result.metafile.outputs).map((file) => basename(file));
  const script = outputs.find((f) => f.endsWith('.js'));
  const stylesheet = outputs.find((f) => f.endsWith('.css'));
  if (!script || !stylesheet) throw new Error(`console build made ${outputs.join(', ')}: expected one .js and one .css`);
  writeFileSync(join(outDir, 'index.html'), indexHtml(script, stylesheet));
  const files = [...outputs, 'index.html'].map((name) => {
    const body = readFileSync(join(outDir, name));
    return { name, bytes: body.length, gzipBytes: gzipSync(body, { level: 9 }).length };
  });
  const manifest = { files, gzipBytes: files.reduce((sum, f) => sum + f.gzipBytes, 0), gzipBudgetBytes: GZIP_BUDGET_BYTES };
  writeFileSync(join(outDir, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  if (manifest.gzipBytes > GZIP_BUDGET_BYTES) throw new Error(`the console is ${manifest.gzipBytes} bytes gzipped, over its ${GZIP_BUDGET_BYTES}-byte budget`);
  return manifest;
}

module.exports = { buildConsole, DEFAULT_OUT_DIR, GZIP_BUDGET_BYTES };

if (require.main === module) {
  buildConsole(process.argv[2] ? resolve(process.argv[2]) : undefined).then(
    (manifest) => process.stdout.write(`console: ${manifest.files.length} files, ${(manifest.gzipBytes / 1024).toFixed(1)} KB gzipped (budget ${GZIP_BUDGET_BYTES / 1024} KB)\n`),
    (error) => {
      process.stderr.write(`console build failed: ${error && error.message ? error.message : String(error)}\n`);
      process.exit(1);
    },
  );
}
