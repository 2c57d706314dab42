import { randomUUID } from 'node:crypto';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbCounters, DynamoDbOnceMarks, ensureCountersTable } from '../../../lambda/adapters/dynamodb-counters';
import { SignedDynamoDbCounters } from '../../../lambda/adapters/signed-dynamodb-counters';
import { parseEvent } from '../../../lambda/core/events/catalog';
import type { PlexEvent } from '../../../lambda/core/events/model';
import type { OnceMarks } from '../../../lambda/core/events/once-marks';
import { QuotaMeter, type RequestCounter } from '../../../lambda/core/gateway/limits';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

/**
 * org.quota.threshold from QuotaMeter flushes, on the real engine: gateway instances are meters
 * sharing one counters table (one through the SDK client, one through the signed counters the
 * gateway uses), each with its own marks and clock.
 */
let db: TestDynamoDb;
let table: string;
let signed: SignedDynamoDbCounters;

beforeAll(async () => {
  db = await startTestDynamoDb();
  table = `counters-${randomUUID()}`;
  await ensureCountersTable(db.client, table);
  signed = await SignedDynamoDbCounters.fromClient(db.client, table);
});
afterAll(async () => {
  await signed.close();
  await db.close();
});

const NOV = Date.UTC(2026, 10, 20, 12);
const DEC = Date.UTC(2026, 11, 2, 12);

/** Claims counted, so a test sees how many conditional writes the thresholds cost. */
class CountingMarks implements OnceMarks {
  claims = 0;
  constructor(private readonly inner: OnceMarks) {}
  claim(id: string, expiresAtSeconds: number) {
    this.claims++;
    return this.inner.claim(id, expiresAtSeconds);
  }
  release(id: string) {
    return this.inner.release(id);
  }
}

interface Instance {
  readonly meter: QuotaMeter;
  readonly marks: CountingMarks;
  /** Records `n` requests of `orgId` (checked first, as admit() does). */
  request(orgId: string, n: number): void;
}

function instance(counter: RequestCounter, published: PlexEvent[], clock: { now: number }, limit: number, publish?: (events: readonly PlexEvent[]) => Promise<void>): Instance {
  const marks = new CountingMarks(new DynamoDbOnceMarks(db.client, table, undefined, () => clock.now));
  const meter = new QuotaMeter(counter, {
    now: () => clock.now,
    thresholds: { marks, publish: publish ?? (async (events) => void published.push(...events)) },
  });
  return {
    meter,
    marks,
    request: (orgId, n) => {
      for (let i = 0; i < n; i++) {
        meter.check(orgId, limit, 1);
        meter.record(orgId, 1);
      }
    },
  };
}

test('two instances flushing past 80 % at once publish one event; later flushes none; 100 % once; a new month again', async () => {
  const clock = { now: NOV };
  const published: PlexEvent[] = [];
  const orgs = Array.from({ length: 12 }, (_, i) => `org_race${i}`);
  const a = instance(new DynamoDbCounters(db.client, table), published, clock, 100);
  const b = instance(signed, published, clock, 100);
  const c = instance(new DynamoDbCounters(db.client, table), published, clock, 100);

  // A third instance takes every org to 79 of 100: below the threshold, nothing is published.
  for (const org of orgs) c.request(org, 79);
  await c.meter.flush();
  expect(published).toEqual([]);
  expect(c.marks.claims).toBe(0);

  // Then both instances count one more request per org and flush concurrently: each learns a
  // total of 80 or 81, both past 80 %, and both race for the marker of every org.
  for (const org of orgs) {
    a.request(org, 1);
    b.request(org, 1);
  }
  await Promise.all([a.meter.flush(), b.meter.flush()]);
  expect(a.marks.claims + b.marks.claims).toBe(2 * orgs.length); // both did try, for every org
  expect(published.map((e) => e.orgId).sort()).toEqual([...orgs].sort());
  for (const event of published) {
    expect(parseEvent(event)).toEqual(event);
    expect(event).toMatchObject({ type: 'org.quota.threshold', threshold: 80, monthlyRequests: 100, month: '2026-11', at: new Date(NOV).toISOString() });
    expect([80, 81]).toContain(event.used);
  }

  // More flushes past 80 %: no event, and no more marker writes (each instance knows).
  published.length = 0;
  const claimsBefore = a.marks.claims + b.marks.claims;
  for (const org of orgs) {
    a.request(org, 5);
    b.request(org, 5);
  }
  await Promise.all([a.meter.flush(), b.meter.flush()]);
  expect(published).toEqual([]);
  expect(a.marks.claims + b.marks.claims).toBe(claimsBefore);

  // Past 100 % (the meter stops admitting at the quota, so each records up to what is left).
  for (const org of orgs) {
    a.request(org, 5);
    b.request(org, 5);
  }
  await Promise.all([a.meter.flush(), b.meter.flush()]);
  expect(published.map((e) => [e.orgId, e.threshold]).sort()).toEqual(orgs.map((org) => [org, 100]).sort());
  for (const event of published) expect(event.used).toBeGreaterThanOrEqual(100);

  // A new month counts from zero and announces again.
  published.length = 0;
  clock.now = DEC;
  a.request(orgs[0]!, 80);
  await a.meter.flush();
  expect(published).toEqual([expect.objectContaining({ orgId: orgs[0], threshold: 80, month: '2026-12', used: 80 })]);
});

test('the marker is a counters-table item that TTL removes after the month', async () => {
  const clock = { now: NOV };
  const published: PlexEvent[] = [];
  const org = `org_${randomUUID().slice(0, 8)}`;
  const a = instance(new DynamoDbCounters(db.client, table), published, clock, 10);
  a.request(org, 8);
  await a.meter.flush();
  expect(published).toHaveLength(1);
  const item = await db.client.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `quota-threshold#${org}#2026-11#80` } }, ConsistentRead: true }));
  expect(item.Item?.claimedAt?.S).toBe(new Date(NOV).toISOString());
  // 35 days after the month's end, as the quota counter itself.
  expect(Number(item.Item?.ttl?.N)).toBe(Date.UTC(2026, 11, 1) / 1000 + 35 * 86_400);
});

test('a publish that fails releases the marker: the next flush past the threshold publishes, once', async () => {
  const clock = { now: NOV };
  const published: PlexEvent[] = [];
  const org = `org_${randomUUID().slice(0, 8)}`;
  let failures = 1;
  const flaky = async (events: readonly PlexEvent[]) => {
    if (failures-- > 0) throw new Error('bus down');
    published.push(...events);
  };
  const a = instance(new DynamoDbCounters(db.client, table), published, clock, 20, flaky);
  const b = instance(new DynamoDbCounters(db.client, table), published, clock, 20);
  a.request(org, 16);
  await a.meter.flush();
  expect(published).toEqual([]);
  // The count was kept (the flush itself did not fail): another instance learns 17 of 20 and publishes.
  b.request(org, 1);
  await b.meter.flush();
  expect(published).toEqual([expect.objectContaining({ orgId: org, threshold: 80, used: 17 })]);
  // And the first instance, trying again on its next flush, finds the marker taken.
  a.request(org, 1);
  await a.meter.flush();
  expect(a.marks.claims).toBe(2);
  expect(published).toHaveLength(1);
  expect(a.meter.check(org, 20, 1)).toEqual({ allowed: true, used: 18 });
});

test('a failing marker store never costs a count: the flush stores it and the threshold is tried again', async () => {
  const clock = { now: NOV };
  const published: PlexEvent[] = [];
  const org = `org_${randomUUID().slice(0, 8)}`;
  let down = true;
  const marks = new DynamoDbOnceMarks(db.client, table, undefined, () => clock.now);
  const meter = new QuotaMeter(new DynamoDbCounters(db.client, table), {
    now: () => clock.now,
    thresholds: {
      marks: { claim: (id, exp) => (down ? Promise.reject(new Error('store down')) : marks.claim(id, exp)), release: (id) => marks.release(id) },
      publish: async (events) => void published.push(...events),
    },
  });
  for (let i = 0; i < 9; i++) {
    meter.check(org, 10, 1);
    meter.record(org, 1);
  }
  await meter.flush();
  expect(published).toEqual([]);
  expect(meter.check(org, 10, 1)).toEqual({ allowed: true, used: 9 }); // counted once, not twice
  down = false;
  meter.record(org, 1);
  await meter.flush();
  expect(published).toEqual([expect.objectContaining({ threshold: 80, used: 10 }), expect.objectContaining({ threshold: 100, used: 10 })]);
});
