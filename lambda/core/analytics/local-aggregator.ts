/**
 * Analytics inside `plexmcp serve`: the gateway hands each usage record over (an array push, off
 * the request's critical path), and every few seconds and on close the records since the last
 * flush become one batch of rollups for the store, through the same aggregation as the AWS
 * consumer. Loss bound on a crash: the records since the last successful flush (one interval).
 *
 * Exactly once with the store's per-source positions: the source is a boot id (random per process
 * start) and the position the flush number. A batch that failed — possibly half-applied — is
 * retried as it was (the same rollups under the same position, so the items it reached skip it),
 * before anything recorded later, which goes into the next batch under the next number. Merging
 * later records into the failed batch would lose them on the items that already had it.
 */
import { randomUUID } from 'node:crypto';
import type { UsageRecord } from '../gateway/usage';
import type { BatchPosition, Rollup, RollupWriter } from './model';
import { aggregateUsage } from './rollup';

export const DEFAULT_FLUSH_INTERVAL_MS = 5_000;
/** Records kept while the store fails (then the newest are dropped and counted): bounded memory. */
export const MAX_PENDING_RECORDS = 500_000;
const POSITION_DIGITS = 16;

export interface LocalAnalyticsOptions {
  flushIntervalMs?: number;
  now?: () => number;
  bootId?: string;
  /** Called with the error of a flush the timer started (a failed flush keeps its records). */
  onError?: (error: unknown) => void;
}

export class LocalAnalytics {
  private pending: UsageRecord[] = [];
  /** A batch the store did not take (wholly); retried as is before anything newer. */
  private failed: { position: BatchPosition; rollups: Rollup[]; records: number } | undefined;
  private flushes = 0;
  /** Records taken / written so far: flush() waits until the second reaches the first as it was at the call. */
  private recorded = 0;
  private settled = 0;
  private running: Promise<void> | undefined;
  private readonly timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly bootId: string;
  private readonly now: () => number;
  private readonly onError: (error: unknown) => void;
  /** Records dropped because MAX_PENDING_RECORDS were waiting. */
  dropped = 0;
  /** When the last flush succeeded (epoch ms), undefined before. */
  lastFlushAt: number | undefined;

  constructor(
    private readonly writer: RollupWriter,
    options: LocalAnalyticsOptions = {},
  ) {
    this.bootId = options.bootId ?? randomUUID();
    this.now = options.now ?? Date.now;
    this.onError = options.onError ?? (() => undefined);
    const interval = options.flushIntervalMs ?? DEFAULT_FLUSH_INTERVAL_MS;
    this.timer = setInterval(() => {
      this.flush().catch((error: unknown) => this.onError(error));
    }, interval);
    this.timer.unref(); // analytics never keeps the process alive
  }

  record(record: UsageRecord): void {
    if (this.closed) return;
    if (this.pending.length + (this.failed?.records ?? 0) >= MAX_PENDING_RECORDS) {
      this.dropped++;
      return;
    }
    this.recorded++;
    this.pending.push(record);
  }

  /** Writes everything recorded before this call; concurrent calls share the flush in flight. Rejects if the store failed. */
  async flush(): Promise<void> {
    const wanted = this.recorded;
    // Records are written in order, so once `settled` reaches `wanted` every record before this
    // call is stored. A flush already in flight may have started before some of them: then wait
    // for it and run one more.
    while (this.settled < wanted) {
      this.running ??= this.flushOnce().finally(() => {
        this.running = undefined;
      });
      await this.running;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.flush();
  }

  private async flushOnce(): Promise<void> {
    if (this.failed !== undefined) {
      const { position, rollups, records } = this.failed;
      await this.writer.apply(position, rollups); // throws: kept for the next flush
      this.failed = undefined;
      this.settled += records;
      this.lastFlushAt = this.now();
    }
    if (this.pending.length === 0) return;
    const records = this.pending;
    this.pending = [];
    const n = ++this.flushes;
    const position = { source: this.bootId, first: String(n).padStart(POSITION_DIGITS, '0'), last: String(n).padStart(POSITION_DIGITS, '0') };
    const rollups = aggregateUsage(records);
    try {
      await this.writer.apply(position, rollups);
    } catch (error) {
      this.failed = { position, rollups, records: records.length };
      throw error;
    }
    this.settled += records.length;
    this.lastFlushAt = this.now();
  }
}
