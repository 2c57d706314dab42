import { randomBytes } from 'node:crypto';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbOnceMarks } from '../../../lambda/adapters/dynamodb-counters';
import { DynamoDbRegistryStore } from '../../../lambda/adapters/dynamodb-registry-store';
import { DynamoDbHealthStore } from '../../../lambda/adapters/dynamodb-health-store';
import { createHealthRuntime, noticeItemKey } from '../../../lambda/adapters/health-runtime';
import { HealthChecker } from '../../../lambda/core/health/checker';
import { LocalKeyFileProvider } from '../../../lambda/adapters/local-key-file';
import { parseEvent } from '../../../lambda/core/events/catalog';
import { KeyExpiryScan } from '../../../lambda/core/events/key-expiry';
import type { PlexEvent } from '../../../lambda/core/events/model';
import type { StoredApiKey } from '../../../lambda/core/model';
import { InProcessEventBus } from '../../../lambda/local/event-bus';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

/**
 * key.expiring on the real engine: keys in the registry table, markers in NOTICE# items of the
 * same table, the scan composed as the health monitor composes it (createHealthRuntime).
 */
let db: TestDynamoDb;
beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});

const DAY = 86_400_000;
const NOW = Date.UTC(2026, 10, 25, 10);
const iso = (ms: number) => new Date(ms).toISOString();

async function registryWithKeys() {
  const table = await db.newRegistryTable();
  const store = new DynamoDbRegistryStore(db.client, table);
  const created = iso(NOW - 30 * DAY);
  for (const orgId of ['org_a', 'org_b']) {
    await store.createOrg({ orgId, name: orgId, plan: 'pro', ipAllowlist: [], createdAt: created, updatedAt: created });
  }
  const key = (orgId: string, keyId: string, extra: Partial<StoredApiKey>): StoredApiKey => ({
    keyId,
    orgId,
    name: `${keyId}-name`,
    role: 'member',
    scopes: { mcps: '*', tools: {} },
    createdAt: created,
    secretHash: 'not-a-hash',
    ...extra,
  });
  const keys = [
    key('org_a', 'soon', { expiresAt: iso(NOW + 3 * DAY) }), // due
    key('org_a', 'edge', { expiresAt: iso(NOW + 7 * DAY) }), // exactly 7 days: due
    key('org_b', 'later', { expiresAt: iso(NOW + 7 * DAY + 60_000) }), // one minute too early
    key('org_b', 'gone', { expiresAt: iso(NOW - 1) }), // already expired
    key('org_b', 'revoked', { expiresAt: iso(NOW + DAY) }), // revoked below
    key('org_b', 'forever', {}), // no expiry
    key('org_b', 'other', { expiresAt: iso(NOW + 6 * DAY), role: 'admin' }), // due
  ];
  for (const k of keys) expect((await store.createKey(k, undefined, 100)).created).toBe(true);
  await store.revokeKey('org_b', 'revoked', iso(NOW - DAY));
  return { table, store };
}

function runtime(table: string, clock: { now: number }, bus: InProcessEventBus, keyExpiryScan = true) {
  return createHealthRuntime({
    dynamodb: db.client,
    registryTable: table,
    dataKeys: new LocalKeyFileProvider(randomBytes(32)),
    events: bus,
    allowLoopback: true,
    region: 'local',
    keyExpiryScan,
    now: () => new Date(clock.now),
  });
}

test("the health monitor's cycle announces each key within 7 days of expiry, once; hourly; shard 0 only", async () => {
  const { table } = await registryWithKeys();
  const clock = { now: NOW };
  const bus = new InProcessEventBus();
  const events: PlexEvent[] = [];
  bus.subscribeAll((e) => events.push(e), ['key.expiring']);
  const health = runtime(table, clock, bus);

  // Shard 1 of 2 never scans (one scan per interval, not one per shard).
  await health.checker.runCycle({ shard: 1, shards: 2 });
  expect(events).toEqual([]);

  const report = await health.checker.runCycle({ shard: 0, shards: 2 });
  expect(report.failures).toBe(0);
  expect(events.map((e) => e.keyId).sort()).toEqual(['edge', 'other', 'soon']);
  for (const event of events) expect(parseEvent(event)).toEqual(event);
  expect(events.find((e) => e.keyId === 'soon')).toEqual({
    type: 'key.expiring',
    orgId: 'org_a',
    at: iso(NOW),
    keyId: 'soon',
    name: 'soon-name',
    expiresAt: iso(NOW + 3 * DAY),
  });
  expect(bus.recent()).toEqual([]); // the health view of the bus stays health events only

  // A minute later: not due (hourly). An hour later: due, but every due key is announced already;
  // `later` has meanwhile entered its window and is announced now.
  clock.now = NOW + 60_000;
  await health.checker.runCycle({ shard: 0, shards: 2 });
  expect(events).toHaveLength(3);
  clock.now = NOW + 3_600_000;
  await health.checker.runCycle({ shard: 0, shards: 2 });
  expect(events.map((e) => e.keyId).sort()).toEqual(['edge', 'later', 'other', 'soon']);

  // The marker: a NOTICE# item of the registry, removed by TTL a day after the key expires.
  const marker = await db.client.send(new GetItemCommand({ TableName: table, Key: noticeItemKey('key-expiring#soon'), ConsistentRead: true }));
  expect(marker.Item?.claimedAt?.S).toBe(iso(NOW));
  expect(Number(marker.Item?.ttl?.N)).toBe((NOW + 3 * DAY) / 1000 + 86_400);
  await health.close();
});

test('two instances scanning at once announce every key once; a restarted instance announces nothing again', async () => {
  const { table } = await registryWithKeys();
  const clock = { now: NOW };
  const bus = new InProcessEventBus();
  const events: PlexEvent[] = [];
  bus.subscribeAll((e) => events.push(e), ['key.expiring']);
  const one = runtime(table, clock, bus);
  const two = runtime(table, clock, bus);
  await Promise.all([one.keyExpiry!.run(), two.keyExpiry!.run()]);
  expect(events.map((e) => e.keyId).sort()).toEqual(['edge', 'other', 'soon']);

  const restarted = runtime(table, clock, bus);
  expect(await restarted.keyExpiry!.run()).toEqual({ keys: 7, due: 3, published: 0, failures: 0 });
  expect(events).toHaveLength(3);
  await Promise.all([one.close(), two.close(), restarted.close()]);
});

test('keyExpiryScan: false (a region that is not the one scanning) runs no scan', async () => {
  const { table } = await registryWithKeys();
  const bus = new InProcessEventBus();
  const health = runtime(table, { now: NOW }, bus, false);
  expect(health.keyExpiry).toBeUndefined();
  await health.checker.runCycle();
  expect(bus.recentEvents()).toEqual([]);
  await health.close();
});

test('a failed publish releases the marker: the next run announces the key; runIfDue is hourly', async () => {
  const { table, store } = await registryWithKeys();
  let busDown = true;
  const published: PlexEvent[] = [];
  const keys = async function* () {
    for (const orgId of ['org_a', 'org_b']) yield* (await store.listKeys(orgId, { limit: 100 })).items;
  };
  const scan = new KeyExpiryScan({
    keys,
    marks: new DynamoDbOnceMarks(db.client, table, noticeItemKey),
    events: {
      publish: async (events) => {
        if (busDown) throw new Error('bus down');
        published.push(...events);
      },
    },
    now: () => new Date(NOW),
  });
  expect(await scan.run()).toEqual({ keys: 7, due: 3, published: 0, failures: 3 });
  busDown = false;
  expect(await scan.run()).toEqual({ keys: 7, due: 3, published: 3, failures: 0 });
  expect(await scan.run()).toEqual({ keys: 7, due: 3, published: 0, failures: 0 });
  expect(published).toHaveLength(3);

  // runIfDue: due at once, then not for an hour.
  const throttled = new KeyExpiryScan({ keys, marks: new DynamoDbOnceMarks(db.client, table, noticeItemKey), events: { publish: async () => undefined }, now: () => new Date(NOW) });
  const first = throttled.runIfDue();
  expect(first).toBeDefined();
  expect(throttled.runIfDue()).toBeUndefined(); // running
  await first;
  expect(throttled.runIfDue()).toBeUndefined(); // ran less than an hour ago
});

test("work alongside the cycle runs on shard 0 only, and its failure is one of the cycle's failures", async () => {
  const table = await db.newRegistryTable();
  let calls = 0;
  const checker = new HealthChecker({
    store: new DynamoDbHealthStore(db.client, table),
    probe: () => Promise.reject(new Error('no endpoints to probe')),
    events: new InProcessEventBus(),
    region: 'local',
    alongside: () => {
      calls++;
      return Promise.reject(new Error('scan failed'));
    },
  });
  expect((await checker.runCycle({ shard: 1, shards: 2 })).failures).toBe(0);
  expect(calls).toBe(0);
  expect((await checker.runCycle({ shard: 0, shards: 2 })).failures).toBe(1);
  expect(calls).toBe(1);
});
