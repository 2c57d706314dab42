import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { contextAad, EnvelopeCipher, upstreamSecretContext } from '../../lambda/core/envelope';
import type { EncryptedSecret } from '../../lambda/core/model';

const PLAINTEXT = 'Bearer upstream-token-7f3c9d1e';

/** Flips one bit of a base64 field's decoded bytes at `index`. */
function flip(base64: string, index = 0): string {
  const bytes = Buffer.from(base64, 'base64');
  bytes[index] = bytes[index]! ^ 0x01;
  return bytes.toString('base64');
}

describe('EnvelopeCipher with the local key file provider', () => {
  let dir: string;
  let cipher: EnvelopeCipher;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexmcp-envelope-'));
    cipher = new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key')));
  });

  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const context = upstreamSecretContext('orgaaaaaaaaaaaaaaaa', 'github');

  it('round-trips a secret', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    expect(stored.provider).toBe('local');
    expect(await cipher.decrypt(stored, context)).toBe(PLAINTEXT);
  });

  it('round-trips empty and non-ASCII secrets', async () => {
    for (const text of ['', 'pässwörd ✓ 🔑', 'x'.repeat(10_000)]) {
      expect(await cipher.decrypt(await cipher.encrypt(text, context), context)).toBe(text);
    }
  });

  it('decrypts with a new provider reading the same key file', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    const again = new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key')));
    expect(await again.decrypt(stored, context)).toBe(PLAINTEXT);
  });

  it('does not decrypt under another master key', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    const other = new EnvelopeCipher(new LocalKeyFileProvider(randomBytes(32)));
    await expect(other.decrypt(stored, context)).rejects.toThrow();
  });

  it('binds the secret to its context regardless of key order', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, { a: '1', b: '2' });
    expect(await cipher.decrypt(stored, { b: '2', a: '1' })).toBe(PLAINTEXT);
    expect(contextAad({ a: '1', b: '2' })).toEqual(contextAad({ b: '2', a: '1' }));
  });

  it.each([
    ['another org', upstreamSecretContext('orgbbbbbbbbbbbbbbbb', 'github')],
    ['another MCP slug', upstreamSecretContext('orgaaaaaaaaaaaaaaaa', 'gitlab')],
    ['another purpose', { ...context, purpose: 'plexmcp:something-else' }],
    ['an extra entry', { ...context, extra: 'x' }],
    ['a missing entry', { purpose: context.purpose!, orgId: context.orgId! }],
    ['an empty context', {}],
  ])('refuses to decrypt under %s', async (_label, otherContext) => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    await expect(cipher.decrypt(stored, otherContext)).rejects.toThrow();
    // The right context still works: the failure is the context, not the object.
    expect(await cipher.decrypt(stored, context)).toBe(PLAINTEXT);
  });

  it.each<[string, (s: EncryptedSecret) => EncryptedSecret]>([
    ['ciphertext', (s) => ({ ...s, ciphertext: flip(s.ciphertext) })],
    ['ciphertext (last byte)', (s) => ({ ...s, ciphertext: flip(s.ciphertext, Buffer.from(s.ciphertext, 'base64').length - 1) })],
    ['truncated ciphertext', (s) => ({ ...s, ciphertext: Buffer.from(s.ciphertext, 'base64').subarray(1).toString('base64') })],
    ['tag', (s) => ({ ...s, tag: flip(s.tag, 15) })],
    ['tag truncated to 12 bytes', (s) => ({ ...s, tag: Buffer.from(s.tag, 'base64').subarray(0, 12).toString('base64') })],
    ['tag truncated to 4 bytes', (s) => ({ ...s, tag: Buffer.from(s.tag, 'base64').subarray(0, 4).toString('base64') })],
    ['empty tag', (s) => ({ ...s, tag: '' })],
    ['iv', (s) => ({ ...s, iv: flip(s.iv) })],
    ['wrapped data key', (s) => ({ ...s, wrappedKey: flip(s.wrappedKey, 20) })],
    ['wrapped data key IV', (s) => ({ ...s, wrappedKey: flip(s.wrappedKey, 0) })],
    ['wrapped data key tag', (s) => ({ ...s, wrappedKey: flip(s.wrappedKey, Buffer.from(s.wrappedKey, 'base64').length - 1) })],
  ])('refuses a tampered %s', async (_label, tamper) => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    await expect(cipher.decrypt(tamper(stored), context)).rejects.toThrow();
  });

  it('uses a fresh data key and IV for every encryption', async () => {
    const a = await cipher.encrypt(PLAINTEXT, context);
    const b = await cipher.encrypt(PLAINTEXT, context);
    expect(a.wrappedKey).not.toBe(b.wrappedKey);
    expect(a.iv).not.toBe(b.iv);
    expect(a.ciphertext).not.toBe(b.ciphertext);
    expect(Buffer.from(a.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(a.tag, 'base64')).toHaveLength(16);
    // 12-byte IV + 32-byte data key + 16-byte tag.
    expect(Buffer.from(a.wrappedKey, 'base64')).toHaveLength(60);
  });

  it('stores no plaintext', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    expect(Object.keys(stored).sort()).toEqual(['ciphertext', 'iv', 'provider', 'tag', 'wrappedKey']);
    const serialized = JSON.stringify(stored);
    expect(serialized).not.toContain(PLAINTEXT);
    expect(serialized).not.toContain('upstream-token');
    expect(serialized).not.toContain(Buffer.from(PLAINTEXT).toString('base64'));
    expect(Buffer.from(stored.ciphertext, 'base64').toString('utf8')).not.toContain('upstream');
  });

  it('refuses a secret wrapped by another provider', async () => {
    const stored = await cipher.encrypt(PLAINTEXT, context);
    await expect(cipher.decrypt({ ...stored, provider: 'kms' }, context)).rejects.toThrow(
      'secret was wrapped by kms, this cipher uses local',
    );
  });
});

describe('upstreamSecretContext', () => {
  it('binds the purpose, the org and the MCP slug', () => {
    expect(upstreamSecretContext('org1', 'slug1')).toEqual({
      purpose: 'plexmcp:upstream-credential',
      orgId: 'org1',
      mcp: 'slug1',
    });
  });
});
