import { GetPublicKeyCommand, type KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { createPublicKey } from 'node:crypto';
import type { DigestSigner } from '../core/audit/digest';

export class KmsDigestKeyError extends Error {
  readonly code = 'audit_digest_key_invalid';
}

/**
 * DigestSigner over an asymmetric KMS key (key spec ECC_NIST_P256, usage SIGN_VERIFY): `kms:Sign`
 * with ECDSA_SHA_256 over the RAW digest bytes (KMS hashes them with SHA-256; the bytes are a few
 * hundred, far below Sign's 4096-byte RAW limit) returns a DER-encoded ECDSA signature, which is
 * what verifyDigest checks. The public key comes from `kms:GetPublicKey` (DER SubjectPublicKeyInfo,
 * turned into PEM) once, in create(): it is the key that `plexmcp audit verify` is given.
 */
export class KmsDigestSigner implements DigestSigner {
  private constructor(
    private readonly kms: KMSClient,
    private readonly keyId: string,
    readonly publicKeyPem: string,
  ) {}

  /** Fetches the public key and checks that the key is one this signer can use. */
  static async create(kms: KMSClient, keyId: string): Promise<KmsDigestSigner> {
    const out = await kms.send(new GetPublicKeyCommand({ KeyId: keyId }));
    if (!out.PublicKey || out.KeySpec !== 'ECC_NIST_P256' || out.KeyUsage !== 'SIGN_VERIFY' || !out.SigningAlgorithms?.includes('ECDSA_SHA_256')) {
      throw new KmsDigestKeyError('the digest key must be a KMS ECC_NIST_P256 SIGN_VERIFY key');
    }
    const pem = createPublicKey({ key: Buffer.from(out.PublicKey), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'pem' }).toString();
    return new KmsDigestSigner(kms, keyId, pem);
  }

  async sign(bytes: Uint8Array): Promise<Uint8Array> {
    const out = await this.kms.send(new SignCommand({ KeyId: this.keyId, Message: bytes, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
    if (!out.Signature) throw new KmsDigestKeyError('KMS returned no signature');
    return out.Signature;
  }
}
