/**
 * What a caller may use on an MCP server: tools (by name), resources (by URI) and prompts (by
 * name), from glob patterns in the MCP server's own policies and in the API key's scopes, all of
 * which must agree. `accessFor` turns the records into predicates once per request;
 * `authorizeMessage` applies them to one inspected JSON-RPC message.
 *
 * Everything here is pure and linear in its input for a fixed set of patterns.
 */
import type { FeaturePolicy, KeyScopes, McpServer } from '../model';
import type { InspectedMessage } from './jsonrpc';

/**
 * The longest resource URI (in UTF-16 code units) that a resource policy accepts. Longer ones are
 * refused, and dropped from lists, whenever a resource policy applies: no legitimate resource
 * needs more, and it bounds the work per check.
 */
export const MAX_RESOURCE_URI_LENGTH = 8192;

type Matcher = (value: string) => boolean;

/**
 * A matcher for `pattern`, where `*` matches any run of characters (including none) and every
 * other character, `.` and `?` included, matches only itself. Anchored at both ends and
 * case-sensitive. No regular expression is built: the pattern is split at its stars, the first
 * piece must be a prefix, the last a suffix, and the pieces between are found left to right,
 * each at its leftmost place (which is always the best place when the only wildcard is `*`), so
 * the time is linear in the value for any pattern.
 */
export function compileGlob(pattern: string): Matcher {
  const pieces = pattern.split('*');
  if (pieces.length === 1) return (value) => value === pattern;
  const head = pieces[0];
  const tail = pieces[pieces.length - 1];
  const middle = pieces.slice(1, -1).filter((piece) => piece !== '');
  const fixed = head.length + tail.length;
  return (value) => {
    if (value.length < fixed || !value.startsWith(head) || !value.endsWith(tail)) return false;
    let from = head.length;
    const limit = value.length - tail.length;
    for (const piece of middle) {
      const at = value.indexOf(piece, from);
      if (at < 0 || at + piece.length > limit) return false;
      from = at + piece.length;
    }
    return true;
  };
}

export type Feature = 'tools' | 'resources' | 'prompts';

/** The parts of an MCP server record that policies read. */
export type PolicyMcp = Pick<McpServer, 'slug' | 'toolPolicy'> & Partial<Pick<McpServer, 'resourcePolicy' | 'promptPolicy'>>;
/** The parts of an API key record that policies read. */
export interface PolicyKey {
  readonly scopes: Pick<KeyScopes, 'tools'> & Partial<Pick<KeyScopes, 'resources' | 'prompts'>>;
}

const MCP_POLICY = { tools: 'toolPolicy', resources: 'resourcePolicy', prompts: 'promptPolicy' } as const;

/** The key's own policies for `feature` on the MCP `slug`: its `*` entry and its entry for the slug, those that exist. */
function keyPolicies(key: PolicyKey, slug: string, feature: Feature): FeaturePolicy[] {
  const scoped = key.scopes[feature];
  if (!scoped) return [];
  const policies: FeaturePolicy[] = [];
  if (Object.hasOwn(scoped, '*')) policies.push(scoped['*']);
  if (slug !== '*' && Object.hasOwn(scoped, slug)) policies.push(scoped[slug]);
  return policies;
}

const FEATURES: readonly Feature[] = ['tools', 'resources', 'prompts'];
/** Refuses every value: what an allow-list key gets for a feature it names nothing for. */
const CLOSED: FeaturePolicy = { allow: [], deny: ['*'] };

/**
 * The policies that apply to `feature` through `key` on `mcp`: the MCP's own, the key's `*` entry
 * and the key's entry for this MCP's slug, those that exist. Only the key's own entries count (a
 * slug such as `constructor` never finds something on Object.prototype).
 *
 * A key that allow-lists anything on this MCP (an `allow` pattern for any feature) is an allow-list
 * key there: a feature it has no entry for is closed to it, so a key allowed only the tool `count`
 * cannot read resources or fetch prompts (`allow: ['*']` opens a feature again). Deny-only scopes
 * subtract and close nothing else.
 */
export function featurePolicies(mcp: PolicyMcp, key: PolicyKey, feature: Feature): FeaturePolicy[] {
  const policies: FeaturePolicy[] = [];
  const own = mcp[MCP_POLICY[feature]];
  if (own) policies.push(own);
  const mine = keyPolicies(key, mcp.slug, feature);
  if (mine.length > 0) return [...policies, ...mine];
  const allowListKey = FEATURES.some((other) => keyPolicies(key, mcp.slug, other).some((p) => (p.allow ?? []).length > 0));
  if (allowListKey) policies.push(CLOSED);
  return policies;
}

/** What one (MCP server, API key) pair may use. */
export interface Access {
  /** Whether the tool `name` may be listed and called. */
  tool(name: string): boolean;
  /**
   * Whether the resource (or resource template) `uri` may be listed, read, subscribed to and
   * completed. Matched as sent; see `accessFor` for the rules.
   */
  resource(uri: string): boolean;
  /** Whether the prompt `name` may be listed, fetched and completed. */
  prompt(name: string): boolean;
  /** Per feature, whether any allow or deny pattern applies (when not, nothing needs filtering). */
  readonly restricts: { readonly tools: boolean; readonly resources: boolean; readonly prompts: boolean };
}

interface Compiled {
  readonly allow: Matcher[];
  readonly deny: Matcher[];
}

/** The policies that restrict anything, compiled; an empty result means no restriction. */
function compile(policies: readonly FeaturePolicy[], spell: (pattern: string) => string = (p) => p): Compiled[] {
  return policies
    .map((policy) => ({ allow: (policy.allow ?? []).map((p) => compileGlob(spell(p))), deny: (policy.deny ?? []).map((p) => compileGlob(spell(p))) }))
    .filter((policy) => policy.allow.length > 0 || policy.deny.length > 0);
}

function allowedBy(policies: readonly Compiled[], value: string): boolean {
  return policies.every((policy) => (policy.allow.length === 0 || policy.allow.some((m) => m(value))) && !policy.deny.some((m) => m(value)));
}

// Control characters (C0 and DEL): an upstream written in C may stop reading at a NUL, and a
// line-based one at a line break, and then read a different URI from the one matched.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/**
 * Whether `uri` has a `.` or `..` path segment, spelled plainly or percent-encoded (`%2e`), with
 * `/`, `\`, `%2f` or `%5c` as separators, including `..;x` (path parameters). An upstream that
 * resolves such segments would read something other than what the literal URI names:
 * `file:///public/../secret` matches the pattern `file:///public/*`. Only the part before `?` or
 * `#` is a path.
 */
export function hasDotSegment(uri: string): boolean {
  let end = uri.length;
  for (let i = 0; i < uri.length; i++) {
    const c = uri.charCodeAt(i);
    if (c === 0x3f || c === 0x23) {
      end = i;
      break;
    }
  }
  const path = uri.slice(0, end).replace(/%2e/gi, '.').replace(/%2f|%5c|\\/gi, '/');
  for (const raw of path.split('/')) {
    const semicolon = raw.indexOf(';');
    const segment = semicolon < 0 ? raw : raw.slice(0, semicolon);
    if (segment === '.' || segment === '..') return true;
  }
  return false;
}

/**
 * Another spelling of `uri` for deny patterns only: lower case, backslashes as slashes and
 * percent-encoded printable ASCII decoded (one level). Upstreams commonly treat these spellings
 * as the same resource (RFC 3986 makes scheme and host case-insensitive; file systems may be; many
 * servers decode before they look up), so `FILE:///Secret` or `file:///%73ecret` must not slip
 * past a deny of `file:///secret*`.
 */
export function looseSpelling(text: string): string {
  return text
    .replace(/%([2-7][0-9a-f])/gi, (match, hex: string) => {
      const code = parseInt(hex, 16);
      return code > 0x20 && code < 0x7f ? String.fromCharCode(code) : match;
    })
    .replace(/\\/g, '/')
    .toLowerCase();
}

/**
 * The access of `key` to `mcp`.
 *
 * Tools and prompts: a name is allowed iff every applicable policy allows it (see
 * `toolAllowed`), matched exactly as sent.
 *
 * Resources: patterns match the literal URI the client sent, which is the URI the upstream
 * receives; no normalisation is applied before an `allow` pattern is checked, so another spelling
 * of an allowed URI (upper-case scheme, percent-encoding) is simply not allowed. `deny` patterns
 * are checked against the literal URI and against its loose spelling (`looseSpelling`, with the
 * pattern spelled the same way), so other spellings of a denied URI are denied too. While any
 * resource policy applies, a URI is also refused when it is longer than
 * `MAX_RESOURCE_URI_LENGTH`, holds a control character, or has a dot segment (`hasDotSegment`).
 * Resource templates (`resources/templates/list`, `completion/complete` refs) are checked the
 * same way on the template string itself.
 */
export function accessFor(mcp: PolicyMcp, key: PolicyKey): Access {
  const tools = compile(featurePolicies(mcp, key, 'tools'));
  const prompts = compile(featurePolicies(mcp, key, 'prompts'));
  const resourcePolicies = featurePolicies(mcp, key, 'resources');
  const resources = compile(resourcePolicies);
  const looseDeny = compile(
    resourcePolicies.map((policy) => ({ allow: [], deny: policy.deny ?? [] })),
    looseSpelling,
  ).flatMap((policy) => policy.deny);

  return {
    tool: tools.length === 0 ? () => true : (name) => allowedBy(tools, name),
    prompt: prompts.length === 0 ? () => true : (name) => allowedBy(prompts, name),
    resource:
      resources.length === 0
        ? () => true
        : (uri) => {
            if (uri.length > MAX_RESOURCE_URI_LENGTH || CONTROL.test(uri) || hasDotSegment(uri)) return false;
            if (!allowedBy(resources, uri)) return false;
            if (looseDeny.length === 0) return true;
            const loose = looseSpelling(uri);
            return !looseDeny.some((m) => m(loose));
          },
    restricts: { tools: tools.length > 0, resources: resources.length > 0, prompts: prompts.length > 0 },
  };
}

/** An access that allows everything (a key and MCP without any policy). */
export const UNRESTRICTED: Access = accessFor({ slug: '*', toolPolicy: { allow: [], deny: [] } }, { scopes: { tools: {} } });

export type Refusal = 'forbidden_tool' | 'forbidden_resource' | 'forbidden_prompt';

/**
 * Whether `access` permits `message` (a request or notification from the client; responses are
 * always permitted). Checked methods:
 * - `tools/call`: `params.name` by the tool policy;
 * - `resources/read`, `resources/subscribe`: `params.uri` by the resource policy
 *   (`resources/unsubscribe` is always permitted: it can only reduce what the client receives);
 * - `subscriptions/listen` (2026-07-28): every URI of `params.notifications.resourceSubscriptions`;
 * - `prompts/get`: `params.name` by the prompt policy;
 * - `completion/complete`: `params.ref` — `ref/prompt` by its `name` with the prompt policy,
 *   `ref/resource` by its `uri` (a URI template) with the resource policy.
 * A name or URI that is missing or not a string fails closed (refused even when nothing is
 * restricted: the message cannot be shown to be permitted), and so does a completion ref of any
 * other type (refused as `forbidden_prompt`) and a `resourceSubscriptions` that is not an array
 * of strings. Returns the refusal's error code, or undefined when permitted.
 */
export function authorizeMessage(message: InspectedMessage, access: Access): Refusal | undefined {
  switch (message.method) {
    case 'tools/call':
      return message.toolName !== undefined && access.tool(message.toolName) ? undefined : 'forbidden_tool';
    case 'resources/read':
    case 'resources/subscribe':
      return message.resourceUri !== undefined && access.resource(message.resourceUri) ? undefined : 'forbidden_resource';
    case 'prompts/get':
      return message.promptName !== undefined && access.prompt(message.promptName) ? undefined : 'forbidden_prompt';
    case 'completion/complete': {
      const ref = message.completionRef;
      if (ref?.kind === 'resource') return ref.uri !== undefined && access.resource(ref.uri) ? undefined : 'forbidden_resource';
      if (ref?.kind === 'prompt') return ref.name !== undefined && access.prompt(ref.name) ? undefined : 'forbidden_prompt';
      return 'forbidden_prompt';
    }
    case 'subscriptions/listen': {
      const uris = message.subscriptionUris;
      if (uris === undefined) return undefined;
      if (uris === 'invalid') return 'forbidden_resource';
      for (const uri of uris) if (!access.resource(uri)) return 'forbidden_resource';
      return undefined;
    }
    default:
      return undefined;
  }
}

/** The first refusal among `messages` (a body's messages, batch or not), or undefined. */
export function authorizeMessages(messages: readonly InspectedMessage[], access: Access): Refusal | undefined {
  for (const message of messages) {
    const refusal = authorizeMessage(message, access);
    if (refusal) return refusal;
  }
  return undefined;
}
