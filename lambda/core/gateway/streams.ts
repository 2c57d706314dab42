/**
 * Stream helpers of the data plane: bounded reads, SSE keepalives and byte counting. Each passes
 * chunks on as they arrive; none buffers a stream whole.
 */
import { GatewayError } from './errors';

/** Reads a stream whole, refusing it (413 `body_too_large`) as soon as it passes `limit` bytes. */
export async function readStreamBounded(stream: ReadableStream<Uint8Array>, limit: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new GatewayError('body_too_large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/**
 * API Gateway closes a stream that stays silent for 5 minutes (regional endpoints), and idle
 * MCP streams (a GET stream waiting for server notifications) are normal. After `intervalMs` of
 * silence, an SSE comment line is sent — only between events, never inside one.
 */
export const SSE_KEEPALIVE_MS = 60_000;
const KEEPALIVE = new TextEncoder().encode(': keepalive\n\n');

export function withKeepalive(stream: ReadableStream<Uint8Array>, intervalMs: number): ReadableStream<Uint8Array> {
  return relayed(stream, () => undefined, intervalMs);
}

/**
 * Passes chunks through as they come, counting bytes, and reports once when the stream ends, fails
 * or is cancelled; with `keepaliveMs`, an SSE keepalive comment goes out after that much silence
 * while the reader waits, only between events (see SSE_KEEPALIVE_MS). One stream for both jobs,
 * so each chunk takes one hop, and one timer per stream (refreshed per chunk, not one per read).
 * Cancelling it cancels the source (the upstream request ends).
 */
export function relayed(stream: ReadableStream<Uint8Array>, done: (bytes: number) => void, keepaliveMs?: number): ReadableStream<Uint8Array> {
  const reader = stream.getReader();
  let bytes = 0;
  let reported = false;
  let waiting = false;
  let atEventBoundary = true;
  let timer: NodeJS.Timeout | undefined;
  const report = () => {
    if (reported) return;
    reported = true;
    clearTimeout(timer);
    done(bytes);
  };
  return new ReadableStream<Uint8Array>(
    {
      start(controller) {
        if (keepaliveMs === undefined) return;
        timer = setTimeout(function silence() {
          if (reported) return;
          // Only while the reader waits (a reader that does not read has data queued already),
          // and never inside an event.
          if (waiting && atEventBoundary) {
            bytes += KEEPALIVE.length;
            controller.enqueue(KEEPALIVE);
          }
          timer!.refresh();
        }, keepaliveMs);
      },
      async pull(controller) {
        let next: Awaited<ReturnType<typeof reader.read>>;
        waiting = true;
        try {
          next = await reader.read();
        } catch {
          // The upstream died or went idle mid-stream: end the client's stream with an error that
          // names nothing of the upstream (HTTP servers log it).
          report();
          controller.error(new Error('upstream stream ended early'));
          return;
        } finally {
          waiting = false;
        }
        if (next.done) {
          report();
          controller.close();
          return;
        }
        const chunk = next.value;
        timer?.refresh();
        bytes += chunk.length;
        if (chunk.length > 0) atEventBoundary = endsEvent(chunk);
        controller.enqueue(chunk);
      },
      async cancel(reason) {
        report();
        await reader.cancel(reason).catch(() => undefined);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Whether a chunk ends with a blank line (the end of an SSE event). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  const LF = 10;
  const CR = 13;
  return (n >= 2 && chunk[n - 1] === LF && (chunk[n - 2] === LF || (n >= 3 && chunk[n - 2] === CR && chunk[n - 3] === LF))) || (n >= 2 && chunk[n - 1] === CR && chunk[n - 2] === CR);
}
