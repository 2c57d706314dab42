/**
 * End to end: the real local server (`serve()` from lambda/local/serve) and the CLI in-process.
 */
import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { serve, type LocalGateway } from '../../lambda/local/serve';
import { run, tempDir } from './helpers';

const UPSTREAM_SECRET = 'upstream-bearer-secret-7f3a';

describe('plexmcp CLI against plexmcp serve', () => {
  let dir: { path: string; cleanup: () => Promise<void> };
  let gateway: LocalGateway;
  let operatorToken: string;
  let port: string;

  beforeAll(async () => {
    dir = await tempDir();
    gateway = await serve({ port: 0, dataDir: join(dir.path, 'data'), log: () => undefined });
    operatorToken = (await readFile(join(dir.path, 'data', 'operator-token'), 'utf8')).trim();
    port = new URL(gateway.adminUrl).port;
  });
  afterAll(async () => {
    await gateway?.close();
    await dir?.cleanup();
  });

  /** The CLI as the operator: no token given, so it reads <data-dir>/operator-token. */
  const asOperator = (argv: string[], env: Record<string, string> = {}) =>
    run(['--url', gateway.adminUrl, '--data-dir', 'data', ...argv], { cwd: dir.path, env });
  const withToken = (token: string, argv: string[]) => run(['--url', gateway.adminUrl, ...argv], { env: { PLEXMCP_TOKEN: token } });
  const ok = <T>(r: { code: number; stdout: string; stderr: string }): T => {
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as T;
  };

  test('operator sets up an org, an MCP and keys; the org admin key takes over', async () => {
    const me = ok<{ principal: string }>(await asOperator(['--json', 'whoami']));
    expect(me).toEqual({ principal: 'operator' });

    // Operator: organisation.
    const org = ok<{ orgId: string; plan: string }>(await asOperator(['org', 'create', 'E2E Org', '--plan', 'pro', '--json']));
    expect(org.plan).toBe('pro');
    const orgs = await asOperator(['org', 'list']);
    expect(orgs.code).toBe(0);
    expect(orgs.stdout).toMatch(new RegExp(`^ORG ID +NAME +PLAN +IP ALLOWLIST +CREATED\n${org.orgId} +E2E Org +pro +any +\\S+\n$`));

    // Operator: MCP server with two loopback endpoints and a bearer secret from the environment.
    const created = await asOperator(
      ['mcp', 'create', 'tools', '--org', org.orgId, '--name', 'Tools',
        '--endpoint', `http://127.0.0.1:${port}/mcp=3`, `http://localhost:${port}/mcp`,
        '--auth', 'bearer', '--secret-env', 'UPSTREAM_TOKEN', '--deny-tool', 'delete_*', '--connect-timeout-ms', '2000'],
      { UPSTREAM_TOKEN: UPSTREAM_SECRET },
    );
    expect(created).toMatchObject({ code: 0, stderr: '' });
    expect(created.stdout).toContain('Created MCP server tools in org');
    expect(created.stdout).toContain('Upstream auth:  bearer, secret set');
    expect(created.stdout).not.toContain(UPSTREAM_SECRET);
    const mcp = ok<Record<string, unknown>>(await asOperator(['mcp', 'get', 'tools', '--org', org.orgId, '--json']));
    expect(mcp).toMatchObject({
      slug: 'tools',
      displayName: 'Tools',
      endpoints: [
        { url: `http://127.0.0.1:${port}/mcp`, weight: 3 },
        { url: `http://localhost:${port}/mcp`, weight: 100 },
      ],
      upstreamAuth: { type: 'bearer' },
      hasUpstreamSecret: true,
      toolPolicy: { allow: [], deny: ['delete_*'] },
      timeouts: { connectMs: 2000 },
    });
    expect(JSON.stringify(mcp)).not.toContain(UPSTREAM_SECRET);

    // Operator: an admin key (JSON) and a member key (human output, secret shown once).
    const admin = ok<{ key: { keyId: string; role: string }; secret: string }>(
      await asOperator(['key', 'create', 'e2e admin', '--org', org.orgId, '--role', 'admin', '--json']),
    );
    expect(admin.key.role).toBe('admin');
    expect(admin.secret).toMatch(/^pmcp_/);
    const member = await asOperator(['key', 'create', 'e2e member', '--org', org.orgId, '--mcp', 'tools', '--allow-tool', 'tools:search_*', '--expires', '30d', '--rate-limit', '30']);
    expect(member).toMatchObject({ code: 0, stderr: '' });
    const memberSecret = /it will not be shown again\):\n\n {2}(pmcp_\S+)\n/.exec(member.stdout)?.[1];
    expect(memberSecret).toBeDefined();
    expect(member.stdout.split(memberSecret as string)).toHaveLength(2);
    const memberKeyId = /^Key ID: +(\S+)$/m.exec(member.stdout)?.[1] as string;
    expect(member.stdout).toContain('MCPs:        tools\n');
    expect(member.stdout).toContain('Tools:       tools: allow search_*\n');
    expect(member.stdout).toContain('Rate limit:  30/min (set by the operator)\n');

    const keys = await asOperator(['key', 'list', '--org', org.orgId]);
    expect(keys.code).toBe(0);
    expect(keys.stdout).toMatch(new RegExp(`^${admin.key.keyId} +e2e admin +admin +all +active +never +never$`, 'm'));
    expect(keys.stdout).toMatch(new RegExp(`^${memberKeyId} +e2e member +member +tools +active +\\S+Z +never$`, 'm'));
    expect(keys.stdout).not.toContain('pmcp_');

    // Org admin key: its own org is the default --org.
    const who = await withToken(admin.secret, ['whoami']);
    expect(who.stdout).toContain(`Principal:   admin key ${admin.key.keyId} of org ${org.orgId}\n`);
    const mcps = await withToken(admin.secret, ['mcp', 'list']);
    expect(mcps).toMatchObject({ code: 0, stderr: '' });
    expect(mcps.stdout).toMatch(/^SLUG +NAME +ENDPOINTS +AUTH +TOOLS +UPDATED\ntools +Tools +2 +bearer, secret set +allow all; deny delete_\* +\S+\n$/);

    // ... but it is not the operator.
    const orgList = await withToken(admin.secret, ['org', 'list']);
    expect(orgList).toMatchObject({ code: 1, stdout: '' });
    expect(orgList.stderr).toMatch(/^error operator_required: /);

    // The member key may not use the admin API.
    const denied = await withToken(memberSecret as string, ['mcp', 'list']);
    expect(denied.code).toBe(1);
    expect(denied.stderr).toMatch(/^error admin_role_required: /);

    // The admin key revokes the member key.
    const revoked = await withToken(admin.secret, ['key', 'revoke', memberKeyId]);
    expect(revoked).toMatchObject({ code: 0, stderr: '' });
    expect(revoked.stdout).toMatch(/^Status: +revoked at \S+Z$/m);
    const after = ok<{ revokedAt?: string }>(await withToken(admin.secret, ['key', 'get', memberKeyId, '--json']));
    expect(after.revokedAt).toEqual(expect.any(String));
    const listed = await withToken(admin.secret, ['key', 'list']);
    expect(listed.stdout).toMatch(new RegExp(`^${memberKeyId} +e2e member +member +tools +revoked `, 'm'));

    // A revoked key is refused.
    const gone = await withToken(memberSecret as string, ['whoami']);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toMatch(/^error invalid_api_key: /);

    // Validation errors from the server come back with their field paths.
    const bad = await asOperator(['mcp', 'create', 'Bad_Slug', '--org', org.orgId, '--endpoint', `http://127.0.0.1:${port}/mcp=0`]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('error validation_failed: ');
    expect(bad.stderr).toContain('\n  slug: ');
    expect(bad.stderr).toContain('\n  endpoints.0.weight: ');

    // The admin key deletes the MCP server.
    expect(await withToken(admin.secret, ['mcp', 'delete', 'tools'])).toMatchObject({ code: 0, stderr: '' });
    expect((await withToken(admin.secret, ['mcp', 'list'])).stdout).toBe(`No MCP servers in org ${org.orgId}.\n`);
    expect(operatorToken).toMatch(/^pmop_/);
  });

  test('plan limits and overrides, and resource and prompt policies, through the CLI', async () => {
    const org = ok<{ orgId: string }>(await asOperator(['org', 'create', 'Small Org', '--plan', 'free', '--json']));
    const overridden = await asOperator(['org', 'update', org.orgId, '--plan-override', 'maxMcpServers=1', 'maxApiKeys=2']);
    expect(overridden).toMatchObject({ code: 0, stderr: '' });
    expect(overridden.stdout).toContain('Overrides:     maxMcpServers=1, maxApiKeys=2\n');

    const endpoint = `http://127.0.0.1:${port}/mcp`;
    const first = await asOperator([
      'mcp', 'create', 'docs', '--org', org.orgId, '--endpoint', endpoint,
      '--allow-resource', 'file:///docs/*', '--deny-resource', 'file:///docs/private/*', '--deny-prompt', 'debug_*',
    ]);
    expect(first).toMatchObject({ code: 0, stderr: '' });
    expect(first.stdout).toContain('Resources:      allow file:///docs/*; deny file:///docs/private/*\n');
    const second = await asOperator(['mcp', 'create', 'more', '--org', org.orgId, '--endpoint', endpoint]);
    expect(second).toMatchObject({ code: 1, stdout: '' });
    expect(second.stderr).toMatch(/^error plan_limit_reached: .*\(maxMcpServers\)/);

    const admin = ok<{ secret: string }>(await asOperator(['key', 'create', 'admin', '--org', org.orgId, '--role', 'admin', '--json']));
    // An org admin may not lift a key above the plan (free: 60/min).
    const greedy = await withToken(admin.secret, ['key', 'create', 'greedy', '--rate-limit', '1000']);
    expect(greedy.code).toBe(1);
    expect(greedy.stderr).toContain('error plan_limit_reached: ');
    expect(greedy.stderr).toContain('\n  rateLimitPerMinute: must be at most 60 on this plan\n');
    // Nor change the overrides.
    const lift = await withToken(admin.secret, ['org', 'update', org.orgId, '--plan-override', 'maxApiKeys=1000']);
    expect(lift.stderr).toMatch(/^error operator_required: /);

    const scoped = await withToken(admin.secret, ['key', 'create', 'reader', '--mcp', 'docs', '--allow-resource', 'docs:file:///docs/public/*', '--allow-prompt', 'docs:summarize*']);
    expect(scoped).toMatchObject({ code: 0, stderr: '' });
    expect(scoped.stdout).toContain('Resources:   docs: allow file:///docs/public/*\n');
    expect(scoped.stdout).toContain('Prompts:     docs: allow summarize*\n');
    const third = await withToken(admin.secret, ['key', 'create', 'one too many']);
    expect(third.stderr).toMatch(/^error plan_limit_reached: .*\(maxApiKeys\)/);

    const shown = await asOperator(['org', 'get', org.orgId]);
    expect(shown.stdout).toContain('Usage:         1 of 1 MCP servers, 2 of 2 API keys\n');
    // The operator lifts the cap; the org admin creates the key it could not.
    expect((await asOperator(['org', 'update', org.orgId, '--plan-override', 'maxApiKeys=default'])).stdout).toContain('Overrides:     maxMcpServers=1\n');
    expect(await withToken(admin.secret, ['key', 'create', 'one too many'])).toMatchObject({ code: 0, stderr: '' });
  });
});

test('the package bin (bin/plexmcp.cjs) runs `serve` through tsx and stops cleanly on SIGINT', async () => {
  const dir = await tempDir();
  let child: ReturnType<typeof spawn> | undefined;
  try {
    child = spawn(process.execPath, [resolve(__dirname, '../../bin/plexmcp.cjs'), 'serve', '--port', '0', '--data-dir', 'data'], {
      cwd: dir.path,
      env: { ...process.env, PLEXMCP_PORT: '', PLEXMCP_DATA_DIR: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((done) => child!.on('exit', (code) => done(code)));
    const deadline = Date.now() + 20_000;
    while (!out.includes('Press Ctrl-C to stop.') && Date.now() < deadline && child.exitCode === null) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(err).toBe('');
    expect(out).toMatch(/admin API on http:\/\/127\.0\.0\.1:\d+\/admin\/v1/);

    // The CLI in that directory finds the operator token by itself.
    const adminUrl = /admin API on (\S+)/.exec(out)?.[1] as string;
    const who = await run(['--url', adminUrl, '--data-dir', 'data', 'whoami'], { cwd: dir.path });
    expect(who).toMatchObject({ code: 0, stderr: '' });
    expect(who.stdout).toContain('Principal:   operator\n');

    child.kill('SIGINT');
    expect(await exited).toBe(0);
    expect(out).toContain('Stopped.');
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL'); // a failed assertion must not leave it running
    await dir.cleanup();
  }
});
