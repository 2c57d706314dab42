/**
 * Counts the DynamoDB operations a dynalite engine serves, at the engine: one `request` listener
 * on its HTTP server that reads the operation from `X-Amz-Target` (GetItem, UpdateItem, Query, ...)
 * and the table and item kind from the body.
 * Every call the engine answers is counted, whoever sent it and whatever it is for, so no kind of
 * store call can be missed by counting only the ones a client-side hook knows about.
 *
 * `countDynaliteServers()` makes every dynalite server created afterwards in this process count
 * into the returned record. It is how the bench counts the EMBEDDED engine that `serve()` starts
 * for itself (as `npm start` runs it) without changing how it is started: no proxy in between, no
 * other process, the engine still on the gateway's event loop. The listener costs a header read
 * and two regular expressions over the first bytes of the body per store call (microseconds). It
 * must run before anything loads the module that starts the engine (the engine module keeps its
 * own reference to dynalite's export).
 */
import type { IncomingMessage, Server } from 'node:http';

export type OperationCounts = Record<string, number>;

const TABLE = /"TableName"\s*:\s*"([^"]+)"/;
/**
 * The first key attribute's prefix before `#` ("rpm#<key>#<minute>" -> "rpm"): the item's kind.
 * Only a short alphabetic prefix, so no id ever becomes a name (and the names stay few).
 */
const KEY_KIND = /"Key"\s*:\s*\{\s*"[^"]+"\s*:\s*\{\s*"S"\s*:\s*"([A-Za-z_-]{1,24})#/;

/**
 * Counts the requests `server` answers into `counts`, by "<Operation> <table> <key kind>"
 * (e.g. "UpdateItem plexmcp-counters rpm", "Query plexmcp-registry"). The body is read beside
 * the engine's own reader (a second `data` listener; the engine's, registered first, still gets
 * every chunk); only its first 4 KiB are looked at.
 */
export function countOperations(server: Server, counts: OperationCounts): void {
  server.on('request', (req: IncomingMessage) => {
    const target = req.headers['x-amz-target'];
    const operation = typeof target === 'string' ? (target.split('.').pop() ?? 'unknown') : 'unknown';
    let head = '';
    req.on('data', (chunk: Buffer) => {
      if (head.length < 4096) head += chunk.toString('latin1', 0, Math.min(chunk.length, 4096 - head.length));
    });
    req.on('end', () => {
      const name = [operation, TABLE.exec(head)?.[1], KEY_KIND.exec(head)?.[1]].filter((part) => part !== undefined && part !== '').join(' ');
      counts[name] = (counts[name] ?? 0) + 1;
    });
  });
}

export function countDynaliteServers(): OperationCounts {
  const counts: OperationCounts = {};
  const id = require.resolve('dynalite');
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const original = require(id) as (options?: object) => Server;
  const cached = require.cache[id];
  if (!cached) throw new Error('dynalite is not in the CommonJS module cache: cannot count its operations');
  cached.exports = function countedDynalite(options?: object): Server {
    const server = original(options);
    countOperations(server, counts);
    return server;
  };
  return counts;
}
