/**
 * A loopback TCP proxy in front of a DynamoDB-compatible engine, for the tests that need to see
 * or break what the gateway asks its store: it counts the DynamoDB operations passing through
 * (by their `X-Amz-Target` header) and can switch, while connections are open, to
 *
 * - `pass`: bytes flow both ways;
 * - `blackhole`: connections are accepted and read, and nothing is ever answered (a store that
 *   hangs, or a network that drops packets);
 * - `reset`: every connection, open or new, is reset at once;
 * - `closed`: the listener is closed: new connections are refused (ECONNREFUSED).
 *
 * Connections that saw the black hole are reset when the mode changes again (their requests were
 * swallowed mid-stream, so they cannot carry on), unless `keepSwallowed` is set: then they stay
 * open and silent for good while new connections pass (a path that lost some connections' state
 * without telling either end, as a stateful middlebox can).
 */
import { createServer, type AddressInfo, type Server, type Socket, connect } from 'node:net';

export type ProxyMode = 'pass' | 'blackhole' | 'reset' | 'closed';

export interface StoreProxy {
  /** `http://127.0.0.1:<port>`: give it to the gateway as its DynamoDB endpoint. */
  readonly endpoint: string;
  readonly mode: ProxyMode;
  setMode(mode: ProxyMode, options?: { keepSwallowed?: boolean }): Promise<void>;
  /** DynamoDB operations seen in client → store bytes so far (e.g. GetItem, UpdateItem), in order. */
  readonly operations: readonly string[];
  close(): Promise<void>;
}

interface Pair {
  readonly client: Socket;
  upstream?: Socket;
  swallowed: boolean;
  /** Swallowed and kept: never passes anything again. */
  silenced: boolean;
  /** The end of the last chunk, so a header split across chunks is still counted. */
  tail: string;
}

const TARGET = /x-amz-target:\s*DynamoDB_\d+\.(\w+)/gi;

export async function startStoreProxy(target: string): Promise<StoreProxy> {
  const to = new URL(target);
  const pairs = new Set<Pair>();
  const operations: string[] = [];
  let mode: ProxyMode = 'pass';
  let port = 0;

  const count = (pair: Pair, chunk: Buffer) => {
    const text = pair.tail + chunk.toString('latin1');
    // Only matches that end in this chunk's part are new (the tail was scanned before).
    for (const match of text.matchAll(TARGET)) {
      if (match.index + match[0].length > pair.tail.length) operations.push(match[1]!);
    }
    pair.tail = text.slice(-64);
  };

  const onConnection = (client: Socket) => {
    const pair: Pair = { client, swallowed: false, silenced: false, tail: '' };
    pairs.add(pair);
    client.on('close', () => {
      pairs.delete(pair);
      pair.upstream?.destroy();
    });
    client.on('error', () => undefined);
    if (mode === 'reset') {
      client.resetAndDestroy();
      return;
    }
    client.on('data', (chunk: Buffer) => {
      count(pair, chunk);
      if (mode === 'blackhole' || pair.silenced) {
        pair.swallowed = true;
        return;
      }
      if (mode === 'reset') {
        client.resetAndDestroy();
        return;
      }
      if (!pair.upstream) {
        const upstream = connect({ host: to.hostname, port: Number(to.port) });
        pair.upstream = upstream;
        // The store closing its side (e.g. its idle timeout) ends the client's connection, unless
        // this connection is in the black hole: a black hole tells the client nothing.
        upstream.on('error', () => undefined);
        upstream.on('close', () => {
          if (pair.upstream === upstream) pair.upstream = undefined;
          if (!pair.swallowed) client.destroy();
        });
        upstream.on('data', (answer: Buffer) => {
          // A black hole swallows answers too, even those already on their way.
          if (mode === 'blackhole' || pair.silenced) {
            pair.swallowed = true;
            return;
          }
          client.write(answer);
        });
      }
      pair.upstream.write(chunk);
    });
  };

  let server: Server = createServer(onConnection);
  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(at, '127.0.0.1', () => {
        server.off('error', reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  await listen(0);

  return {
    endpoint: `http://127.0.0.1:${port}`,
    get mode() {
      return mode;
    },
    operations,
    async setMode(next, options = {}) {
      if (next === mode) return;
      const previous = mode;
      mode = next;
      for (const pair of [...pairs]) {
        if (previous === 'blackhole' && pair.swallowed && options.keepSwallowed && next === 'pass') {
          pair.silenced = true;
          continue;
        }
        if (next === 'reset' || next === 'closed' || (previous === 'blackhole' && pair.swallowed) || pair.silenced) {
          pair.upstream?.destroy();
          pair.client.resetAndDestroy();
        }
      }
      if (next === 'closed') {
        await new Promise<void>((resolve) => server.close(() => resolve()));
      } else if (previous === 'closed') {
        server = createServer(onConnection);
        await listen(port); // the same port: the gateway keeps its endpoint
      }
    },
    async close() {
      for (const pair of [...pairs]) {
        pair.upstream?.destroy();
        pair.client.destroy();
      }
      if (mode !== 'closed') await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
