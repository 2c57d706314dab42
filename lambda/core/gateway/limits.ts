import type { PlexEvent } from '../events/model';
import type { OnceMarks } from '../events/once-marks';

export type { OnceMarks } from '../events/once-marks';

/**
 * Counting requests against limits. The per-minute limit is exact as an upper bound: conditional
 * counter writes never let a window's count pass the limit, and the leased limiter makes one such
 * write per block of requests instead of one per request; the monthly quota is counted in batches
 * off the hot path (see docs/gateway.md, "Limits").
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

/** A per-key, per-UTC-minute limit; a batch of `n` is admitted whole or refused whole. */
export interface MinuteLimiter {
  consume(keyId: string, limit: number, n?: number, kind?: WindowKind): Promise<RateDecision>;
}

/**
 * Fixed one-minute windows per key, one conditional write per request: exact under concurrency
 * (the conditional write decides). The reference the leased limiter is measured against.
 */
export class PerMinuteLimiter implements MinuteLimiter {
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

/** A block is at most this fraction of what the window had left when it was taken (1/F). */
export const LEASE_FRACTION = 4;
/** The largest block an instance reserves at once. */
export const MAX_LEASE_BLOCK = 64;
/** Windows an instance keeps state for (key × kind × minute); the oldest are forgotten beyond it. */
export const MAX_LEASED_WINDOWS = 10_000;

export interface LeasedLimiterOptions {
  readonly now?: () => number;
  /** @default LEASE_FRACTION */
  readonly fraction?: number;
  /** @default MAX_LEASE_BLOCK */
  readonly maxBlock?: number;
  /** @default MAX_LEASED_WINDOWS */
  readonly maxWindows?: number;
}

/** What one instance knows of one key's window (`kind`, key, minute). */
interface LeasedWindow {
  readonly minute: number;
  /** Units this instance reserved in the store and has not spent yet. */
  tokens: number;
  /**
   * A lower bound of the window's count in the store (counts only grow within a window): the
   * count the last write returned, or what a refused write proved.
   */
  known: number;
  /** The one reservation in flight; requests that need tokens wait for it instead of writing too. */
  refill?: Promise<unknown>;
}

/**
 * The per-minute limit without a store round trip per request. Per window an instance reserves
 * a block of units with ONE conditional write and spends it locally, one request (or batch) at a
 * time, and reserves again when it runs out:
 *
 * - block = min(maxBlock, floor((limit - known) / F)) when that is more than the request needs, and
 *   its write only succeeds if the store's real count leaves F × block (`count + F·block <=
 *   limit`), so a block is never more than 1/F of what was left, however stale `known` was;
 * - otherwise, or when that write is refused, exactly what the request needs, if it fits under the
 *   limit (`count + need <= limit`); when that is refused too the request is refused, and so is
 *   every later one of this window that needs as much from the store, without a write (the
 *   refusal proved the count is above limit - need).
 *
 * The store's count never passes the limit, so admissions never do (exact as an upper bound).
 * With one instance exactly `limit` units are admitted: blocks are sized from a count that is
 * then exact, and only a request that does not fit is refused. With several, units reserved by
 * an instance that gets no more requests for the key in that minute are never spent: at most its
 * last block - 1 (docs/gateway.md states the bound).
 */
export class LeasedLimiter implements MinuteLimiter {
  private readonly windows = new Map<string, LeasedWindow>();
  private sweptMinute = -Infinity;
  private readonly now: () => number;
  private readonly fraction: number;
  private readonly maxBlock: number;
  private readonly maxWindows: number;

  constructor(
    private readonly counter: RequestCounter,
    options: LeasedLimiterOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.fraction = options.fraction ?? LEASE_FRACTION;
    this.maxBlock = options.maxBlock ?? MAX_LEASE_BLOCK;
    this.maxWindows = options.maxWindows ?? MAX_LEASED_WINDOWS;
  }

  /** Windows this instance holds state for (bounded by `maxWindows`; past minutes are dropped). */
  get trackedWindows(): number {
    return this.windows.size;
  }

  async consume(keyId: string, limit: number, n = 1, kind: WindowKind = 'rpm'): Promise<RateDecision> {
    const nowMs = this.now();
    const minute = Math.floor(nowMs / 60_000);
    const windowEndSeconds = (minute + 1) * 60;
    const resetSeconds = Math.max(1, Math.ceil(windowEndSeconds - nowMs / 1000));
    // On a refusal the header says 0: this request got nothing (a smaller one may still fit).
    const refused: RateDecision = { allowed: false, limit, remaining: 0, resetSeconds };
    // More than the whole window can never pass: refused without a write.
    if (n > limit) return refused;
    const counterId = `${kind}#${keyId}#${minute}`;
    const window = this.window(counterId, minute);
    for (;;) {
      if (window.tokens >= n) {
        window.tokens -= n;
        return { allowed: true, limit, remaining: remainingOf(window, limit), resetSeconds };
      }
      if (window.refill) {
        // Rejects when the reservation failed: this request needed it too (the gateway's 503).
        await window.refill;
        continue;
      }
      // Cannot fit what the store has left at most: refused without a write (so a key at its
      // limit costs no store writes for the rest of the minute).
      if (n - window.tokens > limit - window.known) return refused;
      const reserving = this.reserve(window, counterId, limit, n, windowEndSeconds + 120);
      // Waiters are told of a failure by awaiting it; this handler only keeps an unawaited
      // rejection from being reported as unhandled.
      window.refill = reserving;
      reserving.catch(() => undefined);
      const remaining = await reserving;
      return remaining === undefined ? refused : { allowed: true, limit, remaining, resetSeconds };
    }
  }

  /**
   * Reserves what a request of `n` units lacks (plus a block to spend later when far from the
   * limit) and spends the request's `n`. Every change to the window happens here, before the
   * request or any waiter resumes, so they all see one consistent state. Returns the request's
   * RateLimit-Remaining, or undefined when it does not fit.
   */
  private async reserve(window: LeasedWindow, counterId: string, limit: number, n: number, expiresAtSeconds: number): Promise<number | undefined> {
    // The request's own unspent tokens are set aside for it, so no one else spends them meanwhile.
    const held = window.tokens;
    window.tokens = 0;
    const need = n - held;
    try {
      const block = Math.min(this.maxBlock, Math.floor((limit - window.known) / this.fraction));
      if (block > need) {
        // `count <= limit' - block` with limit' = limit - (F-1)·block: `count + F·block <= limit`.
        const count = await this.counter.incrementBelow(counterId, limit - (this.fraction - 1) * block, expiresAtSeconds, block);
        if (count !== undefined) {
          window.known = Math.max(window.known, count);
          window.tokens = block - need;
          return remainingOf(window, limit);
        }
        // Refused: the count was above limit - F·block. Retry once with exactly the need.
        window.known = Math.max(window.known, limit - this.fraction * block + 1);
      }
      const count = await this.counter.incrementBelow(counterId, limit, expiresAtSeconds, need);
      if (count !== undefined) {
        window.known = Math.max(window.known, count);
        return remainingOf(window, limit);
      }
      // Refused: the count is above limit - need, so no request needing as much fits any more.
      window.known = Math.max(window.known, limit - need + 1);
      window.tokens = held;
      return undefined;
    } catch (error) {
      // Nothing learned; the held tokens stay this instance's. (A write that failed may still
      // have been applied: those units are lost, never admitted twice.)
      window.tokens = held;
      throw error;
    } finally {
      window.refill = undefined;
    }
  }

  private window(counterId: string, minute: number): LeasedWindow {
    const existing = this.windows.get(counterId);
    if (existing) return existing;
    if (minute > this.sweptMinute) {
      // Once a minute: past windows are over (their unspent tokens can never be used).
      for (const [id, w] of this.windows) if (w.minute < minute) this.windows.delete(id);
      this.sweptMinute = minute;
    }
    if (this.windows.size >= this.maxWindows) {
      // Forgetting a window strands its tokens (fewer admissions, never more).
      const oldest = this.windows.keys().next().value;
      if (oldest !== undefined) this.windows.delete(oldest);
    }
    const created: LeasedWindow = { minute, tokens: 0, known: 0 };
    this.windows.set(counterId, created);
    return created;
  }
}

/**
 * RateLimit-Remaining after a spend: the limit, minus the count this instance last learned from
 * the store, plus its own unspent tokens. Exact with one instance; never goes up within an
 * instance's window (known grows by at least what a refill adds to tokens).
 */
function remainingOf(window: LeasedWindow, limit: number): number {
  return Math.max(0, limit - window.known + window.tokens);
}

export interface QuotaMeterOptions {
  /**
   * Flush an org's pending count early once it reaches this fraction of the quota the org has
   * left (as this instance last learned it), so that an org near its quota is counted often and
   * one far from it only every `flushIntervalMs`. An org whose total the instance has not learned
   * yet is flushed on its first request. @default 1/8
   */
  readonly flushFractionOfHeadroom?: number;
  /** Flush pending counts at least this often. @default 5_000 */
  readonly flushIntervalMs?: number;
  readonly now?: () => number;
  /** Publishes `org.quota.threshold` once per org, threshold and month (see QuotaThresholds). */
  readonly thresholds?: QuotaThresholdsOptions;
}

/** Percentages of the monthly quota that are announced, each once per org and month. */
export const QUOTA_THRESHOLDS = [80, 100] as const;
export type QuotaThreshold = (typeof QUOTA_THRESHOLDS)[number];


export interface QuotaThresholdsOptions {
  readonly marks: OnceMarks;
  readonly publish: (events: readonly PlexEvent[]) => Promise<void>;
  /** Told of a marker or publish failure (the threshold is tried again on a later flush). */
  readonly onError?: (error: unknown) => void;
}

/**
 * `org.quota.threshold` events, from the QuotaMeter's flushes (never on a request): a flush that
 * learns an org's monthly total at or past a threshold claims the marker
 * `quota-threshold#<orgId>#<month>#<threshold>` in the counters table with one conditional write,
 * and only the claimer publishes, so several instances announce each threshold once. Each instance
 * tries a threshold at most once per org and month once the marker exists (its own or another's),
 * so an org past 80 % costs one extra write per instance and month, not per flush. A failed publish
 * releases the marker and a failed claim is forgotten: a later flush tries again (a release that
 * fails too loses that event, which is logged). Counters are regional, and so are the markers: with
 * R regions each region's count announces its own crossing (docs/events.md).
 */
export class QuotaThresholds {
  /** `orgId#month#threshold` this instance is done with (announced, or announced by another). */
  private readonly done = new Set<string>();
  private readonly inFlight = new Map<string, Promise<void>>();
  private month = '';

  constructor(private readonly options: QuotaThresholdsOptions) {}

  /** Announces every threshold that `total` (of `limit`) reached, once; resolves when done. */
  async observe(orgId: string, month: string, total: number, limit: number, at: Date): Promise<void> {
    if (month > this.month) {
      // A new month: what this instance knew of the last one is of no more use.
      this.done.clear();
      this.month = month;
    }
    if (!(limit > 0)) return;
    const work: Promise<void>[] = [];
    for (const threshold of QUOTA_THRESHOLDS) {
      if (total < Math.ceil((limit * threshold) / 100)) break;
      const id = `${orgId}#${month}#${threshold}`;
      if (this.done.has(id)) continue;
      let running = this.inFlight.get(id);
      if (!running) {
        running = this.announce(id, { type: 'org.quota.threshold', orgId, at: at.toISOString(), threshold, monthlyRequests: limit, used: total, month }, month).finally(() =>
          this.inFlight.delete(id),
        );
        this.inFlight.set(id, running);
      }
      work.push(running);
    }
    await Promise.all(work);
  }

  private async announce(id: string, event: PlexEvent, month: string): Promise<void> {
    const marker = `quota-threshold#${id}`;
    let claimed: boolean;
    try {
      claimed = await this.options.marks.claim(marker, monthEndSeconds(month) + 35 * 86_400);
    } catch (error) {
      this.options.onError?.(error);
      return; // not done: the next flush past the threshold tries again
    }
    if (!claimed) {
      this.done.add(id);
      return;
    }
    try {
      await this.options.publish([event]);
      this.done.add(id);
    } catch (error) {
      this.options.onError?.(error);
      await this.options.marks.release(marker).catch((releaseError: unknown) => {
        // Claimed and not published, and the claim cannot be taken back: nobody will send it.
        this.done.add(id);
        this.options.onError?.(releaseError);
      });
    }
  }
}

/**
 * The per-org monthly quota, counted without a store round trip per request: each instance
 * counts locally and adds its pending count to the org's monthly counter every `flushIntervalMs`,
 * or sooner when an org's pending count reaches a fraction of what it has left, learning the
 * global total from the same write. A request is refused once the known total plus the local
 * pending count reaches the quota. Overshoot is bounded by what all instances admit between two
 * flushes (docs/gateway.md).
 */
export class QuotaMeter {
  private readonly pending = new Map<string, number>();
  /** Counts being written: still counted by check() until the store has them. */
  private readonly writing = new Map<string, number>();
  private readonly known = new Map<string, { month: string; total: number }>();
  /** Per org: how large its pending count may grow before it is flushed early. */
  private readonly earlyFlushAt = new Map<string, number>();
  /** Per org: the monthly quota its last check() applied (what thresholds are measured against). */
  private readonly limits = new Map<string, number>();
  private readonly thresholds: QuotaThresholds | undefined;
  private countDue = false;
  private lastFlush: number;
  private inFlight: Promise<void> | undefined;
  private readonly fraction: number;
  private readonly flushIntervalMs: number;
  private readonly now: () => number;
  private month: { start: number; end: number; name: string } = { start: 0, end: 0, name: '' };

  constructor(
    private readonly counter: RequestCounter,
    options: QuotaMeterOptions = {},
  ) {
    this.fraction = options.flushFractionOfHeadroom ?? 1 / 8;
    this.flushIntervalMs = options.flushIntervalMs ?? 5_000;
    this.now = options.now ?? Date.now;
    this.lastFlush = this.now();
    this.thresholds = options.thresholds && new QuotaThresholds(options.thresholds);
  }

  /** Whether the org may make `n` more requests this month, and how many it has used. */
  check(orgId: string, monthlyLimit: number, n = 1): { allowed: boolean; used: number } {
    const month = this.monthName();
    const known = this.known.get(orgId);
    const flushed = known?.month === month ? known.total : 0;
    const id = `${orgId}#${month}`;
    const used = flushed + (this.pending.get(id) ?? 0) + (this.writing.get(id) ?? 0);
    // An org whose total this instance has not learned yet is flushed at once: one write tells it.
    const earlyAt = known?.month === month ? Math.max(1, Math.floor((monthlyLimit - flushed) * this.fraction)) : 1;
    this.earlyFlushAt.set(orgId, earlyAt);
    this.limits.set(orgId, monthlyLimit);
    return { allowed: used + n <= monthlyLimit, used };
  }

  record(orgId: string, n = 1): void {
    const id = `${orgId}#${this.monthName()}`;
    const pending = (this.pending.get(id) ?? 0) + n;
    this.pending.set(id, pending);
    if (pending >= (this.earlyFlushAt.get(orgId) ?? 1)) this.countDue = true;
  }

  /** Starts a flush when one is due; returns it so a Lambda can await it before freezing. */
  flushIfDue(): Promise<void> | undefined {
    const due = this.countDue || this.now() - this.lastFlush >= this.flushIntervalMs;
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
    this.countDue = false;
    const batch = [...this.pending.entries()];
    this.pending.clear();
    for (const [id, delta] of batch) this.writing.set(id, delta);
    await Promise.all(
      batch.map(async ([id, delta]) => {
        const [orgId, month] = id.split('#') as [string, string];
        let total: number;
        try {
          total = await this.counter.add(`quota#${id}`, delta, monthEndSeconds(month) + 35 * 86_400);
          this.known.set(orgId, { month, total });
        } catch {
          // Not lost: counted again on the next flush.
          this.pending.set(id, (this.pending.get(id) ?? 0) + delta);
          return;
        } finally {
          this.writing.delete(id);
        }
        // Part of the flush (a Lambda awaits it before freezing), once the count is stored.
        await this.thresholds?.observe(orgId, month, total, this.limits.get(orgId) ?? 0, new Date(this.now())).catch(() => undefined);
      }),
    );
  }

  /** The current UTC month as `YYYY-MM`, formatted once per month rather than per request. */
  private monthName(): string {
    const now = this.now();
    if (now < this.month.start || now >= this.month.end) {
      const d = new Date(now);
      const start = Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
      this.month = { start, end: Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1), name: monthOf(now) };
    }
    return this.month.name;
  }
}

function monthOf(ms: number): string {
  return new Date(ms).toISOString().slice(0, 7);
}

function monthEndSeconds(month: string): number {
  const [year, m] = month.split('-').map(Number) as [number, number];
  return Date.UTC(year, m, 1) / 1000;
}
