import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Template } from 'aws-cdk-lib/assertions';
import { z } from 'zod';
import { ensureCountersTable } from '../../lambda/adapters/dynamodb-counters';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { createGatewayRuntime } from '../../lambda/adapters/gateway-runtime';
import { createHealthRuntime } from '../../lambda/adapters/health-runtime';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { RegistryService } from '../../lambda/core/registry-service';
import { localDynamoDbClient } from '../../lambda/local/dynamodb-engine';
import { InProcessEventBus } from '../../lambda/local/event-bus';
import { fromWebRequest, toWebResponse } from '../../lambda/core/gateway/exchange';
import { PlexMcpStack } from '../../lib';
import { startSdkUpstream, type SdkUpstream } from '../e2e/upstreams';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { ACCOUNT, roleLogicalIdOf, testApp } from './helpers';
import { isAllowed, modelRequest, policyOfRole, type ModelRequest, type PolicyStatement } from './iam-model';

/**
 * The requests that the real adapters send, checked against the policies that the stack
 * synthesizes. Each plane (admin, gateway, health) talks to the local DynamoDB engine through its
 * own recording proxy; every request it sends must be allowed by its own function's role, and
 * the registry writes of the other planes must be refused by it. The IAM side is a model
 * (test/lib/iam-model.ts): it pins the partition keys and attributes that the code writes to the
 * conditions that the policies state, so that a new write in the code fails here, not in AWS.
 */

interface Recorded {
  readonly target: string;
  readonly body: Record<string, unknown>;
}

interface RecordingProxy {
  readonly url: string;
  readonly requests: Recorded[];
  close(): Promise<void>;
}

/** A loopback HTTP proxy in front of the DynamoDB engine that records each call (target and body). */
async function startRecordingProxy(target: string): Promise<RecordingProxy> {
  const upstream = new URL(target);
  const requests: Recorded[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      requests.push({ target: String(req.headers['x-amz-target'] ?? ''), body: body.length > 0 ? JSON.parse(body.toString('utf8')) : {} });
      const forward = httpRequest(
        { hostname: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host } },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      forward.on('error', () => res.writeHead(502).end());
      forward.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const WRITES = new Set(['PutItem', 'UpdateItem', 'DeleteItem', 'BatchWriteItem']);
const operationOf = (r: Recorded) => r.target.split('.').pop()!;
const isWrite = (r: Recorded) => WRITES.has(operationOf(r));
const leadingKey = (r: Recorded) =>
  ((r.body.Item ?? r.body.Key) as Record<string, { S?: string }> | undefined)?.pk?.S ?? '';
/** A short description of a request for failure messages: operation, table kind, pk, attributes. */
const show = (r: Recorded, request: ModelRequest) =>
  `${operationOf(r)} ${request.resource.replace(/^.*table\//, '')} pk=${leadingKey(r)} attributes=${JSON.stringify(request.context['dynamodb:Attributes'])}`;

let db: TestDynamoDb;
let upstream: SdkUpstream;
let proxies: Record<'admin' | 'gateway' | 'health', RecordingProxy>;
let policies: Record<'admin' | 'gateway' | 'health', PolicyStatement[]>;
let tableLogicalId: (name: string) => string;
let tableOf: (r: Recorded) => 'registry' | 'counters';

beforeAll(async () => {
  // The policies as deployed: the default one-region stack.
  const stack = new PlexMcpStack(testApp(), 'Plex', { env: { account: ACCOUNT, region: 'us-east-1' } });
  const template = Template.fromStack(stack);
  policies = {
    admin: policyOfRole(template, roleLogicalIdOf(template, stack, stack.adminApi.function)),
    gateway: policyOfRole(template, roleLogicalIdOf(template, stack, stack.gateway.function)),
    health: policyOfRole(template, roleLogicalIdOf(template, stack, stack.healthMonitor.function)),
  };
  const registryId = stack.resolve(stack.registryTable.tableName).Ref as string;
  const countersId = stack.resolve(stack.countersTable.tableName).Ref as string;

  db = await startTestDynamoDb();
  const registryTable = await db.newRegistryTable();
  const countersTable = `counters-${randomBytes(6).toString('hex')}`;
  await ensureCountersTable(db.client, countersTable);
  tableLogicalId = (name) => {
    if (name === registryTable) return registryId;
    if (name === countersTable) return countersId;
    throw new Error(`a request to an unknown table ${name}`);
  };
  tableOf = (r) => (r.body.TableName === countersTable ? 'counters' : 'registry');
  proxies = {
    admin: await startRecordingProxy(db.endpoint),
    gateway: await startRecordingProxy(db.endpoint),
    health: await startRecordingProxy(db.endpoint),
  };

  upstream = await startSdkUpstream({
    setup: (server) => {
      server.registerTool('count', { inputSchema: { to: z.number() } }, async ({ to }) => ({ content: [{ type: 'text', text: `counted to ${to}` }] }));
      server.registerPrompt('greet', { argsSchema: {} }, () => ({ messages: [{ role: 'user', content: { type: 'text', text: 'hi' } }] }));
    },
  });
  const dataKeys = new LocalKeyFileProvider(randomBytes(32));

  // Admin plane: what the admin function writes (organisation, MCP servers, keys, a revocation).
  const admin = new RegistryService({
    store: new DynamoDbRegistryStore(localDynamoDbClient(proxies.admin.url), registryTable),
    cipher: new EnvelopeCipher(dataKeys),
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
  });
  const org = (await admin.createOrg({ name: 'Least privilege', plan: 'pro', ipAllowlist: [] })).item;
  const mcp = { endpoints: [{ url: upstream.url, weight: 100 }], upstreamAuth: { type: 'bearer' as const, token: 'upstream-token' }, toolPolicy: { allow: [], deny: [] }, timeouts: {} };
  await admin.createMcp(org.orgId, { slug: 'counter', ...mcp });
  await admin.createMcp(org.orgId, { slug: 'doomed', ...mcp });
  await admin.deleteMcp(org.orgId, 'doomed');
  const agent = await admin.createKey(org.orgId, { name: 'agent', role: 'member', scopes: { mcps: '*', tools: {} } });
  const revoked = await admin.createKey(org.orgId, { name: 'old', role: 'member', scopes: { mcps: '*', tools: {} } });
  await admin.revokeKey(org.orgId, revoked.key.keyId);

  // Gateway plane: a cold start (creates the session key), a session with a tool call, a list, a
  // GET stream, a refused key; then the deferred writes (lastUsedAt, quota) are drained.
  const gateway = await createGatewayRuntime({
    dynamodb: localDynamoDbClient(proxies.gateway.url),
    registryTable,
    countersTable,
    dataKeys,
    allowLoopback: true,
    region: 'us-east-1',
    usage: () => undefined,
  });
  let n = 0;
  const send = async (init: { method?: string; body?: unknown; headers?: Record<string, string> }, key = agent.secret) => {
    const request = new Request('https://gateway.example/mcp/counter', {
      method: init.method ?? 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...init.headers },
      body: init.body === undefined ? undefined : JSON.stringify(init.body),
    });
    return toWebResponse(await gateway.handle(fromWebRequest(request), { slug: 'counter', sourceIp: '198.51.100.9', requestId: `lp-${++n}` }));
  };
  const init = await send({ body: { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'lp', version: '1' } } } });
  expect(init.status).toBe(200);
  await init.text();
  const session = { 'mcp-session-id': init.headers.get('mcp-session-id')!, 'mcp-protocol-version': '2025-06-18' };
  await (await send({ body: { jsonrpc: '2.0', method: 'notifications/initialized' }, headers: session })).text();
  const call = await send({ body: { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'count', arguments: { to: 3 } } }, headers: session });
  expect(await call.text()).toContain('counted to 3');
  await (await send({ body: { jsonrpc: '2.0', id: 3, method: 'prompts/list' }, headers: session })).text();
  const stream = await send({ method: 'GET', headers: { ...session, accept: 'text/event-stream' } });
  await stream.body?.cancel();
  expect((await send({ body: { jsonrpc: '2.0', id: 4, method: 'tools/list' } }, revoked.secret)).status).toBe(401);
  await gateway.drain();
  await gateway.close();

  // Health plane: one cycle over every MCP server (states, history, discovered metadata).
  const health = createHealthRuntime({
    dynamodb: localDynamoDbClient(proxies.health.url),
    registryTable,
    dataKeys,
    events: new InProcessEventBus(),
    allowLoopback: true,
    region: 'us-east-1',
  });
  await health.checker.runCycle({ shard: 0, shards: 1 });
  await health.close();
}, 120_000);

afterAll(async () => {
  await upstream?.close();
  for (const proxy of Object.values(proxies ?? {})) await proxy.close();
  await db?.close();
});

const planes = ['admin', 'gateway', 'health'] as const;
const requestOf = (r: Recorded) => modelRequest(r.target, r.body, tableLogicalId);

describe('least privilege: the requests each function sends are the ones its role allows', () => {
  test.each(planes)("every request of the %s plane is allowed by its function's role", (plane) => {
    const recorded = proxies[plane].requests;
    expect(recorded.length).toBeGreaterThan(0);
    const denied = recorded.filter((r) => !isAllowed(policies[plane], requestOf(r))).map((r) => show(r, requestOf(r)));
    expect(denied).toEqual([]);
  });

  test('the planes wrote what the grants are for, so the checks above covered those writes', () => {
    const writes = (plane: (typeof planes)[number]) =>
      new Set(proxies[plane].requests.filter(isWrite).map((r) => `${operationOf(r)} ${tableOf(r)} ${leadingKey(r).split('#')[0]}#`));
    // A key's lastUsedAt, the session key, and the counters (rate window, quota).
    expect([...writes('gateway')].filter((w) => w.includes(' registry '))).toEqual(expect.arrayContaining(['UpdateItem registry KEY#', 'PutItem registry CONFIG#']));
    expect([...writes('gateway')].some((w) => w.includes(' counters '))).toBe(true);
    // Whole health items only: endpoint states and discovered metadata (and history on a transition).
    expect([...writes('health')]).toEqual(['PutItem registry HEALTH#']);
    const healthSortKeys = proxies.health.requests.filter(isWrite).map((r) => String((r.body.Item as Record<string, { S?: string }>).sk?.S).split('#')[0]);
    expect(healthSortKeys).toEqual(expect.arrayContaining(['STATE', 'META']));
  });

  test("the gateway's role refuses every registry write of the admin and health planes (organisations, MCP servers, keys, revocations, deletes, usage counts, health)", () => {
    const foreign = [...proxies.admin.requests, ...proxies.health.requests].filter(isWrite);
    expect(foreign.map((r) => operationOf(r))).toEqual(expect.arrayContaining(['PutItem', 'UpdateItem', 'DeleteItem']));
    const allowed = foreign.filter((r) => isAllowed(policies.gateway, requestOf(r))).map((r) => show(r, requestOf(r)));
    expect(allowed).toEqual([]);
  });

  test("the health function's role refuses every registry write of the admin and gateway planes", () => {
    const registryWrites = [...proxies.admin.requests, ...proxies.gateway.requests].filter((r) => isWrite(r) && tableOf(r) === 'registry');
    expect(registryWrites.length).toBeGreaterThan(0);
    const allowed = registryWrites.filter((r) => isAllowed(policies.health, requestOf(r))).map((r) => show(r, requestOf(r)));
    expect(allowed).toEqual([]);
  });

  test('a key update that touches more than lastUsedAt (un-revoking, widening scopes) is refused to the gateway', () => {
    const touch = proxies.gateway.requests.find((r) => operationOf(r) === 'UpdateItem' && leadingKey(r).startsWith('KEY#'))!;
    expect(isAllowed(policies.gateway, requestOf(touch))).toBe(true);
    const names = touch.body.ExpressionAttributeNames as Record<string, string>;
    for (const attribute of ['revokedAt', 'scopes', 'rateLimitPerMinute', 'orgId', 'secretHash']) {
      const widened = { ...touch.body, UpdateExpression: `${String(touch.body.UpdateExpression)}, #x = :at`, ExpressionAttributeNames: { ...names, '#x': attribute } };
      expect(isAllowed(policies.gateway, requestOf({ target: touch.target, body: widened }))).toBe(false);
    }
  });
});

describe('the IAM model', () => {
  const table = (id: string) => ({ 'Fn::GetAtt': [id, 'Arn'] });
  const request = (target: string, body: Record<string, unknown>) => modelRequest(`DynamoDB_20120810.${target}`, { TableName: 't', ...body }, () => 'T');
  const statement = (condition: PolicyStatement['Condition']): PolicyStatement => ({
    Effect: 'Allow',
    Action: ['dynamodb:PutItem', 'dynamodb:Scan'],
    Resource: table('T'),
    Condition: condition,
  });

  test('ForAllValues holds for a request without the key (a Scan): the Null condition is what refuses it', () => {
    const forAll = { 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] } };
    const scan = request('Scan', {});
    expect(isAllowed([statement(forAll)], scan)).toBe(true);
    expect(isAllowed([statement({ ...forAll, Null: { 'dynamodb:LeadingKeys': 'false' } })], scan)).toBe(false);
  });

  test('StringLike matches partition-key prefixes; attributes are the item names and every #name of the expressions', () => {
    const put = (pk: string) => request('PutItem', { Item: { pk: { S: pk }, sk: { S: 'META' } } });
    const policy = [statement({ 'ForAllValues:StringLike': { 'dynamodb:LeadingKeys': ['HEALTH#*'] }, Null: { 'dynamodb:LeadingKeys': 'false' } })];
    expect(isAllowed(policy, put('HEALTH#o#s'))).toBe(true);
    expect(isAllowed(policy, put('ORG#o'))).toBe(false);
    expect(isAllowed(policy, put('XHEALTH#o'))).toBe(false);
    const update = request('UpdateItem', {
      Key: { pk: { S: 'KEY#k' }, sk: { S: '#KEY' } },
      UpdateExpression: 'SET #a = :a, plain = :b',
      ConditionExpression: 'attribute_exists(#p) AND size(nested.deep) > :z',
      ExpressionAttributeNames: { '#a': 'lastUsedAt', '#p': 'pk' },
    });
    expect(update.context['dynamodb:Attributes']).toEqual(['pk', 'sk', 'lastUsedAt', 'plain', 'nested']);
  });

  test('a condition the model does not know throws instead of allowing', () => {
    expect(() => isAllowed([statement({ StringEqualsIfExists: { 'dynamodb:ReturnValues': 'NONE' } })], request('PutItem', { Item: { pk: { S: 'x' } } }))).toThrow(
      /not modelled/,
    );
  });
});
