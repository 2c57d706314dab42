'use strict';
/**
 * Builds the local CLI (`bin/plexmcp.ts`) into one CommonJS file, `dist/plexmcp.cjs`, which
 * `npm start` runs with plain `node` (the `prestart` script runs this). Without the build,
 * `npm start` ran the TypeScript through tsx: its loader added ~30 MB of resident memory, a
 * wrapper around every request's code, and a compile step at every start.
 *
 * Native and spawned modules stay outside the bundle and resolve from node_modules as before:
 * argon2 (a native addon), dynalite (the embedded store: its LevelDB backend is native), and
 * server-everything (the `--demo` upstream, started as its own process by path). The demo
 * upstream's preload (lambda/local/loopback-only.cjs) is copied beside the bundle, where the
 * bundled demo code looks for it, and the web console is built into `dist/console`.
 *
 * `node scripts/build-local.cjs` builds; `require('./build-local.cjs').buildLocal(options)` is the
 * same build for the benchmark's gateway child.
 */
require('../bin/node-version.cjs');
const { copyFileSync, mkdirSync } = require('node:fs');
const { dirname, join, resolve } = require('node:path');

const { buildConsole } = require('./build-console.cjs');

const ROOT = resolve(__dirname, '..');

/**
 * Modules required at run time from node_modules rather than bundled. `protobufjs/minimal` is
 * never required: @datadog/sketches-js loads it only in `toProto`/`fromProto`, which PlexMCP does
 * not call (lambda/core/analytics/sketch.ts), and the package does not declare it.
 */
const EXTERNAL = ['argon2', 'dynalite', '@modelcontextprotocol/server-everything', 'protobufjs/minimal'];

/** The esbuild options for `entry` → `outfile` (paths relative to the repository root). */
function localBuildOptions(entry, outfile) {
  return {
    entryPoints: [join(ROOT, entry)],
    outfile: join(ROOT, outfile),
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    // Not minified: stack traces of a local crash stay readable without source maps at run time.
    minify: false,
    sourcemap: false,
    external: EXTERNAL,
    // As in the Lambda bundles (lib/lambda-defaults.ts): the AWS SDK's ES modules, so esbuild can
    // drop what is unused, and undici without its Milo parser.
    mainFields: ['module', 'main'],
    define: { esbuildDetection: 'true' },
    logLevel: 'error',
  };
}

async function buildLocal(entry = 'bin/plexmcp.ts', outfile = 'dist/plexmcp.cjs') {
  const esbuild = require('esbuild');
  await esbuild.build(localBuildOptions(entry, outfile));
  const out = join(ROOT, outfile);
  mkdirSync(dirname(out), { recursive: true });
  copyFileSync(join(ROOT, 'lambda/local/loopback-only.cjs'), join(dirname(out), 'loopback-only.cjs'));
  // The web console, which the bundled server serves from `console/` beside itself.
  await buildConsole(join(dirname(out), 'console'));
  return out;
}

module.exports = { buildLocal, localBuildOptions };

if (require.main === module) {
  buildLocal().catch((error) => {
    process.stderr.write(`build of dist/plexmcp.cjs failed: ${error && error.message ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
