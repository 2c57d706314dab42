import { type Command, InvalidArgumentError, Option } from 'commander';
import type { UsageView } from '../client';
import { CliContext, type CliIo } from '../context';
import { usageError } from '../errors';
import { table } from '../format';

const GROUP_BYS = ['mcp', 'key', 'tool', 'resource', 'prompt'] as const;
const GRANULARITIES = ['minute', 'hour', 'day'] as const;
type GroupBy = (typeof GROUP_BYS)[number];
type UsagePoint = UsageView['series'][number]['points'][number];

/** The export can be long: it is read whole before it is printed (a cut transfer prints nothing). */
const EXPORT_TIMEOUT_MS = 120_000;

/** Series printed in text; the rest are counted (the API's --json has them all). */
const MAX_PRINTED_SERIES = 10;
const CHART_HEIGHT = 6;
/** One eighth to eight eighths of a character cell. */
const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/** `--since`: a duration before now (`90m`, `24h`, `7d`, `2w`) or an ISO date or date-time, passed to the API's `from`. */
export function parseSince(value: string): string {
  const v = value.trim();
  if (/^\d{1,6}[mhdw]$/.test(v)) return `-${v}`;
  if (/^\d{4}-\d{2}-\d{2}(?:T[\d:.]+(?:Z|[+-]\d{2}:\d{2}))?$/.test(v) && !Number.isNaN(Date.parse(v))) return v;
  throw new InvalidArgumentError('Expected a duration (90m, 24h, 7d, 2w) or an ISO date or date-time with a zone (2026-12-01T10:00:00Z).');
}

const fmtMs = (v: number | null): string => (v === null ? '-' : v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : Math.round(v).toString());
const fmtRate = (r: number): string => `${(r * 100).toFixed(r > 0 && r < 0.001 ? 3 : 1)}%`;
/**
 * Cost with enough digits for micro-USD amounts; below a micro-USD (the gateway's AWS cost of a
 * few requests) with the digits it has, to the nano-USD.
 */
const fmtUsd = (v: number): string =>
  v === 0 ? '0' : `$${v >= 1 ? v.toFixed(2) : v >= 0.001 ? v.toFixed(6).replace(/0+$/, '') : v.toFixed(9).replace(/0+$/, '')}`;

/** Bucket starts shortened to what the granularity needs (UTC). */
function fmtStart(iso: string, granularity: string): string {
  const t = iso.replace(/\.\d{3}Z$/, 'Z');
  if (granularity === 'day') return t.slice(0, 10);
  return `${t.slice(0, 10)} ${t.slice(11, 16)}Z`;
}

/**
 * A bar chart of `values` (null: no data), one column per value, CHART_HEIGHT rows of Unicode
 * eighth blocks, with the maximum and 0 on the axis. More values than `width` columns are merged
 * (`merge`: sum for counts, max for latencies), so the chart always fits the terminal; `format`
 * writes the maximum on the axis.
 */
export function barChart(
  title: string,
  values: readonly (number | null)[],
  width: number,
  merge: (a: number, b: number) => number,
  format: (v: number) => string = String,
): string[] {
  const columns = Math.max(1, Math.ceil(values.length / Math.max(1, width)));
  const cells: (number | null)[] = [];
  for (let i = 0; i < values.length; i += columns) {
    let cell: number | null = null;
    for (const v of values.slice(i, i + columns)) if (v !== null) cell = cell === null ? v : merge(cell, v);
    cells.push(cell);
  }
  const max = Math.max(0, ...cells.map((v) => v ?? 0));
  const top = format(max);
  const labelWidth = Math.max(top.length, 1);
  const lines = [`${title}${columns > 1 ? ` (${columns} buckets a column)` : ''}`];
  for (let row = CHART_HEIGHT - 1; row >= 0; row--) {
    let line = '';
    for (const v of cells) {
      // Eighths of the whole height this value fills; anything above 0 shows at least one eighth.
      const eighths = v === null || max === 0 ? 0 : Math.max(v > 0 ? 1 : 0, Math.round((v / max) * CHART_HEIGHT * 8));
      const inRow = Math.min(8, Math.max(0, eighths - row * 8));
      line += inRow === 0 ? ' ' : BLOCKS[inRow - 1];
    }
    const label = row === CHART_HEIGHT - 1 ? top : row === 0 ? '0' : '';
    lines.push(`${label.padStart(labelWidth)} ┤${line}`.trimEnd());
  }
  return lines;
}

function pointsTable(points: readonly UsagePoint[], granularity: string): string {
  return table(
    ['START', 'REQUESTS', 'ERRORS', 'ERROR RATE', 'P50 MS', 'P95 MS', 'P99 MS', 'COST', 'AWS COST'],
    points.map((p) => [
      fmtStart(p.start, granularity),
      String(p.requests),
      String(p.errors),
      fmtRate(p.errorRate),
      fmtMs(p.p50Ms),
      fmtMs(p.p95Ms),
      fmtMs(p.p99Ms),
      fmtUsd(p.costUsd),
      fmtUsd(p.gatewayCostUsd ?? 0),
    ]),
  );
}

/** The text report: totals, then per series a chart of requests and p95 and a table of its non-empty points. */
export function usageText(report: UsageView, scope: string, width: number): string {
  const t = report.totals;
  const parts = [
    `Usage of ${scope}, ${report.granularity}ly from ${report.from} to ${report.to}:\n` +
      `  ${t.requests} requests, ${t.errors} errors (${fmtRate(t.errorRate)}), ${t.rateLimited} rate limited; ` +
      `p50 ${fmtMs(t.p50Ms)} ms, p95 ${fmtMs(t.p95Ms)} ms, p99 ${fmtMs(t.p99Ms)} ms; ` +
      `cost ${fmtUsd(t.costUsd)} upstream, ${fmtUsd(t.gatewayCostUsd ?? 0)} gateway AWS (estimated)\n`,
  ];
  if (report.series.length === 0) {
    parts.push('No requests in this range.\n');
    return parts.join('\n');
  }
  const chartWidth = Math.max(10, width - 12);
  for (const series of report.series.slice(0, MAX_PRINTED_SERIES)) {
    const lines: string[] = [];
    if (report.groupBy !== 'all') {
      const requests = series.points.reduce((n, p) => n + p.requests, 0);
      lines.push(`${report.groupBy} ${series.group} (${requests} requests)`);
    }
    lines.push(...barChart('requests', series.points.map((p) => p.requests), chartWidth, (a, b) => a + b));
    lines.push(...barChart('p95 ms', series.points.map((p) => p.p95Ms), chartWidth, Math.max, fmtMs));
    const first = series.points[0];
    if (first) lines.push(`  ${fmtStart(first.start, report.granularity)} … ${fmtStart(report.to, report.granularity)}`);
    const busy = series.points.filter((p) => p.requests > 0);
    const empty = series.points.length - busy.length;
    parts.push(`${lines.join('\n')}\n\n${pointsTable(busy, report.granularity)}${empty > 0 ? `(${empty} ${report.granularity}s without requests not shown)\n` : ''}`);
  }
  const more = report.series.length - MAX_PRINTED_SERIES;
  if (more > 0) parts.push(`${more} more series not shown: use --json or --csv.\n`);
  return parts.join('\n');
}

interface UsageOptions {
  org?: string;
  mcp?: string;
  key?: string;
  by?: GroupBy;
  since?: string;
  granularity: (typeof GRANULARITIES)[number];
  csv?: boolean;
}

export function registerUsageCommand(program: Command, io: CliIo): void {
  program
    .command('usage')
    .description('requests, errors, latency percentiles, upstream cost and the gateway\'s own AWS cost (estimated) of an organisation over time (a table and a chart)')
    .option('--org <orgId>', 'organisation (default: the org of an org admin key)')
    .option('--mcp <slug>', 'only this MCP server')
    .option('--key <keyId>', 'only this API key')
    .addOption(new Option('--by <dimension>', 'one series per MCP, key, tool, resource or prompt').choices(GROUP_BYS))
    .option('--since <when>', 'from a duration before now (90m, 24h, 7d) or an ISO date-time (default 24h)', parseSince)
    .addOption(new Option('--granularity <size>', 'bucket size').choices(GRANULARITIES).default('hour'))
    .option('--csv', 'print the export (one CSV row per stored rollup) instead of text')
    .addHelpText('after', '\nExamples:\n  plexmcp usage --since 7d --granularity day\n  plexmcp usage --by tool --since 2h --granularity minute\n  plexmcp usage --mcp github --csv > github.csv\n')
    .action(async (opts: UsageOptions, cmd: Command) => {
      const ctx = CliContext.of(io, cmd);
      if (opts.csv && ctx.json) throw usageError('--csv and --json are alternatives: choose one');
      if (opts.mcp !== undefined && opts.key !== undefined) throw usageError('--mcp and --key are alternatives: choose one');
      const filter: { groupBy: GroupBy; group: string } | undefined =
        opts.mcp !== undefined ? { groupBy: 'mcp', group: opts.mcp } : opts.key !== undefined ? { groupBy: 'key', group: opts.key } : undefined;
      if (filter && opts.by && opts.by !== filter.groupBy) {
        // Rollups are per dimension: the tools of one MCP are not a stored breakdown.
        throw usageError(`--by ${opts.by} cannot be combined with --${filter.groupBy}: usage is broken down by one dimension at a time`);
      }
      const orgId = await ctx.orgId(opts.org);
      const query = {
        from: opts.since ?? '-24h',
        granularity: opts.granularity,
        groupBy: filter?.groupBy ?? opts.by,
        group: filter?.group,
      };
      const client = await ctx.client();
      if (opts.csv) {
        const usage = client.typed({ timeoutMs: EXPORT_TIMEOUT_MS }).orgs[':orgId'].usage;
        io.stdout.write(await client.answerText(usage.export.$get({ param: { orgId }, query: { ...query, format: 'csv' } }, { headers: { accept: 'text/csv, application/json' } })));
        return;
      }
      const report = await client.answer(client.typed().orgs[':orgId'].usage.$get({ param: { orgId }, query }));
      if (ctx.json) return ctx.printJson(report);
      const scope = filter ? `${filter.groupBy} ${filter.group} of org ${orgId}` : `org ${orgId}`;
      ctx.out(usageText(report, scope, io.columns ?? 80));
    });
}
