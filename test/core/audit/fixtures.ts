import { type AuditEntry, type AuditEntryDraft, GENESIS_HASH, sealEntry } from '../../../lambda/core/audit/entry';

/** A draft like the admin API will record: an MCP update with one plain and one secret change. */
export function draft(n: number): AuditEntryDraft {
  return {
    time: new Date(Date.UTC(2026, 11, 1, 12, 0, n)).toISOString(),
    actor: n % 2 === 0 ? { kind: 'operator' } : { kind: 'key', keyId: `key_${n}`, name: 'ci deploy' },
    sourceIp: '203.0.113.7',
    requestId: `req-${n}`,
    action: 'mcp.updated',
    target: { type: 'mcp', id: `weather-${n}` },
    changes: [{ field: 'timeoutMs', old: 1000, new: 1000 + n }, { field: 'upstreamAuth', secret: true }],
  };
}

/** A valid chain of `count` entries for one org, built the way the store builds it. */
export function chain(count: number, orgId = 'acme'): AuditEntry[] {
  const entries: AuditEntry[] = [];
  for (let seq = 1; seq <= count; seq++) {
    entries.push(sealEntry({ ...draft(seq), orgId, seq, prevHash: entries.at(-1)?.hash ?? GENESIS_HASH }));
  }
  return entries;
}
