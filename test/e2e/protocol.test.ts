/**
 * MCP through the gateway with real peers on loopback: the SDK's own client
 * (`Client` + `StreamableHTTPClientTransport`) against `server-everything` (a child process), and
 * raw `fetch` where timing, headers and SSE event ids matter. Every feature that needs traffic in
 * both directions (progress, logging, sampling, elicitation, resumption) goes through `/mcp/{slug}`.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InMemoryEventStore } from '@modelcontextprotocol/sdk/examples/shared/inMemoryEventStore.js';
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  LoggingMessageNotificationSchema,
  type ClientCapabilities,
  type LoggingMessageNotification,
} from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import { provision, startTestGateway, type TestGateway } from './harness';
import { mcpHttp, rawInitialize, RAW_PROTOCOL_VERSION, sseEvents, startEverything, startSdkUpstream, type SdkUpstream, type SseEvent, type UpstreamProcess } from './upstreams';

const SLUG = 'everything';
const RESUMABLE_SLUG = 'resumable';

let everything: UpstreamProcess;
let sdkUpstream: SdkUpstream;
let gw: TestGateway;
let apiKey: string;
let filteredKey: string;
let resumableKey: string;
const open: { close(): Promise<void> }[] = [];

beforeAll(async () => {
  [everything, sdkUpstream, gw] = await Promise.all([
    startEverything(),
    startSdkUpstream({ name: 'resumable-upstream', eventStore: () => new InMemoryEventStore(), setup: registerCountTool }),
    startTestGateway(),
  ]);
  const provisioned = await provision(gw, { slug: SLUG, endpoints: [{ url: everything.url }] });
  apiKey = provisioned.apiKey;
  const filtered = await gw.admin('POST', `/orgs/${provisioned.orgId}/keys`, {
    name: 'filtered agent',
    role: 'member',
    scopes: { mcps: [SLUG], tools: { [SLUG]: { allow: ['echo', 'get-*'], deny: ['get-env'] } } },
  });
  filteredKey = filtered.secret;
  resumableKey = (await provision(gw, { slug: RESUMABLE_SLUG, endpoints: [{ url: sdkUpstream.url }] })).apiKey;
}, 60_000);

afterEach(async () => {
  for (const item of open.splice(0).reverse()) await item.close().catch(() => undefined);
});

afterAll(async () => {
  await gw?.close();
  await Promise.all([everything?.stop(), sdkUpstream?.close()]);
});

/** The SDK client connected through the gateway with `key`; closed after the test. */
async function connect(key: string, capabilities: ClientCapabilities = {}, slug = SLUG) {
  const client = new Client({ name: 'plexmcp-e2e', version: '1.0.0' }, { capabilities });
  const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl(slug)), {
    requestInit: { headers: { authorization: `Bearer ${key}` } },
  });
  await client.connect(transport);
  open.push(client);
  return { client, transport };
}

/** Resolves with `value()` once it is truthy; rejects after `timeoutMs`. */
async function eventually<T>(value: () => T | Promise<T>, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = await value();
    if (current) return current as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const textOf = (result: unknown) =>
  (((result as { content?: unknown }).content ?? []) as { type: string; text?: string }[])
    .filter((c) => c.type === 'text')
    .map((c) => c.text)
    .join('\n');

/** A tool on the SDK upstream that reports `steps` progress notifications `intervalMs` apart. */
function registerCountTool(server: import('@modelcontextprotocol/sdk/server/mcp.js').McpServer) {
  server.registerTool('count', { inputSchema: { steps: z.number().int(), intervalMs: z.number().int() } }, async ({ steps, intervalMs }, extra) => {
    const progressToken = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      if (progressToken !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps } });
      }
    }
    return { content: [{ type: 'text', text: `counted to ${steps}` }] };
  });
  // Closes the request's SSE stream after the first step (SEP-1699 polling): the client must
  // reconnect with Last-Event-ID to get the rest.
  server.registerTool('count-and-hang-up', { inputSchema: { steps: z.number().int(), intervalMs: z.number().int() } }, async ({ steps, intervalMs }, extra) => {
    const progressToken = extra._meta?.progressToken;
    for (let i = 1; i <= steps; i++) {
      await new Promise((resolve) => setTimeout(resolve, intervalMs));
      if (progressToken !== undefined) {
        await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps } });
      }
      if (i === 1) extra.closeSSEStream?.();
    }
    return { content: [{ type: 'text', text: `counted to ${steps} over two streams` }] };
  });
}

const longRunningCall = (id: number, duration: number, steps: number, progressToken: string) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'trigger-long-running-operation', arguments: { duration, steps }, _meta: { progressToken } },
});

/** Opens a raw POST whose answer is an SSE stream (the body is left unread). */
async function postStream(url: string, key: string, sessionId: string, message: unknown, signal: AbortSignal) {
  const res = await fetch(url, {
    method: 'POST',
    signal,
    headers: {
      authorization: `Bearer ${key}`,
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      'mcp-session-id': sessionId,
      'mcp-protocol-version': RAW_PROTOCOL_VERSION,
    },
    body: JSON.stringify(message),
  });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
  return res;
}

/** GET with `Last-Event-ID`: the stream that resumes where the client left off. */
async function resume(url: string, key: string, sessionId: string, lastEventId: string, signal: AbortSignal) {
  return fetch(url, {
    headers: {
      authorization: `Bearer ${key}`,
      accept: 'text/event-stream',
      'mcp-session-id': sessionId,
      'last-event-id': lastEventId,
      'mcp-protocol-version': RAW_PROTOCOL_VERSION,
    },
    signal,
  });
}

/** Reads events until one is the JSON-RPC response with `id`; returns all read. */
async function readUntilResponse(events: AsyncGenerator<SseEvent>, id: number, onEvent?: (event: SseEvent) => void) {
  const read: (SseEvent & { message: Record<string, any> })[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any
  for await (const event of events) {
    onEvent?.(event);
    if (!event.data.trim()) continue; // priming events carry no message
    const message = JSON.parse(event.data);
    read.push({ ...event, message });
    if (message.id === id && ('result' in message || 'error' in message)) return read;
  }
  throw new Error(`stream ended before the response to ${id}: ${JSON.stringify(read.map((e) => e.message))}`);
}

const progressOf = (events: { message: Record<string, any> }[]) => // eslint-disable-line @typescript-eslint/no-explicit-any
  events.filter((e) => e.message.method === 'notifications/progress').map((e) => e.message.params.progress as number);

test('initialize: the upstream answers through the gateway, under a sealed session id', async () => {
  const { client, transport } = await connect(apiKey);
  expect(client.getServerVersion()).toMatchObject({ name: 'mcp-servers/everything' });
  expect(client.getServerCapabilities()).toMatchObject({ tools: {}, resources: {}, prompts: {}, logging: {} });
  expect(client.getInstructions()).toEqual(expect.any(String));
  expect(transport.sessionId).toMatch(/^pms2\./);
  expect(await client.ping()).toEqual({});
});

test('tools/list and tools/call (echo, get-sum)', async () => {
  const { client } = await connect(apiKey);
  const { tools } = await client.listTools();
  const names = tools.map((t) => t.name);
  expect(names).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-env', 'trigger-long-running-operation', 'toggle-simulated-logging']));
  expect(tools.find((t) => t.name === 'echo')?.inputSchema).toMatchObject({ type: 'object', properties: { message: expect.anything() } });

  expect(textOf(await client.callTool({ name: 'echo', arguments: { message: 'héllo through the gateway ✓' } }))).toBe('Echo: héllo through the gateway ✓');
  expect(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 19, b: 23 } }))).toBe('The sum of 19 and 23 is 42.');
  // A tool error is the upstream's answer, passed through as it is.
  const bad = await client.callTool({ name: 'get-sum', arguments: { a: 'x' } });
  expect(bad.isError).toBe(true);
});

test('resources/list and resources/read', async () => {
  const { client } = await connect(apiKey);
  const { resources } = await client.listResources();
  expect(resources.length).toBeGreaterThan(0);
  const resource = resources.find((r) => r.uri.startsWith('demo://resource/static/document/'))!;
  expect(resource).toBeDefined();
  const read = await client.readResource({ uri: resource.uri });
  expect(read.contents).toHaveLength(1);
  expect(read.contents[0]).toMatchObject({ uri: resource.uri });
  expect((read.contents[0] as { text?: string }).text?.length).toBeGreaterThan(0);

  const { resourceTemplates } = await client.listResourceTemplates();
  expect(resourceTemplates.map((t) => t.uriTemplate)).toContain('demo://resource/dynamic/text/{resourceId}');
  const dynamic = await client.readResource({ uri: 'demo://resource/dynamic/text/7' });
  expect(dynamic.contents[0]).toMatchObject({ uri: 'demo://resource/dynamic/text/7', text: expect.stringContaining('7') });
});

test('prompts/list and prompts/get', async () => {
  const { client } = await connect(apiKey);
  const { prompts } = await client.listPrompts();
  expect(prompts.map((p) => p.name)).toEqual(expect.arrayContaining(['simple-prompt', 'args-prompt']));
  const simple = await client.getPrompt({ name: 'simple-prompt' });
  expect(simple.messages[0]).toMatchObject({ role: 'user', content: { type: 'text' } });
  const withArgs = await client.getPrompt({ name: 'args-prompt', arguments: { city: 'Lisbon', state: 'Portugal' } });
  expect(JSON.stringify(withArgs.messages)).toContain('Lisbon');
});

test('progress notifications of a long-running tool arrive one by one, before the result (streamed, not buffered)', async () => {
  const { client } = await connect(apiKey);
  const started = Date.now();
  const progress: { progress: number; total?: number; at: number }[] = [];
  const result = await client.callTool(
    { name: 'trigger-long-running-operation', arguments: { duration: 1.2, steps: 4 } },
    undefined,
    { onprogress: (p) => progress.push({ progress: p.progress, total: p.total, at: Date.now() - started }), timeout: 15_000 },
  );
  const resultAt = Date.now() - started;
  expect(textOf(result)).toContain('Long running operation completed');
  expect(progress.map((p) => [p.progress, p.total])).toEqual([
    [1, 4],
    [2, 4],
    [3, 4],
    [4, 4],
  ]);
  // The steps are 300 ms apart upstream. Had the gateway buffered the SSE answer, every
  // notification would arrive together with the result.
  // (Thresholds at half the upstream's pace, so a loaded machine does not fail them.)
  expect(resultAt - progress[0]!.at).toBeGreaterThanOrEqual(450);
  expect(progress[2]!.at - progress[0]!.at).toBeGreaterThanOrEqual(300);
  for (const p of progress) expect(p.at).toBeLessThanOrEqual(resultAt);
});

test('logging: logging/setLevel, then notifications/message arrive on the GET stream', async () => {
  const { client } = await connect(apiKey);
  const messages: LoggingMessageNotification['params'][] = [];
  client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => {
    messages.push(n.params);
  });
  await client.setLoggingLevel('debug');
  const started = await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  expect(textOf(started)).toContain('Started simulated');
  try {
    // The first message is sent right away, the next after 5 s: on the standalone GET stream,
    // which the SDK client opened through the gateway after initialization.
    await eventually(() => messages.length > 0, 8_000, 'a notifications/message');
  } finally {
    await client.callTool({ name: 'toggle-simulated-logging', arguments: {} });
  }
  expect(messages[0]).toMatchObject({ level: expect.stringMatching(/^(debug|info|notice|warning|error|critical|alert|emergency)$/), data: expect.stringContaining('message') });
});

test('sampling: the upstream sends sampling/createMessage to the client in the middle of a tool call', async () => {
  const { client } = await connect(apiKey, { sampling: {} });
  const asked: unknown[] = [];
  client.setRequestHandler(CreateMessageRequestSchema, async (request) => {
    asked.push(request.params);
    return { model: 'e2e-model', role: 'assistant', content: { type: 'text', text: 'sampled through plexmcp' } };
  });
  // Registered by the upstream once it knows the client's capabilities (after initialization).
  await eventually(async () => (await client.listTools()).tools.some((t) => t.name === 'trigger-sampling-request'), 5_000, 'trigger-sampling-request');
  const result = await client.callTool({ name: 'trigger-sampling-request', arguments: { prompt: 'say hi', maxTokens: 20 } }, undefined, { timeout: 15_000 });
  expect(asked).toHaveLength(1);
  expect(JSON.stringify(asked[0])).toContain('say hi');
  expect(textOf(result)).toContain('LLM sampling result');
  expect(textOf(result)).toContain('sampled through plexmcp');
  expect(textOf(result)).toContain('e2e-model');
});

test('elicitation: the upstream sends elicitation/create to the client and gets the answer', async () => {
  const { client } = await connect(apiKey, { elicitation: {} });
  const asked: { message: string }[] = [];
  client.setRequestHandler(ElicitRequestSchema, async (request) => {
    asked.push(request.params as { message: string });
    return { action: 'accept', content: { name: 'Ada Lovelace', check: true, integer: 7 } };
  });
  await eventually(async () => (await client.listTools()).tools.some((t) => t.name === 'trigger-elicitation-request'), 5_000, 'trigger-elicitation-request');
  const result = await client.callTool({ name: 'trigger-elicitation-request', arguments: {} }, undefined, { timeout: 15_000 });
  expect(asked).toHaveLength(1);
  expect(asked[0]!.message).toContain('Please provide inputs');
  const text = textOf(result);
  expect(text).toContain('User provided the requested information');
  expect(text).toContain('- Name: Ada Lovelace');
  expect(text).toContain('- Favorite Integer: 7');
});

test('resumption: after a broken POST stream, GET with Last-Event-ID replays the events the client missed (server-everything)', async () => {
  const url = gw.mcpUrl(SLUG);
  const { sessionId } = await rawInitialize(url, apiKey);
  expect(sessionId).toMatch(/^pms2\./);
  const aborter = new AbortController();
  const timeout = setTimeout(() => aborter.abort(), 10_000);
  const started = Date.now();
  let firstEvent: SseEvent | undefined;
  try {
    const res = await postStream(url, apiKey, sessionId, longRunningCall(41, 1.2, 4, 'resume-1'), aborter.signal);
    for await (const event of sseEvents(res.body!)) {
      if (event.data.includes('notifications/progress')) {
        firstEvent = event;
        break; // closes the stream: the client "loses the connection" after progress 1
      }
    }
  } finally {
    clearTimeout(timeout);
    aborter.abort();
  }
  expect(JSON.parse(firstEvent!.data).params.progress).toBe(1);
  expect(firstEvent!.id).toEqual(expect.any(String)); // the upstream's event id, passed through

  // server-everything's event store replays what was stored after the id (it does not hand the
  // still-running request over to the new stream), so resume once the operation is over.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, 1_700 - (Date.now() - started))));
  const events = await readUntilResponse(sseEvents((await resume(url, apiKey, sessionId, firstEvent!.id!, AbortSignal.timeout(10_000))).body!), 41);
  expect(progressOf(events)).toEqual([2, 3, 4]);
  expect(events.at(-1)!.message.result.content[0].text).toContain('Long running operation completed');
  expect(new Set(events.map((e) => e.id)).size).toBe(events.length); // each replayed with its own id
});

test('resumption mid-operation: the GET with Last-Event-ID continues live with the rest of the stream (SDK upstream with an event store)', async () => {
  const url = gw.mcpUrl(RESUMABLE_SLUG);
  const { sessionId } = await rawInitialize(url, resumableKey);
  const aborter = new AbortController();
  let firstEvent: SseEvent | undefined;
  try {
    const res = await postStream(
      url,
      resumableKey,
      sessionId,
      { jsonrpc: '2.0', id: 5, method: 'tools/call', params: { name: 'count', arguments: { steps: 6, intervalMs: 250 }, _meta: { progressToken: 'c' } } },
      AbortSignal.any([aborter.signal, AbortSignal.timeout(10_000)]),
    );
    for await (const event of sseEvents(res.body!)) {
      if (event.data.includes('notifications/progress')) {
        firstEvent = event;
        break;
      }
    }
  } finally {
    aborter.abort();
  }
  expect(JSON.parse(firstEvent!.data).params.progress).toBe(1);
  // The client went away: the gateway aborts its upstream request (long before the tool is done).
  const abortedAt = Date.now();
  const post = sdkUpstream.requests.find((r) => r.method === 'POST' && (r.body as { id?: unknown })?.id === 5 && (r.body as { method?: string }).method === 'tools/call')!;
  await eventually(() => post.closedAt !== undefined, 2_000, 'the upstream POST to close');
  expect(post.completed).toBe(false);
  expect(post.closedAt! - abortedAt).toBeLessThan(1_000);

  const resumedAt = Date.now();
  const arrivals: number[] = [];
  const resumed = await resume(url, resumableKey, sessionId, firstEvent!.id!, AbortSignal.timeout(10_000));
  expect(resumed.status).toBe(200);
  expect(resumed.headers.get('content-type')).toMatch(/^text\/event-stream/);
  const events = await readUntilResponse(sseEvents(resumed.body!), 5, () => arrivals.push(Date.now() - resumedAt));
  expect(progressOf(events)).toEqual([2, 3, 4, 5, 6]);
  expect(events.at(-1)!.message.result.content[0].text).toBe('counted to 6');
  // Live, not replayed: the later steps arrived over the resumed stream as they happened.
  expect(arrivals.at(-1)! - arrivals[0]!).toBeGreaterThanOrEqual(500);
  // The upstream saw the client's Last-Event-ID, and its own session id, never the sealed one.
  const get = sdkUpstream.requests.filter((r) => r.method === 'GET' && r.headers['last-event-id'] === firstEvent!.id);
  expect(get).toHaveLength(1);
  expect(get[0]!.headers['mcp-session-id']).not.toMatch(/^pms2\./);
  expect(sdkUpstream.sessions.has(get[0]!.headers['mcp-session-id'] as string)).toBe(true);
});

test('SDK client resumption: the upstream hangs up the POST stream mid-call; the client resumes with Last-Event-ID through the gateway', async () => {
  const client = new Client({ name: 'plexmcp-e2e', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl(RESUMABLE_SLUG)), {
    requestInit: { headers: { authorization: `Bearer ${resumableKey}` } },
    reconnectionOptions: { initialReconnectionDelay: 50, maxReconnectionDelay: 500, reconnectionDelayGrowFactor: 2, maxRetries: 5 },
  });
  await client.connect(transport);
  open.push(client);
  const before = sdkUpstream.requests.length;
  const tokens: string[] = [];
  const progress: number[] = [];
  const result = await client.callTool({ name: 'count-and-hang-up', arguments: { steps: 4, intervalMs: 150 } }, undefined, {
    onprogress: (p) => progress.push(p.progress),
    onresumptiontoken: (token) => tokens.push(token),
    timeout: 10_000,
  });
  expect(textOf(result)).toBe('counted to 4 over two streams');
  expect(progress).toEqual([1, 2, 3, 4]);
  // The client reconnected by itself: a GET through the gateway carrying an event id it had seen.
  const resumed = sdkUpstream.requests.slice(before).filter((r) => r.method === 'GET' && r.headers['last-event-id'] !== undefined);
  expect(resumed.length).toBeGreaterThanOrEqual(1);
  expect(tokens).toContain(resumed[0]!.headers['last-event-id']);
  expect(resumed[0]!.headers['mcp-session-id']).not.toMatch(/^pms2\./);
  expect(transport.sessionId).toMatch(/^pms2\./);
});

test('raw fetch: SSE bytes are forwarded as the upstream produces them', async () => {
  const url = gw.mcpUrl(SLUG);
  const { sessionId } = await rawInitialize(url, apiKey);
  const started = Date.now();
  const res = await postStream(url, apiKey, sessionId, longRunningCall(9, 1.6, 4, 'incremental'), AbortSignal.timeout(10_000));
  expect(res.headers.get('x-request-id')).toEqual(expect.any(String));
  expect(res.headers.get('mcp-session-id')).toMatch(/^pms2\./);
  const seen: { progress?: number; result: boolean; at: number }[] = [];
  for await (const event of sseEvents(res.body!)) {
    const message = JSON.parse(event.data);
    seen.push({ progress: message.params?.progress, result: 'result' in message, at: Date.now() - started });
  }
  const ended = Date.now() - started;
  expect(seen.map((s) => s.progress ?? (s.result ? 'result' : '?'))).toEqual([1, 2, 3, 4, 'result']);
  // The first event was readable ~400 ms in, while the upstream still had 1.2 s of work to do
  // (thresholds at half the upstream's pace, so a loaded machine does not fail them).
  expect(seen[0]!.at).toBeLessThan(1_200);
  expect(ended - seen[0]!.at).toBeGreaterThanOrEqual(600);
  expect(seen[3]!.at - seen[0]!.at).toBeGreaterThanOrEqual(600);
});

test('tools/list is filtered to the key\'s tool scopes; a denied tools/call is 403 forbidden_tool', async () => {
  const { client: full } = await connect(apiKey);
  const allNames = (await full.listTools()).tools.map((t) => t.name);
  const expected = allNames.filter((n) => n === 'echo' || (n.startsWith('get-') && n !== 'get-env')).sort();
  expect(expected).toEqual(expect.arrayContaining(['echo', 'get-sum', 'get-tiny-image']));

  const { client, transport } = await connect(filteredKey);
  const seen = (await client.listTools()).tools.map((t) => t.name).sort();
  expect(seen).toEqual(expected);
  expect(seen).not.toContain('get-env');
  expect(seen).not.toContain('trigger-long-running-operation');
  expect(textOf(await client.callTool({ name: 'get-sum', arguments: { a: 1, b: 2 } }))).toBe('The sum of 1 and 2 is 3.');

  // The SDK client surfaces the refusal as an error…
  await expect(client.callTool({ name: 'get-env', arguments: {} })).rejects.toThrow(/forbidden_tool|403/);
  await expect(client.callTool({ name: 'trigger-long-running-operation', arguments: {} })).rejects.toThrow(/forbidden_tool|403/);
  // …and on the wire it is a 403 with a JSON-RPC error carrying the request's id and data.code.
  const answer = await mcpHttp(gw.mcpUrl(SLUG), {
    apiKey: filteredKey,
    sessionId: transport.sessionId,
    message: { jsonrpc: '2.0', id: 'env-1', method: 'tools/call', params: { name: 'get-env', arguments: {} } },
  });
  expect(answer.status).toBe(403);
  expect(answer.headers.get('content-type')).toMatch(/^application\/json/);
  expect(answer.messages).toEqual([
    {
      jsonrpc: '2.0',
      id: 'env-1',
      error: { code: -32003, message: expect.any(String), data: { code: 'forbidden_tool', requestId: answer.headers.get('x-request-id') } },
    },
  ]);
  // The refused call never reached the upstream: the usage record has no endpoint.
  const record = gw.records.find((r) => r.requestId === answer.headers.get('x-request-id'));
  expect(record).toMatchObject({ type: 'usage', status: 403, errorCode: 'forbidden_tool', tool: 'get-env' });
  expect(record!.endpointId).toBeUndefined();
});

test('a tools/list answer replayed on a GET stream (Last-Event-ID) is filtered like the POST answer', async () => {
  const url = gw.mcpUrl(SLUG);
  const { sessionId } = await rawInitialize(url, filteredKey);
  // An event id from an earlier answer of this session; server-everything's event store replays
  // every event of the session after it, the tools/list answer included.
  const echoed = await mcpHttp(url, { apiKey: filteredKey, sessionId, message: { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x' } } } });
  expect(echoed.eventIds).toHaveLength(1);
  const listed = await mcpHttp(url, { apiKey: filteredKey, sessionId, message: { jsonrpc: '2.0', id: 2, method: 'tools/list' } });
  const filtered = (listed.messages[0]!.result.tools as { name: string }[]).map((t) => t.name).sort();
  expect(filtered).not.toContain('get-env');
  expect(filtered).not.toContain('trigger-long-running-operation');

  const replay = await resume(url, filteredKey, sessionId, echoed.eventIds[0]!, AbortSignal.timeout(10_000));
  expect(replay.status).toBe(200);
  const events = await readUntilResponse(sseEvents(replay.body!), 2);
  const replayed = (events.at(-1)!.message.result.tools as { name: string }[]).map((t) => t.name).sort();
  expect(replayed).toEqual(filtered);
});
