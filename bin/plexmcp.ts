#!/usr/bin/env node
/**
 * `plexmcp`, the operator CLI (see bin/cli/main.ts). Run it with `npx plexmcp` (through
 * bin/plexmcp.cjs), `npm run plexmcp --` or `tsx bin/plexmcp.ts`.
 */
// First import, so it runs before anything the CLI loads (tsx runs this file; `npm start` its bundle):
// on a Node.js older than the project needs it prints that and exits 1 instead of crashing.
import './node-version.cjs';
import { runCli } from './cli/main';

runCli(process.argv.slice(2), {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  columns: process.stdout.columns,
}).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`error internal: ${String(err)}\n`);
    process.exitCode = 1;
  },
);
