/**
 * Counting requests against limits. One conditional counter write decides the per-minute limit
 * exactly; the monthly quota is counted in batches off the hot path (see docs/gateway.md).
 */

/** Storage for counters (DynamoDB in AWS and locally). */
export interface RequestCounter {
  /**
   * Adds one to `counterId` unless it has reached `limit`, as one conditional write. Returns the
   * new count, or undefined when the limit was already reached.
   */
  incrementBelow(counterId: string, limit: number, expiresAtSeconds: number): Promise<number | undefined>;
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

/** Fixed one-minute windows per key: exact under concurrency (the conditional write decides). */
export class PerMinuteLimiter {
  constructor(
    private readonly counter: RequestCounter,
    private readonly now: () => number = Date.now,
  ) {}

  async consume(keyId: string, limit: number): Promise<RateDecision> {
    const nowMs = this.now();
    const minute = Math.floor(nowMs / 60_000);
    const windowEndSeconds = (minute + 1) * 60;
    const resetSeconds = Math.max(1, Math.ceil(windowEndSeconds - nowMs / 1000));
    const count = await this.counter.incrementBelow(`rpm#${keyId}#${minute}`, limit, windowEndSeconds + 120);
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

  /** Whether the org may make one more request this month, and how many it has used. */
  check(orgId: string, monthlyLimit: number): { allowed: boolean; used: number } {
    const month = monthOf(this.now());
    const known = this.known.get(orgId);
    const used = (known?.month === month ? known.total : 0) + (this.pending.get(`${orgId}#${month}`) ?? 0);
    return { allowed: used < monthlyLimit, used };
  }

  record(orgId: string): void {
    const id = `${orgId}#${monthOf(this.now())}`;
    this.pending.set(id, (this.pending.get(id) ?? 0) + 1);
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
