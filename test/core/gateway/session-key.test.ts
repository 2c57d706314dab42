import { randomBytes } from 'node:crypto';
import { LocalKeyFileProvider } from '../../../lambda/adapters/local-key-file';
import { loadSessionKey } from '../../../lambda/core/gateway/session-key';
import { DynamoDbRegistryStore } from '../../../lambda/adapters/dynamodb-registry-store';
import { startTestDynamoDb, type TestDynamoDb } from '../../support/dynamodb';

let db: TestDynamoDb;
beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(() => db.close());

test('every instance ends up with the same session key, created once and stored wrapped', async () => {
  const store = new DynamoDbRegistryStore(db.client, await db.newRegistryTable());
  const keys = new LocalKeyFileProvider(randomBytes(32));
  // Five instances starting at once race to create it: one wins, all agree.
  const loaded = await Promise.all(Array.from({ length: 5 }, () => loadSessionKey(store, keys)));
  const first = Buffer.from(loaded[0]!).toString('hex');
  expect(loaded.every((k) => Buffer.from(k).toString('hex') === first)).toBe(true);
  expect(loaded[0]!.length).toBe(32);
  const stored = await store.getConfig('session-sealing-key');
  expect(stored).toEqual({ provider: 'local', wrappedKey: expect.any(String) });
  expect(stored!.wrappedKey).not.toContain(Buffer.from(loaded[0]!).toString('base64'));
  // A later instance reads the same key.
  expect(Buffer.from(await loadSessionKey(store, keys)).toString('hex')).toBe(first);
});

test('a key wrapped by another provider is refused rather than misread', async () => {
  const store = new DynamoDbRegistryStore(db.client, await db.newRegistryTable());
  await store.createConfig('session-sealing-key', { provider: 'kms', wrappedKey: 'AAAA' });
  await expect(loadSessionKey(store, new LocalKeyFileProvider(randomBytes(32)))).rejects.toThrow('wrapped by kms');
});
