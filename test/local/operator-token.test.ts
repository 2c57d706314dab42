import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateOperatorToken, OPERATOR_TOKEN_PREFIX } from '../../lambda/local/operator-token';

describe('loadOrCreateOperatorToken', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexmcp-operator-'));
    path = join(dir, 'operator-token');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a pmop_ token with mode 0600 on first call', () => {
    const { token, created } = loadOrCreateOperatorToken(path);
    expect(created).toBe(true);
    expect(OPERATOR_TOKEN_PREFIX).toBe('pmop_');
    expect(token).toMatch(/^pmop_[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(token.slice('pmop_'.length), 'base64url')).toHaveLength(32);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(`${token}\n`);
  });

  it('returns the same token with created: false on later calls', () => {
    const first = loadOrCreateOperatorToken(path);
    const second = loadOrCreateOperatorToken(path);
    const third = loadOrCreateOperatorToken(path);
    expect(second).toEqual({ token: first.token, created: false });
    expect(third).toEqual({ token: first.token, created: false });
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });

  it('makes a different token in another data directory', () => {
    const other = join(dir, 'other-token');
    expect(loadOrCreateOperatorToken(path).token).not.toBe(loadOrCreateOperatorToken(other).token);
  });

  it('reads an existing token file, trimming whitespace', () => {
    writeFileSync(path, '  pmop_existing\n\n', { mode: 0o600 });
    expect(loadOrCreateOperatorToken(path)).toEqual({ token: 'pmop_existing', created: false });
  });

  it('fails when the directory does not exist', () => {
    expect(() => loadOrCreateOperatorToken(join(dir, 'missing', 'token'))).toThrow(/ENOENT/);
  });
});
