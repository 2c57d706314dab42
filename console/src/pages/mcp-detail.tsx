/**
 * One MCP server (`#/mcps/<slug>`): its endpoints and their health, what it offers (tools,
 * resources, prompts as last discovered), its configuration; edit and delete.
 */
import { useState } from 'preact/hooks';
import { type AdminApi, answer, type AnswerOf } from '../api';
import { policySummary } from '../policy-fields';
import { href } from '../router';
import { useSession } from '../session-context';
import { ConfirmButton, ErrorNote, Loaded, PageHeader, Time, useAction, useAsync } from '../ui';
import { McpForm, type McpServer } from './mcp-form';
import { HealthSection } from './mcp-health';

type McpTools = AnswerOf<AdminApi['orgs'][':orgId']['mcps'][':slug']['tools']['$get']>;

export function McpDetail({ slug }: { slug: string }) {
  const { api, orgId } = useSession();
  const [mcp, reload] = useAsync(() => answer(api.orgs[':orgId'].mcps[':slug'].$get({ param: { orgId: orgId!, slug } })), [api, orgId, slug]);
  const [editing, setEditing] = useState(false);
  const remove = useAction(async () => {
    await answer(api.orgs[':orgId'].mcps[':slug'].$delete({ param: { orgId: orgId!, slug } }));
    location.hash = href('mcps');
  });
  return (
    <Loaded state={mcp}>
      {(m) => (
        <>
          <PageHeader title={m.displayName}>
            <a href={href('mcps')}>All MCP servers</a>
            {editing ? null : (
              <button type="button" class="secondary" onClick={() => setEditing(true)}>
                Edit
              </button>
            )}
            <ConfirmButton question={`Delete the MCP server ${m.slug}? Keys scoped to it stop reaching it at once.`} onConfirm={() => void remove.run()} disabled={remove.busy}>
              Delete
            </ConfirmButton>
          </PageHeader>
          <p class="muted">
            <code>/mcp/{m.slug}</code> · updated <Time at={m.updatedAt} />
          </p>
          <ErrorNote error={remove.error} />
          {editing ? (
            <McpForm
              current={m}
              onSaved={() => {
                setEditing(false);
                reload();
              }}
              onCancel={() => setEditing(false)}
            />
          ) : (
            <McpSettings mcp={m} />
          )}
          <HealthSection key={m.updatedAt} mcp={m} />
          <Offered slug={m.slug} />
        </>
      )}
    </Loaded>
  );
}

function McpSettings({ mcp }: { mcp: McpServer }) {
  const auth = mcp.upstreamAuth;
  const toolPrices = Object.entries(mcp.pricing?.tools ?? {});
  return (
    <section aria-labelledby="mcp-settings" class="panel">
      <h2 id="mcp-settings">Settings</h2>
      <dl class="settings">
        <dt>Upstream auth</dt>
        <dd>
          {auth.type}
          {auth.headerName ? <> (header <code>{auth.headerName}</code>)</> : null}
          {auth.username ? <> (user {auth.username})</> : null}
          {mcp.hasUpstreamSecret ? <span class="muted"> · secret stored</span> : null}
        </dd>
        <dt>Tool policy</dt>
        <dd>{policySummary(mcp.toolPolicy)}</dd>
        <dt>Resource policy</dt>
        <dd>{policySummary(mcp.resourcePolicy)}</dd>
        <dt>Prompt policy</dt>
        <dd>{policySummary(mcp.promptPolicy)}</dd>
        <dt>Pricing</dt>
        <dd>
          {mcp.pricing ? (
            <>
              {mcp.pricing.perCallUsd !== undefined ? `$${mcp.pricing.perCallUsd} per call` : 'no price per call'}
              {toolPrices.length > 0 ? ` · ${toolPrices.map(([tool, usd]) => `${tool} $${usd}`).join(', ')}` : ''}
            </>
          ) : (
            'not priced'
          )}
        </dd>
        <dt>Timeouts</dt>
        <dd>
          connect {mcp.timeouts.connectMs} ms · first byte {mcp.timeouts.firstByteMs} ms · idle {mcp.timeouts.idleMs} ms
        </dd>
      </dl>
    </section>
  );
}

/** Tools, resources and prompts as the health checker last discovered them (404 before that). */
function Offered({ slug }: { slug: string }) {
  const { api, orgId } = useSession();
  const [tools] = useAsync(async (): Promise<McpTools | undefined> => {
    try {
      return await answer(api.orgs[':orgId'].mcps[':slug'].tools.$get({ param: { orgId: orgId!, slug } }));
    } catch (error) {
      if ((error as { code?: string }).code === 'not_discovered') return undefined;
      throw error;
    }
  }, [api, orgId, slug]);
  return (
    <section aria-labelledby="mcp-offered">
      <h2 id="mcp-offered">Tools, resources and prompts</h2>
      <Loaded state={tools}>
        {(t) =>
          t === undefined ? (
            <p class="muted">Not discovered yet: the health checker reads them on its next run.</p>
          ) : (
            <>
              <p class="muted">
                Discovered <Time at={t.discoveredAt} /> in {t.region}.
              </p>
              <h3>Tools ({t.tools.length})</h3>
              <NamedTable label="Tools" items={t.tools.map((x) => ({ name: x.name, detail: x.title, description: x.description }))} />
              <h3>Resources ({t.resources.length})</h3>
              <NamedTable label="Resources" items={t.resources.map((x) => ({ name: x.name, detail: x.uri, description: x.description }))} detailHeading="URI" />
              <h3>Prompts ({t.prompts.length})</h3>
              <NamedTable label="Prompts" items={t.prompts.map((x) => ({ name: x.name, description: x.description }))} />
            </>
          )
        }
      </Loaded>
    </section>
  );
}

function NamedTable({ label, items, detailHeading = 'Title' }: { label: string; items: { name: string; detail?: string; description?: string }[]; detailHeading?: string }) {
  if (items.length === 0) return <p class="muted">None.</p>;
  const withDetail = items.some((i) => i.detail);
  return (
    <table aria-label={label}>
      <thead>
        <tr>
          <th scope="col">Name</th>
          {withDetail ? <th scope="col">{detailHeading}</th> : null}
          <th scope="col">Description</th>
        </tr>
      </thead>
      <tbody>
        {items.map((i) => (
          <tr key={`${i.name}-${i.detail ?? ''}`}>
            <td>
              <code>{i.name}</code>
            </td>
            {withDetail ? <td>{i.detail ?? ''}</td> : null}
            <td>{i.description ?? ''}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
