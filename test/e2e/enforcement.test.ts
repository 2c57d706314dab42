/**
 * Enforcement end to end (issue 7, "Done when"): each data-plane limit bypass that was reproduced
 * on loopback, tried again against a real local gateway in front of a real SDK MCP server.
 *
 * - every JSON-RPC message of a batch counts against the per-minute limit (one conditional write
 *   adding the batch size; a batch that does not fit is refused whole); batches over 50 are 400;
 * - the initialize handshake has a per-key budget of its own (2 × handshakesPerKeyPerMinute
 *   messages a minute): a key limited to 1 request/min still completes one, a flood of
 *   initialize is refused after the budget and never reaches the upstream;
 * - unauthenticated requests are refused from the headers (the body is not read, `id: null`),
 *   a bad key repeated is refused from memory (no store read), their usage records are small, and
 *   a flood of made-up well-formed keys does not starve a warm legitimate key;
 * - a session belongs to the key that opened it (another key of the org: 404; the key revoked: 401);
 * - a key holds at most its plan's streams at once, and an ended stream gives its slot back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { pbkdf2, pbkdf2Sync, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { request as httpRequest } from 'node:http';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import * as argon2 from 'argon2';
import { z } from 'zod';
import { ARGON2_PARAMS } from '../../lambda/core/api-keys';
import { DEFAULT_MAX_BATCH_MESSAGES } from '../../lambda/core/gateway/read-request';
import { MAX_NAME_CHARS, MAX_RECORDED_METHODS } from '../../lambda/core/gateway/usage';
import { PLAN_LIMITS } from '../../lambda/core/plans';
import { provision, startTestGateway, type TestGateway } from './harness';
import { startStoreProxy, type StoreProxy } from './store-proxy';
import { startSdkUpstream, sseEvents, type SdkUpstream, type SeenRequest } from './upstreams';
import {
  ACCEPT,
  call,
  eventually,
  expectClean,
  expectGatewayError,
  initializeMessage,
  openSession,
  PROTOCOL_VERSION,
  rawRequest,
  resultOf,
  rpc,
  sleep,
  toolCall,
  type Answer,
} from './gateway-expect';

const KEY_CACHE_TTL_MS = 300;

let upstream: SdkUpstream;
let secrets: string[];

beforeAll(async () => {
  upstream = await startSdkUpstream({
    name: 'enforced',
    eventStore: () => new InMemoryEventStore(),
    setup: (server) => {
      server.registerTool('echo', { inputSchema: { text: z.string() } }, async ({ text }) => ({ content: [{ type: 'text', text: `echo: ${text}` }] }));
      server.registerTool('danger_delete', { inputSchema: {} }, async () => ({ content: [{ type: 'text', text: 'deleted' }] }));
      // Sends a log notification before its result: the POST answer is an SSE stream with event ids.
      server.registerTool('chatty', { inputSchema: {} }, async (_args, extra) => {
        await extra.sendNotification({ method: 'notifications/message', params: { level: 'info', data: 'working' } });
        // The SDK's example event store orders events by id, whose time part is in milliseconds:
        // two events of one millisecond may replay in either order.
        await sleep(20);
        return { content: [{ type: 'text', text: 'done' }] };
      });
    },
  });
  secrets = [upstream.url, `127.0.0.1:${upstream.port}`];
});

afterAll(async () => {
  await upstream?.close();
});

/** If less than `neededMs` is left of the current UTC minute, waits (at most that long) for the next one. */
async function awayFromMinuteBoundary(neededMs: number): Promise<void> {
  const left = 60_000 - (Date.now() % 60_000);
  if (left < neededMs) await sleep(left + 100);
}

const minuteOf = (ms: number) => Math.floor(ms / 60_000);

/** The upstream requests that carried the `X-Request-Id` of one of `answers`. */
function forwarded(answers: readonly Answer[]): SeenRequest[] {
  const ids = new Set(answers.map((a) => a.headers['x-request-id']));
  return upstream.requests.filter((r) => ids.has(r.headers['x-request-id'] as string));
}

/** tools/call messages among upstream requests (single or batched bodies). */
function toolCallsIn(requests: readonly SeenRequest[]): number {
  let n = 0;
  for (const r of requests) {
    const bodies = Array.isArray(r.body) ? r.body : [r.body];
    for (const b of bodies) if ((b as { method?: string } | undefined)?.method === 'tools/call') n++;
  }
  return n;
}

const echoBatch = (from: number, count: number) => Array.from({ length: count }, (_, i) => toolCall(from + i, 'echo', { text: `m${from + i}` }));

/** The usage record the gateway wrote for `answer`. */
function usageOf(gw: TestGateway, answer: Answer): Record<string, unknown> {
  const record = gw.records.find((r) => r.type === 'usage' && r.requestId === answer.headers['x-request-id']);
  if (!record) throw new Error(`no usage record for ${answer.headers['x-request-id']}`);
  return record;
}

/** 400 batch_too_large, with a batch's null id. */
function expectBatchTooLarge(answer: Answer, hidden: readonly string[]): void {
  expectGatewayError(answer, 'batch_too_large', null, hidden);
}

/** Rejects if `promise` has not settled within `ms` (the timer does not outlive it). */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} within ${ms} ms`)), ms)));
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe('a gateway on its embedded store', () => {
  let gw: TestGateway;
  let orgId: string;

  beforeAll(async () => {
    gw = await startTestGateway({ keyCacheTtlMs: KEY_CACHE_TTL_MS });
    ({ orgId } = await provision(gw, { slug: 'enforced', endpoints: [{ url: upstream.url }], toolPolicy: { allow: [], deny: ['danger_*'] } }, {}, { plan: 'pro' }));
  });
  afterAll(async () => {
    await gw?.close();
  });

  const url = () => gw.mcpUrl('enforced');
  const newKey = async (body: Record<string, unknown> = {}, inOrg = orgId): Promise<{ secret: string; keyId: string }> => {
    const issued = await gw.admin('POST', `/orgs/${inOrg}/keys`, { name: `k${Math.random()}`, role: 'member', ...body });
    return { secret: issued.secret, keyId: issued.key.keyId };
  };

  describe('batches: every message counts', () => {
    test('a key limited to 2/min: two batches of 10 tools/call are refused whole and none runs; a batch of 2 passes, then one more call is refused', async () => {
      const { secret } = await newKey({ rateLimitPerMinute: 2 });
      const session = await openSession(url(), secret); // the handshake has its own budget
      await awayFromMinuteBoundary(15_000);
      const started = Date.now();

      const refused = [await call(url(), secret, echoBatch(1, 10), { session }), await call(url(), secret, echoBatch(11, 10), { session })];
      for (const answer of refused) {
        expectGatewayError(answer, 'rate_limited', null, [...secrets, secret]);
        expect(answer.headers['ratelimit-limit']).toBe('2');
        expect(answer.headers['ratelimit-remaining']).toBe('0');
        expect(Number(answer.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      }
      expect(forwarded(refused)).toEqual([]);

      const pair = await call(url(), secret, echoBatch(21, 2), { session });
      expect(pair.status).toBe(200);
      expect(resultOf(pair, 21).result.content).toEqual([{ type: 'text', text: 'echo: m21' }]);
      expect(resultOf(pair, 22).result.content).toEqual([{ type: 'text', text: 'echo: m22' }]);
      expect(pair.headers['ratelimit-remaining']).toBe('0');
      expectClean(pair, [...secrets, secret]);

      const third = await call(url(), secret, toolCall(23, 'echo', { text: 'm23' }), { session });
      expectGatewayError(third, 'rate_limited', 23, secrets);
      expect(toolCallsIn(forwarded([...refused, pair, third]))).toBe(2);
      expect(minuteOf(Date.now())).toBe(minuteOf(started));
    });

    test('a key limited to 25/min: batches of 10 and 10 pass, a third of 10 does not fit and is refused whole, a batch of 5 fills the minute exactly', async () => {
      const { secret } = await newKey({ rateLimitPerMinute: 25 });
      const session = await openSession(url(), secret);
      await awayFromMinuteBoundary(15_000);
      const started = Date.now();
      const answers: Answer[] = [];
      const send = async (from: number, count: number) => {
        const answer = await call(url(), secret, echoBatch(from, count), { session });
        answers.push(answer);
        return answer;
      };

      expect((await send(100, 10)).headers['ratelimit-remaining']).toBe('15');
      expect((await send(200, 10)).headers['ratelimit-remaining']).toBe('5');
      const overflow = await send(300, 10);
      expectGatewayError(overflow, 'rate_limited', null, secrets);
      const last = await send(400, 5);
      expect(last.status).toBe(200);
      expect(last.headers['ratelimit-remaining']).toBe('0');
      for (let i = 400; i < 405; i++) expect(resultOf(last, i).result.content[0].text).toBe(`echo: m${i}`);
      expectGatewayError(await send(500, 1), 'rate_limited', null, secrets);

      expect(toolCallsIn(forwarded(answers))).toBe(25);
      expect(forwarded([overflow])).toEqual([]);
      expect(minuteOf(Date.now())).toBe(minuteOf(started));
    });

    test(`a batch of more than ${DEFAULT_MAX_BATCH_MESSAGES} messages is 400 batch_too_large, forwarded nowhere and not counted; ${DEFAULT_MAX_BATCH_MESSAGES} pass`, async () => {
      expect(DEFAULT_MAX_BATCH_MESSAGES).toBe(50);
      const { secret } = await newKey({ rateLimitPerMinute: 500 });
      const session = await openSession(url(), secret);
      await awayFromMinuteBoundary(10_000);
      const tooLarge = await call(url(), secret, echoBatch(1, 51), { session });
      expectBatchTooLarge(tooLarge, [...secrets, secret]);
      expect(forwarded([tooLarge])).toEqual([]);
      // A huge batch is refused the same way (before anything else is spent on it).
      expectBatchTooLarge(await call(url(), secret, Array.from({ length: 5_000 }, (_, i) => rpc(i, 'ping')), { session }), secrets);

      const full = await call(url(), secret, echoBatch(100, 50), { session });
      expect(full.status).toBe(200);
      for (let i = 100; i < 150; i++) expect(resultOf(full, i).result.content[0].text).toBe(`echo: m${i}`);
      expect(full.headers['ratelimit-remaining']).toBe('450'); // only the batch of 50 was counted
    });
  });

  describe('the handshake has a budget of its own', () => {
    const budget = 2 * PLAN_LIMITS.free.handshakesPerKeyPerMinute;

    test(`a key limited to 1 request/min completes handshakes; 150 initialize in a row get 429 handshake_limited after the budget (${budget} messages) and the upstream sees only those within it`, async () => {
      expect(budget).toBe(20);
      const { orgId: freeOrg } = await provision(gw, { slug: 'handshakes', endpoints: [{ url: upstream.url }] }, {}, { plan: 'free' });
      const hsUrl = gw.mcpUrl('handshakes');
      const { secret } = await newKey({ rateLimitPerMinute: 1 }, freeOrg);
      await awayFromMinuteBoundary(20_000);
      const started = Date.now();

      const session = await openSession(hsUrl, secret); // 2 of the budget
      const first = await call(hsUrl, secret, toolCall('c1', 'echo', { text: 'one' }), { session });
      expect(resultOf(first, 'c1').result.content[0].text).toBe('echo: one');
      expectGatewayError(await call(hsUrl, secret, toolCall('c2', 'echo', { text: 'two' }), { session }), 'rate_limited', 'c2', secrets);
      // The per-minute limit is used up; a new handshake still completes (4 of the budget).
      await openSession(hsUrl, secret);

      // In a row, as a reconnect loop would send them.
      const flood: Answer[] = [];
      for (let i = 0; i < 150; i++) flood.push(await call(hsUrl, secret, initializeMessage(`i${i}`)));
      const passed = flood.filter((a) => a.status === 200);
      expect(passed).toHaveLength(budget - 4);
      for (const a of passed) expect(a.headers['mcp-session-id']).toMatch(/^pms2\./);
      flood.forEach((a, i) => {
        if (a.status === 200) return;
        expectGatewayError(a, 'handshake_limited', `i${i}`, [...secrets, secret]);
        const retryAfter = Number(a.headers['retry-after']);
        expect(retryAfter).toBeGreaterThanOrEqual(1);
        expect(retryAfter).toBeLessThanOrEqual(60);
        expect(a.headers['ratelimit-limit']).toBeUndefined(); // the per-minute limit was not involved
      });
      const seen = forwarded(flood);
      expect(seen).toHaveLength(budget - 4);
      expect(seen.every((r) => (r.body as { method?: string }).method === 'initialize')).toBe(true);
      // Even notifications/initialized of a session opened within the budget waits for the next minute.
      const late = await call(hsUrl, secret, rpc(undefined, 'notifications/initialized'), { session: passed[0]!.headers['mcp-session-id'] });
      expectGatewayError(late, 'handshake_limited', null, secrets);
      expect(minuteOf(Date.now())).toBe(minuteOf(started));

      // The budget is per key: another key of the org handshakes at once.
      const other = await newKey({ rateLimitPerMinute: 1 }, freeOrg);
      await openSession(hsUrl, other.secret);
    }, 60_000);
  });

  describe('sessions belong to the key that opened them', () => {
    test('another key of the same org gets 404 session_not_found for POST, GET (with Last-Event-ID) and DELETE; nothing reaches the upstream; the owner keeps its session', async () => {
      const a = await newKey({ rateLimitPerMinute: 1_000 });
      const b = await newKey({ rateLimitPerMinute: 1_000 });
      const session = await openSession(url(), a.secret);

      // Key A's tool call answers as an SSE stream with event ids (the upstream is resumable).
      const res = await fetch(url(), {
        method: 'POST',
        headers: { authorization: `Bearer ${a.secret}`, accept: ACCEPT, 'content-type': 'application/json', 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL_VERSION },
        body: JSON.stringify(toolCall('t1', 'chatty')),
        signal: AbortSignal.timeout(10_000),
      });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const events = [];
      for await (const event of sseEvents(res.body!)) events.push(event);
      const firstEventId = events[0]!.id!;
      expect(firstEventId).toEqual(expect.any(String));
      expect(JSON.parse(events.at(-1)!.data).result.content[0].text).toBe('done');

      const before = upstream.requests.length;
      const replay = { 'last-event-id': firstEventId };
      expectGatewayError(await call(url(), b.secret, toolCall('x1', 'echo', { text: 'hijack' }), { session }), 'session_not_found', 'x1', [...secrets, b.secret]);
      expectGatewayError(await call(url(), b.secret, undefined, { method: 'GET', session, headers: replay }), 'session_not_found', null, secrets);
      expectGatewayError(await call(url(), b.secret, undefined, { method: 'DELETE', session }), 'session_not_found', null, secrets);
      expect(upstream.requests.length).toBe(before);

      // The owner replays its own stream from the event id: the result it missed comes again.
      const aborter = new AbortController();
      const timer = setTimeout(() => aborter.abort(), 8_000);
      const replayed: string[] = [];
      try {
        const resumed = await fetch(url(), {
          method: 'GET',
          headers: { authorization: `Bearer ${a.secret}`, accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL_VERSION, ...replay },
          signal: aborter.signal,
        });
        expect(resumed.status).toBe(200);
        for await (const event of sseEvents(resumed.body!)) {
          replayed.push(event.data);
          if (JSON.parse(event.data).id === 't1') break;
        }
      } catch (error) {
        if (!aborter.signal.aborted) throw error;
      } finally {
        clearTimeout(timer);
        aborter.abort();
      }
      expect({ replayed, upstreamSaw: upstream.requests.slice(before).map((r) => [r.method, r.headers['last-event-id']]) }).toEqual({
        replayed: [expect.stringContaining('"id":"t1"')],
        upstreamSaw: [['GET', firstEventId]],
      });
      const own = await call(url(), a.secret, toolCall('a2', 'echo', { text: 'mine' }), { session });
      expect(resultOf(own, 'a2').result.content[0].text).toBe('echo: mine');
    });

    test(`after the owner key is revoked (and the key cache TTL, ${KEY_CACHE_TTL_MS} ms, passed) its session is 401`, async () => {
      const a = await newKey({ rateLimitPerMinute: 1_000 });
      const session = await openSession(url(), a.secret);
      await gw.admin('POST', `/orgs/${orgId}/keys/${a.keyId}/revoke`);
      await sleep(KEY_CACHE_TTL_MS + 100);
      const before = upstream.requests.length;
      expectGatewayError(await call(url(), a.secret, toolCall('r1', 'echo', { text: 'x' }), { session }), 'invalid_api_key', null, [...secrets, a.secret]);
      expectGatewayError(await call(url(), a.secret, undefined, { method: 'GET', session }), 'invalid_api_key', null, secrets);
      expect(upstream.requests.length).toBe(before);
    });
  });

  describe('streams per key', () => {
    const cap = PLAN_LIMITS.free.maxConcurrentStreamsPerKey;

    /** Opens a GET stream of `session`; resolves once its headers arrived (the body stays open). */
    async function openStream(streamUrl: string, key: string, session: string): Promise<{ status: number; answer?: Answer; close: () => void; ended: Promise<void> }> {
      const aborter = new AbortController();
      const res = await fetch(streamUrl, {
        method: 'GET',
        headers: { authorization: `Bearer ${key}`, accept: 'text/event-stream', 'mcp-session-id': session, 'mcp-protocol-version': PROTOCOL_VERSION },
        signal: aborter.signal,
      });
      if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
        const headers: Record<string, string> = {};
        res.headers.forEach((v, k) => (headers[k] = v));
        return { status: res.status, answer: { status: res.status, headers, text: await res.text() }, close: () => undefined, ended: Promise.resolve() };
      }
      // Read it to the end in the background, so an end from the upstream side is seen.
      const ended = (async () => {
        try {
          for await (const event of sseEvents(res.body!)) void event;
        } catch {
          // aborted
        }
      })();
      return { status: res.status, close: () => aborter.abort(), ended };
    }

    test(`free plan: ${cap} GET streams per key; the next is 429 too_many_streams; closing one (client or upstream side) frees its slot`, async () => {
      expect(cap).toBe(5);
      const { orgId: freeOrg } = await provision(gw, { slug: 'streams', endpoints: [{ url: upstream.url }] }, {}, { plan: 'free' });
      const streamUrl = gw.mcpUrl('streams');
      const { secret } = await newKey({}, freeOrg);
      // The SDK server allows one GET stream per session: one session per stream.
      const sessions: string[] = [];
      for (let i = 0; i < cap + 2; i++) sessions.push(await openSession(streamUrl, secret));

      const open = [];
      for (let i = 0; i < cap; i++) {
        const stream = await openStream(streamUrl, secret, sessions[i]!);
        expect(stream.status).toBe(200);
        open.push(stream);
      }
      const sixth = await openStream(streamUrl, secret, sessions[cap]!);
      expectGatewayError(sixth.answer!, 'too_many_streams', null, [...secrets, secret]);
      expect(sixth.answer!.headers['retry-after']).toBe('5');
      // Requests that are not streams are not capped.
      const ping = await call(streamUrl, secret, rpc('p', 'ping'), { session: sessions[cap] });
      expect(resultOf(ping, 'p').result).toEqual({});
      // Another key of the org has streams of its own.
      const other = await newKey({}, freeOrg);
      const otherSession = await openSession(streamUrl, other.secret);
      const otherStream = await openStream(streamUrl, other.secret, otherSession);
      expect(otherStream.status).toBe(200);
      otherStream.close();

      // The client closes one stream: its slot comes back (the release is written after the stream ended).
      open.shift()!.close();
      let reopened: Awaited<ReturnType<typeof openStream>> | undefined;
      expect(
        await eventually(async () => {
          const attempt = await openStream(streamUrl, secret, sessions[cap]!);
          if (attempt.status === 200) reopened = attempt;
          return reopened !== undefined;
        }, 5_000, 100),
      ).toBe(true);
      open.push(reopened!);

      // The upstream ends one: DELETE ends session 1 upstream, which closes its GET stream.
      const endedByUpstream = open.shift()!;
      const deleted = await call(streamUrl, secret, undefined, { method: 'DELETE', session: sessions[1] });
      expect(deleted.status).toBe(200);
      await within(endedByUpstream.ended, 5_000, 'the stream ended');
      let last: Awaited<ReturnType<typeof openStream>> | undefined;
      expect(
        await eventually(async () => {
          const attempt = await openStream(streamUrl, secret, sessions[cap + 1]!);
          if (attempt.status === 200) last = attempt;
          return last !== undefined;
        }, 5_000, 100),
      ).toBe(true);
      open.push(last!);
      for (const stream of open) stream.close();
      await Promise.all(open.map((s) => s.ended));
    }, 60_000);
  });
});

/** A POST whose body is declared at `declared` bytes of which only `sent` are written; resolves with the answer (or rejects after `timeoutMs`). */
function postUnfinished(target: string, headers: Record<string, string>, declared: number, sent: number, timeoutMs: number): Promise<Answer & { ms: number }> {
  const u = new URL(target);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: u.hostname, port: u.port, path: u.pathname, method: 'POST', agent: false, headers: { ...headers, 'content-type': 'application/json', 'content-length': String(declared) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const h: Record<string, string> = {};
          for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) h[k] = Array.isArray(v) ? v.join(', ') : v;
          resolve({ status: res.statusCode ?? 0, headers: h, text: Buffer.concat(chunks).toString('utf8'), ms: Date.now() - started });
          req.destroy();
        });
      },
    );
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code !== 'ECONNRESET' && error.code !== 'EPIPE') reject(error);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no answer within ${timeoutMs} ms: the body was waited for`)));
    // The start of a JSON-RPC request with an id: if it were read and parsed, the error would carry id 7.
    const head = Buffer.from('{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"');
    req.write(Buffer.concat([head, Buffer.alloc(sent - head.length, 0x61)]));
  });
}

/** dynalite in a process of its own: the gateway's store is remote, as DynamoDB is in AWS. */
async function startChildDynalite(): Promise<{ endpoint: string; close(): Promise<void> }> {
  const script =
    "const s=require('dynalite')({createTableMs:0,deleteTableMs:0,updateTableMs:0});" +
    "s.listen(0,'127.0.0.1',()=>process.stdout.write(String(s.address().port)+'\\n'));";
  const child: ChildProcess = spawn(process.execPath, ['-e', script], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await within(
    new Promise<string>((resolve, reject) => {
      child.stdout!.once('data', (d: Buffer) => resolve(String(d).trim()));
      child.once('exit', (code) => reject(new Error(`dynalite exited with ${code}`)));
    }),
    15_000,
    'dynalite listening',
  );
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

/**
 * A client in a process of its own that sends `count` requests, each with a new random
 * well-formed key (`pmcp_<16 base32>_<43 base64url>`), `concurrency` at a time; reports how they
 * were answered ("status code" → how many) and how long it took.
 */
const FLOOD_CLIENT = `
const [url, count, concurrency] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
const { randomBytes } = require('node:crypto');
const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const key = () => 'pmcp_' + Array.from(randomBytes(16), (b) => BASE32[b & 31]).join('') + '_' + randomBytes(32).toString('base64url');
const answers = {};
let sent = 0;
const started = Date.now();
async function worker() {
  while (sent < count) {
    sent++;
    let outcome;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: 'Bearer ' + key(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"x"}}}',
        signal: AbortSignal.timeout(60000),
      });
      const text = await res.text();
      let code = '';
      try { code = JSON.parse(text).error.data.code; } catch {}
      outcome = res.status + ' ' + code;
    } catch (error) {
      outcome = 'failed ' + error.name;
    }
    answers[outcome] = (answers[outcome] || 0) + 1;
  }
}
Promise.all(Array.from({ length: concurrency }, worker)).then(() => process.stdout.write(JSON.stringify({ answers, ms: Date.now() - started })));
`;

function flood(target: string, count: number, concurrency: number): Promise<{ answers: Record<string, number>; ms: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['-e', FLOOD_CLIENT, target, String(count), String(concurrency)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
    child.once('exit', (code) => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(out));
      } catch {
        reject(new Error(`flood client exited with ${code}: ${out.slice(0, 300)}`));
      }
    });
  });
}

/** CPU time (user + system, every thread of this process) of a process.cpuUsage() difference, in ms. */
const cpuMs = (usage: NodeJS.CpuUsage) => (usage.user + usage.system) / 1_000;

const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('refusing cheaply (the store reached through a counting proxy)', () => {
  let db: { endpoint: string; close(): Promise<void> };
  let proxy: StoreProxy;
  let gw: TestGateway;
  let key: { apiKey: string; keyId: string; orgId: string };

  beforeAll(async () => {
    db = await startChildDynalite();
    proxy = await startStoreProxy(db.endpoint);
    // These tests count the store operations of refusing a key; the usage analytics' own flushes
    // (every 5 s, to their own table) would land among them, so they are off here.
    gw = await startTestGateway({ dynamodbEndpoint: proxy.endpoint, analytics: false });
    key = await provision(gw, { slug: 'cheap', endpoints: [{ url: upstream.url }], toolPolicy: { allow: [], deny: ['danger_*'] } }, { rateLimitPerMinute: 100_000 });
  }, 30_000);
  afterAll(async () => {
    await gw?.close();
    await proxy?.close();
    await db?.close();
  });

  const url = () => gw.mcpUrl('cheap');
  const FOUR_MIB = 4 * 1024 * 1024;
  const madeUpKey = () => `pmcp_${'abcdefghijklmnop'.split('').sort(() => Math.random() - 0.5).join('')}_${'A'.repeat(43)}`;

  test('without a valid key, a POST declaring 4 MiB of which only 64 KiB were sent is answered 401 (id null) without waiting for the rest', async () => {
    // A bearer value without the key prefix is an OAuth access token: refused as invalid_token, as early.
    const attempts: [Record<string, string>, 'invalid_api_key' | 'invalid_token'][] = [
      [{}, 'invalid_api_key'],
      [{ authorization: `Bearer ${madeUpKey()}` }, 'invalid_api_key'],
      [{ authorization: 'Bearer not-a-key' }, 'invalid_token'],
    ];
    for (const [headers, code] of attempts) {
      const answer = await postUnfinished(url(), headers, FOUR_MIB, 64 * 1024, 5_000);
      expectGatewayError(answer, code, null, secrets);
      expect(answer.ms).toBeLessThan(5_000);
    }
    // The same request with a valid key is read to its end, i.e. waited for: the 401s above did not.
    await expect(postUnfinished(url(), { authorization: `Bearer ${key.apiKey}` }, FOUR_MIB, 64 * 1024, 1_500)).rejects.toThrow(/no answer within 1500 ms/);
  });

  test('a whole 4 MiB body without a key: 401 with id null, and its usage record is small (the body was never read)', async () => {
    const body = Buffer.from(JSON.stringify(toolCall(7, 'echo', { text: 'a'.repeat(FOUR_MIB - 200) })));
    expect(body.length).toBeLessThanOrEqual(FOUR_MIB);
    const chunks = Array.from({ length: Math.ceil(body.length / 65_536) }, (_, i) => body.subarray(i * 65_536, (i + 1) * 65_536));
    const started = Date.now();
    const answer = await rawRequest(gw.baseUrl, { path: '/mcp/cheap', headers: { 'content-type': 'application/json', 'content-length': String(body.length) }, body: chunks });
    const ms = Date.now() - started;
    expectGatewayError(answer, 'invalid_api_key', null, secrets);
    expect(ms).toBeLessThan(2_000);
    const record = usageOf(gw, answer);
    expect(record).toMatchObject({ status: 401, errorCode: 'invalid_api_key', messageCount: 0, methods: [], bytesIn: 0 });
    expect(record.keyId).toBeUndefined();
    expect(JSON.stringify(record).length).toBeLessThan(512);
  });

  test('a bad key repeated is refused from memory: its first try reads the store once, twenty more read nothing', async () => {
    const wrongSecret = `pmcp_${key.keyId}_${'B'.repeat(43)}`; // a real key id, not its secret
    for (const bad of [madeUpKey(), wrongSecret]) {
      const before = proxy.operations.length;
      expectGatewayError(await call(url(), bad, rpc(1, 'ping')), 'invalid_api_key', null, [...secrets, bad]);
      expect(proxy.operations.slice(before)).toEqual(['GetItem']);
      const repeated = proxy.operations.length;
      for (let i = 0; i < 20; i++) expectGatewayError(await call(url(), bad, rpc(i, 'ping')), 'invalid_api_key', null, secrets);
      expect(proxy.operations.slice(repeated)).toEqual([]);
    }
    // The good key of the same id is not affected by its failed look-alike.
    const session = await openSession(url(), key.apiKey);
    expect(resultOf(await call(url(), key.apiKey, rpc('ok', 'ping'), { session }), 'ok').result).toEqual({});
  });

  test("an error answered after the body was read records at most 16 methods of at most 128 characters, whatever the batch held", async () => {
    const session = await openSession(url(), key.apiKey);
    const long = 'x'.repeat(10_000);
    const batch = [...Array.from({ length: 49 }, (_, i) => rpc(i, `${long}/${i}`)), toolCall(49, 'danger_delete')];
    const answer = await call(url(), key.apiKey, batch, { session });
    expectGatewayError(answer, 'forbidden_tool', null, secrets);
    const record = usageOf(gw, answer);
    expect(record.messageCount).toBe(50);
    expect((record.methods as string[]).length).toBe(MAX_RECORDED_METHODS);
    expect((record.methods as string[]).every((m) => m.length === MAX_NAME_CHARS)).toBe(true);
    expect(JSON.stringify(record).length).toBeLessThan(MAX_RECORDED_METHODS * (MAX_NAME_CHARS + 3) + 1_024);
  });

  test('1,000 random well-formed keys at once do not slow a warm key by more than 2× its p50 and cost far less than one Argon2id verification each; each is 401 or 503, never 200 or 500', async () => {
    // What one verification costs here, in CPU time (it runs on the thread pool of this process).
    const hash = await argon2.hash(randomBytes(32).toString('base64url'), ARGON2_PARAMS);
    let verification = Infinity;
    for (let i = 0; i < 3; i++) {
      const cpu = process.cpuUsage();
      await argon2.verify(hash, randomBytes(32).toString('base64url'));
      verification = Math.min(verification, cpuMs(process.cpuUsage(cpu)));
    }

    const session = await openSession(url(), key.apiKey);
    const ping = async (i: number) => {
      const started = process.hrtime.bigint();
      const answer = await call(url(), key.apiKey, rpc(i, 'ping'), { session });
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (answer.status !== 200) throw new Error(`warm key: ${answer.status} ${answer.text.slice(0, 200)}`);
      return ms;
    };
    const samples = async (n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) out.push(await ping(i));
      return out;
    };
    await samples(20); // warm: verified-key cache, registry cache, connections

    // Other work shares this machine and its load drifts: the warm key's own p50 is the larger of
    // the one just before and the one just after the flood, and a burst may be tried up to three
    // times. Latency alone tells the fix apart only weakly on two cores (Argon2id runs off the
    // event loop: without the bound, bursts measured 2.5-8.7× here, with it 0.9-2.8×); the CPU
    // the burst costs this process tells it apart (measured: about 100 verifications' worth with
    // the bound on a quiet machine, but over 400 twice with the machine under load, when a
    // verification costs more CPU time than the idle baseline says; over 1,100 without the bound:
    // one per key, plus the rest). The line is drawn at 600.
    const attempts: Record<string, unknown>[] = [];
    for (let attempt = 0; attempt < 3; attempt++) {
      const before = await samples(40);
      let flooding = true;
      const cpu = process.cpuUsage();
      const attack = flood(url(), 1_000, 1_000).finally(() => (flooding = false));
      const during: number[] = [];
      while (flooding && during.length < 2_000) during.push(await ping(during.length));
      const { answers, ms } = await attack;
      const verifications = cpuMs(process.cpuUsage(cpu)) / verification;
      const after = await samples(40);
      const p50 = Math.max(median(before), median(after));
      const report = {
        p50Before: median(before),
        p50After: median(after),
        p50During: median(during),
        slowdown: median(during) / p50,
        samplesDuring: during.length,
        cpuInVerifications: Math.round(verifications),
        verificationMs: verification,
        floodMs: ms,
        answers,
      };
      attempts.push(report);

      expect({ total: Object.values(answers).reduce((a, b) => a + b, 0), report }).toEqual({ total: 1_000, report });
      for (const outcome of Object.keys(answers)) {
        // 401 once verified; 503 when the verification queue is full (authentication_busy) or the
        // key's store read waited too long behind the flood's own reads (store_unavailable).
        expect({ outcome, report }).toEqual({ outcome: expect.stringMatching(/^(401 invalid_api_key|503 authentication_busy|503 store_unavailable)$/), report });
      }
      expect({ enoughSamples: during.length >= 30, report }).toEqual({ enoughSamples: true, report });
      expect({ cheap: verifications < 600, report }).toEqual({ cheap: true, report });
      if (report.slowdown <= 2) break;
    }
    expect({ withinTwice: attempts.some((a) => (a.slowdown as number) <= 2), attempts }).toEqual({ withinTwice: true, attempts });
  }, 150_000);

  test('a verification that waits for CPU is not reported as a store failure: the key is 401 (and remembered), not 503 store_unavailable', async () => {
    // Keep the thread pool that runs Argon2id busy for longer than the store deadline (1.5 s):
    // the store read of the key is answered at once, its verification has to wait.
    const calibrate = Date.now();
    pbkdf2Sync('x', 'salt', 20_000, 32, 'sha256');
    const perIteration = Math.max(1e-5, (Date.now() - calibrate) / 20_000);
    const iterations = Math.ceil(2_500 / perIteration);
    const busy = Array.from({ length: Number(process.env.UV_THREADPOOL_SIZE ?? 4) }, () => promisify(pbkdf2)('x', 'salt', iterations, 32, 'sha256'));
    try {
      const bad = madeUpKey();
      const before = proxy.operations.length;
      const started = Date.now();
      const answer = await call(url(), bad, rpc(1, 'ping'));
      const waited = Date.now() - started;
      expect(proxy.operations.slice(before)).toEqual(['GetItem']); // the store was asked, and answered
      expect({ status: answer.status, waited, text: answer.text.slice(0, 200) }).toEqual({ status: 401, waited, text: expect.stringContaining('invalid_api_key') });
      await Promise.all(busy);
      // Remembered as failed: refused again without a store read.
      const repeated = proxy.operations.length;
      expectGatewayError(await call(url(), bad, rpc(2, 'ping')), 'invalid_api_key', null, secrets);
      expect(proxy.operations.slice(repeated)).toEqual([]);
    } finally {
      await Promise.all(busy);
    }
  }, 30_000);
});
