import { barChart, parseSince } from '../../bin/cli/commands/usage';
import { OPERATOR, run, sampleOrg, StubServer } from './helpers';

/** `plexmcp usage` against a recording admin API stub. */
const ORG = sampleOrg.orgId;
const TOKEN = 'pmop_test_operator_token';
let stub: StubServer;
const cli = (argv: string[], opts: Parameters<typeof run>[1] = {}) =>
  run(['--url', stub.url, ...argv], { ...opts, env: { PLEXMCP_TOKEN: TOKEN, ...opts.env } });

const point = (start: string, requests: number, extra: Record<string, unknown> = {}) => ({
  start,
  requests,
  errors: 0,
  errorRate: 0,
  rateLimited: 0,
  p50Ms: requests ? 12.5 : null,
  p95Ms: requests ? 40 : null,
  p99Ms: requests ? 120.4 : null,
  bytesIn: requests * 100,
  bytesOut: requests * 1000,
  costUsd: 0,
  gatewayCostUsd: 0,
  errorsByCode: {},
  ...extra,
});

const report = {
  granularity: 'hour',
  from: '2026-12-01T09:00:00.000Z',
  to: '2026-12-01T13:00:00.000Z',
  groupBy: 'all',
  series: [
    {
      group: '',
      points: [
        point('2026-12-01T09:00:00.000Z', 0),
        point('2026-12-01T10:00:00.000Z', 800, { errors: 8, errorRate: 0.01, costUsd: 0.0125, gatewayCostUsd: 0.0034104, p95Ms: 35 }),
        point('2026-12-01T11:00:00.000Z', 200, { p95Ms: 90, gatewayCostUsd: 0.000852 }),
        point('2026-12-01T12:00:00.000Z', 0),
      ],
    },
  ],
  totals: { requests: 1000, errors: 8, errorRate: 0.008, rateLimited: 3, p50Ms: 12.5, p95Ms: 41.2, p99Ms: 120.4, bytesIn: 100_000, bytesOut: 1_000_000, costUsd: 0.0125, gatewayCostUsd: 0.0042624, errorsByCode: { upstream_error: 8 } },
};

beforeEach(async () => {
  stub = await new StubServer()
    .on('GET', '/admin/v1/whoami', { body: OPERATOR })
    .on('GET', `/admin/v1/orgs/${ORG}/usage`, { body: report })
    .start();
});
afterEach(() => stub.stop());

describe('plexmcp usage', () => {
  test('the last 24 hours by default: totals, a chart of requests and p95, a table of the non-empty points', async () => {
    const res = await cli(['usage', '--org', ORG]);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(stub.calls.map((c) => [c.path, c.query])).toEqual([[`/admin/v1/orgs/${ORG}/usage`, { from: '-24h', granularity: 'hour' }]]);
    const out = res.stdout;
    expect(out).toContain(`Usage of org ${ORG}, hourly from 2026-12-01T09:00:00.000Z to 2026-12-01T13:00:00.000Z:`);
    expect(out).toContain('1000 requests, 8 errors (0.8%), 3 rate limited; p50 12.5 ms, p95 41.2 ms, p99 120 ms; cost $0.0125');
    // The chart: requests peak in the second bucket, p95 in the third; the axis shows the maximum.
    const lines = out.split('\n');
    const requestsAt = lines.indexOf('requests');
    expect(lines[requestsAt + 1]).toBe('800 ┤ █');
    expect(lines[requestsAt + 6]).toBe('  0 ┤ ██');
    const p95At = lines.indexOf('p95 ms');
    expect(lines[p95At + 1]).toBe('90.0 ┤  █');
    expect(lines[p95At + 6]).toBe('   0 ┤ ██');
    expect(out).toContain('2026-12-01 09:00Z … 2026-12-01 13:00Z');
    expect(out).toMatch(/START +REQUESTS +ERRORS +ERROR RATE +P50 MS +P95 MS +P99 MS +COST +AWS COST\n/);
    expect(out).toMatch(/2026-12-01 10:00Z +800 +8 +1\.0% +12\.5 +35\.0 +120 +\$0\.0125 +\$0\.00341\n/);
    expect(out).toMatch(/2026-12-01 11:00Z +200 +0 +0\.0% +12\.5 +90\.0 +120 +0 +\$0\.000852\n/);
    expect(out).toContain('(2 hours without requests not shown)');
    // The two costs apart, never summed: upstream (pricing) and the gateway's own AWS cost.
    expect(out).toContain('cost $0.0125 upstream, $0.004262 gateway AWS (estimated)\n');
  });

  test("the gateway's AWS cost below a thousandth of a dollar keeps its digits (to the nano-USD); 0 where none was estimated", async () => {
    const small = {
      ...report,
      series: [{ group: '', points: [point('2026-12-01T10:00:00.000Z', 1, { gatewayCostUsd: 0.000004263, costUsd: 0.002 }), point('2026-12-01T11:00:00.000Z', 1)] }],
      totals: { ...report.totals, requests: 2, costUsd: 0.002, gatewayCostUsd: 0.000004263 },
    };
    await stub.stop();
    stub = await new StubServer().on('GET', '/admin/v1/whoami', { body: OPERATOR }).on('GET', `/admin/v1/orgs/${ORG}/usage`, { body: small }).start();
    const res = await cli(['usage', '--org', ORG]);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('cost $0.002 upstream, $0.000004263 gateway AWS (estimated)\n');
    expect(res.stdout).toMatch(/2026-12-01 10:00Z +1 .* +\$0\.002 +\$0\.000004263\n/);
    expect(res.stdout).toMatch(/2026-12-01 11:00Z +1 .* +0 +0\n/);
  });

  test('--mcp: the series of that MCP server only, with --since and --granularity', async () => {
    const res = await cli(['usage', '--org', ORG, '--mcp', 'github', '--since', '7d', '--granularity', 'day']);
    expect(res.code).toBe(0);
    expect(stub.calls[0]!.query).toEqual({ from: '-7d', granularity: 'day', groupBy: 'mcp', group: 'github' });
    expect(res.stdout).toContain(`Usage of mcp github of org ${ORG}`);
  });

  test('--key and --by', async () => {
    expect((await cli(['usage', '--org', ORG, '--key', 'kkkkkkkkkkkkkkkk', '--since', '2026-11-30T00:00:00Z'])).code).toBe(0);
    expect(stub.calls[0]!.query).toEqual({ from: '2026-11-30T00:00:00Z', granularity: 'hour', groupBy: 'key', group: 'kkkkkkkkkkkkkkkk' });
    expect((await cli(['usage', '--org', ORG, '--by', 'tool', '--granularity', 'minute', '--since', '90m'])).code).toBe(0);
    expect(stub.calls[1]!.query).toEqual({ from: '-90m', granularity: 'minute', groupBy: 'tool' });
  });

  test('one chart and table per series with --by', async () => {
    const byTool = { ...report, groupBy: 'tool', series: [{ group: 'search', points: report.series[0]!.points }, { group: 'create_issue', points: [point('2026-12-01T09:00:00.000Z', 5)] }] };
    await stub.stop();
    stub = await new StubServer().on('GET', '/admin/v1/whoami', { body: OPERATOR }).on('GET', `/admin/v1/orgs/${ORG}/usage`, { body: byTool }).start();
    const res = await cli(['usage', '--org', ORG, '--by', 'tool']);
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('tool search (1000 requests)');
    expect(res.stdout).toContain('tool create_issue (5 requests)');
  });

  test('--json prints the report as the API answered it', async () => {
    const res = await cli(['usage', '--org', ORG, '--json']);
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual(report);
  });

  test('--csv prints the export', async () => {
    const csv = 'bucketStart,granularity,dimension,group,requests\r\n2026-12-01T10:00:00.000Z,hour,mcp,github,800\r\n';
    stub.on('GET', `/admin/v1/orgs/${ORG}/usage/export`, { body: csv, headers: { 'content-type': 'text/csv; charset=utf-8' } });
    const res = await cli(['usage', '--org', ORG, '--mcp', 'github', '--csv']);
    expect(res.stderr).toBe('');
    expect(res.code).toBe(0);
    expect(res.stdout).toBe(csv);
    const call = stub.calls[0]!;
    expect(call.path).toBe(`/admin/v1/orgs/${ORG}/usage/export`);
    expect(call.query).toEqual({ from: '-24h', granularity: 'hour', groupBy: 'mcp', group: 'github', format: 'csv' });
    expect(call.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(call.headers.accept).toBe('text/csv, application/json');
  });

  test('an org admin key implies its org', async () => {
    await stub.stop();
    stub = await new StubServer()
      .on('GET', '/admin/v1/whoami', { body: { principal: 'key', orgId: ORG, keyId: 'kkkkkkkkkkkkkkkk', role: 'admin' } })
      .on('GET', `/admin/v1/orgs/${ORG}/usage`, { body: report })
      .start();
    expect((await cli(['usage'])).code).toBe(0);
    expect(stub.calls[0]!.path).toBe(`/admin/v1/orgs/${ORG}/usage`);
  });

  test('API errors: exit 1 with the code and request id, for the report and the export', async () => {
    const error = { status: 400, body: { error: { code: 'usage_range_too_large', message: 'A report has at most 1440 points', requestId: 'req-1' } } };
    await stub.stop();
    stub = await new StubServer()
      .on('GET', '/admin/v1/whoami', { body: OPERATOR })
      .on('GET', `/admin/v1/orgs/${ORG}/usage`, error)
      .on('GET', `/admin/v1/orgs/${ORG}/usage/export`, { status: 403, body: { error: { code: 'admin_role_required', message: 'This needs a key with the admin role', requestId: 'req-2' } } })
      .start();
    const report = await cli(['usage', '--org', ORG, '--granularity', 'minute', '--since', '30d']);
    expect(report.code).toBe(1);
    expect(report.stderr).toBe('error usage_range_too_large: A report has at most 1440 points\n  request id: req-1\n');
    const exported = await cli(['usage', '--org', ORG, '--csv']);
    expect(exported.code).toBe(1);
    expect(exported.stderr).toBe('error admin_role_required: This needs a key with the admin role\n  request id: req-2\n');
    expect(exported.stdout).toBe('');
  });

  test.each([
    [['--mcp', 'a', '--key', 'b'], '--mcp and --key are alternatives'],
    [['--mcp', 'a', '--by', 'tool'], '--by tool cannot be combined with --mcp'],
    [['--csv', '--json'], '--csv and --json are alternatives'],
    [['--since', 'yesterday'], 'Expected a duration'],
    [['--by', 'org'], 'Allowed choices are mcp, key, tool, resource, prompt'],
    [['--granularity', 'week'], 'Allowed choices are minute, hour, day'],
  ])('usage error %j: exit 2, nothing sent', async (args, message) => {
    const res = await cli(['usage', '--org', ORG, ...args]);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain(message);
    expect(stub.calls).toEqual([]);
  });

  test('the operator token needs --org', async () => {
    const res = await cli(['usage']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('--org <orgId> is required');
  });
});

describe('chart and parsing', () => {
  test('bars in eighths, scaled to the maximum; null is a gap', () => {
    // 6 rows of 8 eighths: 1 of 8 fills 6 eighths, 2 of 8 twelve.
    expect(barChart('t', [0, 1, 2, null, 8], 80, (a, b) => a + b).slice(1)).toEqual(['8 ┤    █', '  ┤    █', '  ┤    █', '  ┤    █', '  ┤  ▄ █', '0 ┤ ▆█ █']);
    expect(barChart('t', [0.5, 2.25], 80, Math.max, (v) => v.toFixed(2))[1]).toBe('2.25 ┤ █');
    expect(barChart('t', [0, 0], 80, (a, b) => a + b).at(-1)).toBe('0 ┤');
  });

  test('more points than columns are merged: sums for counts, maxima for latencies', () => {
    const values = Array.from({ length: 100 }, (_, i) => (i === 99 ? 10 : 1));
    const sum = barChart('requests', values, 50, (a, b) => a + b);
    expect(sum[0]).toBe('requests (2 buckets a column)');
    expect(sum[1]).toBe('11 ┤' + ' '.repeat(49) + '█');
    const max = barChart('p95', values, 50, Math.max);
    expect(max[1]).toBe('10 ┤' + ' '.repeat(49) + '█');
    expect(sum[1]!.length).toBeLessThanOrEqual(4 + 50);
  });

  test('--since values', () => {
    expect(parseSince('24h')).toBe('-24h');
    expect(parseSince(' 2w ')).toBe('-2w');
    expect(parseSince('2026-12-01')).toBe('2026-12-01');
    expect(() => parseSince('-24h')).toThrow('Expected a duration');
    expect(() => parseSince('2026-12-01T10:00:00')).toThrow('Expected a duration');
  });
});
