import { createPrivateKey } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { LocalDigestSigner } from '../core/audit/digest';

/** Name of the digest key file in the local data dir (next to the credentials key file). */
export const LOCAL_DIGEST_KEY_FILE = 'audit-digest-key.pem';

/**
 * Loads the local mode's digest signing key (an EC P-256 private key, PKCS#8 PEM) from `path`,
 * creating it with mode 0600 on first use: the local counterpart of the KMS signing key. The
 * `wx` flag makes creation atomic, so two processes starting together cannot both write a
 * different key (one of them would sign digests nobody can verify with the other's public key).
 * The public key for `plexmcp audit verify` is the returned signer's `publicKeyPem`.
 */
export function loadOrCreateDigestSigner(path: string): LocalDigestSigner {
  try {
    writeFileSync(path, LocalDigestSigner.generate().exportPrivateKeyPem(), { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  chmodSync(path, 0o600);
  let key;
  try {
    key = createPrivateKey(readFileSync(path, 'utf8'));
  } catch {
    // The parser's message could quote key material: say only which file is unreadable.
    throw new Error(`local digest key file ${path} does not hold a PEM private key`);
  }
  return new LocalDigestSigner(key);
}
