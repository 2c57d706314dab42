import { OPERATOR, run, sampleKey, sampleMcp, sampleOrg, StubServer } from './helpers';

const ORG = sampleOrg.orgId;
const TOKEN = 'pmop_test_operator_token';
let stub: StubServer;
/** Runs against the stub with the operator token unless told otherwise. */
const cli = (argv: string[], opts: Parameters<typeof run>[1] = {}) =>
  run(['--url', stub.url, ...argv], { ...opts, env: { PLEXMCP_TOKEN: TOKEN, ...opts.env } });

beforeEach(async () => {
  stub = await new StubServer().on('GET', '/admin/v1/whoami', { body: OPERATOR }).start();
});
afterEach(() => stub.stop());

const apiError = (status: number, code: string, message: string, details?: object[]) => ({
  status,
  body: { error: { code, message, requestId: 'req-1', ...(details ? { details } : {}) } },
});

describe('requests and headers', () => {
  test('org create sends exactly the body and headers the API expects', async () => {
    stub.on('POST', '/admin/v1/orgs', { status: 201, body: sampleOrg });
    const r = await cli(['org', 'create', 'Acme', '--plan', 'pro', '--ip-allow', '10.0.0.0/8', '192.168.0.0/16', '--idempotency-key', 'once-1']);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.requests).toHaveLength(1);
    const [req] = stub.requests;
    expect(req.method).toBe('POST');
    expect(req.path).toBe('/admin/v1/orgs');
    expect(req.body).toEqual({ name: 'Acme', plan: 'pro', ipAllowlist: ['10.0.0.0/8', '192.168.0.0/16'] });
    expect(req.headers).toMatchObject({
      authorization: `Bearer ${TOKEN}`,
      'content-type': 'application/json',
      accept: 'application/json',
      'idempotency-key': 'once-1',
    });
    expect(req.headers['user-agent']).toMatch(/^plexmcp-cli\//);
    expect(r.stdout).toBe(
      'Created organisation org_aaaaaaaaaaaaaaaa.\n\n' +
        'Org ID:        org_aaaaaaaaaaaaaaaa\n' +
        'Name:          Acme\n' +
        'Plan:          pro\n' +
        'IP allowlist:  10.0.0.0/8\n' +
        'Created:       2026-01-01T00:00:00.000Z\n' +
        'Updated:       2026-01-02T00:00:00.000Z\n',
    );
  });

  test('org create with only a name sends only the name; --json prints the response', async () => {
    stub.on('POST', '/admin/v1/orgs', { status: 201, body: sampleOrg });
    const r = await cli(['org', 'create', 'Acme', '--json']);
    expect(stub.requests[0].body).toEqual({ name: 'Acme' });
    expect(stub.requests[0].headers['idempotency-key']).toBeUndefined();
    expect(JSON.parse(r.stdout)).toEqual(sampleOrg);
  });

  test('global options work after the subcommand too', async () => {
    stub.on('GET', '/admin/v1/orgs', { body: { items: [sampleOrg] } });
    const r = await run(['org', 'list', '--json', '--token', 'pmop_flag', '--url', `${stub.url}/admin/v1/`], { env: {} });
    expect(r.code).toBe(0);
    expect(stub.requests[0].headers.authorization).toBe('Bearer pmop_flag');
    expect(JSON.parse(r.stdout)).toEqual({ items: [sampleOrg] });
  });

  test('lists follow nextCursor and print one aligned table', async () => {
    const second = { ...sampleOrg, orgId: 'org_bbbbbbbbbbbbbbbb', name: 'Beta Industries', plan: 'free', ipAllowlist: [] };
    stub.on('GET', '/admin/v1/orgs', (req) =>
      req.query.cursor === 'c2' ? { body: { items: [second] } } : { body: { items: [sampleOrg], nextCursor: 'c2' } },
    );
    const r = await cli(['org', 'list']);
    expect(stub.requests.map((q) => q.query)).toEqual([{}, { cursor: 'c2' }]);
    expect(r.stdout).toBe(
      'ORG ID                NAME             PLAN  IP ALLOWLIST  CREATED\n' +
        'org_aaaaaaaaaaaaaaaa  Acme             pro   10.0.0.0/8    2026-01-01T00:00:00.000Z\n' +
        'org_bbbbbbbbbbbbbbbb  Beta Industries  free  any           2026-01-01T00:00:00.000Z\n',
    );
  });

  test('org get and org update', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}`, { body: sampleOrg }).on('PATCH', `/admin/v1/orgs/${ORG}`, { body: sampleOrg });
    expect((await cli(['org', 'get', ORG])).stdout).toContain('Name:          Acme');
    await cli(['org', 'update', ORG, '--name', 'Acme 2', '--plan', 'team', '--ip-allow', '1.2.3.4/32']);
    await cli(['org', 'update', ORG, '--clear-ip-allow']);
    expect(stub.calls.slice(1).map((q) => [q.method, q.body])).toEqual([
      ['PATCH', { name: 'Acme 2', plan: 'team', ipAllowlist: ['1.2.3.4/32'] }],
      ['PATCH', { ipAllowlist: [] }],
    ]);
  });

  test('mcp create: endpoints with weights, bearer secret from the environment, policy, timeouts', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/mcps`, { status: 201, body: sampleMcp });
    const r = await cli(
      [
        'mcp', 'create', 'github', '--org', ORG,
        '--endpoint', 'https://a.example/mcp=100', 'https://b.example/mcp=50',
        '--name', 'GitHub', '--auth', 'bearer', '--secret-env', 'GH_UPSTREAM',
        '--allow-tool', 'search_*', 'get_*', '--deny-tool', 'delete_*',
        '--connect-timeout-ms', '2000', '--idle-timeout-ms', '60000',
      ],
      { env: { GH_UPSTREAM: 'ghp_upstream_secret' } },
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.requests).toHaveLength(1); // --org given: no whoami
    expect(stub.requests[0].path).toBe(`/admin/v1/orgs/${ORG}/mcps`);
    expect(stub.requests[0].body).toEqual({
      slug: 'github',
      displayName: 'GitHub',
      endpoints: [
        { url: 'https://a.example/mcp', weight: 100 },
        { url: 'https://b.example/mcp', weight: 50 },
      ],
      upstreamAuth: { type: 'bearer', token: 'ghp_upstream_secret' },
      toolPolicy: { allow: ['search_*', 'get_*'], deny: ['delete_*'] },
      timeouts: { connectMs: 2000, idleMs: 60000 },
    });
    expect(r.stdout).not.toContain('ghp_upstream_secret');
    expect(r.stdout).toContain('Endpoints:      ep_1  https://a.example/mcp  (weight 100)\n                ep_2  https://b.example/mcp  (weight 50)\n');
    expect(r.stdout).toContain('Upstream auth:  bearer, secret set\n');
  });

  test('mcp create: header and basic auth, secret from stdin', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/mcps`, { status: 201, body: sampleMcp });
    await cli(['mcp', 'create', 'a', '--org', ORG, '--endpoint', 'https://a.example/mcp', '--auth', 'header', '--header-name', 'X-Api-Key', '--secret-stdin'], {
      stdinText: 'header-value\n',
    });
    await cli(['mcp', 'create', 'b', '--org', ORG, '--endpoint', 'https://a.example/mcp', '--auth', 'basic', '--username', 'bot', '--secret-env', 'PW'], {
      env: { PW: 'hunter2' },
    });
    await cli(['mcp', 'create', 'c', '--org', ORG, '--endpoint', 'https://a.example/mcp']);
    expect(stub.calls.map((q) => (q.body as { upstreamAuth?: unknown }).upstreamAuth)).toEqual([
      { type: 'header', headerName: 'X-Api-Key', value: 'header-value' },
      { type: 'basic', username: 'bot', password: 'hunter2' },
      undefined,
    ]);
  });

  test('mcp list/get/delete; --org defaults to the org of an admin key', async () => {
    stub.requests.length = 0;
    await stub.stop();
    stub = await new StubServer()
      .on('GET', '/admin/v1/whoami', { body: { principal: 'key', orgId: ORG, keyId: 'k1', role: 'admin' } })
      .on('GET', `/admin/v1/orgs/${ORG}/mcps`, { body: { items: [sampleMcp] } })
      .on('GET', `/admin/v1/orgs/${ORG}/mcps/github`, { body: sampleMcp })
      .on('DELETE', `/admin/v1/orgs/${ORG}/mcps/github`, { status: 204 })
      .start();
    const key = { env: { PLEXMCP_TOKEN: 'pmcp_admin_key' } };
    const list = await cli(['mcp', 'list'], key);
    expect(list.stdout).toBe(
      'SLUG    NAME    ENDPOINTS  AUTH                TOOLS                     UPDATED\n' +
        'github  GitHub  2          bearer, secret set  allow all; deny delete_*  2026-01-01T00:00:00.000Z\n',
    );
    expect((await cli(['mcp', 'get', 'github'], key)).stdout).toContain('Denied tools:   delete_*');
    const del = await cli(['mcp', 'delete', 'github'], key);
    expect(del).toMatchObject({ code: 0, stdout: `Deleted MCP server github from org ${ORG}.\n` });
    expect((await cli(['mcp', 'delete', 'github', '--json'], key)).stdout).toBe('');
    expect(stub.requests.map((q) => `${q.method} ${q.path}`)).toEqual([
      'GET /admin/v1/whoami',
      `GET /admin/v1/orgs/${ORG}/mcps`,
      'GET /admin/v1/whoami',
      `GET /admin/v1/orgs/${ORG}/mcps/github`,
      'GET /admin/v1/whoami',
      `DELETE /admin/v1/orgs/${ORG}/mcps/github`,
      'GET /admin/v1/whoami',
      `DELETE /admin/v1/orgs/${ORG}/mcps/github`,
    ]);
    expect(stub.requests.every((q) => q.headers.authorization === 'Bearer pmcp_admin_key')).toBe(true);
  });

  test('mcp update: only what was given; a new secret alone keeps the auth type; policy lists merge', async () => {
    const current = { ...sampleMcp, upstreamAuth: { type: 'header', headerName: 'X-Key' }, toolPolicy: { allow: ['a_*'], deny: ['d_*'] } };
    stub.on('GET', `/admin/v1/orgs/${ORG}/mcps/github`, { body: current }).on('PATCH', `/admin/v1/orgs/${ORG}/mcps/github`, { body: sampleMcp });
    await cli(['mcp', 'update', 'github', '--org', ORG, '--first-byte-timeout-ms', '90000', '--endpoint', 'https://c.example/mcp']);
    await cli(['mcp', 'update', 'github', '--org', ORG, '--secret-env', 'NEW'], { env: { NEW: 'rotated' } });
    await cli(['mcp', 'update', 'github', '--org', ORG, '--deny-tool', 'x_*']);
    await cli(['mcp', 'update', 'github', '--org', ORG, '--clear-tool-policy']);
    await cli(['mcp', 'update', 'github', '--org', ORG, '--auth', 'none', '--name', 'GH']);
    const patches = stub.calls.filter((q) => q.method === 'PATCH').map((q) => q.body);
    expect(patches).toEqual([
      { endpoints: [{ url: 'https://c.example/mcp' }], timeouts: { firstByteMs: 90000 } },
      { upstreamAuth: { type: 'header', headerName: 'X-Key', value: 'rotated' } },
      { toolPolicy: { allow: ['a_*'], deny: ['x_*'] } },
      { toolPolicy: { allow: [], deny: [] } },
      { displayName: 'GH', upstreamAuth: { type: 'none' } },
    ]);
  });

  test('key create prints the secret once with a warning; --json prints the whole response', async () => {
    const created = { key: sampleKey, secret: 'pmcp_kkkkkkkkkkkkkkkk_SECRETSECRET' };
    stub.on('POST', `/admin/v1/orgs/${ORG}/keys`, { status: 201, body: created });
    const now = () => new Date('2026-06-01T00:00:00.000Z');
    const r = await cli(
      ['key', 'create', 'alice', '--org', ORG, '--role', 'member', '--mcp', 'github', '--allow-tool', 'github:search_*',
        '--deny-tool', 'github:delete_*', '--expires', '30d', '--rate-limit', '30'],
      { now },
    );
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.requests[0].body).toEqual({
      name: 'alice',
      role: 'member',
      scopes: { mcps: ['github'], tools: { github: { allow: ['search_*'], deny: ['delete_*'] } } },
      expiresAt: '2026-07-01T00:00:00.000Z',
      rateLimitPerMinute: 30,
    });
    expect(r.stdout.split(created.secret)).toHaveLength(2); // exactly once
    expect(r.stdout).toContain('API key (store it now, it will not be shown again):\n\n  pmcp_kkkkkkkkkkkkkkkk_SECRETSECRET\n');
    expect(r.stdout).toContain('Tools:       github: allow search_*\n');

    const j = await cli(['key', 'create', 'bot', '--org', ORG, '--json']);
    expect(stub.requests[1].body).toEqual({ name: 'bot', scopes: { mcps: '*' } });
    expect(JSON.parse(j.stdout)).toEqual(created);
  });

  test('key list, get and revoke', async () => {
    const revoked = { ...sampleKey, revokedAt: '2026-02-01T00:00:00.000Z' };
    const expired = { ...sampleKey, keyId: 'eeeeeeeeeeeeeeee', name: 'old', role: 'admin', scopes: { mcps: '*', tools: {} }, expiresAt: '2026-01-15T00:00:00.000Z', lastUsedAt: '2026-01-10T00:00:00.000Z' };
    stub
      .on('GET', `/admin/v1/orgs/${ORG}/keys`, { body: { items: [sampleKey, expired] } })
      .on('GET', `/admin/v1/orgs/${ORG}/keys/${sampleKey.keyId}`, { body: sampleKey })
      .on('POST', `/admin/v1/orgs/${ORG}/keys/${sampleKey.keyId}/revoke`, { body: revoked });
    const now = () => new Date('2026-06-01T00:00:00.000Z');
    const list = await cli(['key', 'list', '--org', ORG], { now });
    expect(list.stdout).toBe(
      'KEY ID            NAME   ROLE    MCPS    STATUS   EXPIRES                   LAST USED\n' +
        'kkkkkkkkkkkkkkkk  alice  member  github  active   never                     never\n' +
        'eeeeeeeeeeeeeeee  old    admin   all     expired  2026-01-15T00:00:00.000Z  2026-01-10T00:00:00.000Z\n',
    );
    expect((await cli(['key', 'get', sampleKey.keyId, '--org', ORG], { now })).stdout).toContain('Rate limit:  30/min\n');
    const rev = await cli(['key', 'revoke', sampleKey.keyId, '--org', ORG], { now });
    expect(rev.stdout).toContain('Status:      revoked at 2026-02-01T00:00:00.000Z\n');
    const post = stub.requests.find((q) => q.method === 'POST');
    expect(post).toMatchObject({ path: `/admin/v1/orgs/${ORG}/keys/${sampleKey.keyId}/revoke`, rawBody: '' });
    expect(post?.headers['content-type']).toBeUndefined();
  });

  test('whoami and plans', async () => {
    const free = {
      plan: 'free', requestsPerMinute: 60, monthlyRequests: 10000, maxMcpServers: 3, maxEndpointsPerMcp: 2, maxApiKeys: 10,
      maxConcurrentStreamsPerKey: 5, handshakesPerKeyPerMinute: 10, maxWebhookEndpoints: 0,
    };
    stub.on('GET', '/admin/v1/plans', { body: { items: [free] } });
    expect((await cli(['whoami'])).stdout).toBe(`URL:         ${stub.url}\nPrincipal:   operator\nToken from:  PLEXMCP_TOKEN\n`);
    expect((await cli(['plans'])).stdout).toBe(
      'PLAN  REQUESTS/MIN  REQUESTS/MONTH  MCP SERVERS  ENDPOINTS/MCP  API KEYS  STREAMS/KEY  HANDSHAKES/MIN  WEBHOOKS\n' +
        'free  60            10000           3            2              10        5            10              0\n',
    );
  });

  test('mcp create and update: resource and prompt policies, merged on update like tool policies', async () => {
    const current = { ...sampleMcp, resourcePolicy: { allow: ['file:///docs/*'], deny: [] }, promptPolicy: { allow: [], deny: ['debug_*'] } };
    stub
      .on('POST', `/admin/v1/orgs/${ORG}/mcps`, { status: 201, body: current })
      .on('GET', `/admin/v1/orgs/${ORG}/mcps/github`, { body: current })
      .on('PATCH', `/admin/v1/orgs/${ORG}/mcps/github`, { body: current });
    const created = await cli([
      'mcp', 'create', 'github', '--org', ORG, '--endpoint', 'https://a.example/mcp',
      '--allow-resource', 'file:///docs/*', 'https://api.example.com/items?id=*', '--deny-resource', 'file:///docs/private/*',
      '--allow-prompt', 'summarize*',
    ]);
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(stub.requests[0].body).toMatchObject({
      resourcePolicy: { allow: ['file:///docs/*', 'https://api.example.com/items?id=*'], deny: ['file:///docs/private/*'] },
      promptPolicy: { allow: ['summarize*'], deny: [] },
    });
    expect(stub.requests[0].body).not.toHaveProperty('toolPolicy');
    expect(created.stdout).toContain('Resources:      allow file:///docs/*\nPrompts:        allow all; deny debug_*\n');

    await cli(['mcp', 'update', 'github', '--org', ORG, '--deny-resource', 'file:///docs/secret*']);
    await cli(['mcp', 'update', 'github', '--org', ORG, '--clear-resource-policy', '--clear-prompt-policy']);
    await cli(['mcp', 'update', 'github', '--org', ORG, '--clear-prompt-policy', '--allow-prompt', 'review']);
    expect(stub.calls.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([
      { resourcePolicy: { allow: ['file:///docs/*'], deny: ['file:///docs/secret*'] } },
      { resourcePolicy: { allow: [], deny: [] }, promptPolicy: { allow: [], deny: [] } },
      { promptPolicy: { allow: ['review'], deny: [] } },
    ]);
  });

  test('key create: resource and prompt rules per MCP, split at the first colon; key get shows them', async () => {
    const scopes = {
      mcps: ['docs'],
      tools: {},
      resources: { docs: { allow: ['file:///docs/*'], deny: [] }, '*': { allow: [], deny: ['file:///etc/*'] } },
      prompts: { docs: { allow: ['summarize*'], deny: ['debug:*'] } },
    };
    const key = { ...sampleKey, scopes, rateLimitPerMinute: 5000, rateLimitSetByOperator: true };
    stub.on('POST', `/admin/v1/orgs/${ORG}/keys`, { status: 201, body: { key, secret: 'pmcp_x' } }).on('GET', `/admin/v1/orgs/${ORG}/keys/${key.keyId}`, { body: key });
    const r = await cli([
      'key', 'create', 'docs reader', '--org', ORG, '--mcp', 'docs',
      '--allow-resource', 'docs:file:///docs/*', '--deny-resource', '*:file:///etc/*',
      '--allow-prompt', 'docs:summarize*', '--deny-prompt', 'docs:debug:*', '--rate-limit', '5000',
    ]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(stub.requests[0].body).toEqual({
      name: 'docs reader',
      scopes: { mcps: ['docs'], resources: scopes.resources, prompts: scopes.prompts },
      rateLimitPerMinute: 5000,
    });
    const shown = (await cli(['key', 'get', key.keyId, '--org', ORG])).stdout;
    expect(shown).toContain('Tools:       all (per MCP policy)\n');
    expect(shown).toContain('Resources:   *: allow all; deny file:///etc/*\n             docs: allow file:///docs/*\n');
    expect(shown).toContain('Prompts:     docs: allow summarize*; deny debug:*\n');
    expect(shown).toContain('Rate limit:  5000/min (set by the operator)\n');
  });

  test('org update --plan-override merges into the current overrides; =default drops one; --clear-plan-overrides', async () => {
    const withOverrides = {
      ...sampleOrg,
      planOverrides: { maxApiKeys: 50, requestsPerMinute: 1000 },
      limits: {
        requestsPerMinute: 1000, monthlyRequests: 1_000_000, maxMcpServers: 25, maxEndpointsPerMcp: 5, maxApiKeys: 50,
        maxConcurrentStreamsPerKey: 50, handshakesPerKeyPerMinute: 60, maxWebhookEndpoints: 5,
      },
      usage: { mcpServers: 2, apiKeys: 7 },
    };
    stub.on('GET', `/admin/v1/orgs/${ORG}`, { body: withOverrides }).on('PATCH', `/admin/v1/orgs/${ORG}`, { body: withOverrides });
    await cli(['org', 'update', ORG, '--plan-override', 'maxMcpServers=40', 'maxApiKeys=default']);
    await cli(['org', 'update', ORG, '--clear-plan-overrides']);
    await cli(['org', 'update', ORG, '--clear-plan-overrides', '--plan-override', 'handshakesPerKeyPerMinute=5', '--name', 'N']);
    expect(stub.calls.filter((q) => q.method === 'PATCH').map((q) => q.body)).toEqual([
      { planOverrides: { requestsPerMinute: 1000, maxMcpServers: 40 } },
      { planOverrides: {} },
      { name: 'N', planOverrides: { handshakesPerKeyPerMinute: 5 } },
    ]);
    // --clear-plan-overrides needs no read of the current ones.
    expect(stub.calls.filter((q) => q.method === 'GET')).toHaveLength(1);
    expect((await cli(['org', 'get', ORG])).stdout).toBe(
      'Org ID:        org_aaaaaaaaaaaaaaaa\n' +
        'Name:          Acme\n' +
        'Plan:          pro\n' +
        'Overrides:     maxApiKeys=50, requestsPerMinute=1000\n' +
        'Limits:        1000 requests/min per key, 1000000 requests/month\n' +
        '               25 MCP servers, 5 endpoints each, 50 API keys\n' +
        '               50 open streams and 60 handshakes/min per key\n' +
        '               5 webhook endpoints\n' +
        'Usage:         2 of 25 MCP servers, 7 of 50 API keys\n' +
        'IP allowlist:  10.0.0.0/8\n' +
        'Created:       2026-01-01T00:00:00.000Z\n' +
        'Updated:       2026-01-02T00:00:00.000Z\n',
    );
  });

  test('org create --plan-override', async () => {
    stub.on('POST', '/admin/v1/orgs', { status: 201, body: sampleOrg });
    await cli(['org', 'create', 'Big', '--plan-override', 'maxMcpServers=100', 'maxEndpointsPerMcp=8']);
    expect(stub.requests[0].body).toEqual({ name: 'Big', planOverrides: { maxMcpServers: 100, maxEndpointsPerMcp: 8 } });
  });

  test('a plan_limit_reached error prints its message and field', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/keys`, {
      status: 403,
      body: {
        error: {
          code: 'plan_limit_reached',
          message: "This organisation's plan allows keys at most 60 requests per minute (requestsPerMinute); only the operator may set more",
          requestId: 'req-9',
          details: [{ path: 'rateLimitPerMinute', message: 'must be at most 60 on this plan' }],
          limit: { name: 'requestsPerMinute', value: 60 },
        },
      },
    });
    const r = await cli(['key', 'create', 'k', '--org', ORG, '--rate-limit', '1000']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      "error plan_limit_reached: This organisation's plan allows keys at most 60 requests per minute (requestsPerMinute); only the operator may set more\n" +
        '  rateLimitPerMinute: must be at most 60 on this plan\n  request id: req-9\n',
    );
  });

  test('path segments are encoded', async () => {
    await cli(['org', 'get', 'a/../b?c']);
    expect(stub.requests[0].path).toBe('/admin/v1/orgs/a%2F..%2Fb%3Fc');
  });

  test('every path parameter is encoded, however deep (the typed client inserts them raw)', async () => {
    await cli(['key', 'get', 'x/../../y', '--org', ORG]);
    await cli(['mcp', 'tools', 'gh#1', '--org', 'o/p']);
    await cli(['webhook', 'remove', 'e?x=1', '--org', ORG]);
    expect(stub.calls.map((q) => `${q.method} ${q.path}`)).toEqual([
      `GET /admin/v1/orgs/${ORG}/keys/x%2F..%2F..%2Fy`,
      'GET /admin/v1/orgs/o%2Fp/mcps/gh%231/tools',
      `DELETE /admin/v1/orgs/${ORG}/webhooks/e%3Fx%3D1`,
    ]);
  });

  test('an empty path parameter is a usage error, not a request to the parent route', async () => {
    const r = await cli(['key', 'get', '', '--org', ORG]);
    expect(r).toMatchObject({ code: 2, stdout: '', stderr: 'error usage: keyId must not be empty\n' });
    expect(stub.calls).toHaveLength(0);
  });

  test('lists under an org follow nextCursor too, with the org in the path', async () => {
    const second = { ...sampleKey, keyId: 'eeeeeeeeeeeeeeee', name: 'bot' };
    stub.on('GET', `/admin/v1/orgs/${ORG}/keys`, (req) =>
      req.query.cursor === 'k2' ? { body: { items: [second] } } : { body: { items: [sampleKey], nextCursor: 'k2' } },
    );
    const r = await cli(['key', 'list', '--org', ORG, '--json']);
    expect(stub.calls.map((q) => [q.path, q.query])).toEqual([[`/admin/v1/orgs/${ORG}/keys`, {}], [`/admin/v1/orgs/${ORG}/keys`, { cursor: 'k2' }]]);
    expect(JSON.parse(r.stdout).items.map((k: { keyId: string }) => k.keyId)).toEqual([sampleKey.keyId, 'eeeeeeeeeeeeeeee']);
  });
});

describe('errors', () => {
  test('API errors: code, message, field paths, request id on stderr; exit 1', async () => {
    stub.on('POST', `/admin/v1/orgs/${ORG}/mcps`, apiError(400, 'validation_failed', 'Request validation failed', [
      { path: 'endpoints.0.url', message: 'must be https' },
      { path: 'slug', message: 'too long' },
    ]));
    const r = await cli(['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'http://a.example/mcp']);
    expect(r).toEqual({
      code: 1,
      stdout: '',
      stderr:
        'error validation_failed: Request validation failed\n' +
        '  endpoints.0.url: must be https\n' +
        '  slug: too long\n' +
        '  request id: req-1\n',
    });
  });

  test.each([
    [403, 'operator_required', 'Only the operator may do this'],
    [404, 'not_found', 'Organisation not found'],
    [409, 'conflict', 'exists'],
  ])('%i is exit 1', async (status, code, message) => {
    stub.on('GET', `/admin/v1/orgs/${ORG}`, apiError(status, code, message));
    const r = await cli(['org', 'get', ORG]);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n')[0]).toBe(`error ${code}: ${message}`);
  });

  test('a non-JSON error and an unreachable server', async () => {
    stub.on('GET', '/admin/v1/orgs', { status: 502, body: '<html>bad gateway</html>' });
    const r = await cli(['org', 'list']);
    expect(r).toMatchObject({ code: 1, stderr: 'error http_502: Bad Gateway\n' });
    const url = stub.url;
    await stub.stop();
    const down = await run(['--url', url, '--token', 't', 'org', 'list'], { env: {} });
    expect(down).toMatchObject({ code: 1, stdout: '', stderr: `error unreachable: cannot reach ${url}/admin/v1: ECONNREFUSED\n` });
    stub = await new StubServer().start();
  });

  test('a redirect is not followed (the token would go along)', async () => {
    const other = await new StubServer().on('GET', '/admin/v1/orgs', { body: { items: [] } }).start();
    stub.on('GET', '/admin/v1/orgs', { status: 307, headers: { location: `${other.url}/admin/v1/orgs` } });
    const r = await cli(['org', 'list']);
    await other.stop();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error redirect:');
    expect(other.requests).toHaveLength(0);
  });

  test('no token anywhere: usage error, no request', async () => {
    const r = await run(['--url', stub.url, 'org', 'list'], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error no_token: no admin token: pass --token, set PLEXMCP_TOKEN/);
    expect(stub.requests).toHaveLength(0);
  });

  test('operator token without --org: clear usage error after asking whoami', async () => {
    const r = await cli(['key', 'list']);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe('error org_required: --org <orgId> is required with the operator token (only an org key implies its own org)\n');
    expect(stub.requests.map((q) => q.path)).toEqual(['/admin/v1/whoami']);
  });

  test.each([
    [['org', 'create', 'A', '--plan', 'gold'], /^error usage: option '--plan <plan>' argument 'gold' is invalid\. Allowed choices are free, pro, team, enterprise\./],
    [['org', 'update', ORG], /^error usage: nothing to update/],
    [['org', 'update', ORG, '--ip-allow', '1.1.1.1', '--clear-ip-allow'], /^error usage: use either --ip-allow or --clear-ip-allow/],
    [['mcp', 'create', 'x', '--org', ORG], /^error usage: required option '--endpoint <url\.\.\.>' not specified/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'nope'], /^error usage: --endpoint "nope": not a valid URL/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'bearer'], /^error usage: upstream auth bearer needs its secret: --secret-env <VAR> or --secret-stdin/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--secret-env', 'S'], /^error usage: pass --auth bearer\|header\|basic/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'bearer', '--secret-env', 'UNSET'], /^error usage: --secret-env UNSET: that environment variable is not set or empty/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'header', '--secret-env', 'S'], /^error usage: --auth header needs --header-name/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'basic', '--secret-env', 'S'], /^error usage: --auth basic needs --username/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'none', '--secret-env', 'S'], /^error usage: --auth none takes no secret/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'bearer', '--secret-env', 'S', '--secret-stdin'], /^error usage: use either --secret-env or --secret-stdin/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--auth', 'bearer', '--secret', 'plain'], /^error usage: unknown option '--secret'/],
    [['mcp', 'update', 'x', '--org', ORG], /^error usage: nothing to update/],
    [['mcp', 'create', 'x', '--org', ORG, '--endpoint', 'https://a/m', '--connect-timeout-ms', 'soon'], /^error usage: option '--connect-timeout-ms <ms>' argument 'soon' is invalid/],
    [['key', 'create', 'k', '--org', ORG, '--expires', 'someday'], /^error usage: --expires "someday": expected an ISO date/],
    [['key', 'create', 'k', '--org', ORG, '--rate-limit', '0'], /^error usage: option '--rate-limit <perMinute>' argument '0' is invalid/],
    [['key', 'create', 'k', '--org', ORG, '--mcp', 'a', '--allow-tool', 'b:x'], /^error usage: --allow-tool b:x: MCP "b" is not in --mcp/],
    [['key', 'create', 'k', '--org', ORG, '--role', 'owner'], /^error usage: option '--role <role>' argument 'owner' is invalid/],
    [['key', 'create', 'k', '--org', ORG, '--allow-resource', 'file:///docs/*'], /^error usage: --allow-resource "file:\/\/\/docs\/\*": starts with a URI, not an MCP slug/],
    [['key', 'create', 'k', '--org', ORG, '--deny-prompt', 'nocolon'], /^error usage: --deny-prompt "nocolon": expected <mcp-slug>:<prompt-pattern>/],
    [['key', 'create', 'k', '--org', ORG, '--mcp', 'a', '--allow-resource', 'b:file:///x'], /^error usage: --allow-resource b:file:\/\/\/x: MCP "b" is not in --mcp/],
    [['org', 'update', ORG, '--plan-override', 'maxWidgets=3'], /^error usage: --plan-override "maxWidgets=3": unknown limit "maxWidgets"/],
    [['org', 'update', ORG, '--plan-override', 'maxApiKeys=0'], /^error usage: --plan-override "maxApiKeys=0": the value must be a whole number of at least 1/],
    [['org', 'update', ORG, '--plan-override', 'maxApiKeys'], /^error usage: --plan-override "maxApiKeys": expected <limit>=<number>/],
    [['org', 'create', 'A', '--plan-override', 'maxApiKeys=lots'], /^error usage: --plan-override "maxApiKeys=lots": expected/],
    [['org'], /^Usage: plexmcp org/],
    [['frobnicate'], /^error usage: unknown command 'frobnicate'/],
    [['--url', 'ftp://x', 'org', 'list'], /^error usage: --url must use http or https/],
  ])('%j is a usage error (exit 2, no API call)', async (argv, stderr) => {
    const r = await cli(argv as string[], { env: { S: 'secret-value' } });
    expect(r.stderr).toMatch(stderr as RegExp);
    expect(r.code).toBe(2);
    expect(stub.calls).toHaveLength(0);
    expect(r.stderr).not.toContain('secret-value');
  });

  test('--help and --version exit 0', async () => {
    const help = await run(['mcp', 'create', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('--secret-env <VAR>');
    expect(help.stdout).toContain('Global Options:');
    const version = await run(['--version']);
    expect(version).toMatchObject({ code: 0, stdout: expect.stringMatching(/^\d+\.\d+\.\d+\n$/) });
  });

  test('control characters from the server do not reach the terminal', async () => {
    stub.on('GET', `/admin/v1/orgs/${ORG}`, { body: { ...sampleOrg, name: 'Evil\u001b[2J\nName' } });
    const r = await cli(['org', 'get', ORG]);
    expect(r.stdout).toContain('Name:          Evil?[2J?Name\n');
  });
});
