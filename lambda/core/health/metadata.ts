/**
 * Discovered MCP metadata: a hash that changes when (and only when) what a server offers
 * changes, a diff of its tools, and a bound on the size of what is stored. Pure: no I/O.
 *
 * Canonical form: every item is reduced to the fields of its type (`ToolInfo`: name, title,
 * description, inputSchema; `NamedItem`: name, uri, description), object keys are sorted
 * recursively, and the lists are sorted (tools and prompts by name, resources by uri then name),
 * so the order in which a server lists things never changes the hash. Arrays inside an
 * inputSchema keep their order (`enum` order can matter).
 */
import { createHash } from 'node:crypto';
import type { DiscoveredMetadata, NamedItem, ToolInfo } from './model';

/** Longest description kept by `boundMetadataForStorage` once the metadata is over its limit. */
export const STORED_DESCRIPTION_MAX_CHARS = 1_000;

/** Default size bound for stored metadata: DynamoDB items are limited to 400 KB. */
export const STORED_METADATA_MAX_BYTES = 300_000;

/** The SHA-256 (hex) of the canonical JSON of the three lists. */
export function hashMetadata(tools: readonly ToolInfo[], resources: readonly NamedItem[], prompts: readonly NamedItem[]): string {
  const canonical = canonicalJson({
    tools: sortTools(tools.map(toolFields)),
    resources: sortResources(resources.map(itemFields)),
    prompts: sortPrompts(prompts.map(itemFields)),
  });
  return createHash('sha256').update(canonical, 'utf8').digest('hex');
}

/**
 * The metadata record: the lists reduced to their fields, in canonical order (so stored
 * metadata and its truncation do not depend on the server's listing order), and their hash.
 */
export function buildMetadata(tools: readonly ToolInfo[], resources: readonly NamedItem[], prompts: readonly NamedItem[]): DiscoveredMetadata {
  return {
    tools: sortTools(tools.map(toolFields)),
    resources: sortResources(resources.map(itemFields)),
    prompts: sortPrompts(prompts.map(itemFields)),
    hash: hashMetadata(tools, resources, prompts),
  };
}

export interface ToolDiff {
  /** Names only in `next`, sorted. */
  readonly added: string[];
  /** Names only in `previous`, sorted. */
  readonly removed: string[];
  /** Names in both whose canonical definition (title, description, inputSchema) differs, sorted. */
  readonly changed: string[];
}

/**
 * What changed between two tool lists, by name. With no `previous` (first discovery) every tool
 * is added. When a name appears twice in one list, the last definition counts.
 *
 * Compare like with like: a `previous` that went through `boundMetadataForStorage` may have
 * shortened descriptions or lost its schemas, which shows here as `changed`; check the hashes
 * first (they are computed before bounding) and diff only when they differ.
 */
export function diffTools(previous: readonly ToolInfo[] | undefined, next: readonly ToolInfo[]): ToolDiff {
  const before = definitions(previous ?? []);
  const after = definitions(next);
  const added: string[] = [];
  const removed: string[] = [];
  const changed: string[] = [];
  for (const [name, definition] of after) {
    const old = before.get(name);
    if (old === undefined) added.push(name);
    else if (old !== definition) changed.push(name);
  }
  for (const name of before.keys()) if (!after.has(name)) removed.push(name);
  return { added: added.sort(compareStrings), removed: removed.sort(compareStrings), changed: changed.sort(compareStrings) };
}

/**
 * Metadata that fits `maxBytes` of JSON (UTF-8), for storing in one DynamoDB item. The hash is
 * kept as it is (it describes what the server offered, not what was stored). Steps, each taken
 * only while the JSON is still too large:
 *
 * 1. every description (tools, resources, prompts) is cut to 1,000 characters;
 * 2. every tool's inputSchema is dropped;
 * 3. items are dropped from the end: prompts first, then resources, then tools (tools matter most).
 *
 * If even empty lists do not fit (a `maxBytes` below ~120), the empty lists are returned.
 */
export function boundMetadataForStorage(m: DiscoveredMetadata, maxBytes: number = STORED_METADATA_MAX_BYTES): DiscoveredMetadata {
  if (jsonBytes(m) <= maxBytes) return m;

  const truncated: DiscoveredMetadata = {
    tools: m.tools.map((t) => withDescription(t)),
    resources: m.resources.map((r) => withDescription(r)),
    prompts: m.prompts.map((p) => withDescription(p)),
    hash: m.hash,
  };
  if (jsonBytes(truncated) <= maxBytes) return truncated;

  const schemaless: DiscoveredMetadata = {
    ...truncated,
    tools: truncated.tools.map(({ inputSchema: _dropped, ...rest }) => rest),
  };
  const size = jsonBytes(schemaless);
  if (size <= maxBytes) return schemaless;

  // Drop trailing items, keeping count of the bytes: an item costs its JSON plus the comma that
  // separates it from the one before (the first item of a list has none).
  const lists = { tools: [...schemaless.tools], resources: [...schemaless.resources], prompts: [...schemaless.prompts] };
  let total = size;
  for (const key of ['prompts', 'resources', 'tools'] as const) {
    const list: unknown[] = lists[key];
    while (total > maxBytes && list.length > 0) {
      const item = list.pop();
      total -= Buffer.byteLength(JSON.stringify(item), 'utf8') + (list.length > 0 ? 1 : 0);
    }
  }
  const bounded: DiscoveredMetadata = { ...lists, hash: m.hash };
  // The arithmetic above is exact for JSON.stringify; this only guards against a mistake in it.
  while (jsonBytes(bounded) > maxBytes && (bounded.tools.length > 0 || bounded.resources.length > 0 || bounded.prompts.length > 0)) {
    if (bounded.prompts.length > 0) bounded.prompts.pop();
    else if (bounded.resources.length > 0) bounded.resources.pop();
    else bounded.tools.pop();
  }
  return bounded;
}

// ---------------------------------------------------------------------------------------------

function toolFields(tool: ToolInfo): ToolInfo {
  return {
    name: tool.name,
    ...(tool.title !== undefined ? { title: tool.title } : {}),
    ...(tool.description !== undefined ? { description: tool.description } : {}),
    ...(tool.inputSchema !== undefined ? { inputSchema: tool.inputSchema } : {}),
  };
}

function itemFields(item: NamedItem): NamedItem {
  return {
    name: item.name,
    ...(item.uri !== undefined ? { uri: item.uri } : {}),
    ...(item.description !== undefined ? { description: item.description } : {}),
  };
}

/** Sorts by `keys`, then by the whole canonical JSON, so that even duplicates have one order. */
function sortBy<T extends object>(items: T[], keys: (item: T) => string[]): T[] {
  const decorated = items.map((item) => ({ item, keys: keys(item), json: canonicalJson(item) }));
  decorated.sort((a, b) => {
    for (let i = 0; i < a.keys.length; i++) {
      const order = compareStrings(a.keys[i]!, b.keys[i]!);
      if (order !== 0) return order;
    }
    return compareStrings(a.json, b.json);
  });
  return decorated.map((d) => d.item);
}

const sortTools = (tools: ToolInfo[]) => sortBy(tools, (t) => [t.name]);
const sortPrompts = (prompts: NamedItem[]) => sortBy(prompts, (p) => [p.name]);
const sortResources = (resources: NamedItem[]) => sortBy(resources, (r) => [r.uri ?? '', r.name]);

/** Code-unit order: the same everywhere, unlike `localeCompare`. */
function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON with object keys sorted at every depth; `undefined` properties are left out, as JSON.stringify does. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  // No prototype, so that a `__proto__` key (JSON.parse makes it an own property) stays a key.
  const sorted: Record<string, unknown> = Object.create(null);
  for (const key of Object.keys(value).sort(compareStrings)) sorted[key] = sortKeys((value as Record<string, unknown>)[key]);
  return sorted;
}

function definitions(tools: readonly ToolInfo[]): Map<string, string> {
  const map = new Map<string, string>();
  for (const tool of tools) map.set(tool.name, canonicalJson(toolFields(tool)));
  return map;
}

function withDescription<T extends { readonly description?: string }>(item: T): T {
  const description = item.description;
  if (description === undefined || description.length <= STORED_DESCRIPTION_MAX_CHARS) return item;
  let end = STORED_DESCRIPTION_MAX_CHARS;
  // Do not cut a surrogate pair in half.
  const last = description.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return { ...item, description: description.slice(0, end) };
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value), 'utf8');
}
