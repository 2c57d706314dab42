import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { type AuditEntry, type AuditEntryDraft, GENESIS_HASH, sealEntry } from '../core/audit/entry';
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

export class AuditContentionError extends Error {
  readonly code = 'audit_contention';
}

export interface AuditPage {
  readonly entries: AuditEntry[];
  /** The seq to pass as fromSeq for the next page; absent on the last page. */
  readonly nextSeq?: number;
}

export interface DynamoDbAuditStoreOptions {
  /** Lost races before append gives up (default 50; 20 concurrent writers need about 20). */
  readonly maxAttempts?: number;
}

/**
 * Append-only audit entries, gapless per org.
 *
 * Write order of append():
 *   1. Read the head (consistent). If the entry it names is missing, put it first (repair, below).
 *   2. Claim seq = head.seq + 1: update the head with the new seq, hash and the full new entry,
 *      on condition that the head still holds the seq read in 1 (or does not exist, for seq 1).
 *      A lost race fails the condition; re-read and retry with a short random pause.
 *   3. Put the entry item with attribute_not_exists, so nothing ever overwrites an entry.
 * The head is the commit point: once 2 succeeds, seq belongs to that entry. A crash between 2 and
 * 3 leaves the head naming an entry that is not in the table; every later append (step 1) and
 * repair() put that entry from the head's copy, so the gap closes before another seq is taken.
 * Until then, list() ends one short of head().seq, which is how a verifier sees it. If the put
 * in 3 fails its condition, a concurrent repair already wrote the same entry: not an error.
 * A caller that must not commit a change without its entry appends first and then commits the
 * change carrying the returned seq (the head makes the claim durable even if the caller dies).
 *
 * Nothing here updates or deletes an entry item; the only UpdateItem is on HEAD# partitions.
 */
export class DynamoDbAuditStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly maxAttempts: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbAuditStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.maxAttempts = options.maxAttempts ?? 50;
  }

  async append(orgId: string, draft: AuditEntryDraft): Promise<AuditEntry> {
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const head = await this.head(orgId);
      if (head) await this.putIfMissing(head.entry);
      const entry = sealEntry({ ...draft, orgId, seq: (head?.seq ?? 0) + 1, prevHash: head?.hash ?? GENESIS_HASH });
      if (await this.claim(entry, head)) {
        await this.putIfMissing(entry);
        return entry;
      }
      // Lost the race for this seq: back off a little (jittered, so writers spread out).
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(100, 5 * attempt)));
    }
    throw new AuditContentionError('could not take an audit sequence number');
  }

  /** Completes an entry claimed by a writer that died before putting it. Returns the head. */
  async repair(orgId: string): Promise<AuditHead | undefined> {
    const head = await this.head(orgId);
    if (head) await this.putIfMissing(head.entry);
    return head;
  }

  async head(orgId: string): Promise<AuditHead | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: headKey(orgId), ConsistentRead: true }));
    if (!out.Item) return undefined;
    return { seq: out.Item.seq as number, hash: out.Item.hash as string, entry: JSON.parse(out.Item.entry as string) as AuditEntry };
  }

  /** Entries with seq >= fromSeq in chain order, at most `limit` of them. */
  async list(orgId: string, fromSeq = 1, limit = 100): Promise<AuditPage> {
    const entries: AuditEntry[] = [];
    let startKey: Record<string, unknown> | undefined;
    // A page may come back short (1 MB limit), so keep querying until `limit` or the end.
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk >= :from',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': `ORG#${orgId}`, ':from': fromSeq },
          ConsistentRead: true,
          Limit: limit - entries.length + 1, // one more than needed tells whether a next page exists
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) entries.push(entryOf(item));
      startKey = out.LastEvaluatedKey;
    } while (startKey && entries.length <= limit);
    if (entries.length <= limit) return { entries };
    const page = entries.slice(0, limit);
    return { entries: page, nextSeq: entries[limit]!.seq };
  }

  private async claim(entry: AuditEntry, head: AuditHead | undefined): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: headKey(entry.orgId),
          UpdateExpression: 'SET #seq = :seq, #hash = :hash, #entry = :entry',
          ConditionExpression: head ? '#seq = :read' : 'attribute_not_exists(#seq)',
          ExpressionAttributeNames: { '#seq': 'seq', '#hash': 'hash', '#entry': 'entry' },
          ExpressionAttributeValues: {
            ':seq': entry.seq,
            ':hash': entry.hash,
            // A string, not a map: the copy must come back byte-for-byte what was hashed.
            ':entry': JSON.stringify(entry),
            ...(head ? { ':read': head.seq } : {}),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
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
