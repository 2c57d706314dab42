import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The operator's bearer token. It is loaded lazily (from Secrets Manager in AWS, from the data
 * directory locally) and compared by SHA-256 digest in constant time.
 */
export class OperatorCredential {
  private expectedDigest: Promise<Buffer> | undefined;

  constructor(private readonly load: () => Promise<string>) {}

  async matches(presented: string): Promise<boolean> {
    this.expectedDigest ??= this.load().then(digest, (error: unknown) => {
      this.expectedDigest = undefined; // retry the load on the next request
      throw error;
    });
    return timingSafeEqual(await this.expectedDigest, digest(presented));
  }
}

function digest(value: string): Buffer {
  return createHash('sha256').update(value.trim()).digest();
}
