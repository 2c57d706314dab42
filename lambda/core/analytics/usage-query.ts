/**
 * The usage report the admin API and `plexmcp usage` show: one series per group, one point per
 * bucket of the range, and totals whose percentiles come from the union of every sketch of the
 * range (not an average of per-bucket percentiles, which would be wrong).
 */
import { badRequest } from '../errors';
import type { Dimension, Granularity, Rollup, RollupReader } from './model';
import { bucketStart, codeCounts, GRANULARITY_MS } from './rollup';
import { LatencySketch } from './sketch';

export interface UsagePoint {
  start: string;
  requests: number;
  errors: number;
  errorRate: number;
  rateLimited: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  bytesIn: number;
  bytesOut: number;
  /** Upstream cost by the MCPs' pricing, USD. */
  costUsd: number;
  /**
   * The gateway's own AWS cost, estimated (docs/cost.md), USD; never included in costUsd. 0 where
   * nothing was estimated (locally, and in a region the price table lacks), like an unpriced MCP's
   * costUsd.
   */
  gatewayCostUsd: number;
  errorsByCode: Record<string, number>;
}

export interface UsageReport {
  granularity: Granularity;
  from: string;
  to: string;
  groupBy: Dimension;
  series: { group: string; points: UsagePoint[] }[];
  totals: Omit<UsagePoint, 'start'>;
}

export const USAGE_LIMITS = { maxPoints: 1_440, maxSeries: 100 };

export interface UsageReportQuery {
  orgId: string;
  from: number;
  to: number;
  granularity: Granularity;
  groupBy: Dimension;
}

/** Latencies are reported to the microsecond; the sketch is only 1 % exact anyway. */
const ms = (value: number): number | null => (Number.isNaN(value) ? null : Math.round(value * 1000) / 1000);

/**
 * The report of [from, to), widened to whole buckets (from down to its bucket's start, to up to
 * the next bucket boundary). Every bucket is a point of every series (zeros, null percentiles,
 * where nothing happened); series are sorted by requests (then group), the top maxSeries kept;
 * totals count every group of the range, also those past maxSeries. `all` always has its one
 * series (group ''), even when empty. More buckets than maxPoints: 400 `usage_range_too_large`
 * (the admin API validates first; this is the backstop).
 */
export async function usageReport(reader: RollupReader, q: UsageReportQuery): Promise<UsageReport> {
  const size = GRANULARITY_MS[q.granularity];
  const from = bucketStart(q.from, q.granularity);
  const to = Math.max(from, Math.ceil(q.to / size) * size);
  const buckets = (to - from) / size;
  if (!Number.isFinite(buckets) || buckets > USAGE_LIMITS.maxPoints) {
    throw badRequest('usage_range_too_large', `A report has at most ${USAGE_LIMITS.maxPoints} points; choose a shorter range or a coarser granularity`);
  }
  const rollups = buckets === 0 ? [] : await reader.query({ orgId: q.orgId, granularity: q.granularity, dimension: q.groupBy, from, to });

  const byGroup = new Map<string, Map<number, Rollup>>();
  if (q.groupBy === 'all') byGroup.set('', new Map());
  const totals = new Summary();
  for (const rollup of rollups) {
    let points = byGroup.get(rollup.id.group);
    if (points === undefined) byGroup.set(rollup.id.group, (points = new Map()));
    const seen = points.get(rollup.id.bucketStart);
    // A store returns each (group, bucket) once; a second one would be added, never dropped.
    if (seen === undefined) points.set(rollup.id.bucketStart, rollup);
    else {
      const both = new Summary();
      both.add(seen);
      both.add(rollup);
      points.set(rollup.id.bucketStart, both.asRollup(rollup));
    }
    totals.add(rollup);
  }

  const ranked = [...byGroup.entries()].map(([group, points]) => {
    let requests = 0;
    for (const rollup of points.values()) requests += rollup.requests;
    return { group, points, requests };
  });
  ranked.sort((a, b) => b.requests - a.requests || (a.group < b.group ? -1 : a.group > b.group ? 1 : 0));
  const series = ranked.slice(0, USAGE_LIMITS.maxSeries).map(({ group, points }) => {
    const out: UsagePoint[] = [];
    for (let start = from; start < to; start += size) {
      const rollup = points.get(start);
      out.push({ start: new Date(start).toISOString(), ...(rollup === undefined ? emptyPoint() : pointOf(rollup, rollup.latency.total)) });
    }
    return { group, points: out };
  });
  return {
    granularity: q.granularity,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    groupBy: q.groupBy,
    series,
    totals: totals.point(),
  };
}

/** Sums of rollups and the union of their total-latency sketches. */
class Summary {
  requests = 0;
  errors = 0;
  rateLimited = 0;
  bytesIn = 0;
  bytesOut = 0;
  costMicroUsd = 0;
  gatewayCostNanoUsd = 0;
  readonly errorsByCode = codeCounts();
  readonly latency = { total: LatencySketch.empty(), upstreamFirstByte: LatencySketch.empty(), gateway: LatencySketch.empty() };

  add(rollup: Rollup): void {
    this.requests += rollup.requests;
    this.errors += rollup.errors;
    this.rateLimited += rollup.rateLimited;
    this.bytesIn += rollup.bytesIn;
    this.bytesOut += rollup.bytesOut;
    this.costMicroUsd += rollup.costMicroUsd;
    this.gatewayCostNanoUsd += rollup.gatewayCostNanoUsd;
    for (const [code, n] of Object.entries(rollup.errorsByCode)) this.errorsByCode[code] = (this.errorsByCode[code] ?? 0) + n;
    this.latency.total.merge(rollup.latency.total);
    this.latency.upstreamFirstByte.merge(rollup.latency.upstreamFirstByte);
    this.latency.gateway.merge(rollup.latency.gateway);
  }

  asRollup(like: Rollup): Rollup {
    const { requests, errors, rateLimited, bytesIn, bytesOut, costMicroUsd, gatewayCostNanoUsd, errorsByCode, latency } = this;
    return { id: like.id, requests, errors, rateLimited, bytesIn, bytesOut, costMicroUsd, gatewayCostNanoUsd, errorsByCode, latency };
  }

  point(): Omit<UsagePoint, 'start'> {
    return pointOf(this, this.latency.total);
  }
}

type Counts = Pick<Rollup, 'requests' | 'errors' | 'rateLimited' | 'bytesIn' | 'bytesOut' | 'costMicroUsd' | 'gatewayCostNanoUsd' | 'errorsByCode'>;

function pointOf(counts: Counts, total: LatencySketch): Omit<UsagePoint, 'start'> {
  return {
    requests: counts.requests,
    errors: counts.errors,
    errorRate: counts.requests === 0 ? 0 : counts.errors / counts.requests,
    rateLimited: counts.rateLimited,
    p50Ms: ms(total.quantile(0.5)),
    p95Ms: ms(total.quantile(0.95)),
    p99Ms: ms(total.quantile(0.99)),
    bytesIn: counts.bytesIn,
    bytesOut: counts.bytesOut,
    costUsd: counts.costMicroUsd / 1_000_000,
    gatewayCostUsd: counts.gatewayCostNanoUsd / 1e9,
    // A plain object for JSON answers, sorted so that answers are stable.
    errorsByCode: Object.fromEntries(Object.entries(counts.errorsByCode).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))),
  };
}

function emptyPoint(): Omit<UsagePoint, 'start'> {
  return { requests: 0, errors: 0, errorRate: 0, rateLimited: 0, p50Ms: null, p95Ms: null, p99Ms: null, bytesIn: 0, bytesOut: 0, costUsd: 0, gatewayCostUsd: 0, errorsByCode: {} };
}
