import { findDuplicateKey } from '../../../lambda/core/gateway/jsonrpc';
import {
  DEFAULT_MAX_SSE_EVENT_BYTES,
  EVERY_REQUEST_ID,
  filterToolsListJson,
  SseEventTooLargeError,
  toolsListSseFilter,
} from '../../../lambda/core/gateway/tools-filter';

const allowed = (name: string) => !name.startsWith('admin_');
const ids = (...list: unknown[]) => new Set(list.map((id) => JSON.stringify(id)));

const tool = (name: string) => ({ name, description: `does ${name}`, inputSchema: { type: 'object', properties: {} } });
const toolsResponse = (id: unknown, names: string[], extra: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  result: { tools: names.map(tool), ...extra },
});
const json = (value: unknown) => JSON.stringify(value);
const namesIn = (body: string): string[] => (JSON.parse(body).result.tools as { name: string }[]).map((t) => t.name);

describe('filterToolsListJson', () => {
  it('drops the tools that are not allowed and keeps everything else', () => {
    const body = json(toolsResponse(1, ['get', 'admin_wipe', 'list', 'admin_x'], { nextCursor: 'page-2', _meta: { k: 1 } }));
    const out = filterToolsListJson(body, ids(1), allowed);
    expect(out).toBe(json(toolsResponse(1, ['get', 'list'], { nextCursor: 'page-2', _meta: { k: 1 } })));
  });

  it('keeps the layout of a pretty-printed body', () => {
    const body = JSON.stringify(toolsResponse('r', ['admin_a', 'b', 'admin_c', 'd', 'admin_e'], { nextCursor: 'n' }), null, 2);
    expect(filterToolsListJson(body, ids('r'), allowed)).toBe(JSON.stringify(toolsResponse('r', ['b', 'd'], { nextCursor: 'n' }), null, 2));
  });

  it('keeps what a JavaScript number cannot hold, byte for byte', () => {
    const body =
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"},' +
      '{"name":"count","inputSchema":{"type":"integer","maximum":18446744073709551615,"minimum":-0,"multipleOf":1.10}}]}}';
    expect(filterToolsListJson(body, ids(1), allowed)).toBe(
      '{"jsonrpc":"2.0","id":1,"result":{"tools":[' +
        '{"name":"count","inputSchema":{"type":"integer","maximum":18446744073709551615,"minimum":-0,"multipleOf":1.10}}]}}',
    );
  });

  it('tells the number 1 from the string "1"', () => {
    const numeric = json(toolsResponse(1, ['a', 'admin_b']));
    const textual = json(toolsResponse('1', ['a', 'admin_b']));
    expect(namesIn(filterToolsListJson(numeric, ids(1), allowed))).toEqual(['a']);
    expect(filterToolsListJson(textual, ids(1), allowed)).toBe(textual);
    expect(namesIn(filterToolsListJson(textual, ids('1'), allowed))).toEqual(['a']);
    expect(filterToolsListJson(numeric, ids('1'), allowed)).toBe(numeric);
  });

  it('filters only the requested responses of a batch', () => {
    const first = json(toolsResponse(1, ['admin_a', 'b']));
    const other = json(toolsResponse(2, ['admin_a', 'b']));
    const note = json({ jsonrpc: '2.0', method: 'notifications/progress', params: { progress: 1 } });
    const failed = json({ jsonrpc: '2.0', id: 3, error: { code: -1, message: 'no' } });
    const third = json(toolsResponse('x', ['admin_z']));
    const body = `[${first}, ${other},\n${note},${failed},${third}]`;
    const out = filterToolsListJson(body, ids(1, 3, 'x'), allowed);
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
    for (const body of cases) expect(filterToolsListJson(body, ids(1), allowed)).toBe(body);
    const filterable = json(toolsResponse(1, ['admin_a']));
    expect(filterToolsListJson(filterable, new Set(), allowed)).toBe(filterable);
  });

  it('drops tools without a string name', () => {
    const body = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"title":"nameless"},{"name":7},null,"b",[],{"name":"c"}]}}';
    expect(filterToolsListJson(body, ids(1), () => true)).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"},{"name":"c"}]}}');
  });

  it('asks about decoded names', () => {
    const seen: string[] = [];
    const body = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"\\u0061dmin_x"},{"name":"ok"}]}}';
    const out = filterToolsListJson(body, ids(1), (name) => (seen.push(name), allowed(name)));
    expect(seen).toEqual(['admin_x', 'ok']);
    expect(out).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"ok"}]}}');
  });

  it('handles hostile strings inside the tools', () => {
    const names = ['admin_"],[{', 'ok\\"}', 'admin_\u2028', 'x\n,]', 'admin_\\'];
    const body = json({ jsonrpc: '2.0', id: 1, result: { tools: names.map(tool) } });
    expect(namesIn(filterToolsListJson(body, ids(1), allowed))).toEqual(['ok\\"}', 'x\n,]']);
  });

  it('re-serializes a body with duplicated keys, so no client can read the copy the filter did not', () => {
    const twoResults = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}]},"result":{"tools":[{"name":"a"},{"name":"admin_y"}]}}';
    const out = filterToolsListJson(twoResults, ids(1), allowed);
    expect(out).toBe('{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"a"}]}}');

    const twoIds = '{"jsonrpc":"2.0","id":1,"id":2,"result":{"tools":[{"name":"admin_x"}]}}';
    expect(filterToolsListJson(twoIds, ids(1), allowed)).toBe('{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"admin_x"}]}}');

    const twoTools = '{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"admin_x"}],"tools":[{"name":"a"}]}}';
    const single = filterToolsListJson(twoTools, ids(1), allowed);
    expect(findDuplicateKey(single)).toBeUndefined();
    expect(single).not.toContain('admin_x');
  });

  it('finishes quickly on a large list', () => {
    const names = Array.from({ length: 20_000 }, (_, k) => (k % 3 === 0 ? `admin_${k}` : `tool_${k}`));
    const body = json(toolsResponse(1, names));
    const started = performance.now();
    const out = filterToolsListJson(body, ids(1), allowed);
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
  requestIds: ReadonlySet<string> = ids(1),
  options?: { maxEventBytes?: number },
): Promise<string> {
  const input = typeof chunks === 'string' ? [bytes(chunks)] : chunks;
  return decoder.decode(await readAll(streamOf(input).pipeThrough(toolsListSseFilter(requestIds, allowed, options))));
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

describe('toolsListSseFilter', () => {
  it('with EVERY_REQUEST_ID filters a tools/list answer of any id (a replay on a GET stream) and leaves other messages alone', async () => {
    const other = json({ jsonrpc: '2.0', id: 4, result: { content: [{ type: 'text', text: 'admin_wipe' }] } });
    const note = json({ jsonrpc: '2.0', method: 'notifications/progress', params: { progressToken: 1, progress: 1 } });
    const input = `id: a\ndata: ${note}\n\nid: b\ndata: ${json(toolsResponse('earlier', ['get', 'admin_wipe']))}\n\nid: c\ndata: ${other}\n\n`;
    const out = await filterSse(input, EVERY_REQUEST_ID);
    expect(out).toBe(`id: a\ndata: ${note}\n\nid: b\ndata: ${json(toolsResponse('earlier', ['get']))}\n\nid: c\ndata: ${other}\n\n`);
    expect(filterToolsListJson(json(toolsResponse(99, ['admin_x', 'list'])), EVERY_REQUEST_ID, allowed)).toBe(json(toolsResponse(99, ['list'])));
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
    expect(await filterSse(input, new Set())).toBe(input);
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
    expect(() => toolsListSseFilter(ids(1), allowed, { maxEventBytes: 0 })).toThrow(RangeError);
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
    const filter = toolsListSseFilter(ids(1), allowed, { maxEventBytes: 64 });
    const writer = filter.writable.getWriter();
    const reader = filter.readable.getReader();
    void writer.write(bytes('data: {"small":true}\n\n')).catch(() => undefined);
    expect(decoder.decode((await reader.read()).value)).toBe('data: {"small":true}\n\n');
    const write = writer.write(bytes(`data: ${'z'.repeat(100)}`));
    await expect(reader.read()).rejects.toThrow(SseEventTooLargeError);
    await expect(write).rejects.toThrow(SseEventTooLargeError);
  });

  it('emits each event as soon as its blank line arrives', async () => {
    const filter = toolsListSseFilter(ids(1), allowed);
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
    const filter = toolsListSseFilter(ids(1), allowed);
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
