import { join } from 'node:path';
import type { ServeOptions } from '../../bin/cli/context';
import { run } from './helpers';

function fakeServe(fail?: Error) {
  const calls: ServeOptions[] = [];
  let closed = 0;
  let stop!: () => void;
  const untilShutdown = () => new Promise<void>((resolve) => (stop = resolve));
  const serve = async (options: ServeOptions) => {
    calls.push(options);
    if (fail) throw fail;
    options.log?.('listening (fake)');
    setImmediate(() => stop()); // "Ctrl-C" right after start
    return { adminUrl: 'http://127.0.0.1:1/admin/v1', close: async () => void closed++ };
  };
  return { calls, serve, untilShutdown, closed: () => closed };
}

test('defaults: port 8787 (or PLEXMCP_PORT), data dir .plexmcp (or PLEXMCP_DATA_DIR) under cwd; closes on shutdown', async () => {
  const a = fakeServe();
  const r = await run(['serve'], { cwd: '/srv/work', env: {}, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(r).toMatchObject({ code: 0, stderr: '' });
  expect(a.calls).toEqual([{ port: 8787, host: undefined, dataDir: '/srv/work/.plexmcp', demo: false, log: expect.any(Function) }]);
  expect(a.closed()).toBe(1);
  expect(r.stdout).toBe(
    'listening (fake)\n' +
      `Without --token, \`plexmcp\` commands run with this data directory use ${join('/srv/work/.plexmcp', 'operator-token')}.\n` +
      'Press Ctrl-C to stop.\nStopping...\nStopped.\n',
  );

  const b = fakeServe();
  await run(['serve'], { cwd: '/srv/work', env: { PLEXMCP_PORT: '9000', PLEXMCP_DATA_DIR: 'state' }, serve: b.serve, untilShutdown: b.untilShutdown });
  expect(b.calls[0]).toMatchObject({ port: 9000, dataDir: '/srv/work/state' });
});

test('flags beat the environment', async () => {
  const a = fakeServe();
  const r = await run(['serve', '--port', '0', '--host', '0.0.0.0', '--data-dir', '/var/lib/plexmcp', '--demo'], {
    env: { PLEXMCP_PORT: '9000', PLEXMCP_DATA_DIR: 'state' },
    serve: a.serve,
    untilShutdown: a.untilShutdown,
  });
  expect(r.code).toBe(0);
  expect(a.calls[0]).toMatchObject({ port: 0, host: '0.0.0.0', dataDir: '/var/lib/plexmcp', demo: true });
});

test('--dynamodb-endpoint (or PLEXMCP_DYNAMODB_ENDPOINT) points the server at a running engine', async () => {
  const a = fakeServe();
  await run(['serve', '--dynamodb-endpoint', 'http://127.0.0.1:8000'], { env: {}, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(a.calls[0]).toMatchObject({ dynamodbEndpoint: 'http://127.0.0.1:8000' });
  const b = fakeServe();
  await run(['serve'], { env: { PLEXMCP_DYNAMODB_ENDPOINT: 'http://127.0.0.1:9000' }, serve: b.serve, untilShutdown: b.untilShutdown });
  expect(b.calls[0]).toMatchObject({ dynamodbEndpoint: 'http://127.0.0.1:9000' });
  const c = fakeServe();
  await run(['serve'], { env: {}, serve: c.serve, untilShutdown: c.untilShutdown });
  expect(c.calls[0]!.dynamodbEndpoint).toBeUndefined();
  expect(c.calls[0]!.logRequest).toBeUndefined();
});

test('a bad port is a usage error; a failing start is exit 1 with the error', async () => {
  const a = fakeServe();
  const bad = await run(['serve', '--port', '70000'], { serve: a.serve, untilShutdown: a.untilShutdown });
  expect(bad.code).toBe(2);
  expect(bad.stderr).toMatch(/^error usage: option '--port <port>' argument '70000' is invalid/);
  const badEnv = await run(['serve'], { env: { PLEXMCP_PORT: 'eighty' }, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(badEnv).toMatchObject({ code: 2, stderr: 'error usage: PLEXMCP_PORT must be a port number, not "eighty"\n' });
  expect(a.calls).toHaveLength(0);

  const inUse = Object.assign(new Error('listen EADDRINUSE: address already in use 127.0.0.1:8787'), { code: 'EADDRINUSE' });
  const b = fakeServe(inUse);
  const r = await run(['serve'], { env: {}, serve: b.serve, untilShutdown: () => new Promise(() => undefined) });
  expect(r).toMatchObject({ code: 1, stderr: 'error eaddrinuse: listen EADDRINUSE: address already in use 127.0.0.1:8787\n' });
});

test('--allowed-origin (or PLEXMCP_ALLOWED_ORIGINS, comma-separated) is passed to the server; a non-origin is a usage error', async () => {
  const a = fakeServe();
  await run(['serve', '--allowed-origin', 'http://localhost:3000', 'https://ui.example.com'], { env: { PLEXMCP_ALLOWED_ORIGINS: 'https://ignored.example' }, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(a.calls[0]!.allowedOrigins).toEqual(['http://localhost:3000', 'https://ui.example.com']);
  const b = fakeServe();
  await run(['serve'], { env: { PLEXMCP_ALLOWED_ORIGINS: ' http://localhost:3000 , https://ui.example.com,' }, serve: b.serve, untilShutdown: b.untilShutdown });
  expect(b.calls[0]!.allowedOrigins).toEqual(['http://localhost:3000', 'https://ui.example.com']);
  const c = fakeServe();
  await run(['serve'], { env: {}, serve: c.serve, untilShutdown: c.untilShutdown });
  expect(c.calls[0]!.allowedOrigins).toBeUndefined();

  const d = fakeServe();
  const bad = await run(['serve', '--allowed-origin', 'https://ui.example.com/app'], { env: {}, serve: d.serve, untilShutdown: d.untilShutdown });
  expect(bad).toMatchObject({
    code: 2,
    stderr: 'error usage: --allowed-origin: "https://ui.example.com/app" is not an origin (expected scheme://host[:port], e.g. http://localhost:3000)\n',
  });
  const badEnv = await run(['serve'], { env: { PLEXMCP_ALLOWED_ORIGINS: '*' }, serve: d.serve, untilShutdown: d.untilShutdown });
  expect(badEnv).toMatchObject({ code: 2, stderr: expect.stringContaining('error usage: PLEXMCP_ALLOWED_ORIGINS: "*" is not an origin') });
  expect(d.calls).toHaveLength(0);
});

test('--otlp-endpoint (or PLEXMCP_OTLP_ENDPOINT) is passed to the server; anything but an http(s) URL is a usage error', async () => {
  const a = fakeServe();
  await run(['serve', '--otlp-endpoint', 'http://127.0.0.1:4318/v1/metrics'], { env: { PLEXMCP_OTLP_ENDPOINT: 'http://ignored.example/v1/metrics' }, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(a.calls[0]!.otlpEndpoint).toBe('http://127.0.0.1:4318/v1/metrics');
  const b = fakeServe();
  await run(['serve'], { env: { PLEXMCP_OTLP_ENDPOINT: 'https://collector.example/v1/metrics' }, serve: b.serve, untilShutdown: b.untilShutdown });
  expect(b.calls[0]!.otlpEndpoint).toBe('https://collector.example/v1/metrics');
  const c = fakeServe();
  await run(['serve'], { env: {}, serve: c.serve, untilShutdown: c.untilShutdown });
  expect(c.calls[0]!.otlpEndpoint).toBeUndefined();

  const d = fakeServe();
  expect(await run(['serve', '--otlp-endpoint', 'collector:4318'], { env: {}, serve: d.serve, untilShutdown: d.untilShutdown })).toMatchObject({
    code: 2,
    stderr: 'error usage: --otlp-endpoint: "collector:4318" is not an http(s) URL\n',
  });
  expect(await run(['serve', '--otlp-endpoint', 'not a url'], { env: {}, serve: d.serve, untilShutdown: d.untilShutdown })).toMatchObject({
    code: 2,
    stderr: expect.stringContaining('error usage: --otlp-endpoint: "not a url" is not a URL'),
  });
  expect(d.calls).toHaveLength(0);
});

test('--idp-* configure the consent page identity provider (secret from PLEXMCP_IDP_CLIENT_SECRET only); incomplete or bad flags are usage errors', async () => {
  const a = fakeServe();
  const flags = ['--idp-issuer', 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123', '--idp-client-id', 'gateway', '--idp-org-claim', 'cognito:groups'];
  await run(['serve', ...flags, '--idp-org', 'admins-acme=acme', '--idp-org', 'a=b=beta', '--idp-name', 'Acme SSO'], { env: { PLEXMCP_IDP_CLIENT_SECRET: 's3cret' }, serve: a.serve, untilShutdown: a.untilShutdown });
  expect(a.calls[0]!.identityProvider).toEqual({
    issuer: 'https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123',
    clientId: 'gateway',
    clientSecret: 's3cret',
    orgClaim: 'cognito:groups',
    orgs: { 'admins-acme': 'acme', 'a=b': 'beta' },
    displayName: 'Acme SSO',
  });
  const b = fakeServe();
  await run(['serve', '--idp-issuer', 'http://127.0.0.1:9000', '--idp-client-id', 'gateway', '--idp-org-claim', 'org'], { env: {}, serve: b.serve, untilShutdown: b.untilShutdown });
  expect(b.calls[0]!.identityProvider).toEqual({ issuer: 'http://127.0.0.1:9000', clientId: 'gateway', orgClaim: 'org' });
  const c = fakeServe();
  await run(['serve'], { env: { PLEXMCP_IDP_CLIENT_SECRET: 'unused' }, serve: c.serve, untilShutdown: c.untilShutdown });
  expect(c.calls[0]!.identityProvider).toBeUndefined();

  const d = fakeServe();
  const refused = async (args: string[], stderr: string) => expect(await run(['serve', ...args], { env: {}, serve: d.serve, untilShutdown: d.untilShutdown })).toMatchObject({ code: 2, stderr: `error usage: ${stderr}\n` });
  await refused(['--idp-client-id', 'gateway'], '--idp-client-id, --idp-org-claim, --idp-org and --idp-name need --idp-issuer');
  await refused(['--idp-issuer', 'https://idp.example.com'], '--idp-issuer needs --idp-client-id and --idp-org-claim');
  await refused(['--idp-issuer', 'http://idp.example.com', '--idp-client-id', 'g', '--idp-org-claim', 'o'], '--idp-issuer: "http://idp.example.com" must be an https URL without query or fragment (http only on a loopback address)');
  await refused(['--idp-issuer', 'https://idp.example.com/?tenant=1', '--idp-client-id', 'g', '--idp-org-claim', 'o'], '--idp-issuer: "https://idp.example.com/?tenant=1" must be an https URL without query or fragment (http only on a loopback address)');
  await refused(['--idp-issuer', 'idp', '--idp-client-id', 'g', '--idp-org-claim', 'o'], '--idp-issuer: "idp" is not a URL (expected e.g. https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC123)');
  await refused([...flags, '--idp-org', 'acme'], '--idp-org: "acme" is not <claim value>=<org id>');
  expect(d.calls).toHaveLength(0);
});
