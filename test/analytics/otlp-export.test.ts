/**
 * The analytics consumer's OTLP export (the construct's `otlpEndpoint`), as deployed: the consumer
 * bundled as `cdk synth` bundles it (esbuildOptionsFor) and invoked in a node process of its own
 * (the OTel exporter loads node:http with a dynamic import, which jest's module VM refuses), with
 * its store on the test engine and a loopback OTLP receiver in this process.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { ensureAnalyticsTable } from '../../lambda/adapters/dynamodb-rollups';
import { esbuildOptionsFor, PROJECT_ROOT } from '../../lib/lambda-defaults';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { kinesisEvent, kinesisRecord, logsBatch, usageLine } from './kinesis-events';

let db: TestDynamoDb;
let receiver: Server;
let work: string;
const posted: any[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any

beforeAll(async () => {
  db = await startTestDynamoDb();
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      posted.push(JSON.parse(Buffer.concat(chunks).toString('utf8')));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((done) => receiver.listen(0, '127.0.0.1', done));
  work = mkdtempSync(join(tmpdir(), 'plexmcp-otlp-consumer-'));
  await esbuild.build({ ...esbuildOptionsFor(join(PROJECT_ROOT, 'lambda', 'analytics', 'handler.ts'), join(work, 'index.js')), logLevel: 'error' });
}, 60_000);

afterAll(async () => {
  await new Promise<void>((done) => receiver.close(() => done()));
  await db.close();
  rmSync(work, { recursive: true, force: true });
});

/** Runs the bundled handler once on `event` in a fresh node process; resolves with its stdout. */
function invokeBundled(event: unknown, env: Record<string, string>): Promise<string> {
  const driver = join(work, 'driver.cjs');
  writeFileSync(
    driver,
    `const { handler } = require(${JSON.stringify(join(work, 'index.js'))});
     handler(JSON.parse(process.argv[2]), { awsRequestId: 'inv-1', functionName: 'PlexMcp-Analytics' })
       .then((summary) => { process.stdout.write('SUMMARY ' + JSON.stringify(summary) + '\\n'); })
       .catch((error) => { process.stderr.write(String(error && error.stack || error)); process.exit(1); });`,
  );
  return new Promise((resolve, reject) =>
    execFile(process.execPath, [driver, JSON.stringify(event)], { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 30_000 }, (error, stdout, stderr) =>
      error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout),
    ),
  );
}

test('with PLEXMCP_OTLP_ENDPOINT the consumer exports the gateway metrics of each batch to the collector after its rollups', async () => {
  const table = `analytics-${randomUUID()}`;
  await ensureAnalyticsTable(db.client, table);
  const lines = [usageLine(), usageLine({ totalMs: 40 }), usageLine({ status: 429, errorCode: 'rate_limited', tool: undefined, methods: ['tools/list'] })];
  const stdout = await invokeBundled(kinesisEvent([kinesisRecord(logsBatch(lines), 1)]), {
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'test',
    AWS_SECRET_ACCESS_KEY: 'test',
    AWS_ENDPOINT_URL_DYNAMODB: db.endpoint,
    PLEXMCP_ANALYTICS_TABLE: table,
    PLEXMCP_OTLP_ENDPOINT: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/metrics`,
  });
  expect(stdout).toMatch(/SUMMARY .*"usageRecords":3/);
  expect(posted).toHaveLength(1);
  const metrics = posted[0].resourceMetrics[0].scopeMetrics.flatMap((s: { metrics: unknown[] }) => s.metrics);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const duration = metrics.find((m: any) => m.name === 'mcp.server.operation.duration');
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const points = duration.histogram.dataPoints.map((p: any) => ({ ...Object.fromEntries(p.attributes.map((a: any) => [a.key, a.value.stringValue ?? Number(a.value.intValue)])), count: Number(p.count) }));
  expect(points).toEqual(
    expect.arrayContaining([
      { 'mcp.method.name': 'tools/call', 'gen_ai.tool.name': 'search', 'plexmcp.mcp': 'github', 'http.response.status_code': 200, count: 2 },
      { 'mcp.method.name': 'tools/list', 'plexmcp.mcp': 'github', 'http.response.status_code': 429, 'error.type': 'rate_limited', count: 1 },
    ]),
  );
  expect(points).toHaveLength(2);
  expect(JSON.stringify(posted[0])).not.toMatch(/org_a|key_1|req-/);
}, 60_000);
