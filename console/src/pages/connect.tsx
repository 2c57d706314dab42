/**
 * Connect: how a client reaches one of the org's MCP servers through the gateway — a Claude
 * Desktop configuration, a curl initialize and a TypeScript SDK snippet. A key's secret is shown
 * only when it is created, so the snippets carry a placeholder for it.
 */
import type { ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import { claudeDesktopConfig } from '../../../lambda/core/claude-desktop-config';
import { all, gatewayBase } from '../api';
import { useSession } from '../session-context';
import { CopyButton, describedBy, Field, Loaded, PageHeader, useAsync } from '../ui';

/** What the user replaces with their key (`pmcp_<keyId>_<secret>`, api-keys.ts). */
export function keyPlaceholder(keyId: string | undefined): string {
  return keyId ? `pmcp_${keyId}_…your secret…` : 'pmcp_…your key…';
}

/** A POSIX shell single-quoted word. */
const shellQuote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

export function curlSnippet(gatewayUrl: string, apiKey: string): string {
  const initialize = JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'curl', version: '1' } } });
  return [
    `KEY=${shellQuote(apiKey)}`,
    `curl -s ${shellQuote(gatewayUrl)} -H "Authorization: Bearer $KEY" \\`,
    `  -H 'Content-Type: application/json' -H 'Accept: application/json, text/event-stream' \\`,
    `  -d ${shellQuote(initialize)}`,
  ].join('\n');
}

export function sdkSnippet(gatewayUrl: string, apiKey: string): string {
  return [
    `import { Client } from '@modelcontextprotocol/sdk/client/index.js';`,
    `import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';`,
    ``,
    `const apiKey = process.env.PLEXMCP_API_KEY ?? ${JSON.stringify(apiKey)};`,
    `const transport = new StreamableHTTPClientTransport(new URL(${JSON.stringify(gatewayUrl)}), {`,
    `  requestInit: { headers: { Authorization: \`Bearer \${apiKey}\` } },`,
    `});`,
    `const client = new Client({ name: 'my-agent', version: '1.0.0' });`,
    `await client.connect(transport);`,
    `console.log(await client.listTools());`,
    `await client.close();`,
  ].join('\n');
}

export function ConnectPage() {
  const { api, orgId } = useSession();
  const [state] = useAsync(async () => {
    const [mcps, keys] = await Promise.all([
      all((query) => api.orgs[':orgId'].mcps.$get({ param: { orgId: orgId! }, query })),
      all((query) => api.orgs[':orgId'].keys.$get({ param: { orgId: orgId! }, query })),
    ]);
    const now = Date.now();
    const active = keys.filter((k) => !k.revokedAt && !(k.expiresAt && Date.parse(k.expiresAt) <= now));
    return { mcps, keys: active };
  }, [api, orgId]);
  return (
    <>
      <PageHeader title="Connect" />
      <Loaded state={state}>{(data) => <ConnectForm mcps={data.mcps} keys={data.keys} />}</Loaded>
    </>
  );
}

interface McpChoice {
  readonly slug: string;
  readonly displayName: string;
}
interface KeyChoice {
  readonly keyId: string;
  readonly name: string;
  readonly role: string;
  readonly scopes: { readonly mcps: '*' | readonly string[] };
}

function ConnectForm({ mcps, keys }: { mcps: readonly McpChoice[]; keys: readonly KeyChoice[] }) {
  const [slug, setSlug] = useState<string>(mcps[0]?.slug ?? '');
  const reaching = keys.filter((k) => k.scopes.mcps === '*' || k.scopes.mcps.includes(slug));
  const [keyId, setKeyId] = useState<string>('');
  const key = reaching.find((k) => k.keyId === keyId);
  if (mcps.length === 0) return <p>This organisation has no MCP servers yet: add one on the MCP servers page.</p>;
  const gatewayUrl = `${gatewayBase()}/mcp/${encodeURIComponent(slug)}`;
  const placeholder = keyPlaceholder(key?.keyId);
  const claude = JSON.stringify(claudeDesktopConfig(gatewayUrl, placeholder, `plexmcp-${slug}`), null, 2);
  return (
    <>
      <div class="row">
        <Field id="connect-mcp" label="MCP server">
          <select {...describedBy('connect-mcp', {})} value={slug} onChange={(e) => setSlug((e.target as HTMLSelectElement).value)}>
            {mcps.map((m) => (
              <option key={m.slug} value={m.slug}>
                {m.displayName} ({m.slug})
              </option>
            ))}
          </select>
        </Field>
        <Field id="connect-key" label="API key" hint="Active keys that may use this MCP server.">
          <select {...describedBy('connect-key', { hint: true })} value={key ? key.keyId : ''} onChange={(e) => setKeyId((e.target as HTMLSelectElement).value)}>
            <option value="">Any key (placeholder)</option>
            {reaching.map((k) => (
              <option key={k.keyId} value={k.keyId}>
                {k.name} ({k.role}, {k.keyId})
              </option>
            ))}
          </select>
        </Field>
      </div>
      <p class="notice">
        A key’s secret is shown only once, when it is created, so these snippets say <code>{placeholder}</code> where the key goes: replace it with the whole key
        {key ? ` (the one named “${key.name}”)` : ''}. Keep the key out of shared files.
      </p>
      <p>
        Gateway URL: <code data-testid="gateway-url">{gatewayUrl}</code> <CopyButton text={gatewayUrl} label="Copy URL" />
      </p>
      <Snippet id="snippet-claude" title="Claude Desktop" text={claude}>
        Add this to <code>claude_desktop_config.json</code> (it is what <code>plexmcp serve --demo</code> prints): Claude Desktop runs the <code>mcp-remote</code> bridge,
        which sends the key in the <code>Authorization</code> header.
      </Snippet>
      <Snippet id="snippet-curl" title="curl" text={curlSnippet(gatewayUrl, placeholder)}>
        An <code>initialize</code> request: the answer names the server and its capabilities.
      </Snippet>
      <Snippet id="snippet-sdk" title="TypeScript (MCP SDK)" text={sdkSnippet(gatewayUrl, placeholder)}>
        With <code>@modelcontextprotocol/sdk</code>; set <code>PLEXMCP_API_KEY</code> in the environment rather than writing the key in code.
      </Snippet>
    </>
  );
}

function Snippet({ id, title, text, children }: { id: string; title: string; text: string; children: ComponentChildren }) {
  return (
    <section aria-labelledby={id}>
      <div class="snippet-header">
        <h2 id={id}>{title}</h2>
        <CopyButton text={text} label={`Copy ${title}`} />
      </div>
      <p>{children}</p>
      <pre>
        <code data-testid={id}>{text}</code>
      </pre>
    </section>
  );
}
