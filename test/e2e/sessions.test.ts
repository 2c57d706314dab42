/**
 * Sessions without a session store, with real peers: server-everything child processes as the
 * endpoints of one MCP server, the gateway in this process, and (for the shared-store case) a
 * second gateway as a real `plexmcp serve` process. Which endpoint served a request is read from
 * the usage records (`endpointId`), matched by the response's `X-Request-Id`.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { provision, startGatewayProcess, startTestGateway, type TestGateway } from './harness';
import { mcpHttp, rawInitialize, startEverything, startSdkUpstream, type McpHttpAnswer, type UpstreamProcess } from './upstreams';

const SLUG = 'everything';
/** Everything this file started, stopped after each test (in reverse). */
const running: { stop(): Promise<void> }[] = [];

afterEach(async () => {
  for (const item of running.splice(0).reverse()) await item.stop().catch(() => undefined);
});

async function everything(): Promise<UpstreamProcess> {
  const upstream = await startEverything();
  running.push(upstream);
  return upstream;
}

async function gateway(options: Parameters<typeof startTestGateway>[0] = {}): Promise<TestGateway> {
  const gw = await startTestGateway(options);
  running.push({ stop: () => gw.close() });
  return gw;
}

/** Provisions MCP `slug` over `upstreams` (equal weights); returns the key and the endpoint id of each upstream. */
async function setup(gw: TestGateway, upstreams: { url: string }[], slug = SLUG) {
  const { orgId, apiKey } = await provision(gw, { slug, endpoints: upstreams.map((u) => ({ url: u.url, weight: 50 })) });
  const mcp = await gw.admin<{ endpoints: { id: string; url: string }[] }>('GET', `/orgs/${orgId}/mcps/${slug}`);
  const endpointIds = upstreams.map((u) => mcp.endpoints.find((e) => e.url === u.url)!.id);
  expect(new Set(endpointIds).size).toBe(upstreams.length);
  return { orgId, apiKey, endpointIds };
}

let nextId = 1;
const echo = (url: string, apiKey: string, sessionId: string | undefined, message = 'hi') =>
  mcpHttp(url, { apiKey, sessionId, message: { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'echo', arguments: { message } } } });

/** The usage record of a response (matched by X-Request-Id). */
function recordOf(records: Record<string, unknown>[], answer: McpHttpAnswer): Record<string, unknown> {
  const requestId = answer.headers.get('x-request-id');
  const record = records.find((r) => r.type === 'usage' && r.requestId === requestId);
  if (!record) throw new Error(`no usage record for request ${requestId}`);
  return record;
}

async function eventually<T>(value: () => T, timeoutMs: number, what: string): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const current = value();
    if (current) return current as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function expectSessionNotFound(answer: McpHttpAnswer, id: number) {
  expect(answer.status).toBe(404);
  expect(answer.messages).toEqual([
    { jsonrpc: '2.0', id, error: { code: -32004, message: expect.any(String), data: { code: 'session_not_found', requestId: answer.headers.get('x-request-id') } } },
  ]);
}

/** A session id with one character of its sealed part changed (still base64url). */
function tamper(sessionId: string, at: number): string {
  const i = 'pms2.'.length + at;
  const replacement = sessionId[i] === 'A' ? 'B' : 'A';
  return sessionId.slice(0, i) + replacement + sessionId.slice(i + 1);
}

/** The upstream's own session id: server-everything names it in toggle-simulated-logging's answer. */
async function upstreamSessionIdOf(url: string, apiKey: string, sessionId: string): Promise<string> {
  const call = () => mcpHttp(url, { apiKey, sessionId, message: { jsonrpc: '2.0', id: nextId++, method: 'tools/call', params: { name: 'toggle-simulated-logging', arguments: {} } } });
  const on = await call();
  await call(); // and off again
  const text: string = on.messages.at(-1)!.result.content[0].text;
  return /for session ([0-9a-f-]{36})/.exec(text)![1]!;
}

test('sealed session ids: pms2., never the upstream id; every request of a session lands on the endpoint that created it', async () => {
  const [e1, e2] = await Promise.all([everything(), everything()]);
  const gw = await gateway();
  const { apiKey, endpointIds } = await setup(gw, [e1, e2]);
  const url = gw.mcpUrl(SLUG);

  const used = new Set<string>();
  // New sessions spread over both endpoints (weights 50/50); open them until both took some.
  for (let sessions = 0; sessions < 40 && (used.size < 2 || sessions < 4); sessions++) {
    const { sessionId, answer } = await rawInitialize(url, apiKey);
    expect(sessionId).toMatch(/^pms2\.[A-Za-z0-9_-]+$/);
    const home = recordOf(gw.records, answer).endpointId as string;
    expect(endpointIds).toContain(home);
    used.add(home);

    const upstreamId = await upstreamSessionIdOf(url, apiKey, sessionId);
    expect(sessionId).not.toBe(upstreamId);
    expect(sessionId).not.toContain(upstreamId);
    expect(Buffer.from(sessionId.slice(5), 'base64url').toString('latin1')).not.toContain(upstreamId); // sealed, not encoded

    let current = sessionId;
    for (let i = 0; i < 8; i++) {
      const answer = await echo(url, apiKey, current, `request ${i}`);
      expect(answer.status).toBe(200);
      expect(answer.messages.at(-1)!.result.content[0].text).toBe(`Echo: request ${i}`);
      const returned = answer.headers.get('mcp-session-id');
      expect(returned).toMatch(/^pms2\./);
      expect(returned).not.toContain(upstreamId);
      expect(recordOf(gw.records, answer).endpointId).toBe(home);
      // Alternate between the id from initialize and the latest one: both name the same session.
      current = i % 2 === 0 ? returned! : sessionId;
    }
  }
  expect(used).toEqual(new Set(endpointIds));
});

test('tampered, foreign, cross-MCP and garbage session ids are 404 session_not_found and never reach an upstream', async () => {
  const [e1, e2] = await Promise.all([everything(), everything()]);
  const gw = await gateway();
  const { orgId, apiKey } = await setup(gw, [e1, e2]);
  // Another org with an MCP of the same slug on the same endpoints, and a second MCP of org 1.
  const { apiKey: otherOrgKey } = await setup(gw, [e1, e2]);
  await gw.admin('POST', `/orgs/${orgId}/mcps`, { slug: 'second', endpoints: [{ url: e1.url }, { url: e2.url }] });
  const url = gw.mcpUrl(SLUG);
  const { sessionId } = await rawInitialize(url, apiKey);
  expect((await echo(url, apiKey, sessionId)).status).toBe(200);

  const refused: [string, string, string][] = [
    ['tampered near the start', tamper(sessionId, 2), url],
    ['tampered in the middle', tamper(sessionId, Math.floor((sessionId.length - 5) / 2)), url],
    ['tampered in the tag', tamper(sessionId, sessionId.length - 8), url],
    // The last character may carry unused bits: every other spelling of it must be refused too.
    ...['A', 'B', 'C', 'D']
      .filter((c) => c !== sessionId.at(-1))
      .map((c): [string, string, string] => [`last character changed to ${c}`, sessionId.slice(0, -1) + c, url]),
    ['junk appended', `${sessionId}!`, url],
    ['truncated', sessionId.slice(0, -4), url],
    ['garbage', 'not-a-session', url],
    ['empty sealed part', 'pms2.', url],
    ['an upstream-style uuid', '3a41eb0e-0900-4181-a670-36f408284906', url],
    ['another MCP of the same org', sessionId, gw.mcpUrl('second')],
  ];
  for (const [what, id, target] of refused) {
    const requestId = nextId;
    const answer = await echo(target, apiKey, id);
    try {
      expectSessionNotFound(answer, requestId);
      expect(recordOf(gw.records, answer).endpointId).toBeUndefined();
    } catch (error) {
      throw new Error(`${what}: ${(error as Error).message}`, { cause: error });
    }
  }
  // The same sealed id presented with another org's key (same slug, same endpoints).
  const requestId = nextId;
  const foreign = await echo(url, otherOrgKey, sessionId);
  expectSessionNotFound(foreign, requestId);
  expect(recordOf(gw.records, foreign).endpointId).toBeUndefined();

  // The genuine id still works after all that.
  expect((await echo(url, apiKey, sessionId)).status).toBe(200);
});

test("the session's endpoint dies: the next request of that session is 404, a new session lands on the healthy endpoint", async () => {
  const [e1, e2] = await Promise.all([everything(), everything()]);
  const gw = await gateway();
  const { apiKey, endpointIds } = await setup(gw, [e1, e2]);
  const url = gw.mcpUrl(SLUG);

  // A session on e1 (new sessions are spread at random).
  let sessionId: string | undefined;
  for (let i = 0; i < 40 && !sessionId; i++) {
    const opened = await rawInitialize(url, apiKey);
    if (recordOf(gw.records, opened.answer).endpointId === endpointIds[0]) sessionId = opened.sessionId;
  }
  expect(sessionId).toBeDefined();
  expect((await echo(url, apiKey, sessionId)).status).toBe(200);

  await e1.kill();
  for (let i = 0; i < 2; i++) {
    // First through a refused connection, then because passive health marked it down.
    const requestId = nextId;
    expectSessionNotFound(await echo(url, apiKey, sessionId), requestId);
  }
  // What a client does on 404: start over. It lands on e2, every time.
  for (let i = 0; i < 5; i++) {
    const { sessionId: fresh, answer } = await rawInitialize(url, apiKey);
    expect(recordOf(gw.records, answer).endpointId).toBe(endpointIds[1]);
    const call = await echo(url, apiKey, fresh, 'after failover');
    expect(call.status).toBe(200);
    expect(recordOf(gw.records, call).endpointId).toBe(endpointIds[1]);
  }
});

test('failover: with one of two endpoints dead, every new session succeeds on the live one (SDK client)', async () => {
  const [dead, alive] = await Promise.all([everything(), everything()]);
  const gw = await gateway();
  const { apiKey, endpointIds } = await setup(gw, [dead, alive]);
  await dead.kill();

  const sessions = 10;
  for (let i = 0; i < sessions; i++) {
    const client = new Client({ name: 'failover', version: '1.0.0' });
    const transport = new StreamableHTTPClientTransport(new URL(gw.mcpUrl(SLUG)), { requestInit: { headers: { authorization: `Bearer ${apiKey}` } } });
    try {
      await client.connect(transport);
      const result = await client.callTool({ name: 'echo', arguments: { message: `session ${i}` } });
      expect(result.content).toEqual([{ type: 'text', text: `Echo: session ${i}` }]);
    } finally {
      await client.close();
    }
  }
  const proxied = gw.records.filter((r) => r.type === 'usage' && r.endpointId !== undefined);
  expect(proxied.length).toBeGreaterThanOrEqual(sessions * 3); // initialize, initialized, tools/call each
  expect(new Set(proxied.map((r) => r.endpointId))).toEqual(new Set([endpointIds[1]]));
  expect(gw.records.filter((r) => r.type === 'usage' && typeof r.status === 'number' && r.status >= 500)).toEqual([]);
});

test('DELETE is forwarded with the upstream session id; the upstream ends the session and its later answer is passed through', async () => {
  const e1 = await everything();
  const sdk = await startSdkUpstream({ name: 'sdk-upstream' });
  running.push({ stop: () => sdk.close() });
  const gw = await gateway();
  const { orgId, apiKey } = await setup(gw, [e1]);
  await gw.admin('POST', `/orgs/${orgId}/mcps`, { slug: 'sdk', endpoints: [{ url: sdk.url }] });

  // server-everything: ends the session on DELETE; for an unknown session id it answers 400.
  const url = gw.mcpUrl(SLUG);
  const { sessionId } = await rawInitialize(url, apiKey);
  const upstreamId = await upstreamSessionIdOf(url, apiKey, sessionId);
  const deleted = await mcpHttp(url, { apiKey, sessionId, method: 'DELETE' });
  expect(deleted.status).toBe(200);
  expect(recordOf(gw.records, deleted)).toMatchObject({ httpMethod: 'DELETE', status: 200, endpointId: expect.any(String) });
  await eventually(() => e1.output().includes(`Received session termination request for session ${upstreamId}`), 5_000, "server-everything's termination log line");
  const direct = await mcpHttp(e1.url, { sessionId: upstreamId, message: { jsonrpc: '2.0', id: 1, method: 'tools/list' } });
  const after = await mcpHttp(url, { apiKey, sessionId, message: { jsonrpc: '2.0', id: 1, method: 'tools/list' } });
  expect(after.status).toBe(direct.status); // the upstream's own answer, not a gateway error
  expect(after.messages).toEqual(direct.messages);
  expect(after.messages[0]!.error.data?.code).toBeUndefined();
  expect(recordOf(gw.records, after).endpointId).toEqual(expect.any(String));

  // An SDK-built upstream answers a terminated session with 404, which the client sees as is.
  const sdkUrl = gw.mcpUrl('sdk');
  const { sessionId: sdkSession } = await rawInitialize(sdkUrl, apiKey);
  expect(sdk.sessions.size).toBe(1);
  const sdkDeleted = await mcpHttp(sdkUrl, { apiKey, sessionId: sdkSession, method: 'DELETE' });
  expect(sdkDeleted.status).toBe(200);
  expect(sdk.sessions.size).toBe(0);
  const deleteSeen = sdk.requests.find((r) => r.method === 'DELETE')!;
  expect(deleteSeen.headers['mcp-session-id']).not.toMatch(/^pms2\./);
  expect(deleteSeen.headers.authorization).toBeUndefined(); // the client's API key is not forwarded
  const gone = await mcpHttp(sdkUrl, { apiKey, sessionId: sdkSession, message: { jsonrpc: '2.0', id: 2, method: 'tools/list' } });
  expect(gone.status).toBe(404);
  expect(gone.messages).toEqual([{ jsonrpc: '2.0', id: null, error: { code: -32001, message: 'Session not found' } }]);
  expect(recordOf(gw.records, gone)).toMatchObject({ status: 404, endpointId: expect.any(String) });
});

// ---------------------------------------------------------------------------------------------
// two gateway processes, one store
// ---------------------------------------------------------------------------------------------


test('two gateway processes sharing one store serve one session alternately, always on its endpoint', async () => {
  const [e1, e2] = await Promise.all([everything(), everything()]);
  const dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-shared-'));
  running.push({ stop: async () => rmSync(dataDir, { recursive: true, force: true }) });
  const store: EmbeddedDynamoDb = await startEmbeddedDynamoDb();
  running.push({ stop: () => store.close() });

  // A in this process (it creates the tables, the local key file and the session key), B as a
  // separate `plexmcp serve` process with the same data directory (so the same master key).
  const a = await gateway({ dataDir, dynamodbEndpoint: store.endpoint });
  const b = await startGatewayProcess(dataDir, { dynamodbEndpoint: store.endpoint });
  running.push(b);
  expect(b.baseUrl).not.toBe(a.baseUrl);

  const { apiKey, endpointIds } = await setup(a, [e1, e2]);
  const urlA = a.mcpUrl(SLUG);
  const urlB = `${b.baseUrl}/mcp/${SLUG}`;

  for (let round = 0; round < 3; round++) {
    // Initialize via A, or via B: the other gateway must open what this one sealed.
    const [first, second] = round % 2 === 0 ? [{ url: urlA, records: a.records }, { url: urlB, records: b.records }] : [{ url: urlB, records: b.records }, { url: urlA, records: a.records }];
    const { sessionId, answer } = await rawInitialize(first.url, apiKey);
    const home = (await eventually(() => b.records.concat(a.records).find((r) => r.requestId === answer.headers.get('x-request-id')), 5_000, 'the initialize record'))
      .endpointId as string;
    expect(endpointIds).toContain(home);

    let current = sessionId;
    const targets = [second, first, second, first, second, first];
    for (const [i, target] of targets.entries()) {
      const call = await echo(target.url, apiKey, current, `round ${round} call ${i}`);
      expect(call.status).toBe(200);
      expect(call.messages.at(-1)!.result.content[0].text).toBe(`Echo: round ${round} call ${i}`);
      const record = await eventually(() => target.records.find((r) => r.requestId === call.headers.get('x-request-id')), 5_000, `the record of call ${i}`);
      expect(record.endpointId).toBe(home);
      current = call.headers.get('mcp-session-id') ?? current;
    }
  }
  expect(b.records.filter((r) => r.type === 'usage').length).toBeGreaterThanOrEqual(9);
}, 60_000);
