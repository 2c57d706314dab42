import { OPERATOR, run, sampleOrg, StubServer } from './helpers';

/** `mcp health`, `mcp tools` and `alert ...` against a recording admin API stub. */
const ORG = sampleOrg.orgId;
const TOKEN = 'pmop_test_operator_token';
let stub: StubServer;
const cli = (argv: string[], opts: Parameters<typeof run>[1] = {}) =>
  run(['--url', stub.url, ...argv], { ...opts, env: { PLEXMCP_TOKEN: TOKEN, ...opts.env } });

beforeEach(async () => {
  stub = await new StubServer().on('GET', '/admin/v1/whoami', { body: OPERATOR }).start();
});
afterEach(() => stub.stop());

const healthView = {
  endpoints: [
    {
      orgId: ORG, mcp: 'github', endpointId: 'ep_2', region: 'us-east-1', status: 'unhealthy', consecutiveFailures: 4,
      consecutiveSuccesses: 0, lastCheckAt: '2026-03-01T10:05:00.000Z', lastChangeAt: '2026-03-01T10:03:00.000Z',
      errorClass: 'connect_timeout', writtenAt: '2026-03-01T10:05:00.000Z',
    },
    {
      orgId: ORG, mcp: 'github', endpointId: 'ep_1', region: 'us-east-1', status: 'healthy', consecutiveFailures: 0,
      consecutiveSuccesses: 9, lastCheckAt: '2026-03-01T10:05:00.000Z', lastChangeAt: '2026-03-01T09:00:00.000Z',
      latencyMs: 120, writtenAt: '2026-03-01T10:05:00.000Z',
    },
    {
      orgId: ORG, mcp: 'github', endpointId: 'ep_1', region: 'eu-west-1', status: 'degraded', consecutiveFailures: 0,
      consecutiveSuccesses: 2, lastCheckAt: '2026-03-01T10:04:00.000Z', lastChangeAt: '2026-03-01T10:04:00.000Z',
      latencyMs: 2500, writtenAt: '2026-03-01T10:04:00.000Z',
    },
  ],
  history: [
    { endpointId: 'ep_1', region: 'eu-west-1', from: 'healthy', to: 'degraded', at: '2026-03-01T10:04:00.000Z', latencyMs: 2500 },
    { endpointId: 'ep_2', region: 'us-east-1', from: 'healthy', to: 'unhealthy', at: '2026-03-01T10:03:00.000Z', errorClass: 'connect_timeout' },
  ],
};

const metadata = {
  tools: [
    { name: 'search_issues', description: 'Search issues and pull requests across every repository you can see, with filters.\nSecond line.' },
    { name: 'create_issue', title: 'Create an issue' },
    { name: 'x', description: 'Short' },
  ],
  resources: [{ name: 'readme', uri: 'repo://octo/hello/README.md' }],
  prompts: [],
  hash: 'f'.repeat(64),
  discoveredAt: '2026-03-01T10:00:00.000Z',
  region: 'us-east-1',
};

const subscription = {
  subscriptionId: 'al_aaaaaaaaaaaaaaaa',
  orgId: ORG,
  type: 'email',
  address: 'oncall@example.com',
  events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'],
  createdAt: '2026-03-01T09:00:00.000Z',
  deliveryRef: 'arn:aws:sns:us-east-1:111122223333:plexmcp-org-alerts:0f1e',
};

describe('mcp health', () => {
  test('a table of endpoints (by endpoint, then region) and the recent status changes; --history is passed on', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/github/health`, { body: healthView });
    const r = await cli(['mcp', 'health', 'github', '--org', ORG, '--history', '5']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.calls.map((q) => [q.path, q.query])).toEqual([[`/admin/v1/orgs/${ORG}/mcps/github/health`, { history: '5' }]]);
    expect(r.stdout).toBe(
      'ENDPOINT  REGION     STATUS     LAST CHECK                LATENCY  ERROR            FAILURES\n' +
        'ep_1      eu-west-1  degraded   2026-03-01T10:04:00.000Z  2500 ms  -                0\n' +
        'ep_1      us-east-1  healthy    2026-03-01T10:05:00.000Z  120 ms   -                0\n' +
        'ep_2      us-east-1  unhealthy  2026-03-01T10:05:00.000Z  -        connect_timeout  4\n' +
        '\n' +
        'Recent status changes (newest first):\n' +
        'AT                        ENDPOINT  REGION     CHANGE                ERROR\n' +
        '2026-03-01T10:04:00.000Z  ep_1      eu-west-1  healthy -> degraded   -\n' +
        '2026-03-01T10:03:00.000Z  ep_2      us-east-1  healthy -> unhealthy  connect_timeout\n',
    );
  });

  test('never checked; --json prints the response; no --history sends none', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/github/health`, { body: { endpoints: [], history: [] } });
    const r = await cli(['mcp', 'health', 'github', '--org', ORG]);
    expect(r.stdout).toBe('No health checks of MCP server github yet.\n\nNo recent status changes.\n');
    expect(stub.calls[0]!.query).toEqual({});
    const j = await cli(['mcp', 'health', 'github', '--org', ORG, '--json']);
    expect(JSON.parse(j.stdout)).toEqual({ endpoints: [], history: [] });
  });

  test('--history out of range is a usage error; a missing MCP is the API error', async () => {
    const bad = await cli(['mcp', 'health', 'github', '--org', ORG, '--history', '101']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^error usage: option '--history <n>' argument '101' is invalid\. Expected a number from 0 to 100\./);
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/nope/health`, { status: 404, body: { error: { code: 'not_found', message: 'MCP server not found', requestId: 'r1' } } });
    const missing = await cli(['mcp', 'health', 'nope', '--org', ORG]);
    expect(missing).toMatchObject({ code: 1, stdout: '', stderr: 'error not_found: MCP server not found\n  request id: r1\n' });
  });
});

describe('mcp tools', () => {
  test('hash, discovery time, and tools with descriptions shortened to the terminal width', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/github/tools`, { body: metadata });
    const r = await cli(['mcp', 'tools', 'github', '--org', ORG], { columns: 60 });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      `Hash:        ${'f'.repeat(64)}\n` +
        'Discovered:  2026-03-01T10:00:00.000Z (region us-east-1)\n' +
        'Contents:    3 tools, 1 resource, 0 prompts\n' +
        '\n' +
        'TOOL           DESCRIPTION\n' +
        'search_issues  Search issues and pull requests across eve...\n' + // 60 columns
        'create_issue   Create an issue\n' +
        'x              Short\n' +
        '\n' +
        'RESOURCE  URI / DESCRIPTION\n' +
        'readme    repo://octo/hello/README.md\n',
    );
    const j = await cli(['mcp', 'tools', 'github', '--org', ORG, '--json']);
    expect(JSON.parse(j.stdout)).toEqual(metadata);
  });

  test('not discovered yet', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/github/tools`, {
      status: 404,
      body: { error: { code: 'not_discovered', message: 'The tools of this MCP server have not been discovered yet', requestId: 'r2' } },
    });
    const r = await cli(['mcp', 'tools', 'github', '--org', ORG]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe('error not_discovered: The tools of this MCP server have not been discovered yet');
  });
});

describe('alert', () => {
  test('add sends type, address and the events named with short names', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/alerts`, { status: 201, body: { ...subscription, events: ['mcp.endpoint.status.changed'] } });
    const r = await cli(['alert', 'add', '--email', 'oncall@example.com', '--events', 'status', '--org', ORG]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.calls.map((q) => [q.method, q.path, q.body])).toEqual([
      ['POST', `/admin/v1/orgs/${ORG}/alerts`, { type: 'email', address: 'oncall@example.com', events: ['mcp.endpoint.status.changed'] }],
    ]);
    expect(r.stdout).toBe(
      `Subscribed oncall@example.com to status alerts of org ${ORG} (subscription al_aaaaaaaaaaaaaaaa).\n` +
        'The recipient must first confirm from the email Amazon SNS sends; nothing is delivered before that.\n',
    );
  });

  test('add without --events sends none (the server default is both); status,tools and full names work; --json', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/alerts`, { status: 201, body: { ...subscription, deliveryRef: undefined } });
    const plain = await cli(['alert', 'add', '--email', 'oncall@example.com', '--org', ORG]);
    expect(plain.stdout).toContain('to status, tools alerts of org');
    expect(plain.stdout).toContain('This server does not send email: `plexmcp serve` logs alerts instead.\n');
    await cli(['alert', 'add', '--email', 'a@example.com', '--events', 'status, tools,status', '--org', ORG]);
    const j = await cli(['alert', 'add', '--email', 'a@example.com', '--events', 'mcp.tools.changed', '--org', ORG, '--json']);
    expect(stub.calls.map((q) => q.body)).toEqual([
      { type: 'email', address: 'oncall@example.com' },
      { type: 'email', address: 'a@example.com', events: ['mcp.endpoint.status.changed', 'mcp.tools.changed'] },
      { type: 'email', address: 'a@example.com', events: ['mcp.tools.changed'] },
    ]);
    expect(JSON.parse(j.stdout)).toEqual({ ...subscription, deliveryRef: undefined });
  });

  test('list and remove; --org defaults to the org of an admin key', async () => {
    await stub.stop();
    stub = await new StubServer()
      .on('GET', '/admin/v1/whoami', { body: { principal: 'key', orgId: ORG, keyId: 'k1', role: 'admin' } })
      .on('GET', `/admin/v1/orgs/${ORG}/alerts`, { body: { items: [subscription, { ...subscription, subscriptionId: 'al_bbbbbbbbbbbbbbbb', address: 'dev@example.com', events: ['mcp.tools.changed'] }] } })
      .on('DELETE', `/admin/v1/orgs/${ORG}/alerts/al_aaaaaaaaaaaaaaaa`, { status: 204 })
      .start();
    const key = { env: { PLEXMCP_TOKEN: 'pmcp_admin_key' } };
    const list = await cli(['alert', 'list'], key);
    expect(list.stdout).toBe(
      'SUBSCRIPTION ID      TYPE   ADDRESS             EVENTS         CREATED\n' +
        'al_aaaaaaaaaaaaaaaa  email  oncall@example.com  status, tools  2026-03-01T09:00:00.000Z\n' +
        'al_bbbbbbbbbbbbbbbb  email  dev@example.com     tools          2026-03-01T09:00:00.000Z\n',
    );
    expect(JSON.parse((await cli(['alert', 'list', '--json'], key)).stdout).items).toHaveLength(2);
    const removed = await cli(['alert', 'remove', 'al_aaaaaaaaaaaaaaaa'], key);
    expect(removed).toMatchObject({ code: 0, stdout: `Removed alert subscription al_aaaaaaaaaaaaaaaa from org ${ORG}.\n` });
    expect((await cli(['alert', 'remove', 'al_aaaaaaaaaaaaaaaa', '--json'], key)).stdout).toBe('');
    expect(stub.calls.map((q) => `${q.method} ${q.path}`)).toEqual([
      `GET /admin/v1/orgs/${ORG}/alerts`,
      `GET /admin/v1/orgs/${ORG}/alerts`,
      `DELETE /admin/v1/orgs/${ORG}/alerts/al_aaaaaaaaaaaaaaaa`,
      `DELETE /admin/v1/orgs/${ORG}/alerts/al_aaaaaaaaaaaaaaaa`,
    ]);
  });

  test('an empty list; the plan and limit errors come through', async () => {
    stub
      .on('GET', `/admin/v1/orgs/${ORG}/alerts`, { body: { items: [] } })
      .on('POST', `/admin/v1/orgs/${ORG}/alerts`, {
        status: 403,
        body: { error: { code: 'plan_required', message: 'Alerts need one of the plans pro, team, enterprise; this organisation is on free', requestId: 'r3' } },
      });
    expect((await cli(['alert', 'list', '--org', ORG])).stdout).toBe(`No alert subscriptions in org ${ORG}.\n`);
    const denied = await cli(['alert', 'add', '--email', 'a@example.com', '--org', ORG]);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error plan_required: Alerts need one of the plans pro, team, enterprise/);
  });

  test.each([
    [['alert', 'add', '--org', ORG], /^error usage: required option '--email <address>' not specified/],
    [['alert', 'add', '--email', 'a@example.com', '--events', 'everything', '--org', ORG], /^error usage: option '--events <list>' argument 'everything' is invalid\. Unknown event "everything"/],
    [['alert', 'add', '--email', 'a@example.com', '--events', ',', '--org', ORG], /^error usage: option '--events <list>' argument ',' is invalid\. Expected status, tools, webhooks or a comma-separated list/],
    [['alert', 'remove', '--org', ORG], /^error usage: missing required argument 'subscriptionId'/],
    [['mcp', 'tools', '--org', ORG], /^error usage: missing required argument 'slug'/],
    [['mcp', 'health', 'x', '--org', ORG, '--history', 'lots'], /^error usage: option '--history <n>' argument 'lots' is invalid/],
  ])('%j is a usage error (exit 2, no API call)', async (argv, stderr) => {
    const r = await cli(argv as string[]);
    expect(r.stderr).toMatch(stderr as RegExp);
    expect(r.code).toBe(2);
    expect(stub.calls).toHaveLength(0);
  });
});
