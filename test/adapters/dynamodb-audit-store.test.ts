import { randomUUID } from 'node:crypto';
import { DeleteItemCommand, GetItemCommand, PutItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand } from '@aws-sdk/lib-dynamodb';
import { DynamoDbAuditStore, ensureAuditTable } from '../../lambda/adapters/dynamodb-audit-store';
import { type AuditEntry, GENESIS_HASH, sealEntry } from '../../lambda/core/audit/entry';
import { verifyChain } from '../../lambda/core/audit/verify';
import { startTestDynamoDb, type TestDynamoDb } from '../support/dynamodb';
import { draft } from '../core/audit/fixtures';

let db: TestDynamoDb;
let table: string;
let store: DynamoDbAuditStore;

beforeAll(async () => {
  db = await startTestDynamoDb();
});
afterAll(async () => {
  await db.close();
});
beforeEach(async () => {
  table = `audit-${randomUUID()}`;
  await ensureAuditTable(db.client, table);
  store = new DynamoDbAuditStore(db.client, table);
});

const key = (orgId: string, seq: number | string) => ({ pk: { S: `ORG#${orgId}` }, sk: { N: String(seq) } });

async function appendSome(orgId: string, count: number): Promise<AuditEntry[]> {
  const entries: AuditEntry[] = [];
  for (let n = 1; n <= count; n++) entries.push(await store.append(orgId, draft(n)));
  return entries;
}

async function all(orgId: string): Promise<AuditEntry[]> {
  return (await store.list(orgId, { limit: 1000 })).entries;
}

describe(`DynamoDbAuditStore on ${process.env.PLEXMCP_TEST_DYNAMODB_ENDPOINT ? 'DynamoDB Local' : 'dynalite'}`, () => {
  it('gives 20 concurrent appends the sequence numbers 1..20, once each, in one valid chain', async () => {
    const appended = await Promise.all(Array.from({ length: 20 }, (_, i) => store.append('acme', draft(i + 1))));
    expect(appended.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    const stored = await all('acme');
    expect(stored.map((e) => e.seq)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(stored.map((e) => e.requestId).sort()).toEqual(appended.map((e) => e.requestId).sort());
    const head = await store.head('acme');
    expect(verifyChain(stored)).toEqual({ ok: true, last: { seq: 20, hash: head!.hash } });
  });

  it('keeps each org its own chain from the genesis', async () => {
    await appendSome('acme', 2);
    const [first] = await appendSome('globex', 1);
    expect(first).toMatchObject({ orgId: 'globex', seq: 1, prevHash: GENESIS_HASH });
    expect(verifyChain(await all('acme'))).toMatchObject({ ok: true, last: { seq: 2 } });
    expect(verifyChain(await all('globex'))).toMatchObject({ ok: true, last: { seq: 1 } });
  });

  it('returns what was appended, byte for byte (a stored secret change has no value)', async () => {
    const [entry] = await appendSome('acme', 1);
    expect(await all('acme')).toEqual([entry]);
    expect(entry!.changes).toContainEqual({ field: 'upstreamAuth', secret: true });
  });

  it('pages by sequence number', async () => {
    await appendSome('acme', 7);
    const first = await store.list('acme', { limit: 3 });
    expect(first.entries.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(first.nextSeq).toBe(4);
    const second = await store.list('acme', { fromSeq: first.nextSeq, limit: 3 });
    expect(second.entries.map((e) => e.seq)).toEqual([4, 5, 6]);
    const last = await store.list('acme', { fromSeq: second.nextSeq, limit: 3 });
    expect(last).toEqual({ entries: [expect.objectContaining({ seq: 7 })] });
  });

  describe('tampering directly in the engine', () => {
    beforeEach(async () => {
      await appendSome('acme', 8);
      expect(verifyChain(await all('acme'))).toMatchObject({ ok: true });
    });

    it('an edited entry is named as altered', async () => {
      await db.client.send(
        new UpdateItemCommand({
          TableName: table,
          Key: key('acme', 5),
          UpdateExpression: 'SET sourceIp = :ip',
          ExpressionAttributeValues: { ':ip': { S: '198.51.100.66' } },
        }),
      );
      expect(verifyChain(await all('acme'))).toEqual({ ok: false, seq: 5, problem: 'altered' });
    });

    it('a deleted entry is named as removed', async () => {
      await db.client.send(new DeleteItemCommand({ TableName: table, Key: key('acme', 3) }));
      expect(verifyChain(await all('acme'))).toEqual({ ok: false, seq: 3, problem: 'removed' });
    });

    it('two swapped entries are named as reordered', async () => {
      const get = async (seq: number) => (await db.client.send(new GetItemCommand({ TableName: table, Key: key('acme', seq), ConsistentRead: true }))).Item!;
      const [six, seven] = [await get(6), await get(7)];
      await db.client.send(new PutItemCommand({ TableName: table, Item: { ...seven, ...key('acme', 6) } }));
      await db.client.send(new PutItemCommand({ TableName: table, Item: { ...six, ...key('acme', 7) } }));
      expect(verifyChain(await all('acme'))).toEqual({ ok: false, seq: 7, problem: 'reordered' });
    });

    it('an inserted entry is named, even one forged with a valid hash and link', async () => {
      const stored = await all('acme');
      const forged = sealEntry({ ...draft(99), orgId: 'acme', seq: 6, prevHash: stored[4]!.hash });
      // Written as a raw item next to the genuine ones (the document client marshals the maps).
      await DynamoDBDocumentClient.from(db.client).send(new PutCommand({ TableName: table, Item: { pk: 'ORG#acme', sk: 5.5, ...forged } }));
      // The forged item sorts between 5 and 6 and links to 5; the genuine 6 then repeats its seq.
      expect(verifyChain(await all('acme'))).toEqual({ ok: false, seq: 6, problem: 'inserted' });
    });
  });

  it('repairs an entry whose writer died between claiming the head and putting the entry', async () => {
    const entries = await appendSome('acme', 4);
    // The state such a crash leaves: the head names seq 4, the entry item is not there.
    await db.client.send(new DeleteItemCommand({ TableName: table, Key: key('acme', 4) }));
    expect((await all('acme')).length).toBe(3);
    expect((await store.head('acme'))!.seq).toBe(4); // how a verifier sees the pending entry

    const head = await store.repair('acme');
    expect(head!.entry).toEqual(entries[3]);
    expect(await all('acme')).toEqual(entries);

    // And without an explicit repair, the next append closes the gap before taking its seq.
    await db.client.send(new DeleteItemCommand({ TableName: table, Key: key('acme', 4) }));
    const next = await store.append('acme', draft(5));
    expect(next).toMatchObject({ seq: 5, prevHash: entries[3]!.hash });
    expect(verifyChain(await all('acme'))).toEqual({ ok: true, last: { seq: 5, hash: next.hash } });
  });

  describe('the change lock', () => {
    const { changes: _c, ...intentOf3 } = draft(3);
    void _c;

    it('makes a second writer wait until the first commits, so it reads the first one\'s result', async () => {
      const order: string[] = [];
      const first = await store.begin('acme', intentOf3);
      const second = store.begin('acme', { ...intentOf3, requestId: 'req-second' }).then((lock) => {
        order.push('second locked');
        return lock;
      });
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('first commits');
      await store.commit(first, draft(3));
      await store.commit(await second, { ...draft(4), requestId: 'req-second' });
      expect(order).toEqual(['first commits', 'second locked']);
      expect((await all('acme')).map((e) => e.requestId)).toEqual(['req-3', 'req-second']);
    });

    it('a released lock leaves no entry and lets the next writer in at once', async () => {
      await store.release(await store.begin('acme', intentOf3));
      const entry = await store.append('acme', draft(4));
      expect(entry.seq).toBe(1);
      expect(await all('acme')).toEqual([entry]);
    });

    it('gives up with audit_busy after lockWaitMs while a live lock is held', async () => {
      await store.begin('acme', intentOf3);
      const impatient = new DynamoDbAuditStore(db.client, table, { lockWaitMs: 100 });
      await expect(impatient.append('acme', draft(4))).rejects.toMatchObject({ code: 'audit_busy' });
    });

    it('records a stopped writer\'s intent as outcome unknown when its lock goes stale, then appends after it', async () => {
      let clock = Date.UTC(2026, 11, 2);
      const timed = new DynamoDbAuditStore(db.client, table, { staleLockMs: 60_000, now: () => clock });
      await timed.append('acme', draft(1));
      await timed.begin('acme', intentOf3); // this writer "crashes": it never commits
      clock += 61_000;
      const next = await timed.append('acme', draft(4));
      const entries = await all('acme');
      expect(entries.map((e) => [e.seq, e.requestId, e.outcome])).toEqual([
        [1, 'req-1', undefined],
        [2, 'req-3', 'unknown'],
        [3, 'req-4', undefined],
      ]);
      expect(entries[1]).toMatchObject({ action: 'mcp.updated', target: intentOf3.target, changes: [] });
      expect(verifyChain(entries)).toEqual({ ok: true, last: { seq: 3, hash: next.hash } });
    });

    it('a writer whose lock was taken over still gets its entry, after the unknown one', async () => {
      let clock = Date.UTC(2026, 11, 2);
      const timed = new DynamoDbAuditStore(db.client, table, { staleLockMs: 60_000, now: () => clock });
      const slow = await timed.begin('acme', intentOf3);
      clock += 61_000;
      await timed.append('acme', draft(4)); // takes the stale lock over
      await timed.commit(slow, draft(3)); // the slow writer finishes after all
      expect((await all('acme')).map((e) => [e.requestId, e.outcome])).toEqual([
        ['req-3', 'unknown'],
        ['req-4', undefined],
        ['req-3', undefined],
      ]);
    });
  });

  it('filters by time range and action, paging with a cursor', async () => {
    await appendSome('acme', 6);
    await store.append('acme', { ...draft(7), action: 'key.revoked' });
    const revoked = await store.list('acme', { action: 'key.revoked' });
    expect(revoked.entries.map((e) => e.seq)).toEqual([7]);
    const window = await store.list('acme', { fromTime: draft(2).time, toTime: draft(5).time });
    expect(window.entries.map((e) => e.seq)).toEqual([2, 3, 4]);
    const firstTwo = await store.list('acme', { fromTime: draft(2).time, limit: 2 });
    expect(firstTwo.entries.map((e) => e.seq)).toEqual([2, 3]);
    const rest = await store.list('acme', { fromTime: draft(2).time, fromSeq: firstTwo.nextSeq, limit: 10 });
    expect(rest.entries.map((e) => e.seq)).toEqual([4, 5, 6, 7]);
    expect(rest.nextSeq).toBeUndefined();
  });
});
