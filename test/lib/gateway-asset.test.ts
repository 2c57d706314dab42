import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Writable } from 'node:stream';
import { KMSClient } from '@aws-sdk/client-kms';
import * as esbuild from 'esbuild';
import { z } from 'zod';
import { ensureCountersTable } from '../../lambda/adapters/dynamodb-counters';
import { DynamoDbRegistryStore } from '../../lambda/adapters/dynamodb-registry-store';
import { KmsDataKeyProvider } from '../../lambda/adapters/kms-data-keys';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { RegistryService } from '../../lambda/core/registry-service';
import { esbuildOptionsFor, PROJECT_ROOT } from '../../lib/lambda-defaults';
import { startSdkUpstream, type SdkUpstream } from '../e2e/upstreams';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { startFakeKmsAndSecrets } from '../support/fake-aws-json';
import { installStreamifyHarness, invokeStreaming } from '../support/streamify-harness';
import { loadBundledHandler, localAwsEnvironment, synthesizeFunctionAsset } from '../support/synthesized-function';

/**
 * The synthesized gateway Lambda bundle (not the TypeScript source), driven through a
 * streamifyResponse-compatible harness against a real MCP upstream: SSE events must reach the
 * response stream while the upstream is still producing, not when the stream ends.
 */
type StreamingHandler = (event: unknown, stream: Writable, context: unknown) => Promise<void>;

const KEY_ARN = 'arn:aws:kms:us-east-1:111111111111:key/mrk-gateway';
const UPSTREAM_TOKEN = 'gateway-asset-upstream-token';

let asset: ReturnType<typeof synthesizeFunctionAsset>;
let db: TestDynamoDb;
let fakeAws: Awaited<ReturnType<typeof startFakeKmsAndSecrets>>;
let upstream: SdkUpstream;
let handler: StreamingHandler;
let apiKey: string;
const savedEnv = { ...process.env };
const usageLines: string[] = [];

beforeAll(async () => {
  asset = synthesizeFunctionAsset('PLEXMCP_COUNTERS_TABLE');

  db = await startTestDynamoDb();
  const registryTable = await db.newRegistryTable();
  const countersTable = `counters-${Date.now()}`;
  await ensureCountersTable(db.client, countersTable);
  fakeAws = await startFakeKmsAndSecrets({});

  // A real MCP server that checks the injected credential and streams progress with pauses.
  upstream = await startSdkUpstream({
    intercept: (req, res) => {
      if (req.headers.authorization === `Bearer ${UPSTREAM_TOKEN}`) return false;
      res.writeHead(401).end();
      return true;
    },
    setup: (server) => {
      server.registerTool('slow-count', { inputSchema: { steps: z.number() } }, async ({ steps }, extra) => {
        for (let i = 1; i <= steps; i++) {
          await new Promise((r) => setTimeout(r, 250));
          const progressToken = extra._meta?.progressToken;
          if (progressToken !== undefined) {
            await extra.sendNotification({ method: 'notifications/progress', params: { progressToken, progress: i, total: steps } });
          }
        }
        return { content: [{ type: 'text', text: `counted to ${steps}` }] };
      });
    },
  });

  // Seed the registry the way the admin Lambda does (same KMS wire protocol, same tables).
  const kms = new KMSClient({ endpoint: fakeAws.endpoint, region: 'us-east-1', credentials: { accessKeyId: 't', secretAccessKey: 't' } });
  const service = new RegistryService({
    store: new DynamoDbRegistryStore(db.client, registryTable),
    cipher: new EnvelopeCipher(new KmsDataKeyProvider(kms, KEY_ARN)),
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
  });
  const org = await service.createOrg({ name: 'Asset', plan: 'pro', ipAllowlist: [] });
  await service.createMcp(org.item.orgId, {
    slug: 'counter',
    endpoints: [{ url: upstream.url, weight: 100 }],
    upstreamAuth: { type: 'bearer', token: UPSTREAM_TOKEN },
    toolPolicy: { allow: [], deny: [] },
    timeouts: {},
  });
  apiKey = (await service.createKey(org.item.orgId, { name: 'agent', role: 'member', scopes: { mcps: '*', tools: {} } })).secret;

  Object.assign(process.env, {
    ...localAwsEnvironment({ dynamodb: db.endpoint, kms: fakeAws.endpoint }),
    PLEXMCP_REGISTRY_TABLE: registryTable,
    PLEXMCP_COUNTERS_TABLE: countersTable,
    PLEXMCP_KMS_KEY_ID: KEY_ARN,
    // The deployed function has PLEXMCP_MODE=aws (public https upstreams only); the loopback
    // upstream of this test needs local mode.
    PLEXMCP_MODE: 'local',
  });
  installStreamifyHarness();
  // Usage lines go to stdout as bare JSON lines (no console.log prefix in Lambda).
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    for (const line of String(chunk).split('\n')) if (line !== '') usageLines.push(line);
    return true;
  });
  handler = loadBundledHandler<StreamingHandler>(asset.assetDir);
}, 240_000);

afterAll(async () => {
  jest.restoreAllMocks();
  process.env = savedEnv;
  delete (globalThis as Record<string, unknown>).awslambda;
  await upstream?.close();
  await fakeAws?.close();
  await db?.close();
  asset?.cleanup();
});

let counter = 0;
function event(body: unknown, headers: Record<string, string> = {}) {
  const all: Record<string, string> = {
    host: 'abc.execute-api.us-east-1.amazonaws.com',
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    authorization: `Bearer ${apiKey}`,
    ...headers,
  };
  return {
    resource: '/mcp/{slug}',
    path: '/mcp/counter',
    httpMethod: 'POST',
    headers: all,
    multiValueHeaders: Object.fromEntries(Object.entries(all).map(([k, v]) => [k, [v]])),
    queryStringParameters: null,
    multiValueQueryStringParameters: null,
    pathParameters: { slug: 'counter' },
    body: JSON.stringify(body),
    isBase64Encoded: false,
    requestContext: { requestId: `gw-req-${++counter}`, identity: { sourceIp: '198.51.100.7' }, stage: 'v1' },
  };
}

test('the bundled gateway streams SSE events through as they are produced', async () => {
  const init = await invokeStreaming(
    handler,
    event({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'asset-test', version: '1' } } }),
  );
  expect(init.statusCode).toBe(200);
  expect(init.headers['x-request-id']).toBe('gw-req-1');
  const sessionId = init.headers['mcp-session-id']!;
  // Sealed session ids of the current format (bound to org, MCP and key).
  expect(sessionId).toMatch(/^pms2\./);
  expect(init.body).toContain('"serverInfo"');

  const initialized = await invokeStreaming(handler, event({ jsonrpc: '2.0', method: 'notifications/initialized' }, { 'mcp-session-id': sessionId }));
  expect(initialized.statusCode).toBe(202);

  const call = await invokeStreaming(
    handler,
    event(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'slow-count', arguments: { steps: 4 }, _meta: { progressToken: 'p1' } } },
      { 'mcp-session-id': sessionId },
    ),
  );
  expect(call.statusCode).toBe(200);
  expect(call.headers['content-type']).toMatch(/^text\/event-stream/);
  expect(call.headers['ratelimit-limit']).toBe('600');
  const progressChunks = call.chunks.filter((c) => c.text.includes('notifications/progress'));
  expect(progressChunks.length).toBeGreaterThanOrEqual(3);
  // The first progress event arrived well before the stream ended: streamed, not buffered.
  expect(call.endedAt - progressChunks[0]!.at).toBeGreaterThanOrEqual(500);
  expect(call.body).toContain('counted to 4');
});

test('errors from the bundle are JSON-RPC errors with the request id, and usage is logged without content', async () => {
  const denied = await invokeStreaming(handler, event({ jsonrpc: '2.0', id: 9, method: 'tools/list' }, { authorization: 'Bearer pmcp_wrong' }));
  expect(denied.statusCode).toBe(401);
  expect(denied.headers['www-authenticate']).toMatch(/^Bearer /);
  // Refused from the headers before the body is read: the JSON-RPC id is not known, so null.
  expect(JSON.parse(denied.body)).toMatchObject({ jsonrpc: '2.0', id: null, error: { data: { code: 'invalid_api_key' } } });

  const usage = usageLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => r.type === 'usage');
  expect(usage.length).toBe(usageLines.length); // every line the gateway wrote is a bare usage record
  expect(usage.map((u) => u.status)).toEqual(expect.arrayContaining([200, 202, 401]));
  const toolCall = usage.find((u) => u.tool === 'slow-count')!;
  expect(toolCall).toMatchObject({ mcp: 'counter', region: 'us-east-1', methods: ['tools/call'], status: 200 });
  expect(toolCall.bytesOut).toBeGreaterThan(0);
  for (const line of usageLines) expect(line).not.toMatch(/counted to|gateway-asset-upstream-token|pmcp_|127\.0\.0\.1/);
});

/** The gateway's bundle budget (issue 8): a cold start compiles every byte of it. */
const GATEWAY_BUNDLE_LIMIT = 1_000_000;

test('the gateway bundle is at most 1 MB and holds nothing the data plane does not run', async () => {
  // The same build with esbuild's metafile: what went into the bundle, by input file.
  const outdir = mkdtempSync(join(tmpdir(), 'plexmcp-gateway-meta-'));
  try {
    const outfile = join(outdir, 'index.js');
    const result = await esbuild.build({ ...esbuildOptionsFor(join(PROJECT_ROOT, 'lambda', 'gateway', 'handler.ts'), outfile), absWorkingDir: PROJECT_ROOT, metafile: true, logLevel: 'silent' });
    const bundle = readFileSync(join(asset.assetDir, 'index.js'));
    expect(readFileSync(outfile).equals(bundle)).toBe(true); // the metafile describes the asset
    expect(bundle.length).toBeLessThanOrEqual(GATEWAY_BUNDLE_LIMIT);

    const inputs = Object.keys(result.metafile.outputs[Object.keys(result.metafile.outputs).find((o) => o.endsWith('index.js'))!]!.inputs);
    const matching = (pattern: RegExp) => inputs.filter((input) => pattern.test(input));
    expect(inputs).toContain('lambda/core/gateway/gateway.ts'); // the listing is real
    // Nothing of zod or the admin API (schemas, routes, OpenAPI) or of the control plane's clients.
    expect(matching(/node_modules\/(zod|@asteasolutions\/zod-to-openapi|@hono\/zod-openapi|hono|@middy)\//)).toEqual([]);
    expect(matching(/^lambda\/(core\/admin|admin|local|health)\//)).toEqual([]);
    expect(matching(/node_modules\/@aws-sdk\/client-(secrets-manager|sns|eventbridge)\//)).toEqual([]);
    // undici's dispatchers without its package entry (fetch, WebSocket, caches, mocks) or its
    // experimental Milo parser.
    expect(matching(/node_modules\/undici\/(index\.js|lib\/(web\/(fetch\/index|websocket|eventsource|cache)|mock|cache|milo)\/?)/)).toEqual([]);
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
});
