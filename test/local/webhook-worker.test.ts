import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { join } from 'node:path';
import { DynamoDbAlertStore } from '../../lambda/adapters/dynamodb-alert-store';
import { ensureRegistryTable } from '../../lambda/adapters/dynamodb-registry-store';
import { LocalKeyFileProvider } from '../../lambda/adapters/local-key-file';
import { LocalAlertDelivery } from '../../lambda/adapters/sns-alerts';
import { AlertService } from '../../lambda/core/alert-service';
import { EnvelopeCipher } from '../../lambda/core/envelope';
import { parseEvent } from '../../lambda/core/events/catalog';
import type { PlexEvent } from '../../lambda/core/events/model';
import { startEmbeddedDynamoDb, type EmbeddedDynamoDb } from '../../lambda/local/dynamodb-engine';
import { InProcessEventBus } from '../../lambda/local/event-bus';
import { alertOnDisabledEndpoints, createLocalWebhooks, type LocalWebhooks } from '../../lambda/local/webhook-worker';
import { loopbackReceiver } from '../core/webhooks/loopback-receiver';

const ORG = 'org_aaaaaaaaaaaaaaaa';
const keyRevoked = (keyId: string): PlexEvent => ({ type: 'key.revoked', orgId: ORG, at: new Date().toISOString(), keyId, name: 'ci' });

let dir: string;
const cleanup: (() => Promise<void>)[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'plexmcp-webhook-worker-'));
});
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn();
  rmSync(dir, { recursive: true, force: true });
});

async function engine(): Promise<EmbeddedDynamoDb> {
  // On disk, as `plexmcp serve` keeps it, so a restart of the engine itself is part of the test.
  const e = await startEmbeddedDynamoDb(join(dir, 'data'));
  return e;
}

async function webhooks(db: EmbeddedDynamoDb, bus: InProcessEventBus, schedule: number[], pollIntervalMs = 10, alerts?: AlertService): Promise<LocalWebhooks> {
  return createLocalWebhooks({
    ...(alerts ? { alerts } : {}),
    client: db.client,
    endpointsTable: 'plexmcp-webhook-endpoints',
    deliveriesTable: 'plexmcp-webhook-deliveries',
    cipher: new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key'))),
    urlPolicy: { allowLoopback: true, resolve: async () => ['127.0.0.1'] },
    limitFor: async (orgId) => (orgId === ORG ? 5 : undefined),
    bus,
    schedule,
    pollIntervalMs,
    attemptTimeoutMs: 2_000,
    log: () => undefined,
  });
}

test('an event on the in-process bus reaches a loopback receiver, verified by standardwebhooks; 500, 500, then 200 = the 3rd attempt', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], (n) => (n <= 2 ? 500 : 200));
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 20, 40]);
  cleanup.push(() => hooks.close());
  const created = await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.revoked'] });
  secret = created.secret;
  await bus.publish([keyRevoked('key_1'), { type: 'mcp.created', orgId: ORG, at: new Date().toISOString(), mcp: 'x' }]);
  await rx.waitFor(3);
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(rx.unverified).toBe(0);
  expect(new Set(rx.received.map((r) => r.id)).size).toBe(1);
  expect(rx.received[2]!.body).toMatchObject({ type: 'key.revoked', data: { keyId: 'key_1' } });
  // No fourth request came: it was delivered.
  expect(rx.received).toHaveLength(3);
  const [view] = (await hooks.service.listDeliveries(ORG, created.endpoint.endpointId)).items;
  expect(view).toMatchObject({ state: 'delivered', attempts: 3 });
});

test('an idle worker leaves the store alone; retries and new deliveries wake it at their due times, not at its (long) safety poll', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  let queries = 0;
  db.client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'QueryCommand') queries++;
      return next(args);
    },
    { step: 'initialize', name: 'countQueries' },
  );
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], (n) => (n <= 2 ? 500 : 200));
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 30, 60], 60_000);
  cleanup.push(() => hooks.close());
  const created = await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.revoked'] });
  secret = created.secret;
  await new Promise((resolve) => setTimeout(resolve, 300));
  const idle = queries;
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect(queries).toBe(idle); // half a second idle: not one query

  await bus.publish([keyRevoked('key_1')]);
  await rx.waitFor(3, 3_000); // attempts at 0, +30 ms and +60 ms, though the poll is a minute
  const test = await hooks.service.sendTest(ORG, created.endpoint.endpointId);
  await rx.waitFor(4, 3_000);
  expect(rx.received[3]!.id).toBe(test.deliveryId);
});

test('a retry that comes due while a slow attempt holds the worker is made right after it, not at the next poll', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  // A receiver that takes connections and never answers: its attempts last the 2 s attempt timeout.
  const sockets: Socket[] = [];
  const hang = createServer((socket) => void sockets.push(socket));
  await new Promise<void>((resolve) => hang.listen(0, '127.0.0.1', resolve));
  cleanup.push(async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => hang.close(() => resolve()));
  });
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], (n) => (n <= 1 ? 500 : 200));
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 30, 30], 60_000);
  cleanup.push(() => hooks.close());
  secret = (await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.revoked'] })).secret;
  await hooks.service.create(ORG, { url: `http://127.0.0.1:${(hang.address() as AddressInfo).port}/hook`, eventTypes: ['key.revoked'] });
  await bus.publish([keyRevoked('key_1')]);
  // The retry (due 30 ms after the 500) passes while the hanging attempt holds the tick for 2 s.
  await rx.waitFor(2, 8_000);
});

test('stopped with a delivery pending (between retries), a new worker over the restarted engine delivers it: nothing lost, nothing twice', async () => {
  let db = await engine();
  const bus = new InProcessEventBus();
  let secret = '';
  let up = false;
  const rx = await loopbackReceiver(() => [secret], () => (up ? 200 : 503));
  cleanup.push(() => rx.close());
  // The second attempt is due 300 ms after the first: the worker is stopped in between.
  const first = await webhooks(db, bus, [0, 300, 300]);
  const created = await first.service.create(ORG, { url: rx.url });
  secret = created.secret;
  await bus.publish([keyRevoked('key_1'), keyRevoked('key_2')]);
  await rx.waitFor(2);
  await first.close();
  await db.close();
  const seenBeforeRestart = rx.received.length;
  expect(seenBeforeRestart).toBe(2); // one failed attempt each, both still pending

  up = true;
  db = await engine();
  cleanup.push(() => db.close());
  const second = await webhooks(db, new InProcessEventBus(), [0, 300, 300]);
  cleanup.push(() => second.close());
  await rx.waitFor(4);
  let page = await second.service.listDeliveries(ORG, created.endpoint.endpointId);
  // The receiver answered; the attempts are recorded right after (bounded wait).
  for (let i = 0; i < 200 && page.items.some((d) => d.state === 'pending'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
    page = await second.service.listDeliveries(ORG, created.endpoint.endpointId);
  }
  expect(page.items.map((d) => [d.state, d.attempts])).toEqual([
    ['delivered', 2],
    ['delivered', 2],
  ]);
  const ids = rx.received.map((r) => r.id);
  expect(new Set(ids).size).toBe(2);
  expect(rx.received.slice(2).map((r) => (r.body as { data: { keyId: string } }).data.keyId).sort()).toEqual(['key_1', 'key_2']);
});

test('410 Gone disables the endpoint and puts a valid webhook.endpoint.disabled event on the bus', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], () => 410);
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 20]);
  cleanup.push(() => hooks.close());
  const created = await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.*'] });
  secret = created.secret;
  await bus.publish([keyRevoked('key_1')]);
  await rx.waitFor(1);
  for (let i = 0; i < 200 && !bus.recentEvents().some((e) => e.type === 'webhook.endpoint.disabled'); i++) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  const disabled = bus.recentEvents().filter((e) => e.type === 'webhook.endpoint.disabled');
  expect(disabled).toHaveLength(1);
  expect(parseEvent(disabled[0])).toMatchObject({ orgId: ORG, endpointId: created.endpoint.endpointId, reason: 'gone' });
  expect(await hooks.service.get(ORG, created.endpoint.endpointId)).toMatchObject({ enabled: false, disabledReason: 'gone' });
});

test('with serve\'s alerts, the disabled endpoint is emailed (logged locally) to the org\'s subscribers: id and reason, no URL or secret', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  await ensureRegistryTable(db.client, 'plexmcp-registry');
  const logged: string[] = [];
  const delivery = new LocalAlertDelivery((line) => logged.push(line));
  const alerts = new AlertService({ store: new DynamoDbAlertStore(db.client, 'plexmcp-registry'), delivery, getOrg: async (orgId) => ({ orgId, plan: 'pro' }), log: () => undefined });
  // Without an events list: every alert type, the disabled webhook included.
  await alerts.create(ORG, { type: 'email', address: 'ops@example.com' });
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], () => 410);
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 20], 10, alerts);
  cleanup.push(() => hooks.close());
  const created = await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.*'] });
  secret = created.secret;
  const id = created.endpoint.endpointId;
  await bus.publish([keyRevoked('key_1')]);
  await rx.waitFor(1);
  for (let i = 0; i < 200 && delivery.delivered.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  expect(delivery.delivered).toHaveLength(1);
  const [alert] = delivery.delivered;
  expect(alert).toMatchObject({ orgId: ORG, eventType: 'webhook.endpoint.disabled', subject: `PlexMCP webhook endpoint disabled: ${id} (410 Gone)` });
  expect(alert!.message).toContain(`Webhook endpoint ${id} answered 410 Gone, so delivery disabled it.\n`);
  expect(alert!.message).toContain(`Endpoint id:   ${id}\nReason:        gone (410 Gone)\n`);
  const port = new URL(rx.url).port;
  for (const text of [alert!.subject, alert!.message, ...logged]) {
    expect(text).not.toContain(rx.url);
    expect(text).not.toContain(`:${port}`);
    expect(text).not.toContain(secret);
    expect(text).not.toContain('whsec_');
  }
  expect(logged.at(-1)).toBe(`Alert for org ${ORG}: PlexMCP webhook endpoint disabled: ${id} (410 Gone)`);
  // The bus got it too, once.
  expect(bus.recentEvents().filter((e) => e.type === 'webhook.endpoint.disabled')).toHaveLength(1);
});

test('alertOnDisabledEndpoints (serve, alerts made after the webhooks): the bus\'s disabled event is alerted once; health events on the bus are not', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  await ensureRegistryTable(db.client, 'plexmcp-registry');
  const delivery = new LocalAlertDelivery(() => undefined);
  const alerts = new AlertService({ store: new DynamoDbAlertStore(db.client, 'plexmcp-registry'), delivery, getOrg: async (orgId) => ({ orgId, plan: 'team' }), log: () => undefined });
  await alerts.create(ORG, { type: 'email', address: 'ops@example.com' });
  const bus = new InProcessEventBus();
  let secret = '';
  const rx = await loopbackReceiver(() => [secret], () => 410);
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0, 20]);
  cleanup.push(() => hooks.close());
  const stop = alertOnDisabledEndpoints(bus, alerts);
  cleanup.push(async () => void stop());
  const created = await hooks.service.create(ORG, { url: rx.url, eventTypes: ['key.*'] });
  secret = created.secret;
  // The health monitor dispatches these itself: on the bus they must not be emailed again.
  await bus.publish([
    { type: 'mcp.endpoint.status.changed', orgId: ORG, at: new Date().toISOString(), mcp: 'github', endpointId: 'ep_1', region: 'local', from: 'healthy', to: 'unhealthy' },
    keyRevoked('key_1'),
  ]);
  await rx.waitFor(1);
  for (let i = 0; i < 200 && delivery.delivered.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect(delivery.delivered.map((a) => [a.eventType, a.subject])).toEqual([
    ['webhook.endpoint.disabled', `PlexMCP webhook endpoint disabled: ${created.endpoint.endpointId} (410 Gone)`],
  ]);
  expect(delivery.delivered[0]!.message).not.toContain(rx.url);
});

test('stop() is prompt and idempotent, and a stopped worker takes no more events', async () => {
  const db = await engine();
  cleanup.push(() => db.close());
  const bus = new InProcessEventBus();
  const rx = await loopbackReceiver(() => ['whsec_' + Buffer.alloc(32).toString('base64')]);
  cleanup.push(() => rx.close());
  const hooks = await webhooks(db, bus, [0], 1_000);
  const created = await hooks.service.create(ORG, { url: rx.url });
  const started = Date.now();
  await hooks.close();
  await hooks.close();
  expect(Date.now() - started).toBeLessThan(500);
  await bus.publish([keyRevoked('key_9')]);
  await new Promise((resolve) => setTimeout(resolve, 50));
  expect((await hooks.service.listDeliveries(ORG, created.endpoint.endpointId)).items).toEqual([]);
  expect(rx.requests).toBe(0);
});
