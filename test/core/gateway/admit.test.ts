/**
 * admit.ts: what a request costs (costOf) and whether the key may spend it (admit), against the
 * real limiter, quota meter and stream slots on the counters table (dynalite, or DynamoDB Local
 * under `.ci/run`). Every JSON-RPC message counts; the handshake has a budget of its own.
 */
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { randomUUID } from 'node:crypto';
import { DynamoDbCounters, ensureCountersTable } from '../../../lambda/adapters/dynamodb-counters';
import { admit, costOf, type AdmitDeps } from '../../../lambda/core/gateway/admit';
import { GatewayError } from '../../../lambda/core/gateway/errors';
import { inspectBody, type InspectedMessage } from '../../../lambda/core/gateway/jsonrpc';
import { PerMinuteLimiter, QuotaMeter } from '../../../lambda/core/gateway/limits';
import { StreamSlots } from '../../../lambda/core/gateway/stream-slots';
import type { ApiKey, Org } from '../../../lambda/core/model';
import { PLAN_LIMITS, type PlanLimits } from '../../../lambda/core/plans';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

function messages(body: unknown): InspectedMessage[] {
  const inspected = inspectBody(JSON.stringify(body));
  if (!inspected.ok) throw new Error(inspected.message);
  return inspected.messages;
}

const rpc = (id: number | undefined, method: string, params: unknown = {}) => ({ jsonrpc: '2.0', ...(id === undefined ? {} : { id }), method, params });
const initialize = (id: number) => rpc(id, 'initialize', { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 't', version: '1' } });
const initialized = rpc(undefined, 'notifications/initialized');
const call = (id: number) => rpc(id, 'tools/call', { name: 'echo', arguments: {} });

describe('costOf', () => {
  test('GET is one request and a stream; DELETE one request', () => {
    expect(costOf('GET', [])).toEqual({ requests: 1, handshake: 0, stream: true });
    expect(costOf('DELETE', [])).toEqual({ requests: 1, handshake: 0, stream: false });
  });

  test('POST: one unit per message; initialize and notifications/initialized are handshake units instead', () => {
    expect(costOf('POST', messages(call(1)))).toEqual({ requests: 1, handshake: 0, stream: false });
    expect(costOf('POST', messages(initialize(1)))).toEqual({ requests: 0, handshake: 1, stream: false });
    expect(costOf('POST', messages(initialized))).toEqual({ requests: 0, handshake: 1, stream: false });
    expect(costOf('POST', messages([initialize(1), initialized]))).toEqual({ requests: 0, handshake: 2, stream: false });
    expect(costOf('POST', messages(Array.from({ length: 50 }, (_, i) => call(i))))).toEqual({ requests: 50, handshake: 0, stream: false });
    // Other notifications and the client's responses (to sampling, elicitation) count like requests.
    const mixed = [initialize(1), call(2), call(3), rpc(undefined, 'notifications/cancelled', { requestId: 2 }), { jsonrpc: '2.0', id: 'srv-1', result: {} }];
    expect(costOf('POST', messages(mixed))).toEqual({ requests: 4, handshake: 1, stream: false });
  });

  test('POST subscriptions/listen (MCP 2026-07-28) is a stream', () => {
    expect(costOf('POST', messages(rpc(1, 'subscriptions/listen', { notifications: {} })))).toEqual({ requests: 1, handshake: 0, stream: true });
    expect(costOf('POST', messages(rpc(1, 'tools/list')))).toMatchObject({ stream: false });
  });
});

describe('admit', () => {
  let db: TestDynamoDb;
  let table: string;
  let counters: DynamoDbCounters;
  const now = Date.UTC(2026, 11, 15, 10, 30, 20); // 40 s left of the minute
  const minute = Math.floor(now / 60_000);
  let pending: Promise<unknown>[];
  let deps: AdmitDeps & { quota: QuotaMeter };

  const org: Org = { orgId: 'org1', name: 'o', plan: 'free', ipAllowlist: [], createdAt: '2026-01-01T00:00:00Z', updatedAt: '2026-01-01T00:00:00Z' };
  const key = (keyId: string, rateLimitPerMinute?: number): ApiKey => ({
    keyId,
    orgId: org.orgId,
    name: keyId,
    role: 'member',
    scopes: { mcps: '*', tools: {} },
    rateLimitPerMinute,
    rateLimitSetByOperator: true,
    createdAt: '2026-01-01T00:00:00Z',
  });
  const plan: PlanLimits = { ...PLAN_LIMITS.free, monthlyRequests: 1_000, handshakesPerKeyPerMinute: 2, maxConcurrentStreamsPerKey: 1 };

  async function value(id: string): Promise<number | undefined> {
    const out = await db.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: id } }, ConsistentRead: true }));
    return out.Item?.n?.N === undefined ? undefined : Number(out.Item.n.N);
  }

  async function refusal(work: Promise<unknown>): Promise<GatewayError> {
    const error = await work.then(() => undefined, (e: unknown) => e);
    expect(error).toBeInstanceOf(GatewayError);
    return error as GatewayError;
  }

  beforeAll(async () => {
    db = await startTestDynamoDb();
  });
  afterAll(async () => {
    await db.close();
  });
  beforeEach(async () => {
    table = `counters-${randomUUID()}`;
    await ensureCountersTable(db.client, table);
    counters = new DynamoDbCounters(db.client, table);
    pending = [];
    const background = (work: Promise<unknown>) => void pending.push(work);
    deps = {
      limiter: new PerMinuteLimiter(counters, () => now),
      quota: new QuotaMeter(counters, { now: () => now, flushIntervalMs: 3_600_000 }),
      streamSlots: new StreamSlots(counters, background, { now: () => now }),
      background,
      now: () => now,
    };
  });

  test('a batch of N takes N of the per-minute limit in one write; one that does not fit is refused whole and spends nothing', async () => {
    const k = key('k1', 5);
    const first = await admit(deps, k, org, plan, costOf('POST', messages([call(1), call(2), call(3)])));
    expect(first.rateHeaders).toEqual({ 'RateLimit-Limit': '5', 'RateLimit-Remaining': '2', 'RateLimit-Reset': '40', 'RateLimit-Policy': '5;w=60' });
    expect(first.slot).toBeUndefined();

    const refused = await refusal(admit(deps, k, org, plan, costOf('POST', messages([call(4), call(5), call(6)]))));
    expect(refused.code).toBe('rate_limited');
    expect(refused.headers).toEqual({ 'RateLimit-Limit': '5', 'RateLimit-Remaining': '0', 'RateLimit-Reset': '40', 'RateLimit-Policy': '5;w=60', 'Retry-After': '40' });
    expect(await value(`rpm#k1#${minute}`)).toBe(3);
    expect(deps.quota.check(org.orgId, plan.monthlyRequests).used).toBe(3); // the refused batch was not counted

    expect((await admit(deps, k, org, plan, costOf('POST', messages([call(7), call(8)])))).rateHeaders['RateLimit-Remaining']).toBe('0');
    expect((await refusal(admit(deps, k, org, plan, costOf('POST', messages(call(9)))))).code).toBe('rate_limited');
    expect(await value(`rpm#k1#${minute}`)).toBe(5);
  });

  test('a batch larger than the whole limit is refused without a write', async () => {
    const refused = await refusal(admit(deps, key('k2', 2), org, plan, costOf('POST', messages(Array.from({ length: 10 }, (_, i) => call(i))))));
    expect(refused.code).toBe('rate_limited');
    expect(await value(`rpm#k2#${minute}`)).toBeUndefined();
  });

  test('the quota is checked with the batch size: a batch that would pass it is refused before any write', async () => {
    const small: PlanLimits = { ...plan, monthlyRequests: 8 };
    const k = key('k3', 100);
    const tooMany = await refusal(admit(deps, k, org, small, costOf('POST', messages(Array.from({ length: 9 }, (_, i) => call(i))))));
    expect(tooMany.code).toBe('quota_exceeded');
    const toNextMonth = (Date.UTC(2027, 0, 1) - now) / 1000;
    expect(tooMany.headers).toEqual({ 'Retry-After': String(toNextMonth) });
    expect(await value(`rpm#k3#${minute}`)).toBeUndefined(); // the quota is checked first: no rate write

    await admit(deps, k, org, small, costOf('POST', messages([initialize(1), ...Array.from({ length: 7 }, (_, i) => call(i + 2))])));
    expect(deps.quota.check(org.orgId, small.monthlyRequests)).toEqual({ allowed: false, used: 8 }); // handshake messages count too
    expect((await refusal(admit(deps, k, org, small, costOf('POST', messages(initialized))))).code).toBe('quota_exceeded');
  });

  test('handshake messages use their own budget (2 × handshakesPerKeyPerMinute), not the per-minute limit, and carry no RateLimit headers', async () => {
    const k = key('k4', 1);
    // The per-minute limit is used up ...
    await admit(deps, k, org, plan, costOf('POST', messages(call(1))));
    expect((await refusal(admit(deps, k, org, plan, costOf('POST', messages(call(2)))))).code).toBe('rate_limited');
    // ... and a handshake still completes, twice (budget 2 × 2 = 4 messages).
    for (let round = 0; round < 2; round++) {
      expect((await admit(deps, k, org, plan, costOf('POST', messages(initialize(round))))).rateHeaders).toEqual({});
      expect((await admit(deps, k, org, plan, costOf('POST', messages(initialized)))).rateHeaders).toEqual({});
    }
    const limited = await refusal(admit(deps, k, org, plan, costOf('POST', messages(initialize(9)))));
    expect(limited.code).toBe('handshake_limited');
    expect(limited.headers).toEqual({ 'Retry-After': '40' });
    expect(await value(`hs#k4#${minute}`)).toBe(4);
    expect(await value(`rpm#k4#${minute}`)).toBe(1);
  });

  test('a batch mixing handshake and other messages needs both budgets; the per-minute limit is checked first', async () => {
    const k = key('k5', 2);
    await admit(deps, k, org, plan, costOf('POST', messages([call(1), call(2)])));
    // No room in the per-minute limit: refused, and the handshake budget is untouched.
    expect((await refusal(admit(deps, k, org, plan, costOf('POST', messages([initialize(3), call(4)]))))).code).toBe('rate_limited');
    expect(await value(`hs#k5#${minute}`)).toBeUndefined();

    // Room in the per-minute limit, none in the handshake budget: refused, and (as documented in
    // admit.ts) the per-minute units taken by the earlier check stay spent.
    const other = key('k6', 10);
    await admit(deps, other, org, plan, costOf('POST', messages([initialize(1), initialized, initialize(2), initialized])));
    const refused = await refusal(admit(deps, other, org, plan, costOf('POST', messages([initialize(5), call(6)]))));
    expect(refused.code).toBe('handshake_limited');
    expect(refused.headers['RateLimit-Remaining']).toBe('9');
    expect(await value(`rpm#k6#${minute}`)).toBe(1);
  });

  test('a stream takes a slot of the key; with none free it is 429 too_many_streams; the released slot is free again', async () => {
    const k = key('k7', 100);
    const open = await admit(deps, k, org, plan, costOf('GET', []));
    expect(open.slot).toBeDefined();
    expect(open.rateHeaders['RateLimit-Remaining']).toBe('99'); // a GET is one request
    const refused = await refusal(admit(deps, k, org, plan, costOf('GET', [])));
    expect(refused.code).toBe('too_many_streams');
    expect(refused.headers).toMatchObject({ 'Retry-After': '5', 'RateLimit-Limit': '100' });
    // Other requests of the key are not streams: they need no slot.
    expect((await admit(deps, k, org, plan, costOf('DELETE', []))).slot).toBeUndefined();
    // Another key of the org has its own slots.
    const others = await admit(deps, key('k8', 100), org, plan, costOf('POST', messages(rpc(1, 'subscriptions/listen', { notifications: {} }))));
    expect(others.slot).toBeDefined();

    await open.slot!.release();
    await Promise.all(pending);
    const again = await admit(deps, k, org, plan, costOf('GET', []));
    expect(again.slot).toBeDefined();
    await Promise.all([again.slot!.release(), others.slot!.release()]);
    await Promise.all(pending);
  });

  test('an admitted request is recorded for the quota with its size, and a due flush is handed to the background', async () => {
    deps = { ...deps, quota: new QuotaMeter(counters, { now: () => now, flushFractionOfHeadroom: 4 / plan.monthlyRequests, flushIntervalMs: 3_600_000 }) };
    // The org's first request: its total is not known yet, so it is flushed at once.
    await admit(deps, key('k9', 100), org, plan, costOf('POST', messages([call(1), call(2)])));
    expect(pending).toHaveLength(1);
    await Promise.all(pending);
    expect(await value(`quota#${org.orgId}#2026-12`)).toBe(2);
    await admit(deps, key('k9', 100), org, plan, costOf('POST', messages([call(3), call(4)])));
    expect(pending).toHaveLength(1); // 2 pending < 3 (the early-flush threshold: 4/M of the M - 2 left)
    await admit(deps, key('k9', 100), org, plan, costOf('POST', messages([initialize(5)])));
    expect(pending).toHaveLength(2);
    await Promise.all(pending);
    expect(await value(`quota#${org.orgId}#2026-12`)).toBe(5);
  });
});
