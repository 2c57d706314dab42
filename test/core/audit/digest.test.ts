import { createSign, generateKeyPairSync } from 'node:crypto';
import { GENESIS_HASH } from '../../../lambda/core/audit/entry';
import { type AuditDigest, digestBytes, digestHash, LocalDigestSigner, signDigest, verifyDigest } from '../../../lambda/core/audit/digest';

const digest: AuditDigest = {
  scope: 'acme',
  fromSeq: 1,
  toSeq: 20,
  lastHash: 'ab'.repeat(32),
  previousDigestHash: GENESIS_HASH,
  createdAt: '2026-12-02T00:00:00.000Z',
};

describe('audit digests', () => {
  const signer = LocalDigestSigner.generate();

  it('signs and verifies with the published public key', async () => {
    const signed = await signDigest(digest, signer);
    expect(signer.publicKeyPem).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(verifyDigest(signed.digest, signed.signature, signer.publicKeyPem)).toBe(true);
  });

  it.each<[string, Partial<AuditDigest>]>([
    ['toSeq', { toSeq: 19 }],
    ['lastHash', { lastHash: 'cd'.repeat(32) }],
    ['previousDigestHash', { previousDigestHash: 'ef'.repeat(32) }],
    ['scope', { scope: '*' }],
    ['createdAt', { createdAt: '2026-12-03T00:00:00.000Z' }],
  ])('fails when %s is tampered with', async (_field, change) => {
    const signed = await signDigest(digest, signer);
    expect(verifyDigest({ ...digest, ...change }, signed.signature, signer.publicKeyPem)).toBe(false);
  });

  it('fails with another key, a corrupted signature, or a non-P-256 key', async () => {
    const signed = await signDigest(digest, signer);
    expect(verifyDigest(digest, signed.signature, LocalDigestSigner.generate().publicKeyPem)).toBe(false);
    const bytes = Buffer.from(signed.signature, 'base64');
    bytes[bytes.length - 1] ^= 1;
    expect(verifyDigest(digest, bytes, signer.publicKeyPem)).toBe(false);
    expect(verifyDigest(digest, 'not a signature', signer.publicKeyPem)).toBe(false);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString();
    expect(verifyDigest(digest, signed.signature, rsa)).toBe(false);
  });

  it('verifies a DER ECDSA P-256/SHA-256 signature made by another signer (the KMS encoding)', () => {
    // Stands in for KMS Sign(ECDSA_SHA_256): a signature made outside LocalDigestSigner, DER-encoded.
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    const signature = createSign('SHA256').update(digestBytes(digest)).sign(privateKey);
    expect(verifyDigest(digest, signature, publicKey.export({ type: 'spki', format: 'pem' }).toString())).toBe(true);
  });

  it('round-trips the local key through its PEM', async () => {
    const { createPrivateKey } = await import('node:crypto');
    const again = new LocalDigestSigner(createPrivateKey(signer.exportPrivateKeyPem()));
    expect(again.publicKeyPem).toBe(signer.publicKeyPem);
    expect(verifyDigest(digest, await again.sign(digestBytes(digest)), signer.publicKeyPem)).toBe(true);
  });

  it('chains digests by a hash that does not depend on key order', () => {
    const reordered = Object.fromEntries(Object.entries(digest).reverse()) as unknown as AuditDigest;
    expect(digestHash(reordered)).toBe(digestHash(digest));
    expect(digestHash({ ...digest, toSeq: 21 })).not.toBe(digestHash(digest));
  });
});
