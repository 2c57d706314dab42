'use strict';
/**
 * The Node.js version gate of `plexmcp` (bin/plexmcp.cjs), bin/plexmcp.ts and `npm start`
 * (scripts/build-local.cjs, then the bundle it builds from bin/plexmcp.ts). On
 * an older Node the CLI does not fail cleanly: parts of it (the AWS SDK, @middy/core, require()
 * of ES modules) need Node 22, and it dies with `Cannot read properties of undefined (reading
 * 'bind')` or worse. So this runs first, on require, before anything else is loaded: plain
 * CommonJS with no dependencies and no newer syntax, so that any Node that starts can run it.
 */

/** Keep in step with `engines.node` in package.json (a test checks). */
const MIN_NODE_MAJOR = 22;

/** The message for a Node.js version that is too old (`process.version` form), or undefined. */
function nodeVersionProblem(version) {
  const match = /^v?(\d+)\./.exec(String(version));
  if (match && Number(match[1]) >= MIN_NODE_MAJOR) return undefined;
  return (
    'PlexMCP needs Node.js ' + MIN_NODE_MAJOR + ' or newer (this is ' + version + ').\n' +
    'Install Node.js ' + MIN_NODE_MAJOR + ' LTS from https://nodejs.org or switch with your version manager (e.g. `nvm install ' + MIN_NODE_MAJOR + '`).'
  );
}

/** Prints the problem to stderr and exits 1 when this Node.js is too old. */
function requireSupportedNode() {
  const problem = nodeVersionProblem(process.version);
  if (problem === undefined) return;
  process.stderr.write(problem + '\n');
  process.exit(1);
}

requireSupportedNode();

module.exports = { MIN_NODE_MAJOR, nodeVersionProblem };
