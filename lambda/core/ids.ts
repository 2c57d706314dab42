import { createHash, randomBytes } from 'node:crypto';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** Lower-case base32 (no padding) of `bytes`, truncated to `length` characters. */
function base32(bytes: Uint8Array, length: number): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5 && out.length < length) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return out;
}

/** A random id: `prefix` + 16 base32 characters (80 bits). */
export function randomId(prefix: string): string {
  return prefix + base32(randomBytes(10), 16);
}

/**
 * A deterministic id derived from an idempotency key, so that a retried create lands on the
 * same item and the conditional write detects it. `scope` keeps callers' keys apart.
 */
export function idempotentId(prefix: string, scope: string, idempotencyKey: string): string {
  return prefix + base32(createHash('sha256').update(`${scope}\n${idempotencyKey}`).digest(), 16);
}

export const ID_PATTERN = /^[a-z2-7]{16}$/;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value).digest('hex');
}
