/**
 * Which tools a caller may see and call: glob patterns from the MCP server's own policy and from
 * the API key's scopes, all of which must agree.
 */
import type { ToolPolicy } from '../model';

/**
 * Whether `name` matches `pattern`, where `*` matches any run of characters (including none) and
 * every other character, `.` and `?` included, matches only itself. Anchored at both ends and
 * case-sensitive. No regular expression is built: the pattern is split at its stars, the first
 * piece must be a prefix, the last a suffix, and the pieces between are found left to right,
 * each at its leftmost place (which is always the best place when the only wildcard is `*`), so
 * the time is linear in the name for any pattern.
 */
export function globMatch(pattern: string, name: string): boolean {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return pattern === name;
  const head = pieces[0];
  const tail = pieces[pieces.length - 1];
  if (name.length < head.length + tail.length) return false;
  if (!name.startsWith(head) || !name.endsWith(tail)) return false;
  let from = head.length;
  const limit = name.length - tail.length;
  for (let k = 1; k < pieces.length - 1; k++) {
    const piece = pieces[k];
    if (piece === '') continue;
    const at = name.indexOf(piece, from);
    if (at < 0 || at + piece.length > limit) return false;
    from = at + piece.length;
  }
  return true;
}

/**
 * Allowed iff, for every policy, the name matches one of its `allow` patterns (an empty `allow`
 * list allows everything) and none of its `deny` patterns. No policies allows everything.
 */
export function toolAllowed(name: string, policies: readonly ToolPolicy[]): boolean {
  return policies.every((policy) => {
    const allow = policy.allow ?? [];
    const deny = policy.deny ?? [];
    if (allow.length > 0 && !allow.some((pattern) => globMatch(pattern, name))) return false;
    return !deny.some((pattern) => globMatch(pattern, name));
  });
}

/**
 * The policies that apply to calls through `key` to `mcp`: the MCP's own, the key's `*` policy
 * and the key's policy for this MCP's slug, those that exist. Only the key's own entries count
 * (a slug such as `constructor` never finds something on Object.prototype).
 */
export function policiesFor(
  mcp: { readonly slug: string; readonly toolPolicy: ToolPolicy },
  key: { readonly scopes: { readonly tools: Readonly<Record<string, ToolPolicy>> } },
): ToolPolicy[] {
  const policies: ToolPolicy[] = [];
  if (mcp.toolPolicy) policies.push(mcp.toolPolicy);
  const tools = key.scopes.tools ?? {};
  if (Object.hasOwn(tools, '*')) policies.push(tools['*']);
  if (mcp.slug !== '*' && Object.hasOwn(tools, mcp.slug)) policies.push(tools[mcp.slug]);
  return policies;
}
