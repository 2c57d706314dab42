/**
 * The MCP's pricing in the CLI's text output (`plexmcp mcp create/get/update` without --json):
 * the block's Pricing lines, and the same lines from the real local server (`serve()`).
 */
import { join } from 'node:path';
import { mcpBlock, pricingLines, usdText } from '../../bin/cli/format';
import type { McpView } from '../../bin/cli/client';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { run, tempDir } from './helpers';

/** An MCP server as the admin API answers it (what mcpBlock prints). */
const base: McpView = {
  orgId: 'org_abcdefghijklmnop',
  slug: 'priced',
  displayName: 'Priced',
  endpoints: [{ id: 'ep1', url: 'http://127.0.0.1:9/mcp', weight: 1 }],
  upstreamAuth: { type: 'none' },
  hasUpstreamSecret: false,
  toolPolicy: { allow: [], deny: [] },
  resourcePolicy: { allow: [], deny: [] },
  promptPolicy: { allow: [], deny: [] },
  timeouts: { connectMs: 1000, firstByteMs: 2000, idleMs: 3000 },
  createdAt: '2026-12-01T10:00:00.000Z',
  updatedAt: '2026-12-01T10:00:00.000Z',
};

describe('pricing in mcpBlock', () => {
  test('per call and per tool, tools sorted, prices as typed (no exponent)', () => {
    const text = mcpBlock({ ...base, pricing: { perCallUsd: 0.002, tools: { search: 0.01, fetch: 0, browse: 0.000001 } } });
    const lines = text.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Pricing:'));
    expect(at).toBeGreaterThan(0);
    expect(lines.slice(at, at + 4).map((l) => l.replace(/^Pricing:/, '').trim())).toEqual([
      '$0.002 per call (tools not listed below)',
      'tool browse: $0.000001 per call',
      'tool fetch: $0 per call',
      'tool search: $0.01 per call',
    ]);
    // Between the timeouts and the dates, like the other settings.
    expect(lines[at - 1]).toMatch(/^Timeouts:/);
    expect(lines[at + 4]).toMatch(/^Created:/);
  });

  test('tool prices without a per-call price: other calls cost $0', () => {
    expect(pricingLines({ tools: { search: 0.5 } })).toEqual(['$0 per call (tools not listed below)', 'tool search: $0.5 per call']);
  });

  test('only a per-call price', () => {
    expect(pricingLines({ perCallUsd: 1000 })).toEqual(['$1000 per call']);
  });

  test('no pricing: no Pricing line', () => {
    expect(pricingLines(undefined)).toBeUndefined();
    expect(mcpBlock(base)).not.toMatch(/Pricing/);
  });

  test('usdText', () => {
    expect([usdText(0), usdText(0.1), usdText(2e-3), usdText(12.5), usdText(1e-6)]).toEqual(['$0', '$0.1', '$0.002', '$12.5', '$0.000001']);
  });
});

describe('pricing in the text of mcp create/get/update (real local server)', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gateway: LocalGateway;
  let orgId: string;
  const cli = (argv: string[]) => run(['--url', gateway.adminUrl, '--data-dir', 'data', ...argv], { cwd: dir.path, env: {} });

  beforeAll(async () => {
    dir = await tempDir();
    gateway = await serve({ port: 0, dataDir: join(dir.path, 'data'), log: () => undefined, healthIntervalMs: 0 });
    orgId = JSON.parse((await cli(['org', 'create', 'Pricing text', '--json'])).stdout).orgId;
  });
  afterAll(async () => {
    await gateway?.close();
    await dir?.cleanup();
  });

  test('create, get and update print the stored prices; an unpriced MCP prints none', async () => {
    const created = await cli(['mcp', 'create', 'priced', '--endpoint', 'http://127.0.0.1:9/mcp', '--org', orgId, '--price-per-call', '0.002', '--tool-price', 'search=0.01']);
    expect(created.stderr).toBe('');
    expect(created.stdout).toMatch(/^Pricing: +\$0\.002 per call \(tools not listed below\)\n +tool search: \$0\.01 per call$/m);

    const got = await cli(['mcp', 'get', 'priced', '--org', orgId]);
    expect(got.code).toBe(0);
    expect(got.stdout).toMatch(/^Pricing: +\$0\.002 per call \(tools not listed below\)\n +tool search: \$0\.01 per call$/m);

    const updated = await cli(['mcp', 'update', 'priced', '--org', orgId, '--clear-pricing', '--price-per-call', '0.25']);
    expect(updated.code).toBe(0);
    expect(updated.stdout).toMatch(/^Pricing: +\$0\.25 per call$/m);
    expect(updated.stdout).not.toMatch(/tool search/);

    const plain = await cli(['mcp', 'create', 'plain', '--endpoint', 'http://127.0.0.1:9/mcp', '--org', orgId]);
    expect(plain.code).toBe(0);
    expect(plain.stdout).not.toMatch(/Pricing/);
  });
});
