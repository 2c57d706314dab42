/**
 * The usage record's fields and the cost rule, from messages as inspectBody reads them (the same
 * parse the gateway runs).
 */
import { inspectBody, type InspectedMessage } from '../../../lambda/core/gateway/jsonrpc';
import { chargedMicroUsd, MAX_NAME_CHARS, microUsd, statusClass, usageRecord, type Outcome } from '../../../lambda/core/gateway/usage';
import type { McpPricing } from '../../../lambda/core/model';

function messagesOf(body: unknown): InspectedMessage[] {
  const inspected = inspectBody(JSON.stringify(body));
  if (!inspected.ok) throw new Error(inspected.message);
  return inspected.messages;
}

const request = (id: number, method: string, params?: unknown) => ({ jsonrpc: '2.0', id, method, ...(params === undefined ? {} : { params }) });
const notification = (method: string) => ({ jsonrpc: '2.0', method });
const callTool = (id: number, name: string) => request(id, 'tools/call', { name, arguments: { q: 'secret argument' } });

const info = { slug: 'docs', requestId: 'req-1' };
const outcome: Outcome = { status: 200, totalMs: 12, gatewayMs: 1, upstreamFirstByteMs: 9, bytesOut: 345, endpointId: 'ep_1' };

function record(body: unknown, result: Outcome = outcome) {
  return usageRecord(info, 'eu-west-1', { httpMethod: 'POST', key: { orgId: 'org_x', keyId: 'k1' }, messages: messagesOf(body), bytesIn: 99 }, Date.UTC(2026, 11, 1), result);
}

describe('usage record fields', () => {
  test('tool, resource and prompt are the first of each in a batch; the status class is derived; no arguments or params', () => {
    const r = record([
      request(1, 'prompts/get', { name: 'summarise', arguments: { text: 'secret prompt argument' } }),
      request(2, 'resources/read', { uri: 'file:///docs/a.md' }),
      callTool(3, 'search'),
      callTool(4, 'fetch'),
      request(5, 'resources/read', { uri: 'file:///docs/b.md' }),
      request(6, 'prompts/get', { name: 'other' }),
    ]);
    expect(r).toMatchObject({
      type: 'usage',
      timestamp: '2026-12-01T00:00:00.000Z',
      requestId: 'req-1',
      region: 'eu-west-1',
      orgId: 'org_x',
      keyId: 'k1',
      mcp: 'docs',
      endpointId: 'ep_1',
      httpMethod: 'POST',
      messageCount: 6,
      methods: ['prompts/get', 'resources/read', 'tools/call', 'tools/call', 'resources/read', 'prompts/get'],
      tool: 'search',
      resource: 'file:///docs/a.md',
      prompt: 'summarise',
      status: 200,
      statusClass: '2xx',
      totalMs: 12,
      gatewayMs: 1,
      upstreamFirstByteMs: 9,
      bytesIn: 99,
      bytesOut: 345,
    });
    expect(JSON.stringify(r)).not.toMatch(/secret/);
  });

  test('names are cut to 128 characters, also when the first tools/call is far into the batch', () => {
    const longUri = `file:///${'d'.repeat(1_000)}`;
    const long = 'n'.repeat(1_000);
    const r = record([
      ...Array.from({ length: 20 }, (_, i) => request(i, 'ping')),
      request(20, 'resources/read', { uri: longUri }),
      request(21, 'prompts/get', { name: long }),
      callTool(22, long),
    ]);
    expect(r.methods).toHaveLength(16);
    expect(r.resource).toBe(longUri.slice(0, MAX_NAME_CHARS));
    expect(r.prompt).toBe(long.slice(0, MAX_NAME_CHARS));
    expect(r.tool).toBe(long.slice(0, MAX_NAME_CHARS));
  });

  test('resources/subscribe and completion refs are not the read resource; a message without a name names nothing', () => {
    const r = record([
      request(1, 'resources/subscribe', { uri: 'file:///sub' }),
      request(2, 'completion/complete', { ref: { type: 'ref/prompt', name: 'p' }, argument: { name: 'a', value: 'b' } }),
      request(3, 'resources/read', { uri: 42 }),
    ]);
    expect(r.resource).toBeUndefined();
    expect(r.prompt).toBeUndefined();
    expect(r.tool).toBeUndefined();
  });

  test('status classes', () => {
    expect([101, 200, 204, 302, 400, 404, 429, 499, 500, 502, 504].map(statusClass)).toEqual(['1xx', '2xx', '2xx', '3xx', '4xx', '4xx', '4xx', '4xx', '5xx', '5xx', '5xx']);
    expect(record(request(1, 'ping'), { status: 429, errorCode: 'rate_limited', totalMs: 1, bytesOut: 10 }).statusClass).toBe('4xx');
  });
});

describe('cost', () => {
  const pricing: McpPricing = { perCallUsd: 0.002, tools: { search: 0.01, fetch: 0 } };

  test('per message: a priced tool its price, any other request the per-call price; handshake, ping, notifications and responses free', () => {
    expect(chargedMicroUsd(pricing, messagesOf(callTool(1, 'search')), 200)).toBe(10_000);
    expect(chargedMicroUsd(pricing, messagesOf(callTool(1, 'fetch')), 200)).toBe(0);
    expect(chargedMicroUsd(pricing, messagesOf(callTool(1, 'unlisted')), 200)).toBe(2_000);
    expect(chargedMicroUsd(pricing, messagesOf(request(1, 'tools/list')), 200)).toBe(2_000);
    expect(chargedMicroUsd(pricing, messagesOf(request(1, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'c', version: '1' } })), 200)).toBe(0);
    expect(chargedMicroUsd(pricing, messagesOf(request(1, 'ping')), 200)).toBe(0);
    expect(chargedMicroUsd(pricing, messagesOf(notification('notifications/initialized')), 202)).toBe(0);
    expect(chargedMicroUsd(pricing, messagesOf({ jsonrpc: '2.0', id: 7, result: {} }), 202)).toBe(0);
    // A batch sums its messages: search + unlisted + resources/read + a notification.
    const batch = messagesOf([callTool(1, 'search'), callTool(2, 'unlisted'), request(3, 'resources/read', { uri: 'file:///a' }), notification('notifications/progress')]);
    expect(chargedMicroUsd(pricing, batch, 200)).toBe(14_000);
    // GET and DELETE carry no messages.
    expect(chargedMicroUsd(pricing, [], 200)).toBe(0);
  });

  test('only a 2xx answer is charged; no pricing is no cost field', () => {
    const messages = messagesOf(callTool(1, 'search'));
    for (const status of [400, 404, 429, 500, 502]) expect(chargedMicroUsd(pricing, messages, status)).toBe(0);
    expect(chargedMicroUsd(pricing, messages, 299)).toBe(10_000);
    expect(chargedMicroUsd(undefined, messages, 200)).toBeUndefined();
    expect(chargedMicroUsd({}, messages, 200)).toBe(0);
  });

  test('each message is rounded half up to whole micro-USD before the sum', () => {
    expect(microUsd(0.0000025)).toBe(3); // 2.4999999999999996 in binary
    expect(microUsd(0.0000024999)).toBe(2);
    expect(microUsd(0.0000005)).toBe(1);
    expect(microUsd(0.0000004)).toBe(0);
    expect(microUsd(0.1 + 0.2)).toBe(300_000);
    expect(microUsd(1_000)).toBe(1_000_000_000);
    const halves = messagesOf([callTool(1, 'a'), callTool(2, 'a'), callTool(3, 'a')]);
    expect(chargedMicroUsd({ tools: { a: 0.0000025 } }, halves, 200)).toBe(9); // 3 × 3, not round(7.5)
    // 50 messages at the highest price stay a safe integer.
    const most = messagesOf(Array.from({ length: 50 }, (_, i) => callTool(i, 'a')));
    expect(chargedMicroUsd({ tools: { a: 1_000 } }, most, 200)).toBe(50_000_000_000);
  });

  test('a tool named like an Object member does not find a price it was not given', () => {
    const messages = messagesOf([callTool(1, 'constructor'), callTool(2, 'toString'), callTool(3, 'hasOwnProperty')]);
    expect(chargedMicroUsd({ perCallUsd: 0.001 }, messages, 200)).toBe(3_000);
    expect(chargedMicroUsd({ perCallUsd: 0.001, tools: { constructor: 0.5 } }, messages, 200)).toBe(502_000);
  });

  test('a stored price that is not a price charges nothing (the API never stores one)', () => {
    const messages = messagesOf([callTool(1, 'a'), request(2, 'tools/list')]);
    const broken = { perCallUsd: -1, tools: { a: Number.NaN } } as McpPricing;
    expect(chargedMicroUsd(broken, messages, 200)).toBe(0);
    expect(chargedMicroUsd({ perCallUsd: 'x' as unknown as number, tools: { a: Infinity } }, messages, 200)).toBe(0);
  });
});
