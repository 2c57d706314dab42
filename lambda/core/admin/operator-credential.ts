import { createHash, timingSafeEqual } from 'node:crypto';

/** How long a loaded operator token is used before it is read again. */
export const DEFAULT_OPERATOR_TOKEN_MAX_AGE_MS = 60_000;

export interface OperatorCredentialOptions {
  /**
   * How long a loaded token is trusted before the next request reads it again: a rotated token
   * is refused, and the new one accepted, within this bound on every warm instance. 0 reads it
   * on every request. @default 60_000
   */
  readonly maxAgeMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/**
 * The operator's bearer token. It is loaded lazily (from Secrets Manager in AWS, from the data
 * directory locally), re-read after `maxAgeMs`, and compared by SHA-256 digest in constant time.
 */
export class OperatorCredential {
  private loaded: { readonly digest: Promise<Buffer>; readonly at: number } | undefined;
  private readonly maxAgeMs: number;
  private readonly now: () => number;

  constructor(
    private readonly load: () => Promise<string>,
    options: OperatorCredentialOptions = {},
  ) {
    this.maxAgeMs = options.maxAgeMs ?? DEFAULT_OPERATOR_TOKEN_MAX_AGE_MS;
    this.now = options.now ?? Date.now;
  }

  async matches(presented: string): Promise<boolean> {
    const now = this.now();
    if (this.loaded === undefined || now - this.loaded.at >= this.maxAgeMs) {
      // Concurrent requests share one load. Until it settles they wait for it rather than use
      // the old digest: after the bound, a rotated-out token must not pass.
      const pending: Promise<Buffer> = this.load().then(digest, (error: unknown) => {
        if (this.loaded?.digest === pending) this.loaded = undefined; // retry on the next request
        throw error;
      });
      this.loaded = { digest: pending, at: now };
    }
    return timingSafeEqual(await this.loaded.digest, digest(presented));
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value.trim()).digest();
}
