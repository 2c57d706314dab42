/**
 * `plexmcp` and `npm start` on a Node.js older than 22 print what is needed and exit 1 instead of
 * crashing. Run for real with an old Node where the machine has one (the machines here ship
 * v20 at /usr/bin/node; CI puts 22 in front of it); elsewhere the current Node is made to report
 * an old version through a preload, so the same paths still run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { MIN_NODE_MAJOR, nodeVersionProblem } from '../../bin/node-version.cjs';

const ROOT = join(__dirname, '..', '..');
const TSX_CLI = join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs');

const message = (version: string) =>
  `PlexMCP needs Node.js 22 or newer (this is ${version}).\n` +
  'Install Node.js 22 LTS from https://nodejs.org or switch with your version manager (e.g. `nvm install 22`).';

test('nodeVersionProblem: below 22 is refused with the version named; 22 and later pass', () => {
  expect(nodeVersionProblem('v20.20.2')).toBe(message('v20.20.2'));
  expect(nodeVersionProblem('v18.0.0')).toBe(message('v18.0.0'));
  expect(nodeVersionProblem('v21.7.3')).toBe(message('v21.7.3'));
  expect(nodeVersionProblem('v22.0.0')).toBeUndefined();
  expect(nodeVersionProblem('v24.11.1')).toBeUndefined();
  expect(nodeVersionProblem('v100.0.0')).toBeUndefined();
  expect(nodeVersionProblem('nonsense')).toBe(message('nonsense'));
});

test('the gate and package.json engines agree', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
  expect(pkg.engines.node).toBe(`>=${MIN_NODE_MAJOR}`);
});

interface OldNode {
  /** The node binary to run. */
  readonly node: string;
  readonly version: string;
  /** Extra environment (the fake-version preload when the Node is not really old). */
  readonly env: Record<string, string>;
  readonly what: string;
}

/** A Node.js older than 22 on this machine: a known place or any `node` on PATH. */
function findOldNode(): OldNode | undefined {
  const candidates = ['/usr/bin/node', '/usr/local/bin/node', ...(process.env.PATH ?? '').split(delimiter).map((dir) => join(dir, 'node'))];
  for (const node of new Set(candidates)) {
    if (!existsSync(node)) continue;
    const version = spawnSync(node, ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout?.trim() ?? '';
    const major = Number(/^v(\d+)\./.exec(version)?.[1]);
    if (major > 0 && major < 22) return { node, version, env: {}, what: `the machine's ${version} (${node})` };
  }
  return undefined;
}

// Made at load time: the fallback below writes its preload here before the tests are declared.
const scratch = mkdtempSync(join(tmpdir(), 'plexmcp-node-version-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function oldNode(): OldNode {
  const found = findOldNode();
  if (found) return found;
  // No old Node here: this one reports v20.19.0 from a preload (NODE_OPTIONS reaches tsx's child too).
  const preload = join(scratch, 'fake-old-node.cjs');
  writeFileSync(preload, "Object.defineProperty(process, 'version', { value: 'v20.19.0' });\n");
  return { node: process.execPath, version: 'v20.19.0', env: { NODE_OPTIONS: `--require ${JSON.stringify(preload)}` }, what: 'this Node reporting v20.19.0' };
}

/**
 * Runs a command in its own process group and kills the whole group after `timeoutMs`: should
 * the gate fail, `serve` would start and keep running (and npm and tsx each add a process).
 */
function runBounded(command: string, args: string[], env: NodeJS.ProcessEnv, timeoutMs = 60_000) {
  return new Promise<{ code: number | null; stdout: string; stderr: string; timedOut: boolean }>((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-child.pid!, 'SIGKILL');
    }, timeoutMs);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, timedOut });
    });
  });
}

const old = oldNode();

describe(`on ${old.what}`, () => {
  const env = (): NodeJS.ProcessEnv => ({
    ...process.env,
    ...old.env,
    // The old Node first, as on a machine that has only it: npm and tsx's `#!/usr/bin/env node` pick it.
    PATH: `${dirname(old.node)}${delimiter}${process.env.PATH ?? ''}`,
    PLEXMCP_DATA_DIR: join(scratch, 'data'),
  });

  test('`plexmcp` (the package bin) prints the needed version and exits 1', async () => {
    for (const args of [['--version'], ['serve', '--port', '0']]) {
      const r = await runBounded(old.node, [join(ROOT, 'bin', 'plexmcp.cjs'), ...args], env());
      expect({ args, ...r }).toEqual({ args, code: 1, stdout: '', stderr: `${message(old.version)}\n`, timedOut: false });
    }
  });

  test('`tsx bin/plexmcp.ts serve` (what `npm run plexmcp -- serve` runs) prints the needed version and exits 1', async () => {
    const r = await runBounded(old.node, [TSX_CLI, join(ROOT, 'bin', 'plexmcp.ts'), 'serve', '--port', '0'], env());
    expect(r).toEqual({ code: 1, stdout: '', stderr: `${message(old.version)}\n`, timedOut: false });
  });

  test('`npm start` itself prints the needed version and exits 1', async () => {
    // `npm` from the PATH above: its `#!/usr/bin/env node` runs it, and then the `prestart` build, on the old Node.
    const r = await runBounded('npm', ['start', '--silent', '--', '--port', '0'], env());
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(message(old.version));
    expect(r.stderr).not.toMatch(/reading 'bind'|Cannot read properties|\n\s+at /);
  });
});
