/**
 * Rollup rows for `GET .../usage/export`: one row per stored rollup of the range, oldest bucket
 * first (then group), as CSV (RFC 4180: a header line, CRLF line ends, fields quoted when they hold
 * a comma, quote, CR or LF) or NDJSON. Each yielded string is one whole line with its line end,
 * so a caller streams the chunks as they come.
 */
import type { Dimension, Granularity, Rollup, RollupReader } from './model';

export const EXPORT_COLUMNS = [
  'bucketStart',
  'granularity',
  'dimension',
  'group',
  'requests',
  'errors',
  'rateLimited',
  'bytesIn',
  'bytesOut',
  'costUsd',
  'gatewayCostUsd',
  'p50Ms',
  'p95Ms',
  'p99Ms',
] as const;

export interface ExportRow {
  bucketStart: string;
  granularity: Granularity;
  dimension: Dimension;
  group: string;
  requests: number;
  errors: number;
  rateLimited: number;
  bytesIn: number;
  bytesOut: number;
  /** Upstream cost by the MCPs' pricing, USD. */
  costUsd: number;
  /** The gateway's own AWS cost, estimated (docs/cost.md), USD; 0 where nothing was estimated. */
  gatewayCostUsd: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

export interface ExportQuery {
  orgId: string;
  from: number;
  to: number;
  granularity: Granularity;
  dimension: Dimension;
}

const ms = (value: number): number | null => (Number.isNaN(value) ? null : Math.round(value * 1000) / 1000);

export function exportRow(rollup: Rollup): ExportRow {
  const total = rollup.latency.total;
  return {
    bucketStart: new Date(rollup.id.bucketStart).toISOString(),
    granularity: rollup.id.granularity,
    dimension: rollup.id.dimension,
    group: rollup.id.group,
    requests: rollup.requests,
    errors: rollup.errors,
    rateLimited: rollup.rateLimited,
    bytesIn: rollup.bytesIn,
    bytesOut: rollup.bytesOut,
    costUsd: rollup.costMicroUsd / 1_000_000,
    gatewayCostUsd: rollup.gatewayCostNanoUsd / 1e9,
    p50Ms: ms(total.quantile(0.5)),
    p95Ms: ms(total.quantile(0.95)),
    p99Ms: ms(total.quantile(0.99)),
  };
}

/**
 * One CSV field. Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR first) gets a
 * leading apostrophe (OWASP's CSV injection advice): a tool or resource name is chosen by whoever
 * runs the upstream, and an export is opened by someone else.
 */
export function csvField(value: string | number | null): string {
  if (value === null) return '';
  if (typeof value === 'number') return String(value);
  const text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

export async function* exportRows(reader: RollupReader, q: ExportQuery, format: 'csv' | 'ndjson'): AsyncIterable<string> {
  const rollups = await reader.query({ orgId: q.orgId, granularity: q.granularity, dimension: q.dimension, from: q.from, to: q.to });
  rollups.sort((a, b) => a.id.bucketStart - b.id.bucketStart || (a.id.group < b.id.group ? -1 : a.id.group > b.id.group ? 1 : 0));
  if (format === 'csv') yield `${EXPORT_COLUMNS.join(',')}\r\n`;
  for (const rollup of rollups) {
    const row = exportRow(rollup);
    yield format === 'csv' ? `${EXPORT_COLUMNS.map((column) => csvField(row[column])).join(',')}\r\n` : `${JSON.stringify(row)}\n`;
  }
}
