/**
 * The OAuth scopes of an MCP server behind the gateway, and which of them a request needs. A
 * token for the resource may do what needs no scope (initialize, ping, notifications, the lists,
 * completion, logging); calling tools, reading resources and getting prompts each need their own.
 * What the grant's policies allow within them is decided afterwards, as for an API key.
 */
import type { InspectedMessage } from '../gateway/jsonrpc';

export const MCP_SCOPES = ['mcp:tools', 'mcp:resources', 'mcp:prompts'] as const;
export type McpScope = (typeof MCP_SCOPES)[number];

const SCOPE_OF_METHOD: Readonly<Record<string, McpScope>> = {
  'tools/call': 'mcp:tools',
  'resources/read': 'mcp:resources',
  'resources/subscribe': 'mcp:resources',
  'resources/unsubscribe': 'mcp:resources',
  'prompts/get': 'mcp:prompts',
};

/** The scopes the requests among `messages` need (each once, in MCP_SCOPES order). */
export function scopesNeeded(messages: readonly InspectedMessage[]): McpScope[] {
  const needed = new Set<McpScope>();
  for (const message of messages) {
    if (message.kind !== 'request' || message.method === undefined) continue;
    const scope = SCOPE_OF_METHOD[message.method];
    if (scope) needed.add(scope);
    // A 2026-07-28 subscriptions/listen stream that names resources reads them as they change.
    if (message.method === 'subscriptions/listen' && message.subscriptionUris !== undefined) needed.add('mcp:resources');
  }
  return MCP_SCOPES.filter((scope) => needed.has(scope));
}

/** The needed scopes that `granted` lacks. */
export function missingScopes(needed: readonly McpScope[], granted: ReadonlySet<string>): McpScope[] {
  return needed.filter((scope) => !granted.has(scope));
}

/** Space-separated scopes as a set, dropping what is not one of ours. */
export function parseScopes(scope: string | undefined): Set<McpScope> {
  const known = new Set<string>(MCP_SCOPES);
  return new Set((scope ?? '').split(' ').filter((s): s is McpScope => known.has(s)));
}
