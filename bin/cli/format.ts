/**
 * Human output: aligned tables for lists and `label: value` blocks for single items.
 * Nothing here ever prints a secret: the admin API returns none (except a new key's secret,
 * which the `key create` command prints itself).
 */
import type { ApiKey, McpServer, Org, ToolPolicy } from '../../lambda/core/model';

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

export function orgTable(orgs: readonly Org[]): string {
  return table(
    ['ORG ID', 'NAME', 'PLAN', 'IP ALLOWLIST', 'CREATED'],
    orgs.map((o) => [o.orgId, o.name, o.plan, listOrNone(o.ipAllowlist, 'any'), orDash(o.createdAt)]),
  );
}

export function orgBlock(o: Org): string {
  return block([
    ['Org ID', o.orgId],
    ['Name', o.name],
    ['Plan', o.plan],
    ['IP allowlist', listOrNone(o.ipAllowlist, 'any address')],
    ['Created', orDash(o.createdAt)],
    ['Updated', orDash(o.updatedAt)],
  ]);
}

// --- MCP servers ---------------------------------------------------------------------------

export function authSummary(m: Pick<McpServer, 'upstreamAuth' | 'hasUpstreamSecret'>): string {
  const auth = m.upstreamAuth ?? { type: 'none' };
  let text: string = auth.type;
  if (auth.type === 'header') text += ` (${auth.headerName})`;
  if (auth.type === 'basic') text += ` (user ${auth.username})`;
  if (auth.type !== 'none') text += m.hasUpstreamSecret ? ', secret set' : ', NO SECRET SET';
  return text;
}

export function policySummary(p: ToolPolicy | undefined): string {
  const allow = listOrNone(p?.allow, 'all');
  return p?.deny && p.deny.length > 0 ? `allow ${allow}; deny ${p.deny.join(', ')}` : `allow ${allow}`;
}

export function mcpTable(mcps: readonly McpServer[]): string {
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

export function mcpBlock(m: McpServer): string {
  const endpoints = (m.endpoints ?? []).map((e) => `${e.id}  ${e.url}  (weight ${e.weight})`);
  const t = m.timeouts;
  return block([
    ['Slug', m.slug],
    ['Org ID', m.orgId],
    ['Name', orDash(m.displayName)],
    ['Endpoints', endpoints.length > 0 ? endpoints : ['none']],
    ['Upstream auth', authSummary(m)],
    ['Allowed tools', listOrNone(m.toolPolicy?.allow, 'all')],
    ['Denied tools', listOrNone(m.toolPolicy?.deny, 'none')],
    ['Timeouts', t ? `connect ${t.connectMs} ms, first byte ${t.firstByteMs} ms, idle ${t.idleMs} ms` : '-'],
    ['Created', orDash(m.createdAt)],
    ['Updated', orDash(m.updatedAt)],
  ]);
}

// --- API keys ------------------------------------------------------------------------------

export function keyStatus(k: ApiKey, now: Date): string {
  if (k.revokedAt) return 'revoked';
  if (k.expiresAt && Date.parse(k.expiresAt) <= now.getTime()) return 'expired';
  return 'active';
}

export function mcpScope(k: ApiKey): string {
  const mcps = k.scopes?.mcps;
  if (mcps === undefined || mcps === '*') return 'all';
  return listOrNone(mcps, 'none');
}

export function toolScopes(k: ApiKey): string[] {
  const tools = k.scopes?.tools ?? {};
  const lines = Object.keys(tools)
    .sort()
    .map((slug) => `${slug}: ${policySummary(tools[slug])}`);
  return lines.length > 0 ? lines : ['all (per MCP policy)'];
}

export function keyTable(keys: readonly ApiKey[], now: Date): string {
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

export function keyBlock(k: ApiKey, now: Date): string {
  const status = keyStatus(k, now);
  return block([
    ['Key ID', k.keyId],
    ['Org ID', k.orgId],
    ['Name', k.name],
    ['Role', k.role],
    ['MCPs', mcpScope(k)],
    ['Tools', toolScopes(k)],
    ['Rate limit', k.rateLimitPerMinute !== undefined ? `${k.rateLimitPerMinute}/min` : 'plan default'],
    ['Expires', k.expiresAt ?? 'never'],
    ['Status', status === 'revoked' ? `revoked at ${k.revokedAt}` : status],
    ['Created', orDash(k.createdAt)],
    ['Last used', k.lastUsedAt ?? 'never'],
  ]);
}
