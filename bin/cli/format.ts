/**
 * Human output: aligned tables for lists and `label: value` blocks for single items.
 * Nothing here ever prints a secret: the admin API returns none (except a new key's secret,
 * which the `key create` command prints itself).
 */
import type { AlertView, KeyView, McpHealth, McpTools, McpView, OrgListItem, OrgView } from './client';

/** A policy as the API shows it (allow and deny patterns). */
type Policy = McpView['toolPolicy'];
/** An org as an answer has it: `usage` only from `GET /orgs/{orgId}`. */
type AnyOrg = OrgListItem & Partial<Pick<OrgView, 'usage'>>;

export type Row = readonly string[];

/** Columns separated by two spaces, each as wide as its widest cell; the last is not padded. */
export function table(headers: Row, rows: readonly Row[]): string {
  const all = [headers, ...rows].map((row) => row.map(clean));
  const widths = headers.map((_, i) => Math.max(...all.map((row) => (row[i] ?? '').length)));
  return all
    .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]))).join('  ').trimEnd())
    .join('\n') + '\n';
}

/** `Label:  value` lines with the values aligned; multi-line values are indented. */
export function block(fields: ReadonlyArray<readonly [string, string | string[]]>): string {
  const width = Math.max(...fields.map(([label]) => label.length)) + 1;
  const lines: string[] = [];
  for (const [label, value] of fields) {
    const values = (Array.isArray(value) ? value : [value]).map(clean);
    if (values.length === 0) values.push('');
    lines.push(`${`${label}:`.padEnd(width)}  ${values[0]}`.trimEnd());
    for (const more of values.slice(1)) lines.push(`${' '.repeat(width)}  ${more}`.trimEnd());
  }
  return lines.join('\n') + '\n';
}

/** Control characters from the server never reach the terminal as they are. */
function clean(value: string): string {
  // eslint-disable-next-line no-control-regex
  return String(value ?? '').replace(/[\u0000-\u001f\u007f-\u009f]/g, (c) => (c === '\t' ? ' ' : '?'));
}

const orDash = (value: string | undefined | null): string => (value ? value : '-');

export function listOrNone(values: readonly string[] | undefined, none: string): string {
  return values && values.length > 0 ? values.join(', ') : none;
}

// --- organisations -------------------------------------------------------------------------

export function orgTable(orgs: readonly OrgListItem[]): string {
  return table(
    ['ORG ID', 'NAME', 'PLAN', 'IP ALLOWLIST', 'CREATED'],
    orgs.map((o) => [o.orgId, o.name, o.plan, listOrNone(o.ipAllowlist, 'any'), orDash(o.createdAt)]),
  );
}

export function orgBlock(o: AnyOrg): string {
  const fields: [string, string | string[]][] = [
    ['Org ID', o.orgId],
    ['Name', o.name],
    ['Plan', o.plan],
  ];
  const overrides = Object.entries(o.planOverrides ?? {});
  if (overrides.length > 0) fields.push(['Overrides', overrides.map(([name, value]) => `${name}=${value}`).join(', ')]);
  const l = o.limits;
  if (l) {
    fields.push(['Limits', [
      `${l.requestsPerMinute} requests/min per key, ${l.monthlyRequests} requests/month`,
      `${l.maxMcpServers} MCP servers, ${l.maxEndpointsPerMcp} endpoints each, ${l.maxApiKeys} API keys`,
      `${l.maxConcurrentStreamsPerKey} open streams and ${l.handshakesPerKeyPerMinute} handshakes/min per key`,
      `${l.maxWebhookEndpoints ?? 0} webhook endpoints`,
    ]]);
    if (o.usage) fields.push(['Usage', `${o.usage.mcpServers} of ${l.maxMcpServers} MCP servers, ${o.usage.apiKeys} of ${l.maxApiKeys} API keys`]);
  }
  fields.push(
    ['IP allowlist', listOrNone(o.ipAllowlist, 'any address')],
    ['Created', orDash(o.createdAt)],
    ['Updated', orDash(o.updatedAt)],
  );
  return block(fields);
}

// --- MCP servers ---------------------------------------------------------------------------

export function authSummary(m: Pick<McpView, 'upstreamAuth' | 'hasUpstreamSecret'>): string {
  const auth = m.upstreamAuth ?? { type: 'none' };
  let text: string = auth.type;
  if (auth.type === 'header') text += ` (${auth.headerName})`;
  if (auth.type === 'basic') text += ` (user ${auth.username})`;
  if (auth.type !== 'none') text += m.hasUpstreamSecret ? ', secret set' : ', NO SECRET SET';
  return text;
}

export function policySummary(p: Policy | undefined): string {
  const allow = listOrNone(p?.allow, 'all');
  return p?.deny && p.deny.length > 0 ? `allow ${allow}; deny ${p.deny.join(', ')}` : `allow ${allow}`;
}

export function mcpTable(mcps: readonly McpView[]): string {
  return table(
    ['SLUG', 'NAME', 'ENDPOINTS', 'AUTH', 'TOOLS', 'UPDATED'],
    mcps.map((m) => [
      m.slug,
      orDash(m.displayName),
      String(m.endpoints?.length ?? 0),
      authSummary(m),
      policySummary(m.toolPolicy),
      orDash(m.updatedAt),
    ]),
  );
}

/**
 * A price in USD as typed (`0.002`, never `2e-3`): the API keeps prices to the micro-USD, so six
 * decimals hold every one exactly.
 */
export function usdText(usd: number): string {
  return `$${usd.toFixed(6).replace(/\.?0+$/, '')}`;
}

/**
 * The MCP's pricing, one line per price: the per-call price (what every charged request costs
 * unless its tool has a price of its own), then each tool's price by name; undefined without
 * pricing, so that an unpriced MCP prints no Pricing line at all.
 */
export function pricingLines(p: McpView['pricing']): string[] | undefined {
  if (p === undefined) return undefined;
  const tools = Object.keys(p.tools ?? {}).sort();
  const lines = [`${usdText(p.perCallUsd ?? 0)} per call${tools.length > 0 ? ' (tools not listed below)' : ''}`];
  for (const tool of tools) lines.push(`tool ${tool}: ${usdText(p.tools![tool]!)} per call`);
  return lines;
}

export function mcpBlock(m: McpView): string {
  const endpoints = (m.endpoints ?? []).map((e) => `${e.id}  ${e.url}  (weight ${e.weight})`);
  const t = m.timeouts;
  const pricing = pricingLines(m.pricing);
  return block([
    ['Slug', m.slug],
    ['Org ID', m.orgId],
    ['Name', orDash(m.displayName)],
    ['Endpoints', endpoints.length > 0 ? endpoints : ['none']],
    ['Upstream auth', authSummary(m)],
    ['Allowed tools', listOrNone(m.toolPolicy?.allow, 'all')],
    ['Denied tools', listOrNone(m.toolPolicy?.deny, 'none')],
    ['Resources', policySummary(m.resourcePolicy)],
    ['Prompts', policySummary(m.promptPolicy)],
    ['Timeouts', t ? `connect ${t.connectMs} ms, first byte ${t.firstByteMs} ms, idle ${t.idleMs} ms` : '-'],
    ...(pricing === undefined ? [] : [['Pricing', pricing] as const]),
    ['Created', orDash(m.createdAt)],
    ['Updated', orDash(m.updatedAt)],
  ]);
}

// --- API keys ------------------------------------------------------------------------------

export function keyStatus(k: KeyView, now: Date): string {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && Date.parse(k.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

export function mcpScope(k: KeyView): string {
  const mcps = k.scopes?.mcps;
  if (mcps === undefined || mcps === '*') return 'all';
  return listOrNone(mcps, 'none');
}

/** One line per MCP slug of a key's per-MCP policies (tools, resources or prompts). */
export function scopeLines(perMcp: Record<string, Policy> | undefined): string[] {
  const policies = perMcp ?? {};
  const lines = Object.keys(policies)
    .sort()
    .map((slug) => `${slug}: ${policySummary(policies[slug])}`);
  return lines.length > 0 ? lines : ['all (per MCP policy)'];
}

function rateLimitText(k: KeyView): string {
  if (k.rateLimitPerMinute === undefined) return 'plan default';
  // Without the operator's mark, the gateway applies the lower of this and the plan's.
  return `${k.rateLimitPerMinute}/min${k.rateLimitSetByOperator ? ' (set by the operator)' : ''}`;
}

export function keyTable(keys: readonly KeyView[], now: Date): string {
  return table(
    ['KEY ID', 'NAME', 'ROLE', 'MCPS', 'STATUS', 'EXPIRES', 'LAST USED'],
    keys.map((k) => [
      k.keyId,
      k.name,
      k.role,
      mcpScope(k),
      keyStatus(k, now),
      k.expiresAt ?? 'never',
      k.lastUsedAt ?? 'never',
    ]),
  );
}

export function keyBlock(k: KeyView, now: Date): string {
  const status = keyStatus(k, now);
  return block([
    ['Key ID', k.keyId],
    ['Org ID', k.orgId],
    ['Name', k.name],
    ['Role', k.role],
    ['MCPs', mcpScope(k)],
    ['Tools', scopeLines(k.scopes?.tools)],
    ['Resources', scopeLines(k.scopes?.resources)],
    ['Prompts', scopeLines(k.scopes?.prompts)],
    ['Rate limit', rateLimitText(k)],
    ['Expires', k.expiresAt ?? 'never'],
    ['Status', status === 'revoked' ? `revoked at ${k.revokedAt}` : status],
    ['Created', orDash(k.createdAt)],
    ['Last used', k.lastUsedAt ?? 'never'],
  ]);
}

// --- health and discovered tools -------------------------------------------------------------

/** The first line of `text`, at most `max` characters (`...` when shortened). */
export function shorten(text: string | undefined, max: number): string {
  const line = (text ?? '').trim().split(/\r?\n/, 1)[0] ?? '';
  return line.length <= max ? line : `${line.slice(0, Math.max(1, max - 3))}...`;
}

const plural = (n: number, noun: string): string => `${n} ${noun}${n === 1 ? '' : 's'}`;
const ms = (value: number | undefined): string => (value === undefined ? '-' : `${value} ms`);

export function healthReport(slug: string, view: McpHealth): string {
  const endpoints = [...(view.endpoints ?? [])].sort(
    (a, b) => a.endpointId.localeCompare(b.endpointId) || a.region.localeCompare(b.region),
  );
  const parts: string[] = [];
  if (endpoints.length === 0) {
    parts.push(`No health checks of MCP server ${slug} yet.\n`);
  } else {
    parts.push(
      table(
        ['ENDPOINT', 'REGION', 'STATUS', 'LAST CHECK', 'LATENCY', 'ERROR', 'FAILURES'],
        endpoints.map((e) => [
          e.endpointId,
          e.region,
          e.status,
          orDash(e.lastCheckAt),
          ms(e.latencyMs),
          orDash(e.errorClass),
          String(e.consecutiveFailures ?? 0),
        ]),
      ),
    );
  }
  const history = view.history ?? [];
  if (history.length === 0) {
    parts.push('No recent status changes.\n');
  } else {
    parts.push(
      'Recent status changes (newest first):\n' +
        table(
          ['AT', 'ENDPOINT', 'REGION', 'CHANGE', 'ERROR'],
          history.map((t) => [t.at, t.endpointId, t.region, `${t.from} -> ${t.to}`, orDash(t.errorClass)]),
        ),
    );
  }
  return parts.join('\n');
}

/** Discovered tools, resources and prompts; descriptions shortened to fit `width` columns. */
export function toolsReport(m: McpTools, width: number): string {
  const tools = m.tools ?? [];
  const resources = m.resources ?? [];
  const prompts = m.prompts ?? [];
  const fit = (names: readonly string[]) => Math.max(20, width - Math.max(4, ...names.map((n) => n.length)) - 2);
  const parts = [
    block([
      ['Hash', m.hash],
      ['Discovered', `${orDash(m.discoveredAt)} (region ${orDash(m.region)})`],
      ['Contents', [plural(tools.length, 'tool'), plural(resources.length, 'resource'), plural(prompts.length, 'prompt')].join(', ')],
    ]),
  ];
  if (tools.length > 0) {
    const room = fit(tools.map((t) => t.name));
    parts.push(table(['TOOL', 'DESCRIPTION'], tools.map((t) => [t.name, shorten(t.description ?? t.title, room)])));
  }
  if (resources.length > 0) {
    const room = fit(resources.map((r) => r.name));
    parts.push(table(['RESOURCE', 'URI / DESCRIPTION'], resources.map((r) => [r.name, shorten(r.uri ?? r.description, room)])));
  }
  if (prompts.length > 0) {
    const room = fit(prompts.map((p) => p.name));
    parts.push(table(['PROMPT', 'DESCRIPTION'], prompts.map((p) => [p.name, shorten(p.description, room)])));
  }
  return parts.join('\n');
}

// --- alert subscriptions -------------------------------------------------------------------

const EVENT_SHORT: Record<string, string> = { 'mcp.endpoint.status.changed': 'status', 'mcp.tools.changed': 'tools', 'webhook.endpoint.disabled': 'webhooks' };
export const eventsSummary = (events: readonly string[] | undefined): string =>
  listOrNone((events ?? []).map((e) => EVENT_SHORT[e] ?? e), 'none');

export function alertTable(items: readonly AlertView[]): string {
  return table(
    ['SUBSCRIPTION ID', 'TYPE', 'ADDRESS', 'EVENTS', 'CREATED'],
    items.map((a) => [a.subscriptionId, a.type, a.address, eventsSummary(a.events), orDash(a.createdAt)]),
  );
}
