import { PassThrough, type Writable } from 'node:stream';

/** What a streamed Lambda invocation produced, with the arrival time of every body chunk. */
export interface StreamedResponse {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly chunks: { readonly at: number; readonly text: string }[];
  readonly endedAt: number;
  readonly body: string;
}

/**
 * A stand-in for the Lambda Node.js runtime's response streaming (the `awslambda` global):
 * `streamifyResponse` marks the handler, `HttpResponseStream.from` writes the HTTP prelude (JSON
 * metadata, then 8 NUL bytes) as the runtime does, and the body follows. The test reads the
 * stream while the handler writes it, so it sees when each chunk arrives.
 */
export function installStreamifyHarness(): void {
  (globalThis as Record<string, unknown>).awslambda = {
    streamifyResponse: <T>(handler: T) => handler,
    HttpResponseStream: {
      from(stream: Writable, metadata: Record<string, unknown>) {
        stream.write(JSON.stringify(metadata));
        stream.write(Buffer.alloc(8));
        return stream;
      },
    },
  };
}

type StreamingHandler = (event: unknown, stream: Writable, context: unknown) => Promise<void>;

export async function invokeStreaming(handler: StreamingHandler, event: unknown): Promise<StreamedResponse> {
  const stream = new PassThrough();
  const raw: { at: number; data: Buffer }[] = [];
  stream.on('data', (data: Buffer) => raw.push({ at: Date.now(), data }));
  const ended = new Promise<number>((resolve) => stream.on('end', () => resolve(Date.now())));
  await handler(event, stream, { awsRequestId: 'harness' });
  const endedAt = await ended;

  const all = Buffer.concat(raw.map((r) => r.data));
  const split = all.indexOf(Buffer.alloc(8));
  if (split < 0) throw new Error('no HTTP prelude in the response stream');
  const metadata = JSON.parse(all.subarray(0, split).toString('utf8')) as { statusCode: number; headers: Record<string, string> };
  // Body chunks: what followed the prelude, with the time each write arrived.
  let offset = 0;
  const chunks: { at: number; text: string }[] = [];
  for (const r of raw) {
    const start = Math.max(0, split + 8 - offset);
    if (start < r.data.length) chunks.push({ at: r.at, text: r.data.subarray(start).toString('utf8') });
    offset += r.data.length;
  }
  return { ...metadata, chunks, endedAt, body: chunks.map((c) => c.text).join('') };
}
