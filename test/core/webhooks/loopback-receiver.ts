import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** What a loopback receiver got: verified (by the standardwebhooks package, a peer implementation) requests only. */
export interface ReceivedWebhook {
  readonly id: string;
  readonly timestamp: string;
  readonly signature: string;
  readonly body: unknown;
  /** Which of the receiver's secrets verified it (index into the secrets it was given). */
  readonly verifiedWith: number[];
}

export interface LoopbackReceiver {
  readonly url: string;
  readonly received: ReceivedWebhook[];
  /** Requests that no secret verified. */
  readonly unverified: number;
  /** Every request, verified or not. */
  readonly requests: number;
  /** Waits (bounded) until `n` verified requests arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * A webhook receiver on 127.0.0.1 that verifies every request with each of `secrets` through the
 * `standardwebhooks` package and answers `answer(n)` to the n-th verified request (1-based).
 */
export async function loopbackReceiver(secrets: () => readonly string[], answer: (n: number) => number = () => 204): Promise<LoopbackReceiver> {
  const state = { received: [] as ReceivedWebhook[], unverified: 0, requests: 0 };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      state.requests += 1;
      const payload = Buffer.concat(chunks).toString();
      const verifiedWith: number[] = [];
      secrets().forEach((secret, i) => {
        try {
          new Webhook(secret).verify(payload, req.headers as Record<string, string>);
          verifiedWith.push(i);
        } catch {
          // not this one
        }
      });
      if (verifiedWith.length === 0) {
        state.unverified += 1;
        res.writeHead(400).end();
        return;
      }
      state.received.push({
        id: req.headers['webhook-id'] as string,
        timestamp: req.headers['webhook-timestamp'] as string,
        signature: req.headers['webhook-signature'] as string,
        body: JSON.parse(payload),
        verifiedWith,
      });
      res.writeHead(answer(state.received.length)).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/hook`,
    received: state.received,
    get unverified() {
      return state.unverified;
    },
    get requests() {
      return state.requests;
    },
    async waitFor(n: number, timeoutMs = 5_000) {
      const until = Date.now() + timeoutMs;
      while (state.received.length < n) {
        if (Date.now() > until) throw new Error(`receiver got ${state.received.length} of ${n} webhooks in ${timeoutMs} ms`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
