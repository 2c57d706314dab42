/**
 * Counting requests against limits. One conditional counter write decides a per-minute limit
 * exactly (for every message of a batch at once); the monthly quota is counted in batches off the
 * hot path (see docs/gateway.md).
 */

/** Storage for counters (DynamoDB in AWS and locally). */
export interface RequestCounter {
  /**
   * Adds `n` to `counterId` unless that would take it past `limit`, as one conditional write.
   * Returns the new count, or undefined when the limit does not leave room for `n`.
   */
  incrementBelow(counterId: string, limit: number, expiresAtSeconds: number, n?: number): Promise<number | undefined>;
  /** Adds `delta` unconditionally; returns the new total. */
  add(counterId: string, delta: number, expiresAtSeconds: number): Promise<number>;
}

export interface RateDecision {
  readonly allowed: boolean;
  readonly limit: number;
  readonly remaining: number;
  /** Seconds until the window resets. */
  readonly resetSeconds: number;
}

/** What a per-minute window counts: requests (`rpm`) or handshake messages (`hs`), separately. */
export type WindowKind = 'rpm' | 'hs';

/** Fixed one-minute windows per key: exact under concurrency (the conditional write decides). */
export class PerMinuteLimiter {
  constructor(
    private readonly counter: RequestCounter,
    private readonly now: () => number = Date.now,
  ) {}

  /** Takes `n` units of `keyId`'s window at once, or none (a batch is admitted whole or refused). */
  async consume(keyId: string, limit: number, n = 1, kind: WindowKind = 'rpm'): Promise<RateDecision> {
    const nowMs = this.now();
    const minute = Math.floor(nowMs / 60_000);
    const windowEndSeconds = (minute + 1) * 60;
    const resetSeconds = Math.max(1, Math.ceil(windowEndSeconds - nowMs / 1000));
    // More than the whole window can never pass: refused without a write.
    const count = n > limit ? undefined : await this.counter.incrementBelow(`${kind}#${keyId}#${minute}`, limit, windowEndSeconds + 120, n);
    if (count === undefined) return { allowed: false, limit, remaining: 0, resetSeconds };
    return { allowed: true, limit, remaining: Math.max(0, limit - count), resetSeconds };
  }
}

export interface QuotaMeterOptions {
  /** Flush an org's pending count once it reaches this many requests. @default 50 */
  readonly flushEvery?: number;
  /** Flush pending counts at least this often. @default 5_000 */
  readonly flushIntervalMs?: number;
  readonly now?: () => number;
}

/**
 * The per-org monthly quota, counted without a store round trip per request: each instance
 * counts locally and adds its pending count to the org's monthly counter every `flushEvery`
 * requests or `flushIntervalMs`, learning the global total from the same write. A request is
 * refused once the known total plus the local pending count reaches the quota. Overshoot is
 * bounded by what all instances admit between two flushes (docs/gateway.md).
 */
export class QuotaMeter {
  private readonly pending = new Map<string, number>();
  private readonly known = new Map<string, { month: string; total: number }>();
  private lastFlush: number;
  private inFlight: Promise<void> | undefined;
  private readonly flushEvery: number;
  private readonly flushIntervalMs: number;
  private readonly now: () => number;

  constructor(
    private readonly counter: RequestCounter,
    options: QuotaMeterOptions = {},
  ) {
    this.flushEvery = options.flushEvery ?? 50;
    this.flushIntervalMs = options.flushIntervalMs ?? 5_000;
    this.now = options.now ?? Date.now;
    this.lastFlush = this.now();
  }

  /** Whether the org may make `n` more requests this month, and how many it has used. */
  check(orgId: string, monthlyLimit: number, n = 1): { allowed: boolean; used: number } {
    const month = monthOf(this.now());
    const known = this.known.get(orgId);
    const used = (known?.month === month ? known.total : 0) + (this.pending.get(`${orgId}#${month}`) ?? 0);
    return { allowed: used + n <= monthlyLimit, used };
  }

  record(orgId: string, n = 1): void {
    const id = `${orgId}#${monthOf(this.now())}`;
    this.pending.set(id, (this.pending.get(id) ?? 0) + n);
  }

  /** Starts a flush when one is due; returns it so a Lambda can await it before freezing. */
  flushIfDue(): Promise<void> | undefined {
    const due =
      this.now() - this.lastFlush >= this.flushIntervalMs || [...this.pending.values()].some((n) => n >= this.flushEvery);
    return due ? this.flush() : undefined;
  }

  /** Writes every pending count (one write per org and month). */
  flush(): Promise<void> {
    this.inFlight ??= this.flushPending().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  private async flushPending(): Promise<void> {
    this.lastFlush = this.now();
    const batch = [...this.pending.entries()];
    this.pending.clear();
    await Promise.all(
      batch.map(async ([id, delta]) => {
        const [orgId, month] = id.split('#') as [string, string];
        try {
          const total = await this.counter.add(`quota#${id}`, delta, monthEndSeconds(month) + 35 * 86_400);
          this.known.set(orgId, { month, total });
        } catch {
          // Not lost: counted again on the next flush.
          this.pending.set(id, (this.pending.get(id) ?? 0) + delta);
        }
      }),
    );
  }
}

function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

function monthEndSeconds(month: string): number {
  const [year, m] = month.split('-').map(Number) as [number, number];
  return Date.UTC(year, m, 1) / 1000;
}
