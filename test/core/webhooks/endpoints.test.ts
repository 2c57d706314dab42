import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBDocumentClient, ScanCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbDeliveryStore, ensureDeliveryTable } from '../../../lambda/adapters/dynamodb-delivery-store';
import { DynamoDbWebhookEndpointStore, ensureWebhookEndpointTable } from '../../../lambda/adapters/dynamodb-webhook-endpoints';
import { LocalKeyFileProvider } from '../../../lambda/adapters/local-key-file';
import { WebhookSender } from '../../../lambda/adapters/webhook-sender';
import { EnvelopeCipher } from '../../../lambda/core/envelope';
import { ApiError } from '../../../lambda/core/errors';
import type { PlexEvent } from '../../../lambda/core/events/model';
import { WebhookDispatcher } from '../../../lambda/core/webhooks/dispatcher';
import {
  endpointAuditChanges,
  fanOutMessageId,
  matchesEventType,
  webhookPayload,
  WebhookService,
  type WebhookServiceDeps,
} from '../../../lambda/core/webhooks/endpoints';
import { FAILING_DISABLE_AFTER_MS } from '../../../lambda/core/webhooks/schedule';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';
import { loopbackReceiver } from './loopback-receiver';

const ORG = 'org_aaaaaaaaaaaaaaaa';
const FREE_ORG = 'org_ffffffffffffffff';
const OTHER = 'org_bbbbbbbbbbbbbbbb';
const SCHEDULE = [0, 20, 40, 60, 80];

let db: TestDynamoDb;
let dir: string;
const open: { close(): Promise<void> }[] = [];
const track = <T extends { close(): Promise<void> }>(x: T): T => (open.push(x), x);

beforeAll(async () => {
  db = await startTestDynamoDb();
  dir = mkdtempSync(join(tmpdir(), 'plexmcp-webhooks-'));
});
afterAll(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((x) => x.close()));
});

/** Host names the URL policy resolves in these tests (no real DNS). */
const DNS: Record<string, string[]> = {
  'hooks.example.com': ['93.184.215.14'],
  'internal.example.com': ['10.0.0.7'],
  'metadata.example.com': ['169.254.169.254'],
  localhost: ['127.0.0.1'],
};

async function setup(options: { allowLoopback?: boolean; limits?: Record<string, number> } = {}) {
  const endpointsTable = `webhook-endpoints-${randomUUID()}`;
  const deliveriesTable = `deliveries-${randomUUID()}`;
  await Promise.all([ensureWebhookEndpointTable(db.client, endpointsTable), ensureDeliveryTable(db.client, deliveriesTable)]);
  const clock = { now: Date.now() };
  const published: PlexEvent[] = [];
  const limits: Record<string, number> = options.limits ?? { [ORG]: 5, [OTHER]: 5, [FREE_ORG]: 0 };
  const deps: WebhookServiceDeps = {
    endpoints: new DynamoDbWebhookEndpointStore(db.client, endpointsTable),
    deliveries: new DynamoDbDeliveryStore(db.client, deliveriesTable),
    cipher: new EnvelopeCipher(LocalKeyFileProvider.fromFile(join(dir, 'master.key'))),
    urlPolicy: { allowLoopback: options.allowLoopback ?? true, resolve: async (host) => DNS[host] ?? [] },
    limitFor: async (orgId) => limits[orgId],
    events: { publish: async (events) => void published.push(...events) },
    now: () => new Date(clock.now),
    secretCacheMs: 0,
  };
  const service = new WebhookService(deps);
  return { service, deps, clock, published, endpointsTable, deliveriesTable };
}

async function apiError(promise: Promise<unknown>): Promise<ApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof ApiError) return error;
    throw error;
  }
  throw new Error('expected an ApiError');
}

function dispatcherFor(s: Awaited<ReturnType<typeof setup>>, sender: WebhookSender, now: () => number = Date.now) {
  return new WebhookDispatcher({
    store: s.deps.deliveries,
    send: (req) => sender.send(req),
    secretsFor: (endpointId, orgId) => s.service.target(endpointId, orgId),
    onOutcome: (d, outcome, at) => s.service.recordOutcome(d.orgId, d.endpointId, outcome, at),
    schedule: SCHEDULE,
    now,
  });
}

/** Runs the dispatcher until nothing is pending; bounded. */
async function drain(s: Awaited<ReturnType<typeof setup>>, d: WebhookDispatcher, endpointId: string): Promise<void> {
  for (let pass = 0; pass < 200; pass++) {
    await d.runOnce();
    const page = await s.service.listDeliveries(ORG, endpointId);
    if (page.items.every((x) => x.state !== 'pending')) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error('deliveries still pending after 200 passes');
}

const keyRevoked = (keyId = 'key_1'): PlexEvent => ({ type: 'key.revoked', orgId: ORG, at: '2026-12-01T10:00:00.000Z', keyId, name: 'ci' });

describe('managing endpoints', () => {
  it('create returns the whsec_ secret once; it is stored only encrypted and never in get/list', async () => {
    const s = await setup();
    const { endpoint, secret } = await s.service.create(ORG, { url: 'https://hooks.example.com/plexmcp', eventTypes: ['key.revoked', 'mcp.*'], description: 'ops' });
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(endpoint).toEqual({
      orgId: ORG,
      endpointId: expect.stringMatching(/^whe_[a-z2-7]{16}$/),
      url: 'https://hooks.example.com/plexmcp',
      eventTypes: ['key.revoked', 'mcp.*'],
      enabled: true,
      description: 'ops',
      createdAt: expect.any(String),
      updatedAt: expect.any(String),
    });
    expect(await s.service.get(ORG, endpoint.endpointId)).toEqual(endpoint);
    expect(await s.service.list(ORG)).toEqual([endpoint]);
    const raw = await DynamoDBDocumentClient.from(db.client).send(new ScanCommand({ TableName: s.endpointsTable }));
    const stored = JSON.stringify(raw.Items);
    expect(stored).not.toContain(secret);
    expect(stored).not.toContain(secret.slice('whsec_'.length));
    // ...but it is what the dispatcher signs with.
    expect(await s.service.target(endpoint.endpointId, ORG)).toEqual({ url: endpoint.url, secrets: [secret] });
  });

  it('plan gating: an org whose plan has no webhooks gets 403 plan_required; an unknown org 404; over the limit 409 too_many_webhooks', async () => {
    const s = await setup({ limits: { [ORG]: 2, [FREE_ORG]: 0 } });
    expect(await apiError(s.service.create(FREE_ORG, { url: 'https://hooks.example.com/' }))).toMatchObject({ status: 403, code: 'plan_required' });
    expect(await apiError(s.service.create('org_nnnnnnnnnnnnnnnn', { url: 'https://hooks.example.com/' }))).toMatchObject({ status: 404, code: 'not_found' });
    await s.service.create(ORG, { url: 'https://hooks.example.com/1' });
    await s.service.create(ORG, { url: 'https://hooks.example.com/2' });
    expect(await apiError(s.service.create(ORG, { url: 'https://hooks.example.com/3' }))).toMatchObject({ status: 409, code: 'too_many_webhooks' });
    expect(await s.service.list(ORG)).toHaveLength(2);
  });

  it('URLs are checked like MCP endpoint URLs: private, metadata and (in AWS) loopback or http targets are refused at create and update', async () => {
    const aws = await setup({ allowLoopback: false });
    for (const url of [
      'https://10.1.2.3/hook',
      'https://internal.example.com/hook', // a name resolving to a private address
      'https://metadata.example.com/latest', // ...to the metadata service
      'https://169.254.169.254/latest',
      'https://localhost/hook',
      'http://hooks.example.com/hook',
      'https://user:pw@hooks.example.com/hook',
      'not a url',
    ]) {
      const error = await apiError(aws.service.create(ORG, { url }));
      expect(error).toMatchObject({ status: 400, code: 'validation_failed', details: [{ path: 'url' }] });
      // The message says why without echoing the URL.
      expect(error.message + JSON.stringify(error.details)).not.toContain(url);
    }
    expect(await aws.service.list(ORG)).toEqual([]);
    const { endpoint } = await aws.service.create(ORG, { url: 'https://hooks.example.com/hook' });
    expect(await apiError(aws.service.update(ORG, endpoint.endpointId, { url: 'https://internal.example.com/x' }))).toMatchObject({ status: 400, code: 'validation_failed' });
    expect((await aws.service.get(ORG, endpoint.endpointId)).url).toBe('https://hooks.example.com/hook');
  });

  it('validates event types and descriptions, reporting every problem at once', async () => {
    const s = await setup();
    const error = await apiError(s.service.create(ORG, { url: 'https://10.0.0.1/', eventTypes: ['key.revoked', 'Bad Type', ''], description: 'a\nb' }));
    expect(error.details!.map((d) => d.path).sort()).toEqual(['description', 'eventTypes.1', 'eventTypes.2', 'url']);
  });

  it('update changes only what is given; re-enabling clears disabledReason and failingSince; description null removes it', async () => {
    const s = await setup();
    const { endpoint } = await s.service.create(ORG, { url: 'https://hooks.example.com/a', description: 'x' });
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'gone', s.clock.now);
    expect(await s.service.get(ORG, endpoint.endpointId)).toMatchObject({ enabled: false, disabledReason: 'gone' });
    const { before, after } = await s.service.update(ORG, endpoint.endpointId, { enabled: true, eventTypes: ['key.*'], description: null });
    expect(before).toMatchObject({ enabled: false, disabledReason: 'gone', description: 'x' });
    expect(after).toEqual({ ...endpoint, enabled: true, eventTypes: ['key.*'], description: undefined, updatedAt: expect.any(String) });
    expect(after).not.toHaveProperty('disabledReason');
    expect(after).not.toHaveProperty('failingSince');
    expect(after).not.toHaveProperty('description');
  });

  it('another org cannot see, change or remove an endpoint; a removed endpoint is 404 webhook_not_found', async () => {
    const s = await setup();
    const { endpoint } = await s.service.create(ORG, { url: 'https://hooks.example.com/a' });
    for (const call of [
      s.service.get(OTHER, endpoint.endpointId),
      s.service.update(OTHER, endpoint.endpointId, { enabled: false }),
      s.service.remove(OTHER, endpoint.endpointId),
      s.service.rotateSecret(OTHER, endpoint.endpointId),
      s.service.sendTest(OTHER, endpoint.endpointId),
      s.service.listDeliveries(OTHER, endpoint.endpointId),
      s.service.get(ORG, 'whe_notavalidid'),
    ]) {
      expect(await apiError(call)).toMatchObject({ status: 404, code: 'webhook_not_found' });
    }
    await s.service.remove(ORG, endpoint.endpointId);
    expect(await apiError(s.service.get(ORG, endpoint.endpointId))).toMatchObject({ status: 404, code: 'webhook_not_found' });
    expect(await apiError(s.service.remove(ORG, endpoint.endpointId))).toMatchObject({ status: 404, code: 'webhook_not_found' });
    // Its slot is free again.
    expect(await s.service.list(ORG)).toEqual([]);
  });

  it('rotateSecret: both secrets sign during the overlap, only the new one after it; overlap 0 drops the old one at once', async () => {
    const s = await setup();
    const { endpoint, secret: first } = await s.service.create(ORG, { url: 'https://hooks.example.com/a' });
    const { secret: second, previousSecretExpiresAt } = await s.service.rotateSecret(ORG, endpoint.endpointId, { overlapSeconds: 3600 });
    expect(second).not.toBe(first);
    expect(previousSecretExpiresAt).toBe(new Date(s.clock.now + 3_600_000).toISOString());
    expect((await s.service.target(endpoint.endpointId, ORG))?.secrets).toEqual([second, first]);
    s.clock.now += 3_600_000;
    expect((await s.service.target(endpoint.endpointId, ORG))?.secrets).toEqual([second]);
    const { secret: third } = await s.service.rotateSecret(ORG, endpoint.endpointId, { overlapSeconds: 0 });
    expect((await s.service.target(endpoint.endpointId, ORG))?.secrets).toEqual([third]);
    expect(await apiError(s.service.rotateSecret(ORG, endpoint.endpointId, { overlapSeconds: -1 }))).toMatchObject({ code: 'validation_failed' });
    expect(await apiError(s.service.rotateSecret(ORG, endpoint.endpointId, { overlapSeconds: 8 * 86400 }))).toMatchObject({ code: 'validation_failed' });
  });

  it('audit helpers name changed fields without secrets or URL query strings', async () => {
    const s = await setup();
    const { endpoint, secret } = await s.service.create(ORG, { url: 'https://hooks.example.com/a?token=sekrit' });
    const created = endpointAuditChanges(undefined, endpoint);
    expect(created).toContainEqual({ field: 'url', new: 'https://hooks.example.com/a?…' });
    expect(created).toContainEqual({ field: 'secret', secret: true });
    const { before, after } = await s.service.update(ORG, endpoint.endpointId, { enabled: false });
    expect(endpointAuditChanges(before, after)).toEqual([{ field: 'enabled', old: true, new: false }]);
    expect(endpointAuditChanges(after, after, { secretChanged: true })).toEqual([{ field: 'secret', secret: true }]);
    const text = JSON.stringify([created, endpointAuditChanges(after, undefined)]);
    expect(text).not.toContain('sekrit');
    expect(text).not.toContain(secret);
  });
});

describe('fan-out and delivery', () => {
  it('matchesEventType: empty and * match all, exact types, prefix patterns', () => {
    expect(matchesEventType([], 'key.revoked')).toBe(true);
    expect(matchesEventType(['*'], 'key.revoked')).toBe(true);
    expect(matchesEventType(['key.revoked'], 'key.revoked')).toBe(true);
    expect(matchesEventType(['key.created'], 'key.revoked')).toBe(false);
    expect(matchesEventType(['key.*'], 'key.revoked')).toBe(true);
    expect(matchesEventType(['key.*'], 'keys.revoked')).toBe(false);
    expect(matchesEventType(['mcp.*'], 'mcp.endpoint.status.changed')).toBe(true);
  });

  it('one delivery per enabled matching endpoint of the event’s org; fanning the same event out again creates nothing new', async () => {
    const s = await setup();
    const all = (await s.service.create(ORG, { url: 'https://hooks.example.com/all' })).endpoint;
    const keys = (await s.service.create(ORG, { url: 'https://hooks.example.com/keys', eventTypes: ['key.*'] })).endpoint;
    await s.service.create(ORG, { url: 'https://hooks.example.com/mcp', eventTypes: ['mcp.*'] });
    const off = (await s.service.create(ORG, { url: 'https://hooks.example.com/off', enabled: false })).endpoint;
    await s.service.create(OTHER, { url: 'https://hooks.example.com/other' });
    const event = keyRevoked();
    const first = await s.service.fanOut(event);
    expect(first.map((d) => d.endpointId).sort()).toEqual([all.endpointId, keys.endpointId].sort());
    expect(first.every((d) => d.body === webhookPayload(event))).toBe(true);
    expect(JSON.parse(first[0]!.body)).toEqual({ type: 'key.revoked', timestamp: event.at, data: { orgId: ORG, keyId: 'key_1', name: 'ci' } });
    const again = await s.service.fanOut({ ...event });
    expect(again.map((d) => d.id).sort()).toEqual(first.map((d) => d.id).sort());
    expect((await s.service.listDeliveries(ORG, all.endpointId)).items).toHaveLength(1);
    expect((await s.service.listDeliveries(ORG, off.endpointId)).items).toHaveLength(0);
    // A bus event id, where the host has one, is the key instead of the content.
    expect((await s.service.fanOut(event, 'evt-1')).map((d) => d.id)).toContain(fanOutMessageId('evt-1', all.endpointId));
    // An org downgraded to a plan without webhooks gets nothing.
    const downgraded = await setup({ limits: { [ORG]: 0 } });
    expect(await downgraded.service.fanOut(event)).toEqual([]);
  });

  it('a loopback receiver verifying with standardwebhooks gets key.revoked; fail twice then succeed = delivered on the 3rd attempt', async () => {
    const s = await setup();
    let secret = '';
    const rx = track(await loopbackReceiver(() => [secret], (n) => (n <= 2 ? 500 : 200)));
    const created = await s.service.create(ORG, { url: rx.url, eventTypes: ['key.revoked'] });
    secret = created.secret;
    const sender = track(new WebhookSender({ allowLoopback: true }));
    const [delivery] = await s.service.fanOut(keyRevoked());
    await drain(s, dispatcherFor(s, sender), created.endpoint.endpointId);
    expect(rx.unverified).toBe(0);
    expect(rx.received.map((r) => r.id)).toEqual([delivery!.id, delivery!.id, delivery!.id]);
    expect(rx.received[2]!.body).toEqual({ type: 'key.revoked', timestamp: '2026-12-01T10:00:00.000Z', data: { orgId: ORG, keyId: 'key_1', name: 'ci' } });
    const [view] = (await s.service.listDeliveries(ORG, created.endpoint.endpointId)).items;
    expect(view).toMatchObject({ deliveryId: delivery!.id, state: 'delivered', attempts: 3, eventType: 'key.revoked' });
    expect(view!.attemptLog.map((a) => a.status)).toEqual([500, 500, 200]);
    expect(view).not.toHaveProperty('body');
  });

  it('during a rotation the receiver verifies with either secret: two signatures', async () => {
    const s = await setup();
    let secrets: string[] = [];
    const rx = track(await loopbackReceiver(() => secrets));
    const created = await s.service.create(ORG, { url: rx.url });
    const { secret: next } = await s.service.rotateSecret(ORG, created.endpoint.endpointId);
    secrets = [created.secret, next];
    await s.service.sendTest(ORG, created.endpoint.endpointId);
    await drain(s, dispatcherFor(s, track(new WebhookSender({ allowLoopback: true }))), created.endpoint.endpointId);
    expect(rx.received).toHaveLength(1);
    expect(rx.received[0]!.signature.split(' ')).toHaveLength(2);
    expect(rx.received[0]!.verifiedWith).toEqual([0, 1]);
    expect(rx.received[0]!.body).toMatchObject({ type: 'webhook.test', data: { endpointId: created.endpoint.endpointId } });
  });

  it('a name that passed the check but points at a private address at connect time is refused: no request, forbidden_address', async () => {
    // The URL policy (as in AWS) saw a public address; the system resolver says 127.0.0.1 when connecting.
    const s = await setup({ allowLoopback: false });
    const rx = track(await loopbackReceiver(() => []));
    const port = new URL(rx.url).port;
    const created = await s.service.create(ORG, { url: `https://localhost:${port}/hook` }).catch(() => undefined);
    // localhost resolves to loopback in the policy too, so create refuses it outright...
    expect(created).toBeUndefined();
    // ...and a name the policy sees as public (DNS re-pointed after the check) is refused at connect time.
    (s.deps.urlPolicy as { resolve: (host: string) => Promise<string[]> }).resolve = async () => ['93.184.215.14'];
    const ok = await s.service.create(ORG, { url: `https://localhost:${port}/hook` });
    const sender = track(new WebhookSender({ allowLoopback: false, resolve: async () => ['93.184.215.14'] }));
    await s.service.sendTest(ORG, ok.endpoint.endpointId);
    await dispatcherFor(s, sender).runOnce();
    const [view] = (await s.service.listDeliveries(ORG, ok.endpoint.endpointId)).items;
    expect(view!.attemptLog).toEqual([expect.objectContaining({ errorClass: 'forbidden_address' })]);
    expect(rx.requests).toBe(0);
  });

  it('410 Gone disables the endpoint and publishes webhook.endpoint.disabled once; pending deliveries to it end as gone', async () => {
    const s = await setup();
    let secret = '';
    const gone = track(await loopbackReceiver(() => [secret], () => 410));
    const created = await s.service.create(ORG, { url: gone.url });
    secret = created.secret;
    await s.service.fanOut(keyRevoked('key_1'));
    await s.service.fanOut(keyRevoked('key_2'));
    const d = dispatcherFor(s, track(new WebhookSender({ allowLoopback: true })));
    await drain(s, d, created.endpoint.endpointId);
    expect(await s.service.get(ORG, created.endpoint.endpointId)).toMatchObject({ enabled: false, disabledReason: 'gone' });
    expect(s.published).toEqual([
      { type: 'webhook.endpoint.disabled', orgId: ORG, at: expect.any(String), endpointId: created.endpoint.endpointId, reason: 'gone', failingSince: expect.any(String) },
    ]);
    const states = (await s.service.listDeliveries(ORG, created.endpoint.endpointId)).items.map((x) => x.state);
    expect(states).toEqual(['gone', 'gone']);
    // No new deliveries to a disabled endpoint.
    expect(await s.service.fanOut(keyRevoked('key_3'))).toEqual([]);
  });

  it('the 5-day rule: failing since more than 5 days disables with reason failing; a success in between resets it', async () => {
    const s = await setup();
    const { endpoint } = await s.service.create(ORG, { url: 'https://hooks.example.com/a' });
    const t0 = s.clock.now;
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'retry', t0);
    expect((await s.service.get(ORG, endpoint.endpointId)).failingSince).toBe(new Date(t0).toISOString());
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'delivered', t0 + 1000);
    expect(await s.service.get(ORG, endpoint.endpointId)).not.toHaveProperty('failingSince');
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'retry', t0 + 2000);
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'retry', t0 + 2000 + FAILING_DISABLE_AFTER_MS - 1);
    expect((await s.service.get(ORG, endpoint.endpointId)).enabled).toBe(true);
    expect(s.published).toEqual([]);
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'retry', t0 + 2000 + FAILING_DISABLE_AFTER_MS);
    expect(await s.service.get(ORG, endpoint.endpointId)).toMatchObject({ enabled: false, disabledReason: 'failing', failingSince: new Date(t0 + 2000).toISOString() });
    expect(s.published).toEqual([expect.objectContaining({ type: 'webhook.endpoint.disabled', reason: 'failing', endpointId: endpoint.endpointId })]);
    // Already disabled: later outcomes change nothing and publish nothing.
    await s.service.recordOutcome(ORG, endpoint.endpointId, 'retry', t0 + 3 * FAILING_DISABLE_AFTER_MS);
    expect(s.published).toHaveLength(1);
  });

  it('redeliver: a failed delivery is queued again as a new series (same webhook-id) and delivered; pending/delivered ones are refused', async () => {
    const s = await setup();
    let secret = '';
    let fail = true;
    const rx = track(await loopbackReceiver(() => [secret], () => (fail ? 503 : 200)));
    const created = await s.service.create(ORG, { url: rx.url });
    secret = created.secret;
    const [delivery] = await s.service.fanOut(keyRevoked());
    expect(await apiError(s.service.redeliver(ORG, delivery!.id))).toMatchObject({ status: 409, code: 'delivery_not_failed' });
    const d = dispatcherFor(s, track(new WebhookSender({ allowLoopback: true })));
    await drain(s, d, created.endpoint.endpointId);
    expect((await s.service.listDeliveries(ORG, created.endpoint.endpointId)).items[0]).toMatchObject({ state: 'failed', attempts: SCHEDULE.length });
    expect(await apiError(s.service.redeliver(OTHER, delivery!.id))).toMatchObject({ status: 404, code: 'delivery_not_found' });
    fail = false;
    const again = await s.service.redeliver(ORG, delivery!.id);
    expect(again).toMatchObject({ deliveryId: delivery!.id, state: 'pending', redeliveries: 1 });
    await drain(s, d, created.endpoint.endpointId);
    const [view] = (await s.service.listDeliveries(ORG, created.endpoint.endpointId)).items;
    expect(view).toMatchObject({ state: 'delivered', attempts: SCHEDULE.length + 1, redeliveries: 1 });
    expect(new Set(rx.received.map((r) => r.id))).toEqual(new Set([delivery!.id]));
    expect(await apiError(s.service.redeliver(ORG, delivery!.id))).toMatchObject({ status: 409, code: 'delivery_not_failed' });
  });

  it('listDeliveries pages newest first with a cursor bound to the endpoint', async () => {
    const s = await setup();
    const a = (await s.service.create(ORG, { url: 'https://hooks.example.com/a' })).endpoint;
    const b = (await s.service.create(ORG, { url: 'https://hooks.example.com/b' })).endpoint;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      s.clock.now += 1;
      ids.push((await s.service.sendTest(ORG, a.endpointId)).deliveryId);
    }
    const p1 = await s.service.listDeliveries(ORG, a.endpointId, { limit: 2 });
    const p2 = await s.service.listDeliveries(ORG, a.endpointId, { limit: 2, cursor: p1.cursor! });
    const p3 = await s.service.listDeliveries(ORG, a.endpointId, { limit: 2, cursor: p2.cursor! });
    expect([...p1.items, ...p2.items, ...p3.items].map((x) => x.deliveryId)).toEqual([...ids].reverse());
    expect(p3.cursor).toBeUndefined();
    expect(await apiError(s.service.listDeliveries(ORG, b.endpointId, { cursor: p1.cursor! }))).toMatchObject({ status: 400, code: 'invalid_cursor' });
    expect(await apiError(s.service.listDeliveries(ORG, a.endpointId, { limit: 0 }))).toMatchObject({ code: 'validation_failed' });
  });
});
