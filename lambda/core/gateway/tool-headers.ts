/**
 * The `x-mcp-header` declarations of an MCP server's tools (MCP 2026-07-28), from the tool
 * definitions the health monitor discovered, so the gateway can check `Mcp-Param-*` headers
 * against the arguments. Read through a bounded cache: a tool list changes rarely, and the health
 * monitor refreshes it every minute.
 */
import { LRUCache } from 'lru-cache';
import type { ToolInfo } from '../health/model';
import { paramHeadersFromSchema, type ParamHeader } from './mcp-headers';

export interface ToolHeadersOptions {
  /** How long one MCP's declarations are used without reading them again. @default 60_000 */
  readonly ttlMs?: number;
  /** @default 1_000 */
  readonly maxEntries?: number;
}

type Declarations = ReadonlyMap<string, readonly ParamHeader[]>;

export class ToolParamHeaders {
  private readonly cache: LRUCache<string, Declarations>;

  constructor(
    /** The discovered tools of an MCP server, or undefined when none were discovered yet. */
    private readonly load: (orgId: string, slug: string) => Promise<{ readonly tools: readonly ToolInfo[] } | undefined>,
    options: ToolHeadersOptions = {},
  ) {
    this.cache = new LRUCache({ max: options.maxEntries ?? 1_000, ttl: Math.max(1, options.ttlMs ?? 60_000) });
  }

  /**
   * The declarations of tool `name`, or undefined when the gateway does not know them (no
   * discovered metadata, the tool is not in it, its schema was not stored, or its annotations are
   * invalid): its `Mcp-Param-*` headers are then checked in form only and forwarded.
   */
  async forTool(orgId: string, slug: string, name: string): Promise<readonly ParamHeader[] | undefined> {
    const key = `${orgId}#${slug}`;
    let declarations = this.cache.get(key);
    if (!declarations) {
      declarations = declarationsOf((await this.load(orgId, slug))?.tools ?? []);
      this.cache.set(key, declarations);
    }
    return declarations.get(name);
  }
}

function declarationsOf(tools: readonly ToolInfo[]): Declarations {
  const byName = new Map<string, readonly ParamHeader[]>();
  for (const tool of tools) {
    if (tool.inputSchema === undefined) continue;
    const result = paramHeadersFromSchema(tool.inputSchema);
    if (result.ok) byName.set(tool.name, result.params);
  }
  return byName;
}
