import { LRUCache } from 'lru-cache';

export interface RegistrationLimitOptions {
  /** Registrations per source address per minute. @default 10 */
  readonly perAddressPerMinute?: number;
  /** Registrations per minute from all addresses together (per process). @default 300 */
  readonly totalPerMinute?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/**
 * Dynamic client registration is unauthenticated (any MCP client may register), so it is
 * rate-limited: per source address and in total, in fixed one-minute windows, in memory. Behind
 * API Gateway the route's own throttling bounds the fleet; this bounds each instance and each
 * address.
 */
export class RegistrationLimit {
  private readonly perAddress: number;
  private readonly total: number;
  private readonly now: () => number;
  private readonly counts = new LRUCache<string, { window: number; count: number }>({ max: 10_000 });
  private totalWindow = -1;
  private totalCount = 0;

  constructor(options: RegistrationLimitOptions = {}) {
    this.perAddress = options.perAddressPerMinute ?? 10;
    this.total = options.totalPerMinute ?? 300;
    this.now = options.now ?? Date.now;
  }

  /** Whether one more registration from `address` may go ahead now (and counts it if so); else the seconds until the window ends. */
  take(address: string): { ok: true } | { ok: false; retryAfterSeconds: number } {
    const now = this.now();
    const window = Math.floor(now / 60_000);
    const retryAfterSeconds = Math.max(1, Math.ceil(((window + 1) * 60_000 - now) / 1000));
    if (this.totalWindow !== window) {
      this.totalWindow = window;
      this.totalCount = 0;
    }
    const seen = this.counts.get(address);
    const count = seen?.window === window ? seen.count : 0;
    if (count >= this.perAddress || this.totalCount >= this.total) return { ok: false, retryAfterSeconds };
    this.counts.set(address, { window, count: count + 1 });
    this.totalCount++;
    return { ok: true };
  }
}
