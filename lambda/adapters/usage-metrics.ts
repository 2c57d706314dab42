/**
 * The gateway's operational metrics in CloudWatch, as EMF lines (Powertools Metrics), derived by
 * the analytics consumer from each batch's usage records — off the request path, and never with
 * an org, key, MCP or request dimension: per Region only, and per ErrorCode for the errors.
 *
 * Why no Mcp dimension: slugs are chosen by each org (two orgs may both have `github`), so their
 * number grows with the orgs of the fleet, and every distinct dimension value is a billed custom
 * metric; a slug is also an org's data in a fleet-wide namespace. Per-MCP numbers are in the
 * rollups (usage API), per org.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { errorCodeOf, isError } from '../core/analytics/rollup';
import { GATEWAY_ERRORS } from '../core/gateway/errors';
import type { UsageRecord } from '../core/gateway/usage';

/** The namespace when POWERTOOLS_METRICS_NAMESPACE is unset. */
export const DEFAULT_METRICS_NAMESPACE = 'PlexMCP';
/** The `service` dimension of the usage metrics: they describe the gateway's requests. */
export const USAGE_METRICS_SERVICE = 'plexmcp-gateway';

/** The metric names, for the dashboard (lib/analytics-dashboard.ts) and the tests. */
export const USAGE_METRIC = {
  /** Requests, dimensions service + Region. */
  requests: 'Requests',
  /** Errors (not 2xx, or a 2xx with an error code), service + Region; and service + Region + ErrorCode. */
  errors: 'Errors',
  /** 429 answers, service + Region. */
  throttles: 'Throttles',
  /** Whole-request time, ms, one value per request (percentiles in CloudWatch), service + Region. */
  latency: 'Latency',
  /** Time in the gateway before the upstream request, ms, one value per request that reached routing. */
  gatewayLatency: 'GatewayLatency',
} as const;

/**
 * Values of one metric in one line. EMF takes at most 100; Powertools publishes by itself when a
 * metric reaches 100 and then forgets the line's dimensions and timestamp, so the lines here stay
 * one below and are published explicitly.
 */
export const VALUES_PER_LINE = 99;

/** Error codes outside this set (a newer gateway's, a hostile line's) are counted as `other`. */
const KNOWN_ERROR_CODES: ReadonlySet<string> = new Set(Object.keys(GATEWAY_ERRORS));

/** The ErrorCode dimension value: a gateway code, `http_<status>` of an upstream answer, else `other`. */
export function metricErrorCode(record: Pick<UsageRecord, 'status' | 'errorCode'>): string {
  const code = errorCodeOf(record);
  return KNOWN_ERROR_CODES.has(code) || /^http_[1-5]\d\d$/.test(code) ? code : 'other';
}

interface RegionMinute {
  readonly region: string;
  readonly minute: number;
  requests: number;
  errors: number;
  throttles: number;
  readonly latency: number[];
  readonly gatewayLatency: number[];
  readonly errorsByCode: Map<string, number>;
}

/** Latency values with 0.01 ms precision: shorter lines, far below what a request's time varies by. */
const ms = (value: number) => Math.round(value * 100) / 100;

/**
 * Writes the metrics of `records` as EMF lines through `metrics` (its namespace; the `service`
 * dimension is its service name). Each line is timestamped with the minute its requests started
 * in, so the metrics land where the requests happened, not when the batch arrived.
 * Returns the number of lines written.
 */
export function publishUsageMetrics(records: readonly UsageRecord[], metrics: Metrics): number {
  const groups = new Map<string, RegionMinute>();
  for (const record of records) {
    const started = Date.parse(record.timestamp);
    if (!Number.isFinite(started)) continue; // parseUsageLine admits ISO times only
    const minute = Math.floor(started / 60_000) * 60_000;
    const key = `${minute}\n${record.region}`;
    let group = groups.get(key);
    if (group === undefined) {
      group = { region: record.region, minute, requests: 0, errors: 0, throttles: 0, latency: [], gatewayLatency: [], errorsByCode: new Map() };
      groups.set(key, group);
    }
    group.requests++;
    if (isError(record)) {
      group.errors++;
      const code = metricErrorCode(record);
      group.errorsByCode.set(code, (group.errorsByCode.get(code) ?? 0) + 1);
    }
    if (record.status === 429) group.throttles++;
    group.latency.push(ms(record.totalMs));
    if (record.gatewayMs !== undefined) group.gatewayLatency.push(ms(record.gatewayMs));
  }

  let lines = 0;
  const publish = () => {
    if (!metrics.hasStoredMetrics()) return;
    metrics.publishStoredMetrics();
    lines++;
  };
  for (const group of [...groups.values()].sort((a, b) => a.minute - b.minute || a.region.localeCompare(b.region))) {
    // The counts once, with the first values of the distributions; then the rest of the values.
    const chunks = Math.max(1, Math.ceil(group.latency.length / VALUES_PER_LINE), Math.ceil(group.gatewayLatency.length / VALUES_PER_LINE));
    for (let chunk = 0; chunk < chunks; chunk++) {
      metrics.setTimestamp(group.minute);
      metrics.addDimension('Region', group.region);
      if (chunk === 0) {
        metrics.addMetric(USAGE_METRIC.requests, MetricUnit.Count, group.requests);
        metrics.addMetric(USAGE_METRIC.errors, MetricUnit.Count, group.errors);
        metrics.addMetric(USAGE_METRIC.throttles, MetricUnit.Count, group.throttles);
      }
      const from = chunk * VALUES_PER_LINE;
      for (const value of group.latency.slice(from, from + VALUES_PER_LINE)) metrics.addMetric(USAGE_METRIC.latency, MetricUnit.Milliseconds, value);
      for (const value of group.gatewayLatency.slice(from, from + VALUES_PER_LINE)) metrics.addMetric(USAGE_METRIC.gatewayLatency, MetricUnit.Milliseconds, value);
      publish();
    }
    for (const [code, count] of [...group.errorsByCode].sort(([a], [b]) => a.localeCompare(b))) {
      metrics.setTimestamp(group.minute);
      metrics.addDimension('Region', group.region);
      metrics.addDimension('ErrorCode', code);
      metrics.addMetric(USAGE_METRIC.errors, MetricUnit.Count, count);
      publish();
    }
  }
  return lines;
}

/** The Metrics instance of the usage metrics: namespace from POWERTOOLS_METRICS_NAMESPACE, service `plexmcp-gateway`. */
export function usageMetricsFromEnv(env: NodeJS.ProcessEnv = process.env): Metrics {
  return new Metrics({ namespace: env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE, serviceName: USAGE_METRICS_SERVICE });
}
