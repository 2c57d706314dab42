import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import { contextAad, type DataKey, type DataKeyProvider, type EncryptionContext } from '../core/envelope';

/**
 * Loads the local master key (32 random bytes, base64) from `path`, creating it with mode 0600
 * on first use. The `wx` flag makes creation atomic: two processes starting together cannot
 * both write a different key.
 */
export function loadOrCreateMasterKey(path: string): Buffer {
  try {
    writeFileSync(path, randomBytes(32).toString('base64') + '\n', { mode: 0o600, flag: 'wx' });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  chmodSync(path, 0o600);
  const key = Buffer.from(readFileSync(path, 'utf8').trim(), 'base64');
  if (key.length !== 32) throw new Error(`local key file ${path} does not hold a 32-byte key`);
  return key;
}

/** Data keys wrapped with AES-256-GCM under the local master key: KMS's role in local mode. */
export class LocalKeyFileProvider implements DataKeyProvider {
  readonly name = 'local' as const;

  constructor(private readonly masterKey: Buffer) {}

  static fromFile(path: string): LocalKeyFileProvider {
    return new LocalKeyFileProvider(loadOrCreateMasterKey(path));
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const plaintext = randomBytes(32);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.masterKey, iv);
    cipher.setAAD(contextAad(context));
    const wrapped = Buffer.concat([iv, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return { plaintext, wrapped: wrapped.toString('base64') };
  }

  async decryptDataKey(wrapped: string, context: EncryptionContext): Promise<Uint8Array> {
    const bytes = Buffer.from(wrapped, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.masterKey, bytes.subarray(0, 12));
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]);
  }
}
