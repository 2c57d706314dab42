/**
 * MCP servers (`#/mcps`): the org's servers with the health of each endpoint, and a form for a
 * new one; `#/mcps/<slug>` is one server's page.
 */
import { useState } from 'preact/hooks';
import { all } from '../api';
import { href } from '../router';
import { useSession } from '../session-context';
import { Loaded, PageHeader, Time, useAsync } from '../ui';
import { McpDetail } from './mcp-detail';
import { McpForm } from './mcp-form';
import { HealthSummary } from './mcp-health';

export function McpsPage({ rest }: { rest: readonly string[] }) {
  const slug = rest[0];
  return slug === undefined ? <McpList /> : <McpDetail key={slug} slug={slug} />;
}

function McpList() {
  const { api, orgId } = useSession();
  const [mcps] = useAsync(() => all((query) => api.orgs[':orgId'].mcps.$get({ param: { orgId: orgId! }, query })), [api, orgId]);
  const [creating, setCreating] = useState(false);
  return (
    <>
      <PageHeader title="MCP servers">
        {creating ? null : (
          <button type="button" onClick={() => setCreating(true)}>
            New MCP server
          </button>
        )}
      </PageHeader>
      {creating ? <McpForm onSaved={(mcp) => (location.hash = href('mcps', mcp.slug))} onCancel={() => setCreating(false)} /> : null}
      <Loaded state={mcps}>
        {(items) =>
          items.length === 0 ? (
            <p class="muted">No MCP servers yet.</p>
          ) : (
            <table aria-label="MCP servers">
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Slug</th>
                  <th scope="col">Endpoints and health</th>
                  <th scope="col">Upstream auth</th>
                  <th scope="col">Updated</th>
                </tr>
              </thead>
              <tbody>
                {items.map((mcp) => (
                  <tr key={mcp.slug}>
                    <td>
                      <a href={href('mcps', mcp.slug)}>{mcp.displayName}</a>
                    </td>
                    <td>
                      <code>{mcp.slug}</code>
                    </td>
                    <td>
                      <HealthSummary mcp={mcp} />
                    </td>
                    <td>{mcp.upstreamAuth.type}</td>
                    <td>
                      <Time at={mcp.updatedAt} />
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )
        }
      </Loaded>
    </>
  );
}
