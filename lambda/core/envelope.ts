import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { EncryptedSecret } from './model';

/** What a secret is bound to: decrypting it under any other context fails. */
export type EncryptionContext = Readonly<Record<string, string>>;

export interface DataKey {
  /** 32-byte AES key; used once and dropped. */
  readonly plaintext: Uint8Array;
  /** The same key wrapped by the master key (KMS or the local key file), base64. */
  readonly wrapped: string;
}

/** Where data keys come from: AWS KMS in AWS, the local key file in local mode. */
export interface DataKeyProvider {
  readonly name: EncryptedSecret['provider'];
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  decryptDataKey(wrapped: string, context: EncryptionContext): Promise<Uint8Array>;
}

/**
 * Canonical additional authenticated data for a context, independent of key order. Keys sort by
 * code point (not `localeCompare`, whose ICU collator costs ~15 ms to start on a cold Lambda); for
 * the lower-case-initial keys contexts use (`purpose`, `orgId`, `mcp`) the order is the same, so
 * stored ciphertexts stay valid.
 */
export function contextAad(context: EncryptionContext): Buffer {
  return Buffer.from(JSON.stringify(Object.entries(context).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))));
}

/**
 * Envelope encryption: a fresh data key per secret encrypts it with AES-256-GCM; only the wrapped
 * data key is stored beside the ciphertext. The context is both the GCM additional data and (for
 * KMS) the encryption context, so a ciphertext copied to another org or MCP does not decrypt.
 */
export class EnvelopeCipher {
  constructor(private readonly keys: DataKeyProvider) {}

  async encrypt(plaintext: string, context: EncryptionContext): Promise<EncryptedSecret> {
    const dataKey = await this.keys.generateDataKey(context);
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', dataKey.plaintext, iv);
    cipher.setAAD(contextAad(context));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return {
      provider: this.keys.name,
      wrappedKey: dataKey.wrapped,
      iv: iv.toString('base64'),
      ciphertext: ciphertext.toString('base64'),
      tag: cipher.getAuthTag().toString('base64'),
    };
  }

  async decrypt(secret: EncryptedSecret, context: EncryptionContext): Promise<string> {
    if (secret.provider !== this.keys.name) {
      throw new Error(`secret was wrapped by ${secret.provider}, this cipher uses ${this.keys.name}`);
    }
    const key = await this.keys.decryptDataKey(secret.wrappedKey, context);
    // authTagLength pins the tag at 16 bytes; otherwise GCM accepts a truncated (forgeable) tag.
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(secret.iv, 'base64'), { authTagLength: 16 });
    decipher.setAAD(contextAad(context));
    decipher.setAuthTag(Buffer.from(secret.tag, 'base64'));
    return Buffer.concat([decipher.update(Buffer.from(secret.ciphertext, 'base64')), decipher.final()]).toString('utf8');
  }
}

/** The context an MCP server's upstream credential is bound to. */
export function upstreamSecretContext(orgId: string, slug: string): EncryptionContext {
  return { purpose: 'plexmcp:upstream-credential', orgId, mcp: slug };
}
