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
  const reader = stream.getReader();
  let pending: ReturnType<typeof reader.read> | undefined;
  let atEventBoundary = true;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      pending ??= reader.read();
      let next: Awaited<typeof pending> | 'silence';
      for (;;) {
        let timer: NodeJS.Timeout | undefined;
        const silence = new Promise<'silence'>((resolve) => (timer = setTimeout(() => resolve('silence'), intervalMs)));
        next = await Promise.race([pending, silence]).finally(() => clearTimeout(timer));
        if (next !== 'silence') break;
        if (atEventBoundary) return controller.enqueue(KEEPALIVE);
        // Inside an event: keep waiting (a pull that enqueues nothing would not be called again).
      }
      pending = undefined;
      if (next.done) return controller.close();
      const chunk = next.value;
      if (chunk.length > 0) atEventBoundary = endsEvent(chunk);
      controller.enqueue(chunk);
    },
    cancel(reason) {
      return reader.cancel(reason);
    },
  });
}

/** Whether a chunk ends with a blank line (the end of an SSE event). */
function endsEvent(chunk: Uint8Array): boolean {
  const n = chunk.length;
  const LF = 10;
  const CR = 13;
  return (n >= 2 && chunk[n - 1] === LF && (chunk[n - 2] === LF || (n >= 3 && chunk[n - 2] === CR && chunk[n - 3] === LF))) || (n >= 2 && chunk[n - 1] === CR && chunk[n - 2] === CR);
}

/** Passes chunks through as they come, counting bytes; reports once when the stream ends or is cancelled. */
export function counting(stream: ReadableStream<Uint8Array>, done: (bytes: number) => void): ReadableStream<Uint8Array> {
  let bytes = 0;
  let reported = false;
  const report = () => {
    if (!reported) {
      reported = true;
      done(bytes);
    }
  };
  const reader = stream.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done: finished, value } = await reader.read();
        if (finished) {
          report();
          controller.close();
          return;
        }
        bytes += value.length;
        controller.enqueue(value);
      } catch {
        // The upstream died or went idle mid-stream: end the client's stream with an error that
        // names nothing of the upstream (HTTP servers log it).
        report();
        controller.error(new Error('upstream stream ended early'));
      }
    },
    async cancel(reason) {
      report();
      await reader.cancel(reason).catch(() => undefined);
    },
  });
}
