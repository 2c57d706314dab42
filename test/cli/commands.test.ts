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
    stub.on('GET', '/admin/v1/plans', { body: { items: [{ plan: 'free', requestsPerMinute: 60, monthlyRequests: 10000 }] } });
    expect((await cli(['whoami'])).stdout).toBe(`URL:         ${stub.url}\nPrincipal:   operator\nToken from:  PLEXMCP_TOKEN\n`);
    expect((await cli(['plans'])).stdout).toBe('PLAN  REQUESTS/MIN  REQUESTS/MONTH\nfree  60            10000\n');
  });

  test('path segments are encoded', async () => {
    await cli(['org', 'get', 'a/../b?c']);
    expect(stub.requests[0].path).toBe('/admin/v1/orgs/a%2F..%2Fb%3Fc');
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
