/**
 * Overview: an org's traffic over the last hour, day, week or month from the usage API
 * (GET /orgs/{orgId}/usage): the range's totals as figures, requests/errors and latency
 * percentiles per bucket as charts, and the busiest MCP servers, keys and tools.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { all, answer, type AdminApi } from '../api';
import { Chart, type ChartSeries } from '../chart';
import { href } from '../router';
import { useSession } from '../session-context';
import { Loaded, PageHeader, useAsync } from '../ui';
import { formatCount, formatMs, formatRate, formatUsd, type UsagePoint, type UsageReport, type UsageTotals } from '../usage-format';

/** The ranges of the switcher: each is at most a few hundred buckets (the API allows 1,440). */
export const RANGES = {
  hour: { label: 'Hour', caption: 'the last hour, per minute', from: '-1h', granularity: 'minute' },
  day: { label: 'Day', caption: 'the last 24 hours, per hour', from: '-24h', granularity: 'hour' },
  week: { label: 'Week', caption: 'the last 7 days, per hour', from: '-7d', granularity: 'hour' },
  month: { label: 'Month', caption: 'the last 30 days, per day', from: '-30d', granularity: 'day' },
} as const;
export type RangeId = keyof typeof RANGES;
const RANGE_IDS = Object.keys(RANGES) as RangeId[];

/** Rows of each top table; each row's p95 needs a report of its own group. */
const TOP_ROWS = 10;

type OrgGroupBy = 'mcp' | 'key' | 'tool';

interface TopRow {
  readonly group: string;
  readonly totals: UsageTotals;
}

interface TopTable {
  readonly rows: readonly TopRow[];
  /** How many groups had traffic (the table shows the first TOP_ROWS). */
  readonly groups: number;
}

interface OverviewData {
  readonly rangeId: RangeId;
  readonly report: UsageReport;
  readonly top: Record<OrgGroupBy, TopTable>;
  /** Key names by key id, for the keys table. */
  readonly keyNames: ReadonlyMap<string, string>;
}

const REQUEST_SERIES: readonly ChartSeries[] = [
  { label: 'Requests', color: '#0b5cad', format: formatCount },
  { label: 'Errors', color: '#b42318', format: formatCount },
];
const LATENCY_SERIES: readonly ChartSeries[] = [
  { label: 'p50', points: true, color: '#1a7f37', format: formatMs },
  { label: 'p95', points: true, color: '#9a6700', format: formatMs },
  { label: 'p99', points: true, color: '#b42318', format: formatMs },
];

async function loadOverview(api: AdminApi, orgId: string, rangeId: RangeId): Promise<OverviewData> {
  const { from, granularity } = RANGES[rangeId];
  const usage = api.orgs[':orgId'].usage;
  const report = (groupBy: 'all' | OrgGroupBy, group?: string) =>
    answer(usage.$get({ param: { orgId }, query: { from, granularity, groupBy, ...(group === undefined ? {} : { group }) } }));
  // A series has points only; the exact totals of a group (its p95 over the whole range) are in
  // the report of that one group.
  const topOf = async (groupBy: OrgGroupBy): Promise<TopTable> => {
    const busy = (await report(groupBy)).series.filter((s) => s.points.some((p) => p.requests > 0));
    const rows = await Promise.all(busy.slice(0, TOP_ROWS).map(async (s) => ({ group: s.group, totals: (await report(groupBy, s.group)).totals })));
    return { rows, groups: busy.length };
  };
  const [whole, mcp, key, tool, keys] = await Promise.all([
    report('all'),
    topOf('mcp'),
    topOf('key'),
    topOf('tool'),
    all((query) => api.orgs[':orgId'].keys.$get({ param: { orgId }, query })),
  ]);
  return { rangeId, report: whole, top: { mcp, key, tool }, keyNames: new Map(keys.map((k) => [k.keyId, k.name])) };
}

export function OverviewPage() {
  const { api, orgId } = useSession();
  const [rangeId, setRangeId] = useState<RangeId>('day');
  const [state] = useAsync(() => loadOverview(api, orgId!, rangeId), [api, orgId, rangeId]);
  // useAsync keeps the last answer while the next loads: say so rather than show it as the new range.
  const stale = state.status === 'ok' && state.value.rangeId !== rangeId;
  return (
    <>
      <PageHeader title="Overview">
        <div class="tabs" role="group" aria-label="Range">
          {RANGE_IDS.map((id) => (
            <button type="button" key={id} aria-pressed={id === rangeId} onClick={() => setRangeId(id)}>
              {RANGES[id].label}
            </button>
          ))}
        </div>
      </PageHeader>
      <Loaded state={state}>
        {(data) => (
          <div aria-busy={stale}>
            <p class="muted" role="status">
              {stale ? 'Loading…' : `Usage of ${RANGES[data.rangeId].caption} (${new Date(data.report.from).toLocaleString()} to ${new Date(data.report.to).toLocaleString()}).`}
            </p>
            <Figures totals={data.report.totals} />
            <Charts report={data.report} />
            <TopTables data={data} />
          </div>
        )}
      </Loaded>
    </>
  );
}

function Figures({ totals }: { totals: UsageTotals }) {
  const figures: { label: string; value: string; testId: string }[] = [
    { label: 'Requests', value: formatCount(totals.requests), testId: 'total-requests' },
    { label: 'Error rate', value: `${formatRate(totals.errorRate)} (${formatCount(totals.errors)})`, testId: 'error-rate' },
    { label: 'p50 latency', value: formatMs(totals.p50Ms), testId: 'p50' },
    { label: 'p95 latency', value: formatMs(totals.p95Ms), testId: 'p95' },
    { label: 'p99 latency', value: formatMs(totals.p99Ms), testId: 'p99' },
    { label: 'Spend (upstream cost)', value: formatUsd(totals.costUsd), testId: 'spend' },
  ];
  return (
    <dl class="stats">
      {figures.map((f) => (
        <div class="stat" key={f.testId}>
          <dt class="label" id={`stat-${f.testId}`}>
            {f.label}
          </dt>
          <dd class="value" data-testid={f.testId} aria-labelledby={`stat-${f.testId}`}>
            {f.value}
          </dd>
        </div>
      ))}
    </dl>
  );
}

function bucketFormatter(granularity: string): (epochSeconds: number) => string {
  const options: Intl.DateTimeFormatOptions =
    granularity === 'day' ? { dateStyle: 'medium' } : granularity === 'hour' ? { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' } : { hour: '2-digit', minute: '2-digit' };
  const format = new Intl.DateTimeFormat(undefined, options);
  return (s) => format.format(new Date(s * 1000));
}

function Charts({ report }: { report: UsageReport }) {
  const points: readonly UsagePoint[] = report.series[0]?.points ?? [];
  const times = points.map((p) => Date.parse(p.start) / 1000);
  const formatTime = bucketFormatter(report.granularity);
  const busiest = points.reduce<UsagePoint | undefined>((best, p) => (best === undefined || p.requests > best.requests ? p : best), undefined);
  const requestsSummary =
    `Requests and errors per ${report.granularity}, ${points.length} buckets: ${formatCount(report.totals.requests)} requests and ${formatCount(report.totals.errors)} errors in all` +
    (busiest && busiest.requests > 0 ? `; busiest bucket ${formatTime(Date.parse(busiest.start) / 1000)} with ${formatCount(busiest.requests)} requests.` : '.');
  const latencySummary =
    report.totals.requests > 0
      ? `Latency percentiles per ${report.granularity}: over the whole range p50 ${formatMs(report.totals.p50Ms)}, p95 ${formatMs(report.totals.p95Ms)}, p99 ${formatMs(report.totals.p99Ms)}.`
      : `Latency percentiles per ${report.granularity}: no requests in this range.`;
  return (
    <div class="grid chart-grid">
      <section class="panel">
        <h2 id="chart-requests">Requests and errors</h2>
        <Chart
          labelledBy="chart-requests"
          summary={requestsSummary}
          times={times}
          series={REQUEST_SERIES}
          values={[points.map((p) => p.requests), points.map((p) => p.errors)]}
          formatTime={formatTime}
        />
      </section>
      <section class="panel">
        <h2 id="chart-latency">Latency</h2>
        <Chart
          labelledBy="chart-latency"
          summary={latencySummary}
          times={times}
          series={LATENCY_SERIES}
          values={[points.map((p) => p.p50Ms), points.map((p) => p.p95Ms), points.map((p) => p.p99Ms)]}
          formatTime={formatTime}
        />
      </section>
    </div>
  );
}

function TopTables({ data }: { data: OverviewData }) {
  return (
    <>
      <TopTable
        id="top-mcps"
        title="Top MCP servers"
        column="MCP server"
        table={data.top.mcp}
        name={(slug) => <a href={href('mcps', slug)}>{slug}</a>}
      />
      <TopTable
        id="top-keys"
        title="Top keys"
        column="Key"
        table={data.top.key}
        name={(keyId) => (
          <>
            {data.keyNames.get(keyId) ?? <span class="muted">(deleted key)</span>} <code>{keyId}</code>
          </>
        )}
      />
      <TopTable id="top-tools" title="Top tools" column="Tool" table={data.top.tool} name={(tool) => <code>{tool}</code>} />
    </>
  );
}

function TopTable({ id, title, column, table, name }: { id: string; title: string; column: string; table: TopTable; name: (group: string) => ComponentChildren }) {
  return (
    <section>
      <h2 id={id}>{title}</h2>
      {table.rows.length === 0 ? (
        <p class="muted">No requests in this range.</p>
      ) : (
        <>
          <table aria-labelledby={id}>
            <thead>
              <tr>
                <th scope="col">{column}</th>
                <th scope="col" class="num">Requests</th>
                <th scope="col" class="num">Errors</th>
                <th scope="col" class="num">p95</th>
                <th scope="col" class="num">Cost</th>
              </tr>
            </thead>
            <tbody>
              {table.rows.map((row) => (
                <tr key={row.group}>
                  <th scope="row">{name(row.group)}</th>
                  <td class="num">{formatCount(row.totals.requests)}</td>
                  <td class="num">{formatCount(row.totals.errors)}</td>
                  <td class="num">{formatMs(row.totals.p95Ms)}</td>
                  <td class="num">{formatUsd(row.totals.costUsd)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {table.groups > table.rows.length ? <p class="muted">The busiest {table.rows.length} of {table.groups}.</p> : null}
        </>
      )}
    </section>
  );
}
