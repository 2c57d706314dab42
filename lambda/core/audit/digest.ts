import { createHash, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify } from 'node:crypto';
import { canonicalJson } from './entry';

/**
 * A signed statement that one scope's chain reached `toSeq` with `lastHash`. Digests chain too
 * (`previousDigestHash`), so dropping or replacing a digest breaks the next one, and a truncated
 * log (its newest entries removed) no longer reaches the last digest's `lastHash`.
 */
export interface AuditDigest {
  /** An org id, or '*' for the deployment-wide digest (over the per-org digests' hashes). */
  readonly scope: string;
  readonly fromSeq: number;
  readonly toSeq: number;
  readonly lastHash: string;
  /** digestHash() of the scope's previous digest; GENESIS_HASH for the first. */
  readonly previousDigestHash: string;
  readonly createdAt: string;
}

/**
 * Signs digest bytes with an asymmetric key. In AWS a KMS key (key spec ECC_NIST_P256, algorithm
 * ECDSA_SHA_256, which returns a DER-encoded signature); locally a key pair from node:crypto with
 * the same curve, hash and encoding, so verifyDigest serves both.
 */
export interface DigestSigner {
  sign(bytes: Uint8Array): Promise<Uint8Array>;
  /** SPKI PEM; published so that anyone can verify digests offline. */
  readonly publicKeyPem: string;
}

/** The exact bytes that are signed and hashed: the canonical JSON of the digest. */
export function digestBytes(digest: AuditDigest): Uint8Array {
  return Buffer.from(canonicalJson(digest), 'utf8');
}

/** SHA-256 hex of the digest bytes: what the next digest's previousDigestHash holds. */
export function digestHash(digest: AuditDigest): string {
  return createHash('sha256').update(digestBytes(digest)).digest('hex');
}

/** ECDSA P-256 / SHA-256 over a local private key (local mode and tests). */
export class LocalDigestSigner implements DigestSigner {
  readonly publicKeyPem: string;

  constructor(private readonly privateKey: KeyObject) {
    if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error('the local digest key must be an EC P-256 private key');
    }
    this.publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString();
  }

  /** A fresh key pair (tests, and the first start in local mode, which then stores the PEM). */
  static generate(): LocalDigestSigner {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
    return new LocalDigestSigner(privateKey);
  }

  /** PKCS#8 PEM of the private key, for the local key file. Secret: never log it. */
  exportPrivateKeyPem(): string {
    return this.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  }

  async sign(bytes: Uint8Array): Promise<Uint8Array> {
    return sign('sha256', bytes, { key: this.privateKey, dsaEncoding: 'der' });
  }
}

export interface SignedDigest {
  readonly digest: AuditDigest;
  /** Base64 of the DER-encoded ECDSA signature over digestBytes(digest). */
  readonly signature: string;
}

export async function signDigest(digest: AuditDigest, signer: DigestSigner): Promise<SignedDigest> {
  const signature = await signer.sign(digestBytes(digest));
  return { digest, signature: Buffer.from(signature).toString('base64') };
}

/**
 * True when `signature` (base64 or raw DER bytes) is a valid ECDSA P-256 / SHA-256 signature of
 * the digest by the key. A malformed signature or key is a failed verification, not a throw, so
 * a verifier walking many digests reports each one.
 */
export function verifyDigest(digest: AuditDigest, signature: string | Uint8Array, publicKeyPem: string): boolean {
  try {
    const key = createPublicKey(publicKeyPem);
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') return false;
    const bytes = typeof signature === 'string' ? Buffer.from(signature, 'base64') : signature;
    return verify('sha256', digestBytes(digest), { key, dsaEncoding: 'der' }, bytes);
  } catch {
    return false;
  }
}
