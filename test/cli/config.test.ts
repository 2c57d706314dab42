import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { defaultConfigPath, normalizeBaseUrl, resolveSettings, writeConfigFile } from '../../bin/cli/config';
import { OPERATOR, run, StubServer, tempDir } from './helpers';

let dir: { path: string; cleanup: () => Promise<void> };
beforeEach(async () => {
  dir = await tempDir();
});
afterEach(() => dir.cleanup());

const configAt = async (file: string, config: object) => {
  await mkdir(join(file, '..'), { recursive: true });
  await writeFile(file, JSON.stringify(config));
};

describe('normalizeBaseUrl', () => {
  test.each([
    ['http://127.0.0.1:8787', 'http://127.0.0.1:8787'],
    ['http://127.0.0.1:8787/', 'http://127.0.0.1:8787'],
    ['http://127.0.0.1:8787/admin/v1', 'http://127.0.0.1:8787'],
    ['https://API.example.com/plexmcp/admin/v1/', 'https://api.example.com/plexmcp'],
  ])('%s', (input, expected) => expect(normalizeBaseUrl(input)).toBe(expected));

  test.each(['nope', 'ftp://h', 'http://u:p@h', 'http://h/?x=1'])('rejects %s', (input) => {
    expect(() => normalizeBaseUrl(input)).toThrow();
  });
});

test('default config path: $XDG_CONFIG_HOME, else ~/.config', () => {
  expect(defaultConfigPath({ XDG_CONFIG_HOME: '/x', HOME: '/h' })).toBe('/x/plexmcp/config.json');
  expect(defaultConfigPath({ HOME: '/h' })).toBe('/h/.config/plexmcp/config.json');
  expect(defaultConfigPath({ XDG_CONFIG_HOME: 'relative', HOME: '/h' })).toBe('/h/.config/plexmcp/config.json');
});

describe('resolveSettings precedence: flag > env > config file > operator token file', () => {
  const file = () => join(dir.path, 'cfg', 'plexmcp', 'config.json');
  const env = () => ({ XDG_CONFIG_HOME: join(dir.path, 'cfg'), HOME: dir.path });

  test('defaults: the local URL and the operator token file of the data dir', async () => {
    await mkdir(join(dir.path, '.plexmcp'));
    await writeFile(join(dir.path, '.plexmcp', 'operator-token'), 'pmop_local\n');
    const s = await resolveSettings({}, env(), dir.path);
    expect(s).toMatchObject({
      baseUrl: 'http://127.0.0.1:8787',
      apiUrl: 'http://127.0.0.1:8787/admin/v1',
      urlSource: 'default',
      token: 'pmop_local',
      tokenSource: 'operator-token-file',
      dataDir: join(dir.path, '.plexmcp'),
    });
  });

  test('PLEXMCP_DATA_DIR and --data-dir choose the operator token file', async () => {
    for (const d of ['envdir', 'flagdir']) {
      await mkdir(join(dir.path, d));
      await writeFile(join(dir.path, d, 'operator-token'), `pmop_${d}`);
    }
    expect((await resolveSettings({}, { ...env(), PLEXMCP_DATA_DIR: 'envdir' }, dir.path)).token).toBe('pmop_envdir');
    expect((await resolveSettings({ dataDir: 'flagdir' }, { ...env(), PLEXMCP_DATA_DIR: 'envdir' }, dir.path)).token).toBe(
      'pmop_flagdir',
    );
  });

  test('config file beats the operator token file; env beats config; flag beats env', async () => {
    await mkdir(join(dir.path, '.plexmcp'));
    await writeFile(join(dir.path, '.plexmcp', 'operator-token'), 'pmop_local');
    await configAt(file(), { url: 'http://config.example:1', token: 'tok_config' });
    let s = await resolveSettings({}, env(), dir.path);
    expect([s.baseUrl, s.urlSource, s.token, s.tokenSource]).toEqual(['http://config.example:1', 'config', 'tok_config', 'config']);

    s = await resolveSettings({}, { ...env(), PLEXMCP_URL: 'http://env.example:2', PLEXMCP_TOKEN: 'tok_env' }, dir.path);
    expect([s.baseUrl, s.urlSource, s.token, s.tokenSource]).toEqual(['http://env.example:2', 'env', 'tok_env', 'env']);

    s = await resolveSettings(
      { url: 'http://flag.example:3', token: 'tok_flag' },
      { ...env(), PLEXMCP_URL: 'http://env.example:2', PLEXMCP_TOKEN: 'tok_env' },
      dir.path,
    );
    expect([s.baseUrl, s.urlSource, s.token, s.tokenSource]).toEqual(['http://flag.example:3', 'flag', 'tok_flag', 'flag']);
  });

  test('a saved token is only sent to the URL it was saved for', async () => {
    await configAt(file(), { url: 'https://prod.example', token: 'tok_prod' });
    const s = await resolveSettings({ url: 'https://staging.example' }, env(), dir.path);
    expect(s.token).toBeUndefined();
    expect(s.tokenNotes.join()).toContain('is for https://prod.example');
    // Same server spelled differently still matches.
    expect((await resolveSettings({ url: 'https://prod.example/admin/v1/' }, env(), dir.path)).token).toBe('tok_prod');
  });

  test('the local operator token never goes to a non-loopback URL', async () => {
    await mkdir(join(dir.path, '.plexmcp'));
    await writeFile(join(dir.path, '.plexmcp', 'operator-token'), 'pmop_local');
    expect((await resolveSettings({ url: 'https://remote.example' }, env(), dir.path)).token).toBeUndefined();
    expect((await resolveSettings({ url: 'http://localhost:9999' }, env(), dir.path)).token).toBe('pmop_local');
  });

  test('--config names the file; a missing or invalid one is an error', async () => {
    const custom = join(dir.path, 'custom.json');
    await writeFile(custom, JSON.stringify({ url: 'http://custom.example', token: 't' }));
    expect((await resolveSettings({ config: custom }, env(), dir.path)).baseUrl).toBe('http://custom.example');
    await expect(resolveSettings({ config: join(dir.path, 'missing.json') }, env(), dir.path)).rejects.toThrow(/cannot read/);
    await writeFile(custom, '{ nope');
    await expect(resolveSettings({ config: custom }, env(), dir.path)).rejects.toThrow(/not valid JSON/);
    await writeFile(custom, JSON.stringify({ token: 42 }));
    await expect(resolveSettings({ config: custom }, env(), dir.path)).rejects.toThrow(/"token" must be a string/);
  });
});

test('writeConfigFile: file 0600 in a 0700 directory, replacing the old file', async () => {
  const file = join(dir.path, 'a', 'b', 'config.json');
  await writeConfigFile(file, { url: 'http://x', token: 'one' });
  await writeConfigFile(file, { url: 'http://x', token: 'two', extra: true });
  expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: 'http://x', token: 'two', extra: true });
  expect((await stat(file)).mode & 0o777).toBe(0o600);
  expect((await stat(join(dir.path, 'a', 'b'))).mode & 0o777).toBe(0o700);
});

describe('plexmcp login', () => {
  let stub: StubServer;
  beforeEach(async () => {
    stub = await new StubServer().on('GET', '/admin/v1/whoami', { body: OPERATOR }).start();
  });
  afterEach(() => stub.stop());

  test('verifies the token, then writes url and token (keeping other fields) with mode 0600', async () => {
    const env = { XDG_CONFIG_HOME: join(dir.path, 'xdg'), HOME: dir.path };
    const file = join(dir.path, 'xdg', 'plexmcp', 'config.json');
    await configAt(file, { url: 'http://old', token: 'old', theme: 'dark' });
    const r = await run(['login', '--url', `${stub.url}/admin/v1`, '--token', 'pmop_new'], { env });
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain(`Saved ${stub.url}`);
    expect(r.stdout).toContain('signed in as operator');
    expect(r.stdout).not.toContain('pmop_new');
    expect(stub.requests[0].headers.authorization).toBe('Bearer pmop_new');
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ url: stub.url, token: 'pmop_new', theme: 'dark' });
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    // The saved settings are used from now on.
    const who = await run(['whoami'], { env });
    expect(who.code).toBe(0);
    expect(who.stdout).toContain(`Token from:  ${file}`);
  });

  test('--token-stdin, --config, and nothing is written when the server refuses the token', async () => {
    const file = join(dir.path, 'c.json');
    const ok = await run(['login', '--url', stub.url, '--config', file, '--token-stdin'], { env: {}, stdinText: 'pmop_piped\n' });
    expect(ok.code).toBe(0);
    expect(JSON.parse(await readFile(file, 'utf8')).token).toBe('pmop_piped');

    await stub.stop();
    stub = await new StubServer()
      .on('GET', '/admin/v1/whoami', { status: 401, body: { error: { code: 'invalid_credentials', message: 'nope', requestId: 'r1' } } })
      .start();
    const other = join(dir.path, 'other.json');
    const bad = await run(['login', '--url', stub.url, '--config', other, '--token', 'wrong'], { env: {} });
    expect(bad).toMatchObject({ code: 1, stdout: '' });
    expect(bad.stderr).toBe('error invalid_credentials: nope\n  request id: r1\n');
    await expect(stat(other)).rejects.toThrow();
  });

  test('without a token it is a usage error', async () => {
    const r = await run(['login', '--url', stub.url, '--config', join(dir.path, 'x.json')], { env: {} });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error usage: login needs a token/);
    expect(stub.requests).toHaveLength(0);
  });
});
