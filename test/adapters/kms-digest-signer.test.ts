import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { KmsDigestSigner } from '../../lambda/adapters/kms-digest-signer';
import { type AuditDigest, digestBytes, signDigest, verifyDigest } from '../../lambda/core/audit/digest';
import { GENESIS_HASH } from '../../lambda/core/audit/entry';

// KMS has no local engine: the client is mocked, the requests are checked exactly, and Sign
// answers with a real ECDSA P-256 signature from a local key standing in for the KMS key.
const kmsMock = mockClient(KMSClient);
const KEY_ID = 'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab';
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const spkiDer = publicKey.export({ type: 'spki', format: 'der' });
const digest: AuditDigest = { scope: 'acme', fromSeq: 1, toSeq: 20, lastHash: 'ab'.repeat(32), previousDigestHash: GENESIS_HASH, createdAt: '2026-12-02T00:00:00.000Z' };

const publicKeyAnswer = {
  KeyId: KEY_ID,
  PublicKey: new Uint8Array(spkiDer),
  KeySpec: 'ECC_NIST_P256' as const,
  KeyUsage: 'SIGN_VERIFY' as const,
  SigningAlgorithms: ['ECDSA_SHA_256' as const],
};

describe('KmsDigestSigner', () => {
  beforeEach(() => {
    kmsMock.reset();
    kmsMock.on(GetPublicKeyCommand).resolves(publicKeyAnswer);
    // What KMS does for ECDSA_SHA_256 with MessageType RAW: SHA-256 the message, DER signature.
    kmsMock.on(SignCommand).callsFake((input: { Message: Uint8Array }) => ({
      KeyId: KEY_ID,
      SigningAlgorithm: 'ECDSA_SHA_256',
      Signature: new Uint8Array(sign('sha256', input.Message, { key: privateKey, dsaEncoding: 'der' })),
    }));
  });
  afterAll(() => {
    kmsMock.restore();
  });

  it('publishes the KMS public key as SPKI PEM, fetched once', async () => {
    const signer = await KmsDigestSigner.create(new KMSClient({ region: 'eu-west-1' }), KEY_ID);
    expect(signer.publicKeyPem).toBe(publicKey.export({ type: 'spki', format: 'pem' }).toString());
    expect(createPublicKey(signer.publicKeyPem).asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    await signDigest(digest, signer);
    await signDigest(digest, signer);
    const calls = kmsMock.commandCalls(GetPublicKeyCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({ KeyId: KEY_ID });
  });

  it('signs the digest bytes with Sign (RAW, ECDSA_SHA_256), and verifyDigest accepts the signature', async () => {
    const signer = await KmsDigestSigner.create(new KMSClient({ region: 'eu-west-1' }), KEY_ID);
    const signed = await signDigest(digest, signer);
    const calls = kmsMock.commandCalls(SignCommand);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.args[0].input).toStrictEqual({ KeyId: KEY_ID, Message: digestBytes(digest), MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' });
    expect(verifyDigest(digest, signed.signature, signer.publicKeyPem)).toBe(true);
    expect(verifyDigest({ ...digest, toSeq: 21 }, signed.signature, signer.publicKeyPem)).toBe(false);
  });

  it.each([
    ['an RSA key', { KeySpec: 'RSA_2048' as const }],
    ['an encryption key', { KeyUsage: 'ENCRYPT_DECRYPT' as const }],
    ['a key without ECDSA_SHA_256', { SigningAlgorithms: [] }],
    ['no public key', { PublicKey: undefined }],
  ])('refuses %s with a stable code', async (_label, change) => {
    kmsMock.on(GetPublicKeyCommand).resolves({ ...publicKeyAnswer, ...change });
    await expect(KmsDigestSigner.create(new KMSClient({ region: 'eu-west-1' }), KEY_ID)).rejects.toMatchObject({ code: 'audit_digest_key_invalid' });
  });

  it('fails a Sign answer without a signature', async () => {
    const signer = await KmsDigestSigner.create(new KMSClient({ region: 'eu-west-1' }), KEY_ID);
    kmsMock.on(SignCommand).resolves({ KeyId: KEY_ID });
    await expect(signDigest(digest, signer)).rejects.toMatchObject({ code: 'audit_digest_key_invalid' });
  });
});
