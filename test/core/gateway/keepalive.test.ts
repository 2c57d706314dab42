import { withKeepalive } from '../../../lambda/core/gateway/streams';

const enc = (s: string) => new TextEncoder().encode(s);

/** A source whose chunks the test pushes by hand, with pauses in between. */
function source() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({ start: (c) => void (controller = c) });
  return { stream, push: (s: string) => controller.enqueue(enc(s)), end: () => controller.close() };
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = '';
  const decoder = new TextDecoder();
  for await (const chunk of stream as unknown as AsyncIterable<Uint8Array>) text += decoder.decode(chunk);
  return text;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('silence between events gets keepalive comments; data passes unchanged', async () => {
  const src = source();
  const out = collect(withKeepalive(src.stream, 40));
  src.push('event: message\ndata: {"a":1}\n\n');
  await sleep(130);
  src.push('data: {"b":2}\n\n');
  src.end();
  const text = await out;
  expect(text.startsWith('event: message\ndata: {"a":1}\n\n: keepalive\n\n')).toBe(true);
  expect(text.replace(/: keepalive\n\n/g, '')).toBe('event: message\ndata: {"a":1}\n\ndata: {"b":2}\n\n');
  expect(text.match(/: keepalive/g)!.length).toBeGreaterThanOrEqual(2);
});

test('never inside an event: a pause in the middle of one sends nothing', async () => {
  const src = source();
  const out = collect(withKeepalive(src.stream, 30));
  src.push('data: {"half":');
  await sleep(120);
  src.push('true}\n\n');
  src.end();
  expect(await out).toBe('data: {"half":true}\n\n');
});

test('a busy stream gets none', async () => {
  const src = source();
  const out = collect(withKeepalive(src.stream, 1_000));
  for (let i = 0; i < 5; i++) src.push(`data: ${i}\n\n`);
  src.end();
  expect(await out).toBe('data: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n');
});
