/**
 * OTLP/HTTP metrics end to end: `npm start -- --demo --otlp-endpoint <url>` as users run it (the
 * bundle on plain node, its own process) against a loopback OTLP receiver. The SDK client calls
 * the demo MCP through the gateway; on shutdown the last export reaches the receiver with the MCP
 * metric names and attributes, and nothing that identifies an org, a key or a request.
 * (The OTel exporter loads node:http with a dynamic import, which jest's module VM refuses: the
 * exporter is tested here, in a real process, and nowhere in-process.)
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { DemoFile } from '../../lambda/local/demo';
import { startGatewayProcess, type GatewayProcess } from './harness';

interface Export {
  readonly path: string;
  readonly contentType: string;
  readonly body: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

let receiver: Server;
const received: Export[] = [];
let gw: GatewayProcess | undefined;
let dataDir: string;

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'] ?? '', body: JSON.parse(Buffer.concat(chunks).toString('utf8')) });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
  dataDir = mkdtempSync(join(tmpdir(), 'plexmcp-e2e-otlp-'));
});

afterAll(async () => {
  await gw?.stop();
  await new Promise<void>((done) => receiver.close(() => done()));
  rmSync(dataDir, { recursive: true, force: true });
});

// eslint-disable-next-line @typescript-eslint/no-explicit-any
const attributesOf = (point: any): Record<string, string | number> => Object.fromEntries(point.attributes.map((a: any) => [a.key, a.value.stringValue ?? Number(a.value.intValue)]));

test('the gateway exports MCP metrics (mcp.server.operation.duration by mcp.method.name, gen_ai.tool.name, error.type) over OTLP/HTTP', async () => {
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/metrics`;
  gw = await startGatewayProcess(dataDir, { demo: true, args: ['--otlp-endpoint', url] });
  const demo = JSON.parse(readFileSync(join(dataDir, 'demo.json'), 'utf8')) as DemoFile;

  const client = new Client({ name: 'otlp-e2e', version: '1.0.0' });
  await client.connect(new StreamableHTTPClientTransport(new URL(demo.gatewayUrl), { requestInit: { headers: { authorization: `Bearer ${demo.apiKey}` } } }));
  await client.listTools();
  for (let i = 0; i < 3; i++) await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
  // get-env is denied by the demo's policy: a 403 forbidden_tool.
  await expect(client.callTool({ name: 'get-env', arguments: {} })).rejects.toThrow();
  await client.close();
  await gw.stop(); // SIGTERM: serve closes, and the exporter sends what is left
  gw = undefined;

  expect(received.length).toBeGreaterThanOrEqual(1);
  for (const e of received) {
    expect(e.path).toBe('/v1/metrics');
    expect(e.contentType).toContain('application/json');
    const raw = JSON.stringify(e.body);
    for (const id of [demo.orgId, demo.apiKey, demo.apiKey.split('_')[1]!]) expect(raw).not.toContain(id);
  }
  // Cumulative temporality: the last export holds everything.
  const last = received[received.length - 1]!.body;
  const resource = attributesOf(last.resourceMetrics[0].resource);
  expect(resource['service.name']).toBe('plexmcp-gateway');
  const metrics = last.resourceMetrics[0].scopeMetrics.flatMap((s: { metrics: unknown[] }) => s.metrics);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const duration = metrics.find((m: any) => m.name === 'mcp.server.operation.duration');
  expect(duration.unit).toBe('s');
  const points = duration.histogram.dataPoints.map((p: { count: number }) => ({ ...attributesOf(p), count: Number(p.count) }));
  expect(points).toEqual(
    expect.arrayContaining([
      { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'echo', 'plexmcp.mcp': 'everything', 'http.response.status_code': 200, count: 3 },
      { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'get-env', 'plexmcp.mcp': 'everything', 'http.response.status_code': 403, 'error.type': 'forbidden_tool', count: 1 },
      expect.objectContaining({ 'mcp.method.name': 'tools/list', count: 1 }),
      expect.objectContaining({ 'mcp.method.name': 'initialize', count: 1 }),
    ]),
  );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  expect(metrics.map((m: any) => m.name).sort()).toEqual(['mcp.server.operation.duration', 'plexmcp.gateway.duration', 'plexmcp.gateway.io']);
}, 60_000);
