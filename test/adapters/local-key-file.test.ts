import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKeyFileProvider, loadOrCreateMasterKey } from '../../lambda/adapters/local-key-file';

const mode = (path: string) => statSync(path).mode & 0o777;

describe('loadOrCreateMasterKey', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexmcp-keyfile-'));
    path = join(dir, 'master.key');
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a 32-byte base64 key file with mode 0600', () => {
    const key = loadOrCreateMasterKey(path);
    expect(key).toHaveLength(32);
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toBe(key.toString('base64') + '\n');
  });

  it('reuses the existing key on the next call', () => {
    const first = loadOrCreateMasterKey(path);
    const second = loadOrCreateMasterKey(path);
    expect(second.equals(first)).toBe(true);
  });

  it('creates a different key in another file', () => {
    const a = loadOrCreateMasterKey(path);
    const b = loadOrCreateMasterKey(join(dir, 'other.key'));
    expect(a.equals(b)).toBe(false);
  });

  it('reads a key written by someone else', () => {
    const key = randomBytes(32);
    writeFileSync(path, `  ${key.toString('base64')}\n\n`, { mode: 0o600 });
    expect(loadOrCreateMasterKey(path).equals(key)).toBe(true);
  });

  it.each([
    ['16-byte key', randomBytes(16).toString('base64')],
    ['33-byte key', randomBytes(33).toString('base64')],
    ['empty file', ''],
  ])('rejects a file with a %s', (_label, content) => {
    writeFileSync(path, content, { mode: 0o600 });
    expect(() => loadOrCreateMasterKey(path)).toThrow(`local key file ${path} does not hold a 32-byte key`);
  });

  it('resets a group/world-readable key file to 0600', () => {
    const first = loadOrCreateMasterKey(path);
    chmodSync(path, 0o644);
    expect(mode(path)).toBe(0o644);
    expect(loadOrCreateMasterKey(path).equals(first)).toBe(true);
    expect(mode(path)).toBe(0o600);
  });

  it('fails when the directory does not exist', () => {
    expect(() => loadOrCreateMasterKey(join(dir, 'missing', 'master.key'))).toThrow(/ENOENT/);
  });
});

describe('LocalKeyFileProvider', () => {
  const context = { purpose: 'test', orgId: 'org1' };

  it('wraps a fresh 32-byte data key that unwraps under the same context only', async () => {
    const provider = new LocalKeyFileProvider(randomBytes(32));
    expect(provider.name).toBe('local');
    const a = await provider.generateDataKey(context);
    const b = await provider.generateDataKey(context);
    expect(a.plaintext).toHaveLength(32);
    expect(Buffer.from(a.plaintext).equals(Buffer.from(b.plaintext))).toBe(false);
    expect(a.wrapped).not.toContain(Buffer.from(a.plaintext).toString('base64'));

    expect(Buffer.from(await provider.decryptDataKey(a.wrapped, context)).equals(Buffer.from(a.plaintext))).toBe(true);
    await expect(provider.decryptDataKey(a.wrapped, { ...context, orgId: 'org2' })).rejects.toThrow();
  });

  it('does not unwrap under another master key', async () => {
    const wrapped = (await new LocalKeyFileProvider(randomBytes(32)).generateDataKey(context)).wrapped;
    await expect(new LocalKeyFileProvider(randomBytes(32)).decryptDataKey(wrapped, context)).rejects.toThrow();
  });
});
