/**
 * Fleet (operator only): every org with its plan and its usage over the last 24 hours
 * (GET /orgs and GET /usage?groupBy=org), and the fleet's totals.
 */
import { all, answer, type AdminApi } from '../api';
import { useSession } from '../session-context';
import { href } from '../router';
import { Loaded, PageHeader, useAsync } from '../ui';
import { formatCount, formatMs, formatRate, formatUsd, type UsageReport, type UsageTotals } from '../usage-format';

const FLEET_RANGE = { from: '-24h', granularity: 'hour' } as const;
/** Orgs whose exact p95 is read (one report each), busiest first. */
const P95_ORGS = 25;

interface FleetData {
  readonly orgs: readonly { orgId: string; name: string; plan: string }[];
  readonly report: UsageReport;
  /** Each org's totals over the range (only orgs with traffic). */
  readonly byOrg: ReadonlyMap<string, Partial<UsageTotals> & { requests: number; errors: number; costUsd: number }>;
  /** Orgs with traffic (only the busiest P95_ORGS have a p95). */
  readonly busyOrgs: number;
}

async function loadFleet(api: AdminApi): Promise<FleetData> {
  const fleet = (group?: string) => answer(api.usage.$get({ query: { ...FLEET_RANGE, groupBy: 'org', ...(group === undefined ? {} : { group }) } }));
  const [orgs, report] = await Promise.all([all((query) => api.orgs.$get({ query })), fleet()]);
  const byOrg = new Map<string, Partial<UsageTotals> & { requests: number; errors: number; costUsd: number }>();
  const busy = report.series.filter((s) => s.points.some((p) => p.requests > 0));
  // Counts and cost add up over the points; a percentile does not, so the busiest orgs' p95 is
  // read from a report of that org alone.
  for (const s of busy) {
    byOrg.set(s.group, {
      requests: s.points.reduce((n, p) => n + p.requests, 0),
      errors: s.points.reduce((n, p) => n + p.errors, 0),
      costUsd: s.points.reduce((n, p) => n + p.costUsd, 0),
    });
  }
  await Promise.all(busy.slice(0, P95_ORGS).map(async (s) => byOrg.set(s.group, (await fleet(s.group)).totals)));
  return { orgs, report, byOrg, busyOrgs: busy.length };
}

export function FleetPage() {
  const { api } = useSession();
  const [state, reload] = useAsync(() => loadFleet(api), [api]);
  return (
    <>
      <PageHeader title="Fleet">
        <button type="button" class="secondary" onClick={reload}>
          Refresh
        </button>
      </PageHeader>
      <Loaded state={state}>
        {(data) => <FleetView data={data} />}
      </Loaded>
    </>
  );
}

function FleetView({ data }: { data: FleetData }) {
  const { pickOrg } = useSession();
  const open = (orgId: string) => {
    pickOrg(orgId);
    location.hash = href('overview');
  };
  const { totals } = data.report;
  // Busiest first, then by name; orgs without traffic last.
  const rows = [...data.orgs].sort((a, b) => (data.byOrg.get(b.orgId)?.requests ?? 0) - (data.byOrg.get(a.orgId)?.requests ?? 0) || a.name.localeCompare(b.name));
  return (
    <>
      <p class="muted">
        Usage of the last 24 hours ({new Date(data.report.from).toLocaleString()} to {new Date(data.report.to).toLocaleString()}). Open an org to see its pages (or pick it
        in the Organisation list in the menu).
      </p>
      <h2>Fleet totals</h2>
      <dl class="stats">
        <div class="stat">
          <dt class="label">Organisations</dt>
          <dd class="value" data-testid="fleet-orgs">{formatCount(data.orgs.length)}</dd>
        </div>
        <div class="stat">
          <dt class="label">Requests</dt>
          <dd class="value" data-testid="fleet-requests">{formatCount(totals.requests)}</dd>
        </div>
        <div class="stat">
          <dt class="label">Error rate</dt>
          <dd class="value">{`${formatRate(totals.errorRate)} (${formatCount(totals.errors)})`}</dd>
        </div>
        <div class="stat">
          <dt class="label">p95 latency</dt>
          <dd class="value">{formatMs(totals.p95Ms)}</dd>
        </div>
        <div class="stat">
          <dt class="label">Spend (upstream cost)</dt>
          <dd class="value">{formatUsd(totals.costUsd)}</dd>
        </div>
      </dl>
      <h2 id="fleet-orgs-heading">Organisations</h2>
      <table aria-labelledby="fleet-orgs-heading">
        <thead>
          <tr>
            <th scope="col">Organisation</th>
            <th scope="col">Id</th>
            <th scope="col">Plan</th>
            <th scope="col" class="num">Requests</th>
            <th scope="col" class="num">Errors</th>
            <th scope="col" class="num">p95</th>
            <th scope="col" class="num">Cost</th>
            <th scope="col">
              <span class="visually-hidden">Open</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((org) => {
            const usage = data.byOrg.get(org.orgId);
            return (
              <tr key={org.orgId} data-org-id={org.orgId}>
                <th scope="row">{org.name}</th>
                <td>
                  <code>{org.orgId}</code>
                </td>
                <td>{org.plan}</td>
                <td class="num" data-testid="org-requests">{formatCount(usage?.requests ?? 0)}</td>
                <td class="num">{formatCount(usage?.errors ?? 0)}</td>
                <td class="num">{formatMs(usage?.p95Ms)}</td>
                <td class="num">{formatUsd(usage?.costUsd ?? 0)}</td>
                <td>
                  <button type="button" class="secondary" aria-label={`Open ${org.name}`} onClick={() => open(org.orgId)}>
                    Open
                  </button>
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
      {data.orgs.length === 0 ? <p class="muted">No organisations yet.</p> : null}
      {data.busyOrgs > P95_ORGS ? <p class="muted">p95 is shown for the {P95_ORGS} busiest organisations.</p> : null}
    </>
  );
}
