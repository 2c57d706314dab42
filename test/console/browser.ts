/**
 * What the console's browser tests share: the console built once per test file, `plexmcp serve
 * --demo` on loopback with it, and headless Chromium from the system (Debian's `chromium`, which
 * .ci/run installs where missing) driven by playwright-core — no browser download.
 *
 * Every page a test opens fails the test on a Content-Security-Policy violation, an uncaught page
 * error or a console error, so a page that breaks its own policy cannot pass. Screenshots go to
 * `test-artifacts/console/` (not committed).
 */
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, chromium, type Page } from 'playwright-core';
import type { DemoFile } from '../../lambda/local/demo';
import { serve, type LocalGateway, type ServeOptions } from '../../lambda/local/serve';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { buildConsole } = require('../../scripts/build-console.cjs') as { buildConsole: (outDir: string) => Promise<{ gzipBytes: number }> };

/** The system browser: PLEXMCP_CHROMIUM, or Debian's. */
export const CHROMIUM_PATH = process.env.PLEXMCP_CHROMIUM ?? '/usr/bin/chromium';
export const ARTIFACTS_DIR = join(__dirname, '..', '..', 'test-artifacts', 'console');

export interface ConsoleStack {
  readonly gateway: LocalGateway;
  readonly demo: DemoFile;
  readonly dataDir: string;
  readonly browser: Browser;
  /** A new page (own context: empty sessionStorage) that fails the test on CSP violations and page errors. */
  newPage(): Promise<Page>;
  /** Problems the pages reported (CSP violations, uncaught errors, console errors): expected empty at the end of each test. */
  readonly problems: string[];
  close(): Promise<void>;
}

/**
 * Builds the console, starts `serve --demo` with it and launches Chromium. Options go to serve
 * (tests shorten the key cache, the webhook schedule, …).
 */
export async function startConsoleStack(options: Partial<ServeOptions> = {}): Promise<ConsoleStack> {
  const dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-console-'));
  const consoleDir = join(dataDir, 'console-build');
  await buildConsole(consoleDir);
  const gateway = await serve({ port: 0, dataDir, demo: true, healthIntervalMs: 0, auditDigestIntervalMs: 0, consoleDir, log: () => undefined, ...options });
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;
  if (!existsSync(CHROMIUM_PATH)) throw new Error(`no Chromium at ${CHROMIUM_PATH}: apt-get install chromium (or set PLEXMCP_CHROMIUM)`);
  const browser = await chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    // As root in CI there is no sandbox; the rest keep Chromium off the (closed) network.
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-dev-shm-usage'],
  });
  const problems: string[] = [];
  mkdirSync(ARTIFACTS_DIR, { recursive: true });
  return {
    gateway,
    demo,
    dataDir,
    browser,
    problems,
    async newPage() {
      const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
      const page = await context.newPage();
      page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
      page.on('console', (message) => {
        if (message.type() === 'error') problems.push(`console error: ${message.text()}`);
      });
      return page;
    },
    async close() {
      await browser.close().catch(() => undefined);
      await gateway.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Console errors a test expects (the browser logs every 4xx answer of a fetch as an error): the
 * ones that name `status` are dropped from `problems`.
 */
export function expectedFailures(problems: string[], status: number): void {
  for (let i = problems.length - 1; i >= 0; i--) if (problems[i]!.includes(`status of ${status}`)) problems.splice(i, 1);
}

/** Opens the console and signs in with `token`; resolves when the signed-in layout is shown. */
export async function signIn(page: Page, stack: ConsoleStack, token: string, hash = ''): Promise<void> {
  await page.goto(`${stack.gateway.consoleUrl}${hash}`);
  await page.getByLabel('Admin key or operator token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('button', { name: 'Sign out' }).waitFor();
}

/** Saves a full-page screenshot as a test artifact. */
export async function screenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(ARTIFACTS_DIR, `${name}.png`), fullPage: true });
}
