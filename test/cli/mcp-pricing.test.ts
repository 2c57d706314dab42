/**
 * `plexmcp mcp create/update` pricing flags against the real local server (`serve()`), the CLI
 * in-process: what each flag makes the stored pricing, and the usage errors raised before any
 * request is sent.
 */
import { join } from 'node:path';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { run, tempDir } from './helpers';

let dir: { path: string; cleanup: () => Promise<void> };
let gateway: LocalGateway;
let orgId: string;
const endpoint = 'http://127.0.0.1:9/mcp'; // never called: pricing is control-plane only here

beforeAll(async () => {
  dir = await tempDir();
  gateway = await serve({ port: 0, dataDir: join(dir.path, 'data'), log: () => undefined, healthIntervalMs: 0 });
  orgId = JSON.parse((await cli(['org', 'create', 'Pricing', '--json'])).stdout).orgId;
});
afterAll(async () => {
  await gateway?.close();
  await dir?.cleanup();
});

function cli(argv: string[]) {
  return run(['--url', gateway.adminUrl, '--data-dir', 'data', ...argv], { cwd: dir.path, env: {} });
}

/** Runs the CLI with --json and returns the MCP server it printed; fails on any error output. */
async function mcp(argv: string[]): Promise<Record<string, unknown>> {
  const r = await cli([...argv, '--org', orgId, '--json']);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  return JSON.parse(r.stdout);
}

test('create with a per-call price and tool prices; update merges, drops one tool, replaces the per-call price; --clear-pricing', async () => {
  const created = await mcp(['mcp', 'create', 'priced', '--endpoint', endpoint, '--price-per-call', '0.002', '--tool-price', 'search=0.01', 'fetch=0']);
  expect(created.pricing).toEqual({ perCallUsd: 0.002, tools: { search: 0.01, fetch: 0 } });

  expect((await mcp(['mcp', 'update', 'priced', '--tool-price', 'browse=1e-3', 'search=0.02'])).pricing).toEqual({ perCallUsd: 0.002, tools: { search: 0.02, fetch: 0, browse: 0.001 } });
  expect((await mcp(['mcp', 'update', 'priced', '--tool-price', 'fetch=default', '--price-per-call', '.5'])).pricing).toEqual({ perCallUsd: 0.5, tools: { search: 0.02, browse: 0.001 } });
  // An update of something else leaves the pricing as it is.
  expect((await mcp(['mcp', 'update', 'priced', '--name', 'Priced'])).pricing).toEqual({ perCallUsd: 0.5, tools: { search: 0.02, browse: 0.001 } });
  // Start over, then remove it all.
  expect((await mcp(['mcp', 'update', 'priced', '--clear-pricing', '--tool-price', 'search=0.03'])).pricing).toEqual({ tools: { search: 0.03 } });
  expect((await mcp(['mcp', 'update', 'priced', '--clear-pricing'])).pricing).toBeUndefined();
  expect((await mcp(['mcp', 'get', 'priced'])).pricing).toBeUndefined();
  // Dropping the last price removes the pricing too.
  await mcp(['mcp', 'update', 'priced', '--tool-price', 'only=0.1']);
  expect((await mcp(['mcp', 'update', 'priced', '--tool-price', 'only=default'])).pricing).toBeUndefined();

  const plain = await mcp(['mcp', 'create', 'plain', '--endpoint', endpoint]);
  expect(plain.pricing).toBeUndefined();
});

test.each([
  [['--price-per-call', '-0.01'], /--price-per-call "-0.01": expected a price in USD/],
  [['--price-per-call', 'Infinity'], /--price-per-call "Infinity"/],
  [['--price-per-call', '0x10'], /--price-per-call "0x10"/],
  [['--tool-price', 'search'], /--tool-price "search": expected <tool>=<usd>/],
  [['--tool-price', '=0.1'], /--tool-price "=0.1"/],
  [['--tool-price', 'search=cheap'], /--tool-price "cheap": expected a price in USD/],
])('usage error for %j, nothing created', async (flags, message) => {
  const r = await cli(['mcp', 'create', 'refused', '--endpoint', endpoint, '--org', orgId, ...flags]);
  expect(r.code).toBe(2);
  expect(r.stderr).toMatch(message);
  const listed = JSON.parse((await cli(['mcp', 'list', '--org', orgId, '--json'])).stdout).items as { slug: string }[];
  expect(listed.map((m) => m.slug)).not.toContain('refused');
});

test("the server's validation is reported by field: a price above 1,000 USD, a tool name with a space", async () => {
  const high = await cli(['mcp', 'create', 'too-high', '--endpoint', endpoint, '--org', orgId, '--price-per-call', '1000.5']);
  expect(high.code).toBe(1);
  expect(high.stderr).toMatch(/validation_failed/);
  expect(high.stderr).toMatch(/pricing\.perCallUsd/);
  const spaced = await cli(['mcp', 'create', 'spaced', '--endpoint', endpoint, '--org', orgId, '--tool-price', 'web search=0.1']);
  expect(spaced.code).toBe(1);
  expect(spaced.stderr).toMatch(/pricing\.tools\.web search/);
});
