/**
 * The former `tools/list`-only filter, kept as a thin layer over list-filter.ts until the
 * gateway calls `filterListJson` / `listSseFilter` with an `Access` (then this file goes).
 */
import type { Access } from './feature-policy';
import { filterListJson, listSseFilter, type ListRequests, type ListSseFilterOptions } from './list-filter';

export { DEFAULT_MAX_SSE_EVENT_BYTES, SseEventTooLargeError } from './list-filter';
export type ToolsListSseFilterOptions = ListSseFilterOptions;
export type ToolNamePredicate = (toolName: string) => boolean;

/** A set of request ids that holds every id. */
class EveryId extends Set<string> {
  override has(): boolean {
    return true;
  }
}

/** Stands for every request id (a GET stream): every response whose `result.tools` is an array is filtered. */
export const EVERY_REQUEST_ID: ReadonlySet<string> = new EveryId(['*']);

function asList(requestIds: ReadonlySet<string>): ListRequests {
  if (requestIds instanceof EveryId) return 'every';
  return new Map([...requestIds].map((id) => [id, 'tools/list']));
}

function toolsOnly(allowed: ToolNamePredicate): Access {
  return { tool: allowed, resource: () => true, prompt: () => true, restricts: { tools: true, resources: false, prompts: false } };
}

/** `filterListJson` for `tools/list` answers with ids in `requestIds` and a tool predicate. */
export function filterToolsListJson(body: string, requestIds: ReadonlySet<string>, allowed: ToolNamePredicate): string {
  return filterListJson(body, asList(requestIds), toolsOnly(allowed));
}

/** `listSseFilter` for `tools/list` answers with ids in `requestIds` and a tool predicate. */
export function toolsListSseFilter(
  requestIds: ReadonlySet<string>,
  allowed: ToolNamePredicate,
  options: ToolsListSseFilterOptions = {},
): TransformStream<Uint8Array, Uint8Array> {
  return listSseFilter(asList(requestIds), toolsOnly(allowed), options);
}
