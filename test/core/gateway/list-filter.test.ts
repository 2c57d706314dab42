import { accessFor, type Access } from '../../../lambda/core/gateway/feature-policy';
import { findDuplicateKey, idKey } from '../../../lambda/core/gateway/jsonrpc';
import {
  DEFAULT_MAX_SSE_EVENT_BYTES,
  filterListJson,
  listSseFilter,
  SseEventTooLargeError,
  type ListRequests,
} from '../../../lambda/core/gateway/list-filter';

const allowed = (name: string) => !name.startsWith('admin_');
/** The real access of a key whose MCP denies `admin_*` tools (the same as `allowed`). */
const tools = accessFor({ slug: 'm', toolPolicy: { allow: [], deny: ['admin_*'] } }, { scopes: { tools: {} } });
/** An access restricting tools by any predicate. */
const toolsWhere = (tool: (name: string) => boolean): Access => ({
  tool,
  resource: () => true,
  prompt: () => true,
  restricts: { tools: true, resources: false, prompts: false },
});
/** `tools/list` requests with these ids. */
const ids = (...list: (string | number)[]): ListRequests => new Map(list.map((id) => [idKey(id), 'tools/list']));

const tool = (name: string) => ({ name, description: `does ${name}`, inputSchema: { type: 'object', properties: {} } });
const toolsResponse = (id: unknown, names: string[], extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  result: { tools: names.map(tool), ...extra },
});
const json = (value: unknown) => JSON.stringify(value);
const namesIn = (body: string): string[] => (JSON.parse(body).result.tools as { name: string }[]).map((t) => t.name);

describe('filterListJson: tools/list', () => {
  it('drops the tools that are not allowed and keeps everything else', () => {
    const body = json(toolsResponse(1, ['get', 'admin_wipe', 'list', 'admin_x'], { nextCursor: 'page-2', _meta: { k: 1 } }));
    const out = filterListJson(body, ids(1), tools);
    expect(out).toBe(json(toolsResponse(1, ['get', 'list'], { nextCursor: 'page-2', _meta: { k: 1 } })));
  });

  it('keeps the layout of a pretty-printed body', () => {
    const body = JSON.stringify(toolsResponse('r', ['admin_a', 'b', 'admin_c', 'd', 'admin_e'], { nextCursor: 'n' }), null, 2);
    expect(filterListJson(body, ids('r'), tools)).toBe(JSON.stringify(toolsResponse('r', ['b', 'd'], { nextCursor: 'n' }), null, 2));
  });

  it('keeps what a JavaScript number cannot hold, byte for byte', () => {
    const body =
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"},' +
      '{"name":"count","inputSchema":{"type":"integer","maximum":18446744073709551615,"minimum":-0,"multipleOf":1.10}}]}}';
    expect(filterListJson(body, ids(1), tools)).toBe(
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[' +
        '{"name":"count","inputSchema":{"type":"integer","maximum":18446744073709551615,"minimum":-0,"multipleOf":1.10}}]}}',
    );
  });

  it('tells the number 1 from the string "1"', () => {
    const numeric = json(toolsResponse(1, ['a', 'admin_b']));
    const textual = json(toolsResponse('1', ['a', 'admin_b']));
    expect(namesIn(filterListJson(numeric, ids(1), tools))).toEqual(['a']);
    expect(filterListJson(textual, ids(1), tools)).toBe(textual);
    expect(namesIn(filterListJson(textual, ids('1'), tools))).toEqual(['a']);
    expect(filterListJson(numeric, ids('1'), tools)).toBe(numeric);
  });

  it('filters only the requested responses of a batch', () => {
    const first = json(toolsResponse(1, ['admin_a', 'b']));
    const other = json(toolsResponse(2, ['admin_a', 'b']));
    const note = json({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } });
    const failed = json({ jsonrpc: '2.0', id: 3, error: { code: -1, message: 'no' } });
    const third = json(toolsResponse('x', ['admin_z']));
    const body = `[${first}, ${other},\n${note},${failed},${third}]`;
    const out = filterListJson(body, ids(1, 3, 'x'), tools);
    expect(out).toBe(`[${json(toolsResponse(1, ['b']))}, ${other},\n${note},${failed},${json(toolsResponse('x', []))}]`);
  });

  it('leaves a body alone when nothing needs to change', () => {
    const cases = [
      json(toolsResponse(1, ['a', 'b'])), // all allowed
      json(toolsResponse(2, ['admin_a'])), // not requested
      json(toolsResponse(1, [])),
      '{"jsonrpc":"2.0","id":1,"result":{"tools":"admin_a"}}',
      '{"jsonrpc":"2.0","id":1,"result":{"tool":[{"name":"admin_a"}]}}',
      '{"jsonrpc":"2.0","id":1,"result":null}',
      '{"jsonrpc":"2.0","id":1,"error":{"code":1,"message":"m","data":{"tools":[{"name":"admin_a"}]}}}',
      '{"jsonrpc":"2.0","id":1,"method":"x","params":{"tools":[{"name":"admin_a"}]}}',
      '{"jsonrpc":"2.0","result":{"tools":[{"name":"admin_a"}]}}', // no id
      '[1, "two", null]',
      '{"jsonrpc": "2.0", "id": 1, "result": {"tools": [ {"name": "a"} ]}}   ',
      'not json',
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_a"}]}', // truncated
      '',
    ];
    for (const body of cases) expect(filterListJson(body, ids(1), tools)).toBe(body);
    const filterable = json(toolsResponse(1, ['admin_a']));
    expect(filterListJson(filterable, new Map(), tools)).toBe(filterable);
  });

  it('drops tools without a string name', () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"title":"nameless"},{"name":7},null,"b",[],{"name":"c"}]}}';
    expect(filterListJson(body, ids(1), toolsWhere(() => true))).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"c"}]}}');
  });

  it('asks about decoded names', () => {
    const seen: string[] = [];
    const body = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\\u0061dmin_x"},{"name":"ok"}]}}';
    const out = filterListJson(body, ids(1), toolsWhere((name) => (seen.push(name), allowed(name))));
    expect(seen).toEqual(['admin_x', 'ok']);
    expect(out).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok"}]}}');
  });

  it('handles hostile strings inside the tools', () => {
    const names = ['admin_"],[{', 'ok\\"}', 'admin_\u2028', 'x\n,]', 'admin_\\'];
    const body = json({ jsonrpc: '2.0', id: 1, result: { tools: names.map(tool) } });
    expect(namesIn(filterListJson(body, ids(1), tools))).toEqual(['ok\\"}', 'x\n,]']);
  });

  it('re-serializes a body with duplicated keys, so no client can read the copy the filter did not', () => {
    const twoResults = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}]},"result":{"tools":[{"name":"a"},{"name":"admin_y"}]}}';
    const out = filterListJson(twoResults, ids(1), tools);
    expect(out).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}');

    const twoIds = '{"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":[{"name":"admin_x"}]}}';
    expect(filterListJson(twoIds, ids(1), tools)).toBe('{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"admin_x"}]}}');

    const twoTools = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}],"tools":[{"name":"a"}]}}';
    const single = filterListJson(twoTools, ids(1), tools);
    expect(findDuplicateKey(single)).toBeUndefined();
    expect(single).not.toContain('admin_x');
  });

  it('finishes quickly on a large list', () => {
    const names = Array.from({ length: 20_000 }, (_, k) => (k % 3 === 0 ? `admin_${k}` : `tool_${k}`));
    const body = json(toolsResponse(1, names));
    const started = performance.now();
    const out = filterListJson(body, ids(1), tools);
    expect(performance.now() - started).toBeLessThan(2000);
    expect(namesIn(out)).toEqual(names.filter(allowed));
  });
});

// ---------------------------------------------------------------------------------------------

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });
const bytes = (text: string) => encoder.encode(text);

async function readAll(readable: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const reader = readable.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    parts.push(value);
  }
  return Buffer.concat(parts);
}

function streamOf(chunks: Uint8Array[]): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
}

async function filterSse(
  chunks: Uint8Array[] | string,
  requestIds: ListRequests = ids(1),
  options?: { maxEventBytes?: number },
): Promise<string> {
  const input = typeof chunks === 'string' ? [bytes(chunks)] : chunks;
  return decoder.decode(await readAll(streamOf(input).pipeThrough(listSseFilter(requestIds, tools, options))));
}

/** Splits `data` into chunks at the given offsets. */
function splitAt(data: Uint8Array, offsets: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let from = 0;
  for (const at of [...offsets, data.length]) {
    out.push(data.slice(from, at));
    from = at;
  }
  return out;
}

interface ParsedEvent {
  id?: string;
  event?: string;
  retry?: string;
  data: string;
}

/**
 * A reference `text/event-stream` parser, after the WHATWG algorithm (no last-event-id carry-over):
 * what follows the last line terminator is not a line, and an event without its blank line is
 * never dispatched.
 */
function parseSse(text: string): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  let current: ParsedEvent = { data: '' };
  let hasData = false;
  for (const line of text.replace(/^\uFEFF/, '').split(/\r\n|\r|\n/).slice(0, -1)) {
    if (line === '') {
      if (hasData) events.push({ ...current, data: current.data.replace(/\n$/, '') });
      current = { data: '' };
      hasData = false;
      continue;
    }
    if (line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') {
      current.data += value + '\n';
      hasData = true;
    } else if (field === 'id' || field === 'event' || field === 'retry') current[field] = value;
  }
  return events;
}

describe('listSseFilter: tools/list', () => {
  it('with "every" filters a tools/list answer of any id (a replay on a GET stream) and leaves other messages alone', async () => {
    const other = json({ jsonrpc: '2.0', id: 4, result: { content: [{ type: 'text', text: 'admin_wipe' }] } });
    const note = json({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } });
    const input = `id: a\ndata: ${note}\n\nid: b\ndata: ${json(toolsResponse('earlier', ['get', 'admin_wipe']))}\n\nid: c\ndata: ${other}\n\n`;
    const out = await filterSse(input, 'every');
    expect(out).toBe(`id: a\ndata: ${note}\n\nid: b\ndata: ${json(toolsResponse('earlier', ['get']))}\n\nid: c\ndata: ${other}\n\n`);
    expect(filterListJson(json(toolsResponse(99, ['admin_x', 'list'])), 'every', tools)).toBe(json(toolsResponse(99, ['list'])));
  });

  const sse = (fields: string[]) => fields.join('\n') + '\n\n';

  it('filters a tools/list response and keeps the other lines of its event', async () => {
    const input = sse([': keep me', 'event: message', `data: ${json(toolsResponse(1, ['a', 'admin_b', 'c']))}`, 'id: ev-17', 'retry: 5000']);
    expect(await filterSse(input)).toBe(
      sse([': keep me', 'event: message', `data: ${json(toolsResponse(1, ['a', 'c']))}`, 'id: ev-17', 'retry: 5000']),
    );
  });

  it('passes unrelated events on byte for byte', async () => {
    const input = [
      ': ping\n\n',
      'event: message\nid: 1\ndata: {"jsonrpc":"2.0","method":"notifications/progress","params":{"progress":1}}\n\n',
      `data:${json(toolsResponse(2, ['admin_a']))}\n\n`, // another request's
      `data:  ${json(toolsResponse('1', ['admin_a']))}\n\n`, // the string "1", not the number 1
      'data: not json at all {\n\n',
      'id: 5\nevent: endpoint\n\n', // no data
      'data: {"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"fine"}]}}\n\n', // nothing to drop
      '\n\n\n',
      'data\n\n',
      'unknown: field\ndata: [1,2]\n\n',
      'data: {"jsonrpc":"2.0","id":1,"result":{"content":[]}}\n\n',
    ].join('');
    expect(await filterSse(input)).toBe(input);
    expect(await filterSse(input, new Map())).toBe(input);
  });

  it('filters data split over several data lines', async () => {
    const pretty = JSON.stringify(toolsResponse(1, ['admin_a', 'b']), null, 2);
    const input = `id: 3\n${pretty
      .split('\n')
      .map((line) => `data: ${line}`)
      .join('\n')}\n\n`;
    const out = await filterSse(input);
    const events = parseSse(out);
    expect(events).toHaveLength(1);
    expect(events[0].id).toBe('3');
    expect(events[0].data).toBe(JSON.stringify(toolsResponse(1, ['b']), null, 2));
    expect(out.startsWith('id: 3\ndata: {\ndata:   "jsonrpc": "2.0",\n')).toBe(true);
  });

  it('filters a batch of responses in one event', async () => {
    const batch = json([toolsResponse(1, ['admin_a', 'b']), toolsResponse(2, ['admin_a'])]);
    const [event] = parseSse(await filterSse(`data: ${batch}\n\n`, ids(1, 2)));
    expect(event.data).toBe(json([toolsResponse(1, ['b']), toolsResponse(2, [])]));
  });

  it('keeps CRLF line endings', async () => {
    const input = `id: 9\r\nevent: message\r\ndata: ${json(toolsResponse(1, ['admin_a', 'b']))}\r\n\r\n: after\r\n\r\n`;
    expect(await filterSse(input)).toBe(`id: 9\r\nevent: message\r\ndata: ${json(toolsResponse(1, ['b']))}\r\n\r\n: after\r\n\r\n`);
  });

  it('keeps CR line endings', async () => {
    const input = `id: 9\rdata: ${json(toolsResponse(1, ['admin_a', 'b']))}\r\r: after\r\r`;
    expect(await filterSse(input)).toBe(`id: 9\rdata: ${json(toolsResponse(1, ['b']))}\r\r: after\r\r`);
  });

  it('keeps a byte-order mark at the start of the stream', async () => {
    const input = `\uFEFFdata: ${json(toolsResponse(1, ['admin_a', 'b']))}\n\n`;
    expect(await filterSse(input)).toBe(`\uFEFFdata: ${json(toolsResponse(1, ['b']))}\n\n`);
  });

  /** An awkward stream: every line ending, multi-byte characters, events to filter and not. */
  const awkward = [
    '\uFEFF: opening comment\r\n\r\n',
    `event: message\r\nid: a-1\r\ndata: ${json(toolsResponse(1, ['admin_é', 'über', 'admin_x']))}\r\n\r\n`,
    'data: {"jsonrpc":"2.0","method":"notifications/message","params":{"data":"日本語 🙂"}}\n\n',
    `id: a-2\rdata: ${json(toolsResponse('1', ['admin_keep']))}\r\r`,
    `data: ${JSON.stringify(toolsResponse(7, ['🙂', 'admin_🙂']), null, 1).split('\n').join('\ndata: ')}\r\nid: a-3\r\n\r`,
    '\n',
    `retry: 10\ndata: ${json([toolsResponse(1, ['admin_z', 'z']), { jsonrpc: '2.0', id: 8, result: {} }])}\n\n`,
    `data: ${json(toolsResponse(7, ['admin_tail', 'tail']))}\n`, // no blank line: the stream just ends
  ].join('');
  const awkwardBytes = bytes(awkward);

  it('filters the awkward stream as a reference parser expects', async () => {
    const out = await filterSse([awkwardBytes], ids(1, 7));
    const events = parseSse(out);
    expect(events.map((e) => [e.id, e.event])).toEqual([
      ['a-1', 'message'],
      [undefined, undefined],
      ['a-2', undefined],
      ['a-3', undefined],
      [undefined, undefined],
    ]);
    expect(namesIn(events[0].data)).toEqual(['über']);
    expect(events[2].data).toBe(json(toolsResponse('1', ['admin_keep'])));
    expect(namesIn(events[3].data)).toEqual(['🙂']);
    expect((JSON.parse(events[4].data) as { result: { tools?: { name: string }[] } }[])[0].result.tools?.map((t) => t.name)).toEqual(['z']);
    // The unterminated last event is filtered but stays unterminated.
    expect(out.endsWith(`data: ${json(toolsResponse(7, ['tail']))}\n`)).toBe(true);
    expect(out).not.toContain('admin_é');
    expect(out).not.toContain('admin_🙂');
  });

  it('gives the same output however the input is split', async () => {
    const requestIds = ids(1, 7);
    const whole = await filterSse([awkwardBytes], requestIds);
    for (let at = 0; at <= awkwardBytes.length; at++) {
      const out = await filterSse(splitAt(awkwardBytes, [at]), requestIds);
      if (out !== whole) throw new Error(`split at ${at} changed the output:\n${JSON.stringify(out)}`);
    }
    const byteByByte = Array.from(awkwardBytes, (_, k) => k + 1).slice(0, -1);
    expect(await filterSse(splitAt(awkwardBytes, byteByByte), requestIds)).toBe(whole);
    for (let at = 0; at + 3 <= awkwardBytes.length; at += 5) {
      expect(await filterSse(splitAt(awkwardBytes, [at, at + 1, at + 3]), requestIds)).toBe(whole);
    }
  });

  it('passes a stream with nothing to filter through unchanged however it is split', async () => {
    const input = bytes(awkward.replaceAll('admin_', 'user_'));
    for (let at = 0; at <= input.length; at += 3) {
      const out = await filterSse(splitAt(input, [at, Math.min(input.length, at + 2)]), ids(1, 7));
      expect(out).toBe(awkward.replaceAll('admin_', 'user_'));
    }
  });

  it('passes an unterminated last event through as it is', async () => {
    expect(await filterSse('data: {"a":1}\n\ndata: partial')).toBe('data: {"a":1}\n\ndata: partial');
    expect(await filterSse('data: {"a":1}\n\nid: 4\ndata: {"jsonrpc":"2.0","id":1,"result":{"tools":[]}}\n')).toBe(
      'data: {"a":1}\n\nid: 4\ndata: {"jsonrpc":"2.0","id":1,"result":{"tools":[]}}\n',
    );
    expect(await filterSse(`data: ${json(toolsResponse(1, ['admin_a', 'b']))}`)).toBe(`data: ${json(toolsResponse(1, ['b']))}`);
  });

  it('errors the stream when one event outgrows the cap', async () => {
    const big = `data: ${'x'.repeat(200)}\n\n`;
    await expect(filterSse(big, ids(1), { maxEventBytes: 100 })).rejects.toThrow(SseEventTooLargeError);
    // Across chunks, with no blank line in sight: the filter gives up before holding much more.
    const chunks = Array.from({ length: 50 }, () => bytes('data: 0123456789\n'));
    await expect(filterSse(chunks, ids(1), { maxEventBytes: 100 })).rejects.toThrow('exceeds 100 bytes');
    // Up to the cap is fine, and the cap is per event.
    const exact = 'data: ' + 'y'.repeat(92) + '\n\n';
    expect(bytes(exact).length).toBe(100);
    expect(await filterSse(exact.repeat(5), ids(1), { maxEventBytes: 100 })).toBe(exact.repeat(5));
    await expect(filterSse(exact.replace('\n\n', 'y\n\n'), ids(1), { maxEventBytes: 100 })).rejects.toThrow(SseEventTooLargeError);
    expect(DEFAULT_MAX_SSE_EVENT_BYTES).toBe(4 * 1024 * 1024);
    expect(() => listSseFilter(ids(1), tools, { maxEventBytes: 0 })).toThrow(RangeError);
  });

  it('holds an event arriving in many small chunks', async () => {
    const names = Array.from({ length: 300 }, (_, k) => (k % 2 ? `admin_${k}` : `tool_${k}`));
    const event = bytes(`id: big\ndata: ${json(toolsResponse(1, names))}\n\n`);
    expect(event.length).toBeGreaterThan(20_000);
    const chunks = splitAt(event, Array.from({ length: Math.floor(event.length / 7) }, (_, k) => (k + 1) * 7));
    const out = await filterSse(chunks, ids(1), { maxEventBytes: event.length });
    expect(out).toBe(`id: big\ndata: ${json(toolsResponse(1, names.filter(allowed)))}\n\n`);
    await expect(filterSse(chunks, ids(1), { maxEventBytes: event.length - 1 })).rejects.toThrow(SseEventTooLargeError);
  });

  it('delivers events before the cap is hit, then fails', async () => {
    const filter = listSseFilter(ids(1), tools, { maxEventBytes: 64 });
    const writer = filter.writable.getWriter();
    const reader = filter.readable.getReader();
    void writer.write(bytes('data: {"small":true}\n\n')).catch(() => undefined);
    expect(decoder.decode((await reader.read()).value)).toBe('data: {"small":true}\n\n');
    const write = writer.write(bytes(`data: ${'z'.repeat(100)}`));
    await expect(reader.read()).rejects.toThrow(SseEventTooLargeError);
    await expect(write).rejects.toThrow(SseEventTooLargeError);
  });

  it('emits each event as soon as its blank line arrives', async () => {
    const filter = listSseFilter(ids(1), tools);
    const writer = filter.writable.getWriter();
    const reader = filter.readable.getReader();

    void writer.write(bytes('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n'));
    void writer.write(bytes('\n'));
    const first = await reader.read();
    expect(decoder.decode(first.value)).toBe('event: message\ndata: {"jsonrpc":"2.0","method":"notifications/progress"}\n\n');

    // Nothing is emitted for a half event; the rest completes it.
    void writer.write(bytes(`id: 2\ndata: ${json(toolsResponse(1, ['admin_a', 'b']))}`));
    let second: string | undefined;
    const pending = reader.read().then((r) => (second = decoder.decode(r.value)));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(second).toBeUndefined();
    void writer.write(bytes('\n\n: more to come'));
    await pending;
    expect(second).toBe(`id: 2\ndata: ${json(toolsResponse(1, ['b']))}\n\n`);

    void writer.close();
    expect(decoder.decode((await reader.read()).value)).toBe(': more to come');
    expect((await reader.read()).done).toBe(true);
  });

  it('emits the LF of a CRLF that ends an event when it arrives, without holding the event back', async () => {
    const filter = listSseFilter(ids(1), tools);
    const writer = filter.writable.getWriter();
    const reader = filter.readable.getReader();
    void writer.write(bytes('data: {"a":1}\r\n\r'));
    expect(decoder.decode((await reader.read()).value)).toBe('data: {"a":1}\r\n\r');
    void writer.write(bytes('\ndata: 2\r\n\r\n'));
    expect(decoder.decode((await reader.read()).value)).toBe('\ndata: 2\r\n\r\n');
    void writer.write(bytes('data: 3\r\n\r'));
    expect(decoder.decode((await reader.read()).value)).toBe('data: 3\r\n\r');
    void writer.write(bytes('\n'));
    expect(decoder.decode((await reader.read()).value)).toBe('\n');
  });
});

// ---------------------------------------------------------------------------------------------
// Every list, notifications, and what the gateway asks of this module.

import { inspectBody } from '../../../lambda/core/gateway/jsonrpc';
import { ANY_LIST_METHOD, answerShaping, listFilterNeeded, listRequestsOf } from '../../../lambda/core/gateway/list-filter';

/** A key on an MCP with policies for all three features. */
const all = accessFor(
  {
    slug: 'files',
    toolPolicy: { allow: [], deny: ['admin_*'] },
    resourcePolicy: { allow: ['file:///public/*'], deny: ['file:///public/private*'] },
    promptPolicy: { allow: ['greet*'], deny: [] },
  },
  { scopes: { tools: {} } },
);
const resourcesOnly = accessFor({ slug: 'files', toolPolicy: { allow: [], deny: [] }, resourcePolicy: { allow: ['file:///public/*'], deny: [] } }, { scopes: { tools: {} } });
const lists = (...pairs: [string | number, string][]): ListRequests => new Map(pairs.map(([id, method]) => [idKey(id), method]));
const messagesOf = (body: unknown) => {
  const inspected = inspectBody(JSON.stringify(body));
  if (!inspected.ok) throw new Error(inspected.message);
  return inspected.messages;
};
const rpc = (id: unknown, result: unknown) => ({ jsonrpc: '2.0', id, result });
const resourcesResult = (uris: unknown[], extra: Record<string, unknown> = {}) => ({
  resources: uris.map((uri) => ({ uri, name: String(uri).split('/').pop() })),
  ...extra,
});

describe('filterListJson: every list', () => {
  it('filters resources/list by uri', () => {
    const body = json(rpc(1, resourcesResult(['file:///public/a', 'file:///etc/passwd', 'file:///public/private-key', 'file:///public/../x', 'file:///public/b'], { nextCursor: 'c' })));
    expect(filterListJson(body, lists([1, 'resources/list']), all)).toBe(json(rpc(1, resourcesResult(['file:///public/a', 'file:///public/b'], { nextCursor: 'c' }))));
  });

  it('filters resources/templates/list by the template string itself', () => {
    const template = (uriTemplate: unknown) => ({ uriTemplate, name: 't' });
    const body = json(rpc(2, { resourceTemplates: [template('file:///public/{name}'), template('file:///{path}'), template('file:///public/private/{x}'), template(7), { name: 'no template' }, template('file:///public/{+path}')] }));
    expect(filterListJson(body, lists([2, 'resources/templates/list']), all)).toBe(
      json(rpc(2, { resourceTemplates: [template('file:///public/{name}'), template('file:///public/{+path}')] })),
    );
  });

  it('filters prompts/list by name', () => {
    const prompt = (name: unknown) => ({ name, description: 'd', arguments: [{ name: 'admin_arg' }] });
    const body = json(rpc('p', { prompts: [prompt('greeting'), prompt('leak'), prompt(null), prompt('greet')] }));
    expect(filterListJson(body, lists(['p', 'prompts/list']), all)).toBe(json(rpc('p', { prompts: [prompt('greeting'), prompt('greet')] })));
  });

  it('drops resources that carry a name but no string uri', () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{"resources":[{"name":"file:///public/a"},{"uri":["file:///public/a"]},{"uri":"file:///public/ok"},null,"file:///public/s"]}}';
    expect(filterListJson(body, lists([1, 'resources/list']), all)).toBe('{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///public/ok"}]}}');
  });

  it('filters only the list the request asked for', () => {
    const body = json(rpc(1, { tools: [{ name: 'admin_x' }, { name: 'get' }], prompts: [{ name: 'leak' }], resources: [{ uri: 'file:///etc' }] }));
    expect(filterListJson(body, lists([1, 'tools/list']), all)).toBe(json(rpc(1, { tools: [{ name: 'get' }], prompts: [{ name: 'leak' }], resources: [{ uri: 'file:///etc' }] })));
    expect(filterListJson(body, lists([1, 'prompts/list']), all)).toBe(json(rpc(1, { tools: [{ name: 'admin_x' }, { name: 'get' }], prompts: [], resources: [{ uri: 'file:///etc' }] })));
    // Other requests' answers are not lists, whatever they hold.
    expect(filterListJson(body, lists([1, 'tools/call']), all)).toBe(body);
    // Unknown requests ('every', a GET stream): all of them.
    expect(filterListJson(body, 'every', all)).toBe(json(rpc(1, { tools: [{ name: 'get' }], prompts: [], resources: [] })));
    expect(filterListJson(body, lists([1, ANY_LIST_METHOD]), all)).toBe(json(rpc(1, { tools: [{ name: 'get' }], prompts: [], resources: [] })));
  });

  it('leaves lists alone whose feature no policy restricts', () => {
    const body = json(rpc(1, { resources: [{ uri: 'file:///etc' }], tools: [{ name: 'admin_x' }] }));
    expect(filterListJson(body, lists([1, 'resources/list']), tools)).toBe(body);
    expect(filterListJson(body, 'every', resourcesOnly)).toBe(json(rpc(1, { resources: [], tools: [{ name: 'admin_x' }] })));
  });

  it('filters each response of a batch by its own request', () => {
    const body = `[ ${json(rpc(1, { tools: [{ name: 'admin_x' }, { name: 'a' }] }))},\n  ${json(rpc('1', resourcesResult(['file:///etc', 'file:///public/a'])))} ,${json(rpc(2, { prompts: [{ name: 'greet' }, { name: 'x' }] }))}]`;
    const out = filterListJson(body, lists([1, 'tools/list'], ['1', 'resources/list'], [2, 'prompts/list']), all);
    expect(out).toBe(`[ ${json(rpc(1, { tools: [{ name: 'a' }] }))},\n  ${json(rpc('1', resourcesResult(['file:///public/a'])))} ,${json(rpc(2, { prompts: [{ name: 'greet' }] }))}]`);
  });

  it('tells ids of different types apart, and reads an id as a client would', () => {
    const body = (id: string) => `{"jsonrpc":"2.0","id":${id},"result":{"tools":[{"name":"admin_x"}]}}`;
    const requests = lists([1, 'tools/list']);
    expect(filterListJson(body('1'), requests, all)).toBe(body('1').replace('{"name":"admin_x"}', ''));
    expect(filterListJson(body('1.0'), requests, all)).toBe(body('1.0').replace('{"name":"admin_x"}', '')); // the number 1
    expect(filterListJson(body('1e0'), requests, all)).toBe(body('1e0').replace('{"name":"admin_x"}', ''));
    for (const other of ['"1"', 'true', 'null', '[1]', '{"1":1}', '1.5', '2']) expect(filterListJson(body(other), requests, all)).toBe(body(other));
  });

  it('marks a filtered 2026-07-28 list result private, keeping the layout', () => {
    const body = JSON.stringify(rpc(1, { tools: [{ name: 'get' }, { name: 'admin_x' }], ttlMs: 60000, cacheScope: 'public', resultType: 'complete' }), null, 2);
    expect(filterListJson(body, lists([1, 'tools/list']), all)).toBe(
      JSON.stringify(rpc(1, { tools: [{ name: 'get' }], ttlMs: 60000, cacheScope: 'private', resultType: 'complete' }), null, 2),
    );
    // Even when nothing was removed: what the key sees depends on its policy.
    const kept = json(rpc(1, { tools: [{ name: 'get' }], cacheScope: 'public' }));
    expect(filterListJson(kept, lists([1, 'tools/list']), all)).toBe(json(rpc(1, { tools: [{ name: 'get' }], cacheScope: 'private' })));
    // Not when no policy applies to that list, nor to a private or odd scope.
    expect(filterListJson(kept, lists([1, 'tools/list']), resourcesOnly)).toBe(kept);
    for (const scope of ['private', 'PUBLIC', null, 1]) {
      const other = json(rpc(1, { tools: [{ name: 'get' }], cacheScope: scope }));
      expect(filterListJson(other, lists([1, 'tools/list']), all)).toBe(other);
    }
    const noList = json(rpc(1, { content: [], cacheScope: 'public' }));
    expect(filterListJson(noList, lists([1, 'tools/list']), all)).toBe(noList);
  });

  it('does not look at notifications in a JSON answer (servers send them on event streams)', () => {
    const note = json({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri: 'file:///etc/passwd' } });
    expect(filterListJson(note, 'every', all)).toBe(note);
    expect(filterListJson(`[${note}]`, lists([1, 'resources/list']), all)).toBe(`[${note}]`);
  });

  it('re-serializes a body with duplicated keys in any list', () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{"resources":[{"uri":"file:///etc"}],"resources":[{"uri":"file:///public/a","uri":"file:///etc"}]}}';
    const out = filterListJson(body, lists([1, 'resources/list']), all);
    expect(out).toBe('{"jsonrpc":"2.0","id":1,"result":{"resources":[]}}');
    expect(findDuplicateKey(out)).toBeUndefined();
  });

  it('finishes quickly on huge lists of every kind', () => {
    const n = 30_000;
    const uris = Array.from({ length: n }, (_, k) => (k % 2 ? `file:///public/${k}` : `file:///secret/${k}`));
    const batch = json([
      rpc(1, resourcesResult(uris)),
      rpc(2, { resourceTemplates: uris.map((uriTemplate) => ({ uriTemplate: `${uriTemplate}/{x}`, name: 'n' })) }),
      rpc(3, { prompts: Array.from({ length: n }, (_, k) => ({ name: k % 2 ? `greet${k}` : `p${k}` })) }),
      rpc(4, { tools: Array.from({ length: n }, (_, k) => ({ name: k % 2 ? `t${k}` : `admin_${k}` })) }),
    ]);
    const started = performance.now();
    const out = JSON.parse(filterListJson(batch, lists([1, 'resources/list'], [2, 'resources/templates/list'], [3, 'prompts/list'], [4, 'tools/list']), all)) as {
      result: Record<string, unknown[]>;
    }[];
    expect(performance.now() - started).toBeLessThan(5000);
    expect(out.map((m) => Object.values(m.result)[0].length)).toEqual([n / 2, n / 2, n / 2, n / 2]);
  });
});

describe('listRequestsOf', () => {
  it('maps the ids of list requests to their methods, by id type', () => {
    const requests = listRequestsOf(
      messagesOf([
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { jsonrpc: '2.0', id: '1', method: 'resources/list' },
        { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'x' } },
        { jsonrpc: '2.0', id: 3, method: 'resources/templates/list' },
        { jsonrpc: '2.0', id: 'p', method: 'prompts/list' },
        { jsonrpc: '2.0', method: 'tools/list' }, // a notification: nothing answers it
        { jsonrpc: '2.0', id: 9, result: { tools: [] } }, // a response
        { jsonrpc: '2.0', id: 10, method: '*' }, // not a list method, whatever the gateway calls "any"
      ]),
    );
    expect([...requests]).toEqual([
      ['1', 'tools/list'],
      ['"1"', 'resources/list'],
      ['3', 'resources/templates/list'],
      ['"p"', 'prompts/list'],
    ]);
  });

  it('filters every list for an id that several list requests share', () => {
    const requests = listRequestsOf(
      messagesOf([
        { jsonrpc: '2.0', id: 1, method: 'tools/list' },
        { jsonrpc: '2.0', id: 1, method: 'prompts/list' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 2, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'tools/list' },
        { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'get' } },
      ]),
    );
    expect([...requests]).toEqual([
      ['1', ANY_LIST_METHOD],
      ['2', 'tools/list'],
      ['3', 'tools/list'],
    ]);
    // Whichever answer comes back under id 1 is filtered on both lists.
    const answer = json(rpc(1, { prompts: [{ name: 'leak' }], tools: [{ name: 'admin_x' }] }));
    expect(filterListJson(answer, requests, all)).toBe(json(rpc(1, { prompts: [], tools: [] })));
  });
});

describe('listFilterNeeded and answerShaping', () => {
  const body = (...methods: string[]) => messagesOf(methods.map((method, id) => ({ jsonrpc: '2.0', id, method, params: { name: 'n', uri: 'file:///public/a' } })));

  it('asks for filtering only where a list answer can lose an entry', () => {
    expect(listFilterNeeded(lists([1, 'tools/list']), tools)).toBe(true);
    expect(listFilterNeeded(lists([1, 'resources/list'], [2, 'prompts/list']), tools)).toBe(false);
    expect(listFilterNeeded(lists([1, 'resources/templates/list']), resourcesOnly)).toBe(true);
    expect(listFilterNeeded(lists([1, ANY_LIST_METHOD]), resourcesOnly)).toBe(true);
    expect(listFilterNeeded(lists([1, 'tools/call']), all)).toBe(false);
    expect(listFilterNeeded(new Map(), all)).toBe(false);
    expect(listFilterNeeded('every', all)).toBe(true);
    expect(listFilterNeeded('every', accessFor({ slug: 'm', toolPolicy: { allow: [], deny: [] } }, { scopes: { tools: {} } }))).toBe(false);
  });

  it('shapes POST answers by their requests and GET streams by everything', () => {
    expect(answerShaping(body('tools/list', 'tools/call'), tools)).toEqual({ requests: lists([0, 'tools/list']), json: true, sse: true });
    expect(answerShaping(body('tools/call'), all)).toEqual({ requests: new Map(), json: false, sse: false });
    expect(answerShaping(body('prompts/list'), tools)).toEqual({ requests: lists([0, 'prompts/list']), json: false, sse: false });
    // Update notifications come on the streams of subscribing POSTs and on GET streams.
    expect(answerShaping(body('resources/subscribe'), resourcesOnly)).toEqual({ requests: new Map(), json: false, sse: true });
    expect(answerShaping(body('subscriptions/listen'), resourcesOnly)).toEqual({ requests: new Map(), json: false, sse: true });
    expect(answerShaping(body('subscriptions/listen'), tools)).toEqual({ requests: new Map(), json: false, sse: false });
    expect(answerShaping('every', resourcesOnly)).toEqual({ requests: 'every', json: true, sse: true });
    expect(answerShaping('every', accessFor({ slug: 'm', toolPolicy: { allow: [], deny: [] } }, { scopes: { tools: {} } }))).toEqual({ requests: 'every', json: false, sse: false });
  });
});

describe('listSseFilter: every list and resource update notifications', () => {
  const run = async (input: string | Uint8Array[], requests: ListRequests, access: Access) =>
    decoder.decode(await readAll(streamOf(typeof input === 'string' ? [bytes(input)] : input).pipeThrough(listSseFilter(requests, access))));
  const updated = (uri: unknown, extra: Record<string, unknown> = {}) => json({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: { uri, ...extra } });

  it('drops update notifications about resources the key may not read, keeping the event id', async () => {
    const input = [
      `id: 1\ndata: ${updated('file:///public/a')}\n\n`,
      `id: 2\nevent: message\ndata: ${updated('file:///etc/passwd')}\n\n`,
      `data: ${updated('file:///public/../etc/passwd')}\n\n`,
      `data: ${updated(42)}\n\n`,
      `data: ${json({ jsonrpc: '2.0', method: 'notifications/resources/updated' })}\n\n`,
      `id: 6\ndata: ${updated('file:///public/b')}\n\n`,
    ].join('');
    const out = await run(input, new Map(), all);
    expect(out).toBe(`id: 1\ndata: ${updated('file:///public/a')}\n\nid: 2\nevent: message\n\nid: 6\ndata: ${updated('file:///public/b')}\n\n`);
    expect(parseSse(out).map((e) => e.id)).toEqual(['1', '6']);
  });

  it('drops one without a string uri even when the policy only denies', async () => {
    const denyEtc = accessFor({ slug: 'm', toolPolicy: { allow: [], deny: [] }, resourcePolicy: { allow: [], deny: ['file:///etc/*'] } }, { scopes: { tools: {} } });
    const input = `data: ${updated(42)}\n\ndata: ${json({ jsonrpc: '2.0', method: 'notifications/resources/updated', params: {} })}\n\ndata: ${updated('42')}\n\n`;
    expect(await run(input, new Map(), denyEtc)).toBe(`data: ${updated('42')}\n\n`);
  });

  it('passes them all on when no resource policy applies', async () => {
    const input = `data: ${updated('file:///etc/passwd')}\n\ndata: ${updated(42)}\n\n`;
    expect(await run(input, new Map(), tools)).toBe(input);
    expect(await run(input, 'every', tools)).toBe(input);
  });

  it('sees through escapes and duplicated keys', async () => {
    const escaped = '{"jsonrpc":"2.0","method":"notifications\\/resources\\/upd\\u0061ted","params":{"uri":"file:///etc"}}';
    expect(await run(`data: ${escaped}\n\n`, new Map(), all)).toBe('');
    // JSON.parse keeps the last copy: the filter drops what it read, and leaves one copy of each key.
    const lastWins = '{"jsonrpc":"2.0","method":"notifications/progress","method":"notifications/resources/updated","params":{"uri":"file:///etc"}}';
    expect(await run(`data: ${lastWins}\n\n`, new Map(), all)).toBe('');
    const firstWins = '{"jsonrpc":"2.0","method":"notifications/resources/updated","method":"notifications/progress","params":{"uri":"file:///etc"}}';
    expect(await run(`data: ${firstWins}\n\n`, new Map(), all)).toBe('data: {"jsonrpc":"2.0","method":"notifications/progress","params":{"uri":"file:///etc"}}\n\n');
    const twoUris = '{"jsonrpc":"2.0","method":"notifications/resources/updated","params":{"uri":"file:///etc","uri":"file:///public/a"}}';
    expect(await run(`data: ${twoUris}\n\n`, new Map(), all)).toBe(`data: ${updated('file:///public/a')}\n\n`);
  });

  it('removes denied notifications from a batch, and the data of a batch left empty', async () => {
    const progress = json({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } });
    const input = `data: [${updated('file:///etc')}, ${progress},${updated('file:///public/a')}]\n\nid: 7\ndata: [${updated('file:///etc')},${updated(null)}]\n\n`;
    expect(await run(input, new Map(), all)).toBe(`data: [${progress},${updated('file:///public/a')}]\n\nid: 7\n\n`);
  });

  it('filters every kind of list answer on a GET stream, and notifications among them', async () => {
    const input =
      `id: a\ndata: ${json(rpc('old', resourcesResult(['file:///etc', 'file:///public/a'])))}\n\n` +
      `id: b\ndata: ${json(rpc(5, { prompts: [{ name: 'leak' }, { name: 'greet' }] }))}\n\n` +
      `id: c\ndata: ${updated('file:///etc')}\n\n` +
      `id: d\ndata: ${json(rpc(6, { content: [{ type: 'text', text: 'file:///etc' }] }))}\n\n`;
    expect(await run(input, 'every', all)).toBe(
      `id: a\ndata: ${json(rpc('old', resourcesResult(['file:///public/a'])))}\n\n` +
        `id: b\ndata: ${json(rpc(5, { prompts: [{ name: 'greet' }] }))}\n\n` +
        'id: c\n\n' +
        `id: d\ndata: ${json(rpc(6, { content: [{ type: 'text', text: 'file:///etc' }] }))}\n\n`,
    );
  });

  it('keeps a byte-order mark when the first event goes, and drops an unterminated denied one at the end', async () => {
    expect(await run(`\uFEFFdata: ${updated('file:///etc')}\n\ndata: 1\n\n`, new Map(), all)).toBe('\uFEFFdata: 1\n\n');
    expect(await run(`data: 1\n\ndata: ${updated('file:///etc')}\n`, new Map(), all)).toBe('data: 1\n\n');
    expect(await run(`data: 1\n\nid: 3\ndata: ${updated('file:///etc')}`, new Map(), all)).toBe('data: 1\n\nid: 3');
  });

  /** A stream with dropped events under every line ending. */
  const dropping = [
    `data: ${updated('file:///etc')}\r\n\r\n`,
    `id: k\rdata: ${updated('file:///public/ok')}\r\r`,
    `data: ${updated('file:///etc')}\r\r`,
    '\n',
    `id: m\r\ndata: ${updated('file:///etc', { note: 'é🙂' })}\r\n\r`,
    '\n',
    `data: ${json(rpc(1, resourcesResult(['file:///etc', 'file:///public/ü'])))}\n\n`,
    `data: ${updated('file:///etc')}\r`,
  ].join('');

  it('drops events the same way however the input is split', async () => {
    const requests = lists([1, 'resources/list']);
    const whole = await run(dropping, requests, all);
    expect(parseSse(whole).map((e) => [e.id, JSON.parse(e.data).method ?? JSON.parse(e.data).result.resources.length])).toEqual([
      ['k', 'notifications/resources/updated'],
      [undefined, 1],
    ]);
    // The dropped event's id line stays (the reference parser does not carry ids over; clients do).
    expect(whole).toContain('id: m\r\n\r\n');
    expect(whole).not.toContain('file:///etc');
    const data = bytes(dropping);
    for (let at = 0; at <= data.length; at++) {
      const out = await run(splitAt(data, [at]), requests, all);
      if (out !== whole) throw new Error(`split at ${at} changed the output:\n${JSON.stringify(out)}`);
    }
    expect(await run(splitAt(data, Array.from(data, (_, k) => k + 1).slice(0, -1)), requests, all)).toBe(whole);
  });
});
