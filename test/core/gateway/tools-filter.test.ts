// The former tools/list-only API, kept over list-filter.ts until the gateway switches.
import { EVERY_REQUEST_ID, filterToolsListJson, SseEventTooLargeError, toolsListSseFilter } from '../../../lambda/core/gateway/tools-filter';
import * as listFilter from '../../../lambda/core/gateway/list-filter';

const allowed = (name: string) => !name.startsWith('admin_');
const ids = (...list: unknown[]) => new Set(list.map((id) => JSON.stringify(id)));
const body = (id: unknown, key = 'tools') => JSON.stringify({ jsonrpc: '2.0', id, result: { [key]: [{ name: 'admin_x', uri: 'admin_x' }, { name: 'ok', uri: 'ok' }] } });
const filtered = (id: unknown, key = 'tools') => JSON.stringify({ jsonrpc: '2.0', id, result: { [key]: [{ name: 'ok', uri: 'ok' }] } });

async function sse(text: string, requestIds: ReadonlySet<string>): Promise<string> {
  const out = new Response(new Response(text).body!.pipeThrough(toolsListSseFilter(requestIds, allowed)));
  return out.text();
}

describe('tools-filter (compatibility layer)', () => {
  it('filters tools/list answers to the given ids with the given predicate', () => {
    expect(filterToolsListJson(body(1), ids(1), allowed)).toBe(filtered(1));
    expect(filterToolsListJson(body('1'), ids(1), allowed)).toBe(body('1'));
    expect(filterToolsListJson(body(1), new Set(), allowed)).toBe(body(1));
    expect(filterToolsListJson(body(7), EVERY_REQUEST_ID, allowed)).toBe(filtered(7));
  });

  it('filters only tools: the predicate knows nothing of the other lists', () => {
    for (const key of ['resources', 'prompts']) expect(filterToolsListJson(body(1, key), EVERY_REQUEST_ID, allowed)).toBe(body(1, key));
  });

  it('filters event streams the same way', async () => {
    expect(await sse(`id: 1\ndata: ${body(1)}\n\n`, ids(1))).toBe(`id: 1\ndata: ${filtered(1)}\n\n`);
    expect(await sse(`data: ${body(3)}\n\n`, EVERY_REQUEST_ID)).toBe(`data: ${filtered(3)}\n\n`);
    const note = JSON.stringify({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'admin_x' } });
    expect(await sse(`data: ${note}\n\n`, EVERY_REQUEST_ID)).toBe(`data: ${note}\n\n`);
  });

  it('shares the error class and cap with list-filter', () => {
    expect(SseEventTooLargeError).toBe(listFilter.SseEventTooLargeError);
  });
});
