/**
 * MCP pricing and the usage record end to end: pricing set through the admin API (validated,
 * stored in the embedded store, shown, replaced, removed, in the OpenAPI document), then requests
 * through the local gateway to a real SDK upstream on loopback, and the usage record of each: the
 * upstream cost by the pricing rule, the resource and prompt names, the status class, and the
 * endpoint and latencies also when the upstream fails after the request was routed.
 */
import type { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { call, expectGatewayError, rpc, toolCall, type Answer } from './gateway-expect';
import { startTestGateway, type TestGateway } from './harness';
import { refusedLoopbackUrl, startSdkUpstream, type SdkUpstream } from './upstreams';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = Record<string, any>;

const PRICING = { perCallUsd: 0.002, tools: { search: 0.01, fetch: 0 } };

/** Tools search, fetch, other, reject (the upstream answers 400), explode (500) and stall (no answer); a resource and a prompt. */
function docsServer(server: McpServer): void {
  for (const name of ['search', 'fetch', 'other', 'reject', 'explode', 'stall']) {
    server.registerTool(name, { inputSchema: { q: z.string().optional() } }, async () => ({ content: [{ type: 'text', text: `${name} done` }] }));
  }
  server.registerResource('readme', 'file:///docs/readme.md', {}, async (uri) => ({ contents: [{ uri: uri.href, text: 'the readme' }] }));
  server.registerPrompt('summarise', {}, () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'Summarise' } }] }));
}

/** What the upstream does itself before the MCP transport sees a request. */
function misbehave(_req: unknown, res: import('node:http').ServerResponse, body: unknown): boolean {
  const name = (body as Json | undefined)?.params?.name;
  if (name === 'reject') {
    res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id: null, error: { code: -32600, message: 'no' } }));
    return true;
  }
  if (name === 'explode') {
    res.writeHead(500, { 'content-type': 'text/plain' }).end('internal stack trace at /srv/upstream');
    return true;
  }
  return name === 'stall'; // never answered: the gateway's first-byte timeout ends it
}

let gw: TestGateway;
let upstream: SdkUpstream;
let orgId: string;
let apiKey: string;

beforeAll(async () => {
  [gw, upstream] = await Promise.all([
    startTestGateway(),
    startSdkUpstream({ name: 'docs', stateful: false, enableJsonResponse: true, setup: docsServer, intercept: misbehave }),
  ]);
  orgId = (await gw.admin('POST', '/orgs', { name: 'usage records', plan: 'pro' })).orgId;
  apiKey = (await gw.admin('POST', `/orgs/${orgId}/keys`, { name: 'agent', scopes: { mcps: '*', tools: { '*': { allow: [], deny: ['danger'] } } } })).secret;
}, 60_000);

afterAll(async () => {
  await gw?.close();
  await upstream?.close();
});

/** The admin API without throwing: status and parsed body. */
async function admin(method: string, path: string, body?: unknown): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${gw.gateway.adminUrl}${path}`, {
    method,
    headers: { authorization: `Bearer ${gw.gateway.operatorToken}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : {} };
}

let counter = 0;
async function createMcp(extra: Json = {}, endpoints: { url: string }[] = [{ url: upstream.url }]): Promise<string> {
  const slug = `docs-${++counter}`;
  await gw.admin('POST', `/orgs/${orgId}/mcps`, { slug, endpoints, ...extra });
  return slug;
}

/** The usage record the gateway wrote for `answer` (matched by X-Request-Id). */
function usageOf(answer: Answer): Json {
  const record = gw.records.find((r) => r.type === 'usage' && r.requestId === answer.headers['x-request-id']);
  if (!record) throw new Error(`no usage record for ${answer.headers['x-request-id']}`);
  return record;
}

const send = (slug: string, body: unknown) => call(gw.mcpUrl(slug), apiKey, body);

describe('pricing in the admin API', () => {
  test('created, shown, kept by an update that does not name it, replaced as a whole, removed by null or {}', async () => {
    const slug = await createMcp({ pricing: PRICING });
    expect((await gw.admin('GET', `/orgs/${orgId}/mcps/${slug}`)).pricing).toEqual(PRICING);
    expect((await gw.admin('PATCH', `/orgs/${orgId}/mcps/${slug}`, { displayName: 'Docs' })).pricing).toEqual(PRICING);
    expect((await gw.admin('PATCH', `/orgs/${orgId}/mcps/${slug}`, { pricing: { tools: { fetch: 0.5 } } })).pricing).toEqual({ tools: { fetch: 0.5 } });
    expect((await gw.admin('GET', `/orgs/${orgId}/mcps/${slug}`)).pricing).toEqual({ tools: { fetch: 0.5 } });
    expect((await gw.admin('PATCH', `/orgs/${orgId}/mcps/${slug}`, { pricing: null })).pricing).toBeUndefined();
    expect((await gw.admin('GET', `/orgs/${orgId}/mcps/${slug}`)).pricing).toBeUndefined();
    await gw.admin('PATCH', `/orgs/${orgId}/mcps/${slug}`, { pricing: { perCallUsd: 1 } });
    expect((await gw.admin('PATCH', `/orgs/${orgId}/mcps/${slug}`, { pricing: { tools: {} } })).pricing).toBeUndefined();
    // Without pricing the record has none, and a list shows the same as a get.
    const plain = await createMcp();
    expect((await gw.admin('GET', `/orgs/${orgId}/mcps/${plain}`)).pricing).toBeUndefined();
  });

  test('sub-micro-dollar and exponent-sized prices are stored and read back exactly', async () => {
    const pricing = { perCallUsd: 0.0000025, tools: { search: 1e-9, fetch: 1000, other: 0.123456789 } };
    const slug = await createMcp({ pricing });
    expect((await gw.admin('GET', `/orgs/${orgId}/mcps/${slug}`)).pricing).toEqual(pricing);
  });

  test.each([
    ['a negative price', { perCallUsd: -0.01 }, 'pricing.perCallUsd'],
    ['a price above 1,000 USD', { tools: { search: 1000.01 } }, 'pricing.tools.search'],
    ['a price that is not a number', { perCallUsd: '0.01' }, 'pricing.perCallUsd'],
    ['a tool name with a wildcard', { tools: { 'search*': 0.01 } }, 'pricing.tools.search*'],
    ['a tool name with a space', { tools: { 'web search': 0.01 } }, 'pricing.tools.web search'],
    ['an unknown field', { perRequestUsd: 0.01 }, 'pricing'],
    ['201 tools', { tools: Object.fromEntries(Array.from({ length: 201 }, (_, i) => [`t${i}`, 0.01])) }, 'pricing.tools'],
  ])('refuses %s (400 validation_failed naming the field)', async (_what, pricing, path) => {
    const res = await admin('POST', `/orgs/${orgId}/mcps`, { slug: `bad-${++counter}`, endpoints: [{ url: upstream.url }], pricing });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('validation_failed');
    expect(res.body.error.details.map((d: Json) => d.path)).toContain(path);
  });

  test('refuses __proto__ as a tool name instead of dropping it', async () => {
    const slug = await createMcp();
    const res = await fetch(`${gw.gateway.adminUrl}/orgs/${orgId}/mcps/${slug}`, {
      method: 'PATCH',
      headers: { authorization: `Bearer ${gw.gateway.operatorToken}`, 'content-type': 'application/json' },
      body: '{"pricing":{"tools":{"__proto__":0.5}}}',
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as Json).error.details.map((d: Json) => d.path)).toContain('pricing.tools.__proto__');
  });

  test('200 tools are accepted; the OpenAPI document describes pricing from the validating schema', async () => {
    const tools = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`tool.${i}/x:y-z_`, i / 1000]));
    const slug = await createMcp({ pricing: { tools } });
    expect(Object.keys((await gw.admin('GET', `/orgs/${orgId}/mcps/${slug}`)).pricing.tools)).toHaveLength(200);
    const doc = (await admin('GET', '/openapi.json')).body;
    const pricing = doc.components.schemas.McpPricing;
    expect(pricing.properties.perCallUsd).toMatchObject({ type: 'number', minimum: 0, maximum: 1000 });
    expect(pricing.properties.tools.additionalProperties).toMatchObject({ type: 'number', minimum: 0, maximum: 1000 });
    expect(pricing.additionalProperties).toBe(false);
    // Each MCP schema has pricing, by reference or inline (a nullable copy for create and update).
    const resolved = (schema: Json): Json => (schema.$ref ? doc.components.schemas[schema.$ref.split('/').pop()] : (schema.allOf?.[0] ? resolved(schema.allOf[0]) : schema));
    for (const name of ['CreateMcpServer', 'UpdateMcpServer', 'McpServer']) {
      const schema = resolved(doc.components.schemas[name].properties.pricing);
      expect(Object.keys(schema.properties)).toEqual(['perCallUsd', 'tools']);
      expect(schema.additionalProperties).toBe(false);
    }
    expect(doc.components.schemas.UpdateMcpServer.properties.pricing.type).toEqual(['object', 'null']);
  });
});

describe('usage records of priced requests', () => {
  let priced: string;
  beforeAll(async () => {
    priced = await createMcp({ pricing: PRICING, timeouts: { firstByteMs: 1_000 } });
  });

  test('a priced tool call: its cost, tool, status class, endpoint, the three latencies and both byte counts', async () => {
    const body = JSON.stringify(toolCall(1, 'search', { q: 'secret query text' }));
    const answer = await send(priced, body);
    expect(answer.status).toBe(200);
    const record = usageOf(answer);
    const endpointId = (await gw.admin('GET', `/orgs/${orgId}/mcps/${priced}`)).endpoints[0].id;
    expect(record).toMatchObject({ mcp: priced, orgId, status: 200, statusClass: '2xx', tool: 'search', costMicroUsd: 10_000, endpointId, region: 'local' });
    expect(record.bytesIn).toBe(Buffer.byteLength(body));
    expect(record.bytesOut).toBe(Buffer.byteLength(answer.text));
    for (const ms of ['totalMs', 'gatewayMs', 'upstreamFirstByteMs']) expect(record[ms]).toEqual(expect.any(Number));
    expect(record.gatewayMs + record.upstreamFirstByteMs).toBeLessThanOrEqual(record.totalMs);
    expect(record.errorCode).toBeUndefined();
    expect(JSON.stringify(record)).not.toMatch(/secret query|search done/);
  });

  test('a batch is the sum of its requests; the free tool, initialize and notifications cost nothing; resource and prompt are named', async () => {
    const batch = [
      toolCall(1, 'search'),
      toolCall(2, 'other'),
      toolCall(3, 'fetch'),
      rpc(4, 'resources/read', { uri: 'file:///docs/readme.md' }),
      rpc(5, 'prompts/get', { name: 'summarise' }),
      rpc(undefined, 'notifications/progress', { progressToken: 't', progress: 1 }),
    ];
    const answer = await send(priced, batch);
    expect(answer.status).toBe(200);
    expect(usageOf(answer)).toMatchObject({ costMicroUsd: 10_000 + 2_000 + 0 + 2_000 + 2_000, tool: 'search', resource: 'file:///docs/readme.md', prompt: 'summarise', messageCount: 6 });

    const init = await send(priced, rpc(9, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'e2e', version: '1' } }));
    expect(init.status).toBe(200);
    expect(usageOf(init)).toMatchObject({ costMicroUsd: 0, statusClass: '2xx' });
  });

  test("the upstream's own 4xx costs nothing and is no gateway error", async () => {
    const answer = await send(priced, toolCall(1, 'reject'));
    expect(answer.status).toBe(400);
    const record = usageOf(answer);
    expect(record).toMatchObject({ status: 400, statusClass: '4xx', costMicroUsd: 0, tool: 'reject' });
    expect(record.errorCode).toBeUndefined();
    expect(record.upstreamFirstByteMs).toEqual(expect.any(Number));
  });

  test('an upstream failure after routing: the error code, the endpoint it happened on and the times up to it; no cost', async () => {
    const endpointId = (await gw.admin('GET', `/orgs/${orgId}/mcps/${priced}`)).endpoints[0].id;
    const exploded = await send(priced, toolCall(7, 'explode'));
    expectGatewayError(exploded, 'upstream_error', 7, ['/srv/upstream']);
    const failed = usageOf(exploded);
    expect(failed).toMatchObject({ status: 502, statusClass: '5xx', errorCode: 'upstream_error', endpointId, tool: 'explode' });
    expect(failed.gatewayMs).toEqual(expect.any(Number));
    expect(failed.upstreamFirstByteMs).toEqual(expect.any(Number));
    expect(failed.costMicroUsd).toBeUndefined();

    const stalled = await send(priced, toolCall(8, 'stall'));
    expectGatewayError(stalled, 'upstream_timeout', 8);
    const timedOut = usageOf(stalled);
    expect(timedOut).toMatchObject({ status: 504, statusClass: '5xx', errorCode: 'upstream_timeout', endpointId });
    expect(timedOut.gatewayMs).toEqual(expect.any(Number));
    expect(timedOut.upstreamFirstByteMs).toBeUndefined(); // no first byte came
    expect(timedOut.totalMs).toBeGreaterThanOrEqual(1_000);
    expect(timedOut.costMicroUsd).toBeUndefined();
  });

  test('every endpoint refusing the connection: the record names the endpoint tried', async () => {
    const dead = await createMcp({ pricing: PRICING }, [{ url: await refusedLoopbackUrl() }]);
    const endpointId = (await gw.admin('GET', `/orgs/${orgId}/mcps/${dead}`)).endpoints[0].id;
    const answer = await send(dead, toolCall(3, 'search'));
    expectGatewayError(answer, 'mcp_unhealthy', 3);
    const record = usageOf(answer);
    expect(record).toMatchObject({ status: 502, errorCode: 'mcp_unhealthy', endpointId });
    expect(record.gatewayMs).toEqual(expect.any(Number));
    expect(record.costMicroUsd).toBeUndefined();
  });

  test('a refusal before routing: its error code, no endpoint, no cost', async () => {
    const answer = await send(priced, toolCall(5, 'danger'));
    expectGatewayError(answer, 'forbidden_tool', 5);
    const record = usageOf(answer);
    expect(record).toMatchObject({ status: 403, statusClass: '4xx', errorCode: 'forbidden_tool', tool: 'danger' });
    expect(record.endpointId).toBeUndefined();
    expect(record.gatewayMs).toBeUndefined();
    expect(record.costMicroUsd).toBeUndefined();
    expect(usageOf(await call(gw.mcpUrl(priced), undefined, toolCall(6, 'search')))).toMatchObject({ status: 401, statusClass: '4xx', errorCode: 'invalid_api_key' });
  });

  test('an MCP without pricing: no cost field', async () => {
    const plain = await createMcp();
    const answer = await send(plain, toolCall(1, 'search'));
    expect(answer.status).toBe(200);
    const record = usageOf(answer);
    expect(record.costMicroUsd).toBeUndefined();
    expect(record.statusClass).toBe('2xx');
  });
});
