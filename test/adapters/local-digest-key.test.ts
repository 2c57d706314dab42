import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateDigestSigner } from '../../lambda/adapters/local-digest-key';
import { type AuditDigest, signDigest, verifyDigest } from '../../lambda/core/audit/digest';
import { GENESIS_HASH } from '../../lambda/core/audit/entry';

const mode = (path: string) => statSync(path).mode & 0o777;
const digest: AuditDigest = { scope: 'acme', fromSeq: 1, toSeq: 2, lastHash: 'ab'.repeat(32), previousDigestHash: GENESIS_HASH, createdAt: '2026-12-02T00:00:00.000Z' };

describe('loadOrCreateDigestSigner', () => {
  let dir: string;
  let path: string;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'plexmcp-digestkey-'));
    path = join(dir, 'audit-digest-key.pem');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('creates a P-256 private key PEM with mode 0600 on first use, and signs digests verifiable with its public key', async () => {
    const signer = loadOrCreateDigestSigner(path);
    expect(mode(path)).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----\n/);
    const signed = await signDigest(digest, signer);
    expect(verifyDigest(digest, signed.signature, signer.publicKeyPem)).toBe(true);
  });

  it('keeps the same key across restarts, so earlier digests still verify', async () => {
    const first = loadOrCreateDigestSigner(path);
    const signed = await signDigest(digest, first);
    const second = loadOrCreateDigestSigner(path);
    expect(second.publicKeyPem).toBe(first.publicKeyPem);
    expect(verifyDigest(digest, signed.signature, second.publicKeyPem)).toBe(true);
    expect(loadOrCreateDigestSigner(join(dir, 'other.pem')).publicKeyPem).not.toBe(first.publicKeyPem);
  });

  it('resets a group/world-readable key file to 0600', () => {
    const first = loadOrCreateDigestSigner(path);
    chmodSync(path, 0o644);
    expect(loadOrCreateDigestSigner(path).publicKeyPem).toBe(first.publicKeyPem);
    expect(mode(path)).toBe(0o600);
  });

  it('refuses a file that is not a PEM private key, without quoting it', () => {
    writeFileSync(path, 'not a key: s3cret', { mode: 0o600 });
    expect(() => loadOrCreateDigestSigner(path)).toThrow(`local digest key file ${path} does not hold a PEM private key`);
    try {
      loadOrCreateDigestSigner(path);
    } catch (error) {
      expect(String(error)).not.toContain('s3cret');
    }
  });

  it('refuses a key that is not EC P-256', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    expect(() => loadOrCreateDigestSigner(path)).toThrow('the local digest key must be an EC P-256 private key');
  });
});
