import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomUUID } from 'node:crypto';
import { type AuditEntry, type AuditEntryDraft, GENESIS_HASH, sealEntry } from '../core/audit/entry';
import { AuditBusyError, type AuditIntent, type AuditJournal, type AuditListQuery, type AuditLock, type AuditPage } from '../core/audit/journal';
import { AUDIT_TABLE } from '../core/audit/table';

const { partitionKey: PK, sortKey: SK } = AUDIT_TABLE;
const entryKey = (orgId: string, seq: number) => ({ [PK]: `ORG#${orgId}`, [SK]: seq });
const headKey = (orgId: string) => ({ [PK]: `HEAD#${orgId}`, [SK]: 0 });

/** The per-org head: the last sequence number claimed, its hash, and that entry in full. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
  /** The entry claimed at `seq`, kept so that a crash before its put can be repaired. */
  readonly entry: AuditEntry;
}

interface StoredHead {
  readonly head?: AuditHead;
  readonly pending?: { readonly token: string; readonly startedAt: number; readonly intent: string };
}

export interface DynamoDbAuditStoreOptions {
  /** How long begin() waits for another writer's lock before AuditBusyError. @default 10 s */
  readonly lockWaitMs?: number;
  /**
   * A lock older than this belongs to a writer that stopped: the next writer takes it over and
   * records the stopped writer's intent with outcome 'unknown'. Longer than any admin request
   * can run (the admin function times out well before). @default 60 s
   */
  readonly staleLockMs?: number;
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
}

/** Most items one list() call reads while filtering, so a narrow filter over a long chain answers in bounded time. */
const LIST_SCAN_BUDGET = 2_000;

/**
 * Append-only audit entries, gapless per org, one writer at a time per org.
 *
 * Write order of an audited change (the admin API's), all on the org's head item:
 *   1. begin: take the change lock (`pending`: a token, the time and the intent: actor, action,
 *      target, request id), on condition that no live lock is there. Waits for a holder.
 *   2. The caller makes its change (registry write), reading old values under the lock.
 *   3. commit: claim seq = head.seq + 1 by updating the head with the new seq, hash and the full
 *      entry and removing the lock, on condition that the lock is still ours; then put the entry
 *      item with attribute_not_exists, so nothing ever overwrites an entry.
 *   A change that was refused (nothing written) releases the lock without an entry.
 * What a crash leaves, and how it is repaired:
 *   - between 1 and 3 (the change may or may not be committed): a lock older than staleLockMs.
 *     The next writer takes it over and first appends the stopped writer's intent as an entry
 *     with outcome 'unknown', so the log says at which point and on which target a change was
 *     not recorded, and an auditor checks that target's state. No change goes unrecorded.
 *   - inside 3, between the head update and the entry put: the head names an entry that is not
 *     in the table. Every later commit and repair() put it from the head's copy first, so the gap
 *     closes before another seq is taken; until then list() ends one short of head().seq.
 * If the put fails its condition, a concurrent repair already wrote the same entry: not an error.
 * Nothing here updates or deletes an entry item; the only UpdateItem is on HEAD# partitions.
 */
export class DynamoDbAuditStore implements AuditJournal {
  private readonly doc: DynamoDBDocumentClient;
  private readonly lockWaitMs: number;
  private readonly staleLockMs: number;
  private readonly now: () => number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbAuditStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.lockWaitMs = options.lockWaitMs ?? 10_000;
    this.staleLockMs = options.staleLockMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  async append(orgId: string, draft: AuditEntryDraft): Promise<AuditEntry> {
    const { changes: _changes, outcome: _outcome, ...intent } = draft;
    void _changes;
    void _outcome;
    return this.commit(await this.begin(orgId, intent), draft);
  }

  async begin(orgId: string, intent: AuditIntent): Promise<AuditLock> {
    const lock = { orgId, token: randomUUID() };
    const deadline = this.now() + this.lockWaitMs;
    for (let attempt = 1; ; attempt++) {
      const taken = await this.takeLock(lock, intent);
      if (taken.ok) {
        // A stopped writer's lock: its change may have been made, so it gets an entry saying so.
        if (taken.stale) await this.claimNext(lock, { ...(JSON.parse(taken.stale) as AuditIntent), changes: [], outcome: 'unknown' }, true);
        return lock;
      }
      if (this.now() >= deadline) throw new AuditBusyError('another change of this organisation is still being recorded');
      // Jittered, growing pauses: writers spread out instead of retrying in step.
      await new Promise((resolve) => setTimeout(resolve, 2 + Math.random() * Math.min(100, 5 * attempt)));
    }
  }

  async commit(lock: AuditLock, draft: AuditEntryDraft): Promise<AuditEntry> {
    const entry = await this.claimNext(lock, draft, false);
    // Our lock was taken over (we ran past staleLockMs): record under a fresh lock instead, after
    // the 'unknown' entry the taker wrote for us.
    return entry ?? this.append(lock.orgId, draft);
  }

  async release(lock: AuditLock): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: headKey(lock.orgId),
          UpdateExpression: 'REMOVE #pending',
          ConditionExpression: '#pending.#token = :token',
          ExpressionAttributeNames: { '#pending': 'pending', '#token': 'token' },
          ExpressionAttributeValues: { ':token': lock.token },
        }),
      );
    } catch (error) {
      // Taken over already: the taker recorded our intent as 'unknown', which is still true.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Completes an entry claimed by a writer that died before putting it. Returns the head. */
  async repair(orgId: string): Promise<AuditHead | undefined> {
    const { head } = await this.readHead(orgId);
    if (head) await this.putIfMissing(head.entry);
    return head;
  }

  async head(orgId: string): Promise<AuditHead | undefined> {
    return (await this.readHead(orgId)).head;
  }

  /** Entries with seq >= fromSeq in chain order that match the filters, at most `limit` of them. */
  async list(orgId: string, query: AuditListQuery = {}): Promise<AuditPage> {
    const limit = query.limit ?? 100;
    const filters: string[] = [];
    const names: Record<string, string> = { '#pk': PK, '#sk': SK };
    const values: Record<string, unknown> = { ':pk': `ORG#${orgId}`, ':from': query.fromSeq ?? 1 };
    if (query.fromTime !== undefined) {
      filters.push('#time >= :fromTime');
      values[':fromTime'] = query.fromTime;
    }
    if (query.toTime !== undefined) {
      filters.push('#time < :toTime');
      values[':toTime'] = query.toTime;
    }
    if (filters.length > 0) names['#time'] = 'time';
    if (query.action !== undefined) {
      filters.push('#action = :action');
      names['#action'] = 'action';
      values[':action'] = query.action;
    }
    const entries: AuditEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    let scanned = 0;
    let lastRead = 0;
    // A page may come back short (1 MB, or the filter), so keep querying until `limit`, the end,
    // or the scan budget (then the cursor continues after the last item read).
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk >= :from',
          FilterExpression: filters.length > 0 ? filters.join(' AND ') : undefined,
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ConsistentRead: true,
          Limit: filters.length > 0 ? 200 : limit - entries.length + 1, // one more than needed tells whether a next page exists
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) entries.push(entryOf(item));
      scanned += out.ScannedCount ?? 0;
      startKey = out.LastEvaluatedKey;
      if (startKey) lastRead = startKey[SK] as number;
    } while (startKey && entries.length <= limit && scanned < LIST_SCAN_BUDGET);
    if (entries.length > limit) return { entries: entries.slice(0, limit), nextSeq: entries[limit]!.seq };
    return startKey ? { entries, nextSeq: lastRead + 1 } : { entries };
  }

  private async readHead(orgId: string): Promise<StoredHead> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: headKey(orgId), ConsistentRead: true }));
    const item = out.Item;
    if (!item) return {};
    return {
      head: item.seq === undefined ? undefined : { seq: item.seq as number, hash: item.hash as string, entry: JSON.parse(item.entry as string) as AuditEntry },
      pending: item.pending as StoredHead['pending'],
    };
  }

  /** Sets the lock if there is none or only a stale one; returns the stale one's intent. */
  private async takeLock(lock: AuditLock, intent: AuditIntent): Promise<{ ok: false } | { ok: true; stale?: string }> {
    const now = this.now();
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: headKey(lock.orgId),
          UpdateExpression: 'SET #pending = :pending',
          ConditionExpression: 'attribute_not_exists(#pending) OR #pending.#startedAt < :stale',
          ExpressionAttributeNames: { '#pending': 'pending', '#startedAt': 'startedAt' },
          ExpressionAttributeValues: {
            ':pending': { token: lock.token, startedAt: now, intent: JSON.stringify(intent) },
            ':stale': now - this.staleLockMs,
          },
          ReturnValues: 'ALL_OLD',
        }),
      );
      const previous = out.Attributes?.pending as StoredHead['pending'];
      return { ok: true, stale: previous?.intent };
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return { ok: false };
      throw error;
    }
  }

  /**
   * Appends the next entry while holding `lock` (and keeps holding it if `keepLock`). Undefined
   * when the lock is no longer ours.
   */
  private async claimNext(lock: AuditLock, draft: AuditEntryDraft, keepLock: boolean): Promise<AuditEntry | undefined> {
    const { head } = await this.readHead(lock.orgId);
    if (head) await this.putIfMissing(head.entry);
    const entry = sealEntry({ ...draft, orgId: lock.orgId, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? GENESIS_HASH });
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: headKey(lock.orgId),
          UpdateExpression: `SET #seq = :seq, #hash = :hash, #entry = :entry${keepLock ? '' : ' REMOVE #pending'}`,
          ConditionExpression: `#pending.#token = :token AND ${head ? '#seq = :read' : 'attribute_not_exists(#seq)'}`,
          ExpressionAttributeNames: { '#seq': 'seq', '#hash': 'hash', '#entry': 'entry', '#pending': 'pending', '#token': 'token' },
          ExpressionAttributeValues: {
            ':seq': entry.seq,
            ':hash': entry.hash,
            // A string, not a map: the copy must come back byte-for-byte what was hashed.
            ':entry': JSON.stringify(entry),
            ':token': lock.token,
            ...(head ? { ':read': head.seq } : {}),
          },
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
    await this.putIfMissing(entry);
    return entry;
  }

  private async putIfMissing(entry: AuditEntry): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...entryKey(entry.orgId, entry.seq), ...entry },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

function entryOf(item: Record<string, unknown>): AuditEntry {
  const { [PK]: _pk, [SK]: _sk, ...entry } = item;
  void _pk;
  void _sk;
  return entry as unknown as AuditEntry;
}

/** Creates the audit table with its key schema; no-op if it exists (tests, local mode). */
export async function ensureAuditTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' },
      { AttributeName: SK, AttributeType: 'N' },
    ],
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' },
      { AttributeName: SK, KeyType: 'RANGE' },
    ],
  });
}
