/**
 * The health of an MCP server's endpoints, as the health checker last saw them in each region:
 * status, latency and when the status last changed.
 */
import { type AdminApi, answer, type AnswerOf } from '../api';
import { useSession } from '../session-context';
import { Loaded, Time, useAsync } from '../ui';
import type { McpServer } from './mcp-form';

export type McpHealth = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['health']['$get']>;
type EndpointHealth = McpHealth['endpoints'][number];

export function useMcpHealth(slug: string, history = 0) {
  const { api, orgId } = useSession();
  return useAsync(() => answer(api.orgs[':orgId'].mcps[':slug'].health.$get({ param: { orgId: orgId!, slug }, query: { history: String(history) } })), [api, orgId, slug, history]);
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge ${status}`}>{status}</span>;
}

export const latencyText = (ms: number | undefined) => (ms === undefined ? '—' : `${Math.round(ms)} ms`);

/** The states of one endpoint (one per region that checked it); "not checked yet" before the first check. */
function statesOf(health: McpHealth, endpointId: string): EndpointHealth[] {
  return health.endpoints.filter((e) => e.endpointId === endpointId);
}

/** A compact per-endpoint list for the MCP servers table. */
export function HealthSummary({ mcp }: { mcp: McpServer }) {
  const [health] = useMcpHealth(mcp.slug);
  return (
    <Loaded state={health}>
      {(h) => (
        <ul class="health-list">
          {mcp.endpoints.map((ep) => {
            const states = statesOf(h, ep.id);
            return (
              <li key={ep.id}>
                <span class="endpoint-url">{ep.url}</span>{' '}
                {states.length === 0 ? (
                  <span class="muted">not checked yet</span>
                ) : (
                  states.map((s) => (
                    <span key={s.region} class="health-state">
                      <StatusBadge status={s.status} /> {latencyText(s.latencyMs)} <span class="muted">since</span> <Time at={s.lastChangeAt} />
                    </span>
                  ))
                )}
              </li>
            );
          })}
        </ul>
      )}
    </Loaded>
  );
}

/** The endpoints table and recent status changes of the detail page. */
export function HealthSection({ mcp }: { mcp: McpServer }) {
  const [health, reload] = useMcpHealth(mcp.slug, 20);
  const urlOf = (endpointId: string) => mcp.endpoints.find((e) => e.id === endpointId)?.url ?? endpointId;
  return (
    <section aria-labelledby="mcp-endpoints">
      <div class="page-header">
        <h2 id="mcp-endpoints">Endpoints and health</h2>
        <button type="button" class="secondary" onClick={reload}>
          Refresh health
        </button>
      </div>
      <Loaded state={health}>
        {(h) => (
          <>
            <table aria-label="Endpoint health">
              <thead>
                <tr>
                  <th scope="col">URL</th>
                  <th scope="col" class="num">Weight</th>
                  <th scope="col">Region</th>
                  <th scope="col">Status</th>
                  <th scope="col" class="num">Latency</th>
                  <th scope="col">Last change</th>
                  <th scope="col">Last check</th>
                </tr>
              </thead>
              <tbody>
                {mcp.endpoints.flatMap((ep) => {
                  const states = statesOf(h, ep.id);
                  if (states.length === 0) {
                    return [
                      <tr key={ep.id}>
                        <td class="endpoint-url">{ep.url}</td>
                        <td class="num">{ep.weight}</td>
                        <td colSpan={5} class="muted">
                          Not checked yet
                        </td>
                      </tr>,
                    ];
                  }
                  return states.map((s) => (
                    <tr key={`${ep.id}-${s.region}`}>
                      <td class="endpoint-url">{ep.url}</td>
                      <td class="num">{ep.weight}</td>
                      <td>{s.region}</td>
                      <td>
                        <StatusBadge status={s.status} /> {s.errorClass ? <code>{s.errorClass}</code> : null}
                      </td>
                      <td class="num">{latencyText(s.latencyMs)}</td>
                      <td>
                        <Time at={s.lastChangeAt} />
                      </td>
                      <td>
                        <Time at={s.lastCheckAt} />
                      </td>
                    </tr>
                  ));
                })}
              </tbody>
            </table>
            <h2>Recent status changes</h2>
            {h.history.length === 0 ? (
              <p class="muted">No status changes recorded.</p>
            ) : (
              <table aria-label="Status changes">
                <thead>
                  <tr>
                    <th scope="col">When</th>
                    <th scope="col">Endpoint</th>
                    <th scope="col">Region</th>
                    <th scope="col">Change</th>
                    <th scope="col" class="num">Latency</th>
                  </tr>
                </thead>
                <tbody>
                  {h.history.map((t, i) => (
                    <tr key={i}>
                      <td>
                        <Time at={t.at} />
                      </td>
                      <td class="endpoint-url">{urlOf(t.endpointId)}</td>
                      <td>{t.region}</td>
                      <td>
                        <StatusBadge status={t.from} /> → <StatusBadge status={t.to} /> {t.errorClass ? <code>{t.errorClass}</code> : null}
                      </td>
                      <td class="num">{latencyText(t.latencyMs)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </>
        )}
      </Loaded>
    </section>
  );
}
