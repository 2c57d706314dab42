/**
 * StreamSlots: the per-key cap on long-lived streams, as leases in the real counters table
 * (DynamoDbCounters on dynalite, or DynamoDB Local under `.ci/run`). Exact under concurrency,
 * released when a stream ends, recovered from a crashed instance after the lease, and never
 * released by anyone but its holder.
 */
import { randomUUID } from 'node:crypto';
import { DynamoDbCounters, ensureCountersTable } from '../../../lambda/adapters/dynamodb-counters';
import { StreamSlots, type LeaseStore, type StreamSlot } from '../../../lambda/core/gateway/stream-slots';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
let store: DynamoDbCounters;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  const table = `counters-${randomUUID()}`;
  await ensureCountersTable(db.client, table);
  store = new DynamoDbCounters(db.client, table);
});

/** Every StreamSlots a test made: closed after it, so no renewal outlives its test (or the engine). */
const made: StreamSlots[] = [];
function slotsOf(...args: ConstructorParameters<typeof StreamSlots>): StreamSlots {
  const slots = new StreamSlots(...args);
  made.push(slots);
  return slots;
}
afterEach(async () => {
  await Promise.all(made.splice(0).map((slots) => slots.close()));
});

/** The host's background tracker: release and renewal writes, awaited by the test. */
function tracker() {
  const pending: Promise<unknown>[] = [];
  return { background: (work: Promise<unknown>) => void pending.push(work), drain: () => Promise.all(pending.splice(0)) };
}

/** A LeaseStore that counts the writes it passes on. */
function counting(inner: LeaseStore) {
  const calls = { acquire: 0, release: 0 };
  const wrapped: LeaseStore = {
    acquire: (...args) => (calls.acquire++, inner.acquire(...args)),
    release: (...args) => (calls.release++, inner.release(...args)),
  };
  return { store: wrapped, calls };
}

test('20 concurrent takes with limit 5 get exactly 5 slots; the rest get none', async () => {
  const { background } = tracker();
  // Several instances, as several gateway processes sharing the table would be.
  const instances = Array.from({ length: 4 }, () => slotsOf(store, background));
  const taken = await Promise.all(Array.from({ length: 20 }, (_, i) => instances[i % 4]!.take('key1', 5)));
  const held = taken.filter((s): s is StreamSlot => s !== undefined);
  expect(held).toHaveLength(5);
  expect(await instances[0]!.take('key1', 5)).toBeUndefined(); // all five slots are held
  // Another key has slots of its own.
  expect(await instances[0]!.take('key2', 5)).toBeDefined();
  await Promise.all(held.map((s) => s.release()));
});

test('release gives the slot back (once, however often it is called); the next take gets it', async () => {
  const { background, drain } = tracker();
  const { store: lease, calls } = counting(store);
  const slots = slotsOf(lease, background);
  const held = await Promise.all([slots.take('k', 2), slots.take('k', 2)]);
  expect(held.every(Boolean)).toBe(true);
  expect(await slots.take('k', 2)).toBeUndefined();
  await held[0]!.release();
  await held[0]!.release(); // idempotent: one write
  await drain();
  expect(calls.release).toBe(1);
  const again = await slots.take('k', 2);
  expect(again).toBeDefined();
  expect(await slots.take('k', 2)).toBeUndefined();
  await again!.release();
  await held[1]!.release();
  await drain();
});

test('a limit of 0 allows no stream and writes nothing', async () => {
  const { store: lease, calls } = counting(store);
  const slots = slotsOf(lease, () => undefined);
  expect(await slots.take('k', 0)).toBeUndefined();
  expect(calls.acquire).toBe(0);
});

test("a crashed instance's slot is taken over after its lease; the crashed holder's late release does not free the new holder's slot", async () => {
  let now = Date.UTC(2026, 11, 1, 12, 0, 0);
  const { background, drain } = tracker();
  const crashed = slotsOf(store, background, { leaseSeconds: 30, now: () => now });
  const survivor = slotsOf(store, background, { leaseSeconds: 30, now: () => now });
  const lost = await crashed.take('k', 1);
  expect(lost).toBeDefined();
  now += 30_000;
  expect(await survivor.take('k', 1)).toBeUndefined(); // still within the lease
  now += 1_000;
  const taken = await survivor.take('k', 1);
  expect(taken).toBeDefined();
  await lost!.release(); // the old holder comes back and gives back what is no longer its own
  await drain();
  expect(await survivor.take('k', 1)).toBeUndefined();
  await taken!.release();
  await drain();
  expect(await survivor.take('k', 1)).toBeDefined();
});

test('a held slot is renewed while open (a third of the lease), so it outlives its first lease', async () => {
  const { background, drain } = tracker();
  const holder = slotsOf(store, background, { leaseSeconds: 3 }); // renewed every second
  const started = Date.now();
  const held = await holder.take('k', 1);
  expect(held).toBeDefined();
  await new Promise((resolve) => setTimeout(resolve, 2_600));
  await drain(); // the renewals' writes
  // Another instance whose clock is 4.5 s past the take: the first lease (3 s) is over, the
  // renewed one (from ≥ 2 s + 3 s) is not.
  const later = slotsOf(store, background, { leaseSeconds: 3, now: () => started + 4_500 });
  expect(await later.take('k', 1)).toBeUndefined();
  await held!.release();
  await drain();
  expect(await later.take('k', 1)).toBeDefined();
});

test('with more slots than probes a take tries at most maxProbes of them', async () => {
  const { store: lease, calls } = counting(store);
  const slots = slotsOf(lease, () => undefined, { maxProbes: 4, random: () => 0 });
  // Hold slots 0..3 of 10 from another owner: a take starting at 0 probes 0..3 only.
  const other = slotsOf(store, () => undefined, { random: () => 0 });
  for (let i = 0; i < 4; i++) expect(await other.take('k', 10)).toBeDefined();
  calls.acquire = 0;
  expect(await slots.take('k', 10)).toBeUndefined();
  expect(calls.acquire).toBe(4);
});
