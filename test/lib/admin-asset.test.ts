import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBDocumentClient, GetCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { ensureDeliveryTable } from '../../lambda/adapters/dynamodb-delivery-store';
import { ensureWebhookEndpointTable } from '../../lambda/adapters/dynamodb-webhook-endpoints';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { startFakeKmsAndSecrets } from '../support/fake-aws-json';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { loadBundledHandler, localAwsEnvironment, synthesizeFunctionAsset } from '../support/synthesized-function';

/**
 * Proof that bundling works: the admin function is synthesized exactly as `cdk synth` builds it
 * (esbuild bundle plus argon2's native binary installed into the asset), then the bundled
 * `index.js` — not the TypeScript source — serves real admin requests against dynalite.
 */
type Handler = (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

const OPERATOR_TOKEN = 'asset-test-operator-token-0123456789abcdef';
const SECRET_ID = 'plexmcp/operator-token';
const KEY_ARN = 'arn:aws:kms:us-east-1:111111111111:key/mrk-1234abcd';
const UPSTREAM_TOKEN = 'asset-test-upstream-bearer';
const DIGEST_KEY_ARN = 'arn:aws:kms:eu-west-1:111111111111:key/digest-5678efgh';
const EVENT_BUS = 'plexmcp-asset-bus';

let asset: ReturnType<typeof synthesizeFunctionAsset>;
let db: TestDynamoDb;
let fakeAws: Awaited<ReturnType<typeof startFakeKmsAndSecrets>>;
let table: string;
let auditTable: string;
let endpointsTable: string;
let handler: Handler;
let assetDir: string;
let adminKeyId: string;
const savedEnv = { ...process.env };
const logLines: string[] = [];

beforeAll(async () => {
  asset = synthesizeFunctionAsset('PLEXMCP_OPERATOR_SECRET_ARN');
  assetDir = asset.assetDir;

  db = await startTestDynamoDb();
  table = await db.newRegistryTable();
  auditTable = `audit-${table}`;
  await ensureAuditTable(db.client, auditTable);
  endpointsTable = `webhook-endpoints-${table}`;
  const deliveriesTable = `webhook-deliveries-${table}`;
  await ensureWebhookEndpointTable(db.client, endpointsTable);
  await ensureDeliveryTable(db.client, deliveriesTable);
  fakeAws = await startFakeKmsAndSecrets({ [SECRET_ID]: OPERATOR_TOKEN });
  Object.assign(process.env, {
    ...localAwsEnvironment({ dynamodb: db.endpoint, kms: fakeAws.endpoint, secretsManager: fakeAws.endpoint }),
    PLEXMCP_REGISTRY_TABLE: table,
    PLEXMCP_AUDIT_TABLE: auditTable,
    // As in a regional stack: the audit table and digest key are the primary region's. The engine
    // answers for every region; the fake records the region each KMS call was signed for.
    PLEXMCP_AUDIT_REGION: 'eu-west-1',
    PLEXMCP_DIGEST_KEY_ID: DIGEST_KEY_ARN,
    PLEXMCP_EVENT_BUS_NAME: EVENT_BUS,
    AWS_ENDPOINT_URL_EVENTBRIDGE: fakeAws.endpoint,
    // What WebhookDelivery puts into the admin function's environment (the queue is not reached here).
    PLEXMCP_WEBHOOK_ENDPOINTS_TABLE: endpointsTable,
    // As in a regional stack: endpoints are read and written in the primary's region (a second
    // client from dynamodbFor; the engine answers for every region).
    PLEXMCP_WEBHOOK_ENDPOINTS_REGION: 'eu-west-1',
    PLEXMCP_WEBHOOK_DELIVERIES_TABLE: deliveriesTable,
    PLEXMCP_WEBHOOK_QUEUE_URL: 'https://sqs.us-east-1.amazonaws.com/111111111111/plexmcp-asset-webhooks',
    PLEXMCP_KMS_KEY_ID: KEY_ARN,
    PLEXMCP_OPERATOR_SECRET_ARN: SECRET_ID,
    PLEXMCP_MODE: 'aws',
    // What Lambda sets: Powertools counts a cold start only for on-demand instances.
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
  });
  // Powertools Logger and Metrics write JSON lines to stdout directly (no console.log prefix).
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') logLines.push(line);
    return true;
  });
  handler = loadBundledHandler<Handler>(assetDir);
}, 240_000);

afterAll(async () => {
  jest.restoreAllMocks();
  process.env = savedEnv;
  await fakeAws?.close();
  await db?.close();
  asset?.cleanup();
});

let counter = 0;
async function invoke(method: string, path: string, token?: string, body?: unknown, extra: { origin?: string; resource?: string; raw?: boolean } = {}) {
  const headers: Record<string, string> = { host: 'abc123.execute-api.us-east-1.amazonaws.com' };
  if (token) headers.authorization = `Bearer ${token}`;
  if (extra.origin) headers.origin = extra.origin;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const [rawPath, query] = path.split('?');
  const requestId = `req-${++counter}`;
  const event = {
    resource: extra.resource ?? '/admin/{proxy+}',
    path: rawPath,
    httpMethod: method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: query ? Object.fromEntries(new URLSearchParams(query)) : null,
    multiValueQueryStringParameters: null,
    pathParameters: { proxy: rawPath!.replace(/^\/admin\//, '') },
    stageVariables: null,
    body: body === undefined ? null : JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId, stage: 'v1', path: `/v1${rawPath}`, httpMethod: method, identity: { sourceIp: '203.0.113.9' }, domainName: 'plexmcp.example.com' },
  } as unknown as APIGatewayProxyEvent;
  const result = await handler(event, { awsRequestId: requestId, functionName: 'PlexMcp-Admin' } as Context);
  const responseHeaders = { ...(result.headers ?? {}), ...Object.fromEntries(Object.entries(result.multiValueHeaders ?? {}).map(([k, v]) => [k, String(v[0])])) };
  return { status: result.statusCode, headers: responseHeaders, body: result.body && !extra.raw ? JSON.parse(result.body) : result.body, requestId };
}

test('the asset holds the bundle and argon2 with its linux-arm64 binary', () => {
  expect(existsSync(join(assetDir, 'index.js'))).toBe(true);
  expect(existsSync(join(assetDir, 'node_modules', 'argon2', 'prebuilds', 'linux-arm64'))).toBe(true);
  // The handler is bundled: it does not reach for the project's TypeScript sources.
  expect(readFileSync(join(assetDir, 'index.js'), 'utf8')).not.toMatch(/require\(["'][^"']*lambda\/core/);
});

test('the bundled admin Lambda serves the registry flow against DynamoDB', async () => {
  const who = await invoke('GET', '/admin/v1/whoami', OPERATOR_TOKEN);
  expect([who.status, who.body]).toEqual([200, { principal: 'operator' }]);
  expect(who.headers['x-request-id']).toBe(who.requestId); // API Gateway's request id is used

  const org = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Asset Org', plan: 'team' });
  expect(org.status).toBe(201);
  const orgId = org.body.orgId as string;

  // In AWS mode only public https upstreams are accepted; 8.8.8.8 needs no DNS.
  const mcp = await invoke('POST', `/admin/v1/orgs/${orgId}/mcps`, OPERATOR_TOKEN, {
    slug: 'search',
    endpoints: [{ url: 'https://8.8.8.8/mcp' }, { url: 'https://8.8.4.4/mcp', weight: 50 }],
    upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN },
  });
  expect(mcp.status).toBe(201);
  expect(JSON.stringify(mcp.body)).not.toContain(UPSTREAM_TOKEN);
  const loopback = await invoke('POST', `/admin/v1/orgs/${orgId}/mcps`, OPERATOR_TOKEN, { slug: 'local', endpoints: [{ url: 'http://127.0.0.1:3000/mcp' }] });
  expect(loopback.status).toBe(400);

  const created = await invoke('POST', `/admin/v1/orgs/${orgId}/keys`, OPERATOR_TOKEN, { name: 'admin', role: 'admin' });
  expect(created.status).toBe(201);
  const adminKey = created.body.secret as string;
  adminKeyId = created.body.key.keyId as string;
  const listed = await invoke('GET', `/admin/v1/orgs/${orgId}/mcps?limit=10`, adminKey); // argon2 verify in the asset
  expect(listed.status).toBe(200);
  expect(listed.body.items.map((m: { slug: string }) => m.slug)).toEqual(['search']);

  // Each change is in the org's audit chain, with API Gateway's source IP and request id.
  const chain = (await new DynamoDbAuditStore(db.client, auditTable).list(orgId)).entries;
  expect(chain.map((e) => [e.action, e.sourceIp])).toEqual([
    ['org.created', '203.0.113.9'],
    ['mcp.created', '203.0.113.9'],
    ['key.created', '203.0.113.9'],
  ]);
  expect(chain[0]!.requestId).toBe(org.requestId);

  const doc = DynamoDBDocumentClient.from(db.client);
  const keyItem = (await doc.send(new GetCommand({ TableName: table, Key: { pk: `KEY#${created.body.key.keyId}`, sk: '#KEY' } }))).Item!;
  expect(keyItem.secretHash).toMatch(/^\$argon2id\$/);
  expect(JSON.stringify(keyItem)).not.toContain(adminKey.slice(-43));
  const mcpItem = (await doc.send(new GetCommand({ TableName: table, Key: { pk: `ORG#${orgId}`, sk: 'MCP#search' } }))).Item!;
  expect(mcpItem.upstreamSecret).toMatchObject({ provider: 'kms' });
  expect(JSON.stringify(mcpItem)).not.toContain(UPSTREAM_TOKEN);

  // Exactly the AWS calls the design calls for: one secret read (cached after), one data key.
  expect(fakeAws.calls.filter((c) => c.target === 'secretsmanager.GetSecretValue')).toEqual([
    { target: 'secretsmanager.GetSecretValue', body: { SecretId: SECRET_ID } },
  ]);
  expect(fakeAws.calls.filter((c) => c.target.startsWith('TrentService'))).toEqual([
    {
      target: 'TrentService.GenerateDataKey',
      body: { KeyId: KEY_ARN, KeySpec: 'AES_256', EncryptionContext: { purpose: 'plexmcp:upstream-credential', orgId, mcp: 'search' } },
    },
  ]);
});

test('the bundled Lambda answers errors in the API format, without internals', async () => {
  const bad = await invoke('POST', '/admin/v1/orgs', 'wrong-token', { name: 'x' });
  expect([bad.status, bad.body.error.code]).toEqual([401, 'invalid_credentials']);
  const invalid = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: '' });
  expect(invalid.status).toBe(400);
  expect(invalid.body.error.details[0].path).toBe('name');
});

function requestsLogged(): Record<string, unknown>[] {
  return logLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.message === 'admin request');
}

test('the Lambda logs one Logger line per request with principal and key id, never a credential or body', () => {
  for (const line of logLines) JSON.parse(line); // every line is bare JSON
  for (const line of logLines) expect(line).not.toMatch(/asset-test-|pmcp_|Bearer|Asset Org|8\.8\.8\.8/);
  const requests = requestsLogged();
  // whoami, org, 2 MCPs, key, list, and the two error requests.
  expect(requests).toHaveLength(8);
  for (const r of requests) {
    expect(r).toMatchObject({ level: 'INFO', service: 'plexmcp-admin', requestId: expect.stringMatching(/^req-/), method: expect.any(String), route: expect.stringMatching(/^\/admin\/v1\//), status: expect.any(Number), durationMs: expect.any(Number) });
    // Powertools' Lambda context on every line.
    expect(r.function_request_id).toBe(r.requestId);
    expect(r).not.toHaveProperty('body');
  }
  expect(requests[0]).toMatchObject({ method: 'GET', route: '/admin/v1/whoami', status: 200, principal: 'operator' });
  expect(requests[0]).not.toHaveProperty('keyId');
  // The admin key's request carries the principal and its key id (the route pattern, not the org id).
  const byKey = requests.filter((r) => r.principal === 'key');
  expect(byKey).toEqual([expect.objectContaining({ method: 'GET', route: '/admin/v1/orgs/:orgId/mcps', status: 200, keyId: adminKeyId })]);
  // The refused ones: no principal, and the stable error code.
  expect(requests.find((r) => r.status === 401)).toMatchObject({ errorCode: 'invalid_credentials' });
  expect(requests.find((r) => r.status === 401)).not.toHaveProperty('principal');
  expect(requests.at(-1)).toMatchObject({ method: 'POST', route: '/admin/v1/orgs', status: 400, principal: 'operator', errorCode: 'validation_failed' });
});

test('each invocation flushes the admin request metrics as one EMF line (namespace PlexMCP, dimension service)', () => {
  const emf = logLines.map((line) => JSON.parse(line) as Record<string, any>).filter((r) => r._aws !== undefined && !('ColdStart' in r)); // eslint-disable-line @typescript-eslint/no-explicit-any
  expect(emf).toHaveLength(8);
  expect(emf[0]._aws.CloudWatchMetrics).toEqual([
    {
      Namespace: 'PlexMCP',
      Dimensions: [['service']],
      Metrics: [
        { Name: 'AdminRequests', Unit: 'Count' },
        { Name: 'AdminClientErrors', Unit: 'Count' },
        { Name: 'AdminServerErrors', Unit: 'Count' },
        { Name: 'AdminLatency', Unit: 'Milliseconds' },
      ],
    },
  ]);
  expect(emf.map((e) => [e.service, e.AdminRequests, e.AdminClientErrors, e.AdminServerErrors])).toEqual([
    ...[0, 0, 0, 1, 0, 0, 1, 1].map((clientError) => ['plexmcp-admin', 1, clientError, 0]), // the loopback MCP, 401, 400
  ]);
  // The cold start, once, with the function name as Lambda gives it.
  const coldStarts = logLines.filter((line) => line.includes('"ColdStart"')).map((line) => JSON.parse(line));
  expect(coldStarts).toHaveLength(1);
  expect(coldStarts[0]._aws.CloudWatchMetrics[0]).toEqual({ Namespace: 'PlexMCP', Dimensions: [['service', 'function_name']], Metrics: [{ Name: 'ColdStart', Unit: 'Count' }] });
  expect(requestsLogged().filter((r) => r.cold_start === true).map((r) => r.requestId)).toEqual(['req-1']);
});

test('the bundled Lambda publishes admin events on the bus named by PLEXMCP_EVENT_BUS_NAME', () => {
  const puts = fakeAws.calls.filter((c) => c.target === 'AWSEvents.PutEvents');
  const entries = puts.flatMap((c) => c.body.Entries as Array<{ EventBusName: string; Source: string; DetailType: string; Detail: string }>);
  expect(entries.map((e) => [e.EventBusName, e.Source, e.DetailType])).toEqual([
    [EVENT_BUS, 'plexmcp.admin', 'mcp.created'],
    [EVENT_BUS, 'plexmcp.admin', 'key.created'],
  ]);
  // Events carry ids and names, never the upstream credential or the key's secret.
  for (const e of entries) expect(e.Detail).not.toMatch(/asset-test-upstream|pmcp_/);
});

test('the digest routes serve the public key of PLEXMCP_DIGEST_KEY_ID, read once from KMS in the audit region', async () => {
  const org = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Digest Org', plan: 'team' });
  expect(org.status).toBe(201);
  const system = await invoke('GET', '/admin/v1/audit/digests', OPERATOR_TOKEN);
  expect(system.status).toBe(200);
  expect(system.body).toEqual({ publicKeyPem: fakeAws.publicKeyPem, items: [] });
  const ofOrg = await invoke('GET', `/admin/v1/orgs/${org.body.orgId}/audit/digests`, OPERATOR_TOKEN);
  expect([ofOrg.status, ofOrg.body.publicKeyPem]).toEqual([200, fakeAws.publicKeyPem]);
  const reads = fakeAws.calls.map((c, i) => ({ ...c, region: fakeAws.regions[i] })).filter((c) => c.target === 'TrentService.GetPublicKey');
  expect(reads).toEqual([{ target: 'TrentService.GetPublicKey', body: { KeyId: DIGEST_KEY_ARN }, region: 'eu-west-1' }]);
  // The org's entry went to the audit table through the audit region's client.
  const chain = (await new DynamoDbAuditStore(db.client, auditTable).list(org.body.orgId)).entries;
  expect(chain.map((e) => e.action)).toEqual(['org.created']);
});

test('the webhook routes work over the tables in the environment; the secret is encrypted with the credentials key', async () => {
  const org = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Hook Org', plan: 'team' });
  const orgId = org.body.orgId as string;
  const created = await invoke('POST', `/admin/v1/orgs/${orgId}/webhooks`, OPERATOR_TOKEN, { url: 'https://8.8.8.8/hooks', eventTypes: ['key.revoked'] });
  expect(created.status).toBe(201);
  const secret = created.body.secret as string;
  expect(secret).toMatch(/^whsec_/);
  const endpointId = created.body.endpoint.endpointId as string;
  expect(endpointId).toMatch(/^whe_/);
  const listed = await invoke('GET', `/admin/v1/orgs/${orgId}/webhooks`, OPERATOR_TOKEN);
  expect(listed.status).toBe(200);
  expect(JSON.stringify(listed.body)).toContain('https://8.8.8.8/hooks');
  expect(JSON.stringify(listed.body)).not.toContain(secret);
  // A private address is refused in AWS mode.
  const privateUrl = await invoke('POST', `/admin/v1/orgs/${orgId}/webhooks`, OPERATOR_TOKEN, { url: 'https://10.0.0.1/hooks' });
  expect(privateUrl.status).toBe(400);
  // Stored in the endpoints table, the secret only as KMS envelope ciphertext.
  const doc = DynamoDBDocumentClient.from(db.client);
  const stored = (await doc.send(new GetCommand({ TableName: endpointsTable, Key: { pk: `ORG#${orgId}`, sk: `WHE#${endpointId}` } }))).Item!;
  expect(stored.secret).toMatchObject({ provider: 'kms' });
  expect(JSON.stringify(stored)).not.toContain(secret.slice('whsec_'.length));
  const dataKeyCalls = fakeAws.calls.filter((c) => c.target === 'TrentService.GenerateDataKey' && (c.body.EncryptionContext as Record<string, string>).orgId === orgId);
  expect(dataKeyCalls).toHaveLength(1);
  expect(dataKeyCalls[0]!.body.KeyId).toBe(KEY_ARN);
});

test('the bundled function serves the web console built into its asset, with its security headers', async () => {
  expect(existsSync(join(assetDir, 'console', 'index.html'))).toBe(true);
  const page = await invoke('GET', '/console/', undefined, undefined, { resource: '/console/{proxy+}', raw: true });
  expect(page.status).toBe(200);
  expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
  const script = /src="\.\/(app-[A-Z0-9]+\.js)"/.exec(String(page.body))![1]!;
  const asset = await invoke('GET', `/console/${script}`, undefined, undefined, { resource: '/console/{proxy+}', raw: true });
  expect([asset.status, asset.headers['content-type']]).toEqual([200, 'text/javascript; charset=utf-8']);
  expect(String(asset.body)).toBe(readFileSync(join(assetDir, 'console', script), 'utf8'));
  const redirect = await invoke('GET', '/console', undefined, undefined, { resource: '/console', raw: true });
  expect([redirect.status, redirect.headers.location]).toEqual([308, 'console/']);
});

test("the admin API admits the console's own origin (the domain API Gateway was called on), and no other", async () => {
  const own = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Console Org', plan: 'team' }, { origin: 'https://plexmcp.example.com' });
  expect(own.status).toBe(201);
  // Same origin: no CORS headers are needed or sent.
  expect(own.headers['access-control-allow-origin']).toBeUndefined();
  const other = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Evil Org', plan: 'team' }, { origin: 'https://evil.example' });
  expect([other.status, other.body.error.code]).toEqual([403, 'origin_not_allowed']);
  // The Host header is the client's; only API Gateway's domain name counts.
  const spoofed = await invoke('POST', '/admin/v1/orgs', OPERATOR_TOKEN, { name: 'Evil Org', plan: 'team' }, { origin: 'https://abc123.execute-api.us-east-1.amazonaws.com' });
  expect(spoofed.status).toBe(403);
});
