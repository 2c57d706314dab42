import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

export const OPERATOR_TOKEN_PREFIX = 'pmop_';

/**
 * The local operator token: created on first run with mode 0600 (atomically, `wx`), read on
 * later runs. `created` tells the caller to print it once.
 */
export function loadOrCreateOperatorToken(path: string): { token: string; created: boolean } {
  return loadOrCreateSecretFile(path, () => OPERATOR_TOKEN_PREFIX + randomBytes(32).toString('base64url'));
}

/** A secret kept in a file of the data dir: made by `generate` on first run (mode 0600, atomically), read after. */
export function loadOrCreateSecretFile(path: string, generate: () => string): { token: string; created: boolean } {
  const fresh = generate();
  try {
    writeFileSync(path, fresh + '\n', { mode: 0o600, flag: 'wx' });
    return { token: fresh, created: true };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return { token: readFileSync(path, 'utf8').trim(), created: false };
}
