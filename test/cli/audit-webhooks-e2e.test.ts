/**
 * End to end, issue 10's done-when: the real local server (`serve()`), the CLI in-process, a
 * webhook receiver on loopback that verifies with the `standardwebhooks` package, and the audit
 * log tampered with directly in the engine.
 */
import { GetItemCommand, PutItemCommand, DeleteItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DEFAULT_AUDIT_TABLE_NAME } from '../../lambda/core/audit/table';
import { serve, type LocalGateway, type ServeOptions } from '../../lambda/local/serve';
import { loopbackReceiver, type LoopbackReceiver } from '../core/webhooks/loopback-receiver';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { run, tempDir } from './helpers';

let dir: { path: string; cleanup: () => Promise<void> };
let db: TestDynamoDb;
let gateway: LocalGateway;
const receivers: LoopbackReceiver[] = [];

// Attempt 1 at once, attempt 2 after 1.5 s (long enough to restart the server in between), then quick.
const options = (): ServeOptions => ({
  port: 0,
  dataDir: join(dir.path, 'data'),
  dynamodbEndpoint: db.endpoint,
  healthIntervalMs: 0,
  auditDigestIntervalMs: 0,
  webhookRetrySchedule: [0, 1_500, 200, 200],
  webhookPollIntervalMs: 20,
  log: () => undefined,
});

beforeAll(async () => {
  dir = await tempDir();
  db = await startTestDynamoDb();
  gateway = await serve(options());
});
afterAll(async () => {
  await gateway?.close();
  for (const r of receivers) await r.close();
  await db?.close();
  await dir?.cleanup();
});

const cli = (argv: string[]) => run(['--url', gateway.adminUrl, '--data-dir', 'data', ...argv], { cwd: dir.path });
async function ok<T>(argv: string[]): Promise<T> {
  const r = await cli([...argv, '--json']);
  expect([r.code, r.stderr]).toEqual([0, '']);
  return JSON.parse(r.stdout) as T;
}
async function receiver(answer: (n: number) => number): Promise<{ rx: LoopbackReceiver; setSecret: (s: string) => void }> {
  let secret = 'whsec_' + Buffer.alloc(32).toString('base64');
  const rx = await loopbackReceiver(() => [secret], answer);
  receivers.push(rx);
  return { rx, setSecret: (s) => (secret = s) };
}

let orgId: string;

describe('webhooks: plexmcp webhook against plexmcp serve', () => {
  test('key.revoked reaches the receiver signed (standardwebhooks verifies it); fail twice then succeed = the 3rd attempt', async () => {
    orgId = (await ok<{ orgId: string }>(['org', 'create', 'Hooks', '--plan', 'pro'])).orgId;
    const a = await receiver(() => 204);
    const added = await ok<{ endpoint: { endpointId: string }; secret: string }>(['webhook', 'add', a.rx.url, '--events', 'key.revoked', '--org', orgId]);
    a.setSecret(added.secret);
    const b = await receiver((n) => (n <= 2 ? 500 : 200));
    const flaky = await ok<{ endpoint: { endpointId: string }; secret: string }>(['webhook', 'add', b.rx.url, '--events', 'key.revoked,mcp.*', '--org', orgId]);
    b.setSecret(flaky.secret);

    const key = await ok<{ key: { keyId: string } }>(['key', 'create', 'ci deploy', '--org', orgId]);
    expect((await cli(['key', 'revoke', key.key.keyId, '--org', orgId])).code).toBe(0);

    await a.rx.waitFor(1);
    expect(a.rx.received[0]!.body).toMatchObject({ type: 'key.revoked', data: { orgId, keyId: key.key.keyId, name: 'ci deploy' } });
    expect(a.rx.unverified).toBe(0);
    // b: key.revoked 500, 500, then 200 (attempt 2 comes 1.5 s after 1), the same webhook-id each time.
    await b.rx.waitFor(3, 10_000);
    expect(b.rx.received.map((r) => r.id)).toEqual(Array(3).fill(b.rx.received[0]!.id));
    expect(b.rx.received[2]!.body).toEqual(a.rx.received[0]!.body);
    const deliveries = await ok<{ items: { state: string; attempts: number; attemptLog: { status: number }[] }[] }>(['webhook', 'deliveries', flaky.endpoint.endpointId, '--org', orgId]);
    expect(deliveries.items.map((d) => [d.state, d.attempts, d.attemptLog.map((x) => x.status)])).toEqual([['delivered', 3, [500, 500, 200]]]);
  }, 20_000);

  test('a private-address URL is refused with a field error', async () => {
    const refused = await cli(['webhook', 'add', 'https://10.0.0.1/hook', '--org', orgId]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/^error \w+: .*\n {2}url: /);
  });

  test('restarting plexmcp serve with a delivery pending loses none: the next server delivers it once', async () => {
    let up = false;
    const c = await receiver(() => (up ? 204 : 503));
    const added = await ok<{ endpoint: { endpointId: string }; secret: string }>(['webhook', 'add', c.rx.url, '--events', 'mcp.created', '--org', orgId]);
    c.setSecret(added.secret);
    expect((await cli(['mcp', 'create', 'docs', '--org', orgId, '--endpoint', 'http://127.0.0.1:9/mcp'])).code).toBe(0);
    await c.rx.waitFor(1); // attempt 1: 503, attempt 2 due in 1.5 s
    await gateway.close();
    up = true;
    gateway = await serve(options());
    await c.rx.waitFor(2, 5_000);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(c.rx.received.map((r) => r.id)).toEqual([c.rx.received[0]!.id, c.rx.received[0]!.id]);
    const deliveries = await ok<{ items: { state: string }[] }>(['webhook', 'deliveries', added.endpoint.endpointId, '--org', orgId]);
    expect(deliveries.items.map((d) => d.state)).toEqual(['delivered']);
  }, 20_000);
});

describe('audit: plexmcp audit against plexmcp serve', () => {
  const entryKey = (seq: number) => ({ pk: { S: `ORG#${orgId}` }, sk: { N: String(seq) } });
  const getItem = async (seq: number) => (await db.client.send(new GetItemCommand({ TableName: DEFAULT_AUDIT_TABLE_NAME, Key: entryKey(seq), ConsistentRead: true }))).Item!;
  const putItem = (item: Awaited<ReturnType<typeof getItem>>) => db.client.send(new PutItemCommand({ TableName: DEFAULT_AUDIT_TABLE_NAME, Item: item }));
  const verify = () => cli(['audit', 'verify', '--org', orgId]);

  test('the org chain holds every change above; audit verify passes, signed by a digest', async () => {
    const list = await ok<{ items: { seq: number; action: string }[] }>(['audit', 'list', '--org', orgId, '--limit', '1000']);
    expect(list.items.map((e) => e.action)).toEqual([
      'org.created', 'webhook.created', 'webhook.created', 'key.created', 'key.revoked', 'webhook.created', 'mcp.created',
    ]);
    await gateway.runAuditDigests();
    const verified = await verify();
    expect([verified.code, verified.stderr]).toEqual([0, '']);
    expect(verified.stdout).toBe('OK: 7 entries, chain intact up to the store’s head, signed through entry 7 by 1 digest.\n');

    // Offline: the export and the digests file verify without the API.
    expect((await cli(['audit', 'export', '--org', orgId, '--out', 'audit.ndjson', '--digests', 'digests.json'])).code).toBe(0);
    expect((await readFile(join(dir.path, 'audit.ndjson'), 'utf8')).trim().split('\n')).toHaveLength(7);
    const offline = await run(['audit', 'verify', '--file', 'audit.ndjson', '--digests', 'digests.json'], { cwd: dir.path, env: { PLEXMCP_URL: 'http://127.0.0.1:9' } });
    expect([offline.code, offline.stdout]).toEqual([0, 'OK: 7 entries, chain intact, signed through entry 7 by 1 digest.\n']);
  });

  test('an entry edited, deleted or two swapped directly in the engine: verify fails and names the entry', async () => {
    const three = await getItem(3);
    await db.client.send(
      new UpdateItemCommand({ TableName: DEFAULT_AUDIT_TABLE_NAME, Key: entryKey(3), UpdateExpression: 'SET sourceIp = :ip', ExpressionAttributeValues: { ':ip': { S: '198.51.100.66' } } }),
    );
    let res = await verify();
    expect([res.code, res.stderr]).toEqual([1, 'FAILED: entry 3 was altered.\nerror audit_verify_failed: the audit log did not verify\n']);
    await putItem(three);
    expect((await verify()).code).toBe(0);

    const two = await getItem(2);
    await db.client.send(new DeleteItemCommand({ TableName: DEFAULT_AUDIT_TABLE_NAME, Key: entryKey(2) }));
    res = await verify();
    expect(res.stderr).toMatch(/^FAILED: entry 2 was removed\.\n/);
    await putItem(two);

    const [five, six] = [await getItem(5), await getItem(6)];
    await putItem({ ...six, ...entryKey(5) });
    await putItem({ ...five, ...entryKey(6) });
    res = await verify();
    expect(res.stderr).toMatch(/^FAILED: entry 6 was reordered\.\n/);
    await putItem(five);
    await putItem(six);

    // Truncation of the tail, which the chain alone cannot see: the signed digest and the head can.
    const seven = await getItem(7);
    await db.client.send(new DeleteItemCommand({ TableName: DEFAULT_AUDIT_TABLE_NAME, Key: entryKey(7) }));
    res = await verify();
    expect(res.stderr).toMatch(/^FAILED: entry 7 was removed\.\n/);
    await putItem(seven);
    expect((await verify()).code).toBe(0);
  });
});
