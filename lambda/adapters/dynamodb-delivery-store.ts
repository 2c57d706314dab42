import { createHash } from 'node:crypto';
import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import {
  appendAttempt,
  type AttemptRecord,
  type Delivery,
  type DeliveryStore,
  type NewDelivery,
  type NextState,
} from '../core/webhooks/deliveries';

/**
 * Webhook deliveries on their own DynamoDB table.
 *
 * Layout: one item per delivery, hash key `id` (the message id). Two global secondary indexes:
 * - `due`: hash `dueShard`, range `nextAttemptAt`. `dueShard` (`DUE#0`…`DUE#3`, from a hash of
 *   the id) is present only while the delivery is pending and is removed when it ends, so the
 *   index is sparse: it holds exactly the queue. due() is DUE_SHARDS Queries with
 *   `nextAttemptAt <= now`, each bounded by `limit` — a fixed, small number of calls however
 *   large the table. Four shards spread the writes of a busy queue over several index partitions.
 * - `byEndpoint`: hash `endpointId`, range `enqueuedAt`, for list().
 * Index reads are eventually consistent, so a due() answer may be stale; claim() and
 * recordAttempt() are conditional writes on the item itself, which is what makes them safe.
 * No transactions: every write is one conditional item write (see ARCHITECTURE.md §5).
 */
export const DUE_SHARDS = 4;
/** A final delivery (and its attempt log) is kept this long, then TTL removes it (`expiresAt`, epoch seconds). */
export const DEFAULT_DELIVERY_RETENTION_MS = 30 * 24 * 60 * 60 * 1000;
const DUE_INDEX = 'due';
const ENDPOINT_INDEX = 'byEndpoint';

const shardOf = (id: string) => `DUE#${createHash('sha256').update(id).digest()[0]! % DUE_SHARDS}`;

export class DynamoDbDeliveryStore implements DeliveryStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly retentionMs: number = DEFAULT_DELIVERY_RETENTION_MS,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async enqueue(delivery: NewDelivery): Promise<Delivery> {
    return (await this.add(delivery)).delivery;
  }

  async add(delivery: NewDelivery): Promise<{ delivery: Delivery; created: boolean }> {
    const item: Delivery = { ...delivery, attempt: 0, state: 'pending', attempts: [] };
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...item, dueShard: shardOf(item.id) },
          ConditionExpression: 'attribute_not_exists(id)',
        }),
      );
      return { delivery: item, created: true };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      // Already enqueued (a retried publish): the first one stands.
      return { delivery: (await this.get(delivery.id))!, created: false };
    }
  }

  async due(now: number, limit: number): Promise<Delivery[]> {
    const shards = Array.from({ length: DUE_SHARDS }, (_, i) => `DUE#${i}`);
    const pages = await Promise.all(
      shards.map((shard) =>
        this.doc.send(
          new QueryCommand({
            TableName: this.tableName,
            IndexName: DUE_INDEX,
            KeyConditionExpression: 'dueShard = :shard AND nextAttemptAt <= :now',
            ExpressionAttributeValues: { ':shard': shard, ':now': now },
            Limit: limit,
          }),
        ),
      ),
    );
    return pages
      .flatMap((page) => (page.Items ?? []).map(deliveryOf))
      .sort((a, b) => a.nextAttemptAt - b.nextAttemptAt)
      .slice(0, limit);
  }

  async claim(id: string, expectedAttempt: number, seenNextAttemptAt: number, leaseUntil: number): Promise<boolean> {
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { id },
        UpdateExpression: 'SET nextAttemptAt = :lease',
        ConditionExpression: '#state = :pending AND attempt = :expected AND nextAttemptAt = :seen',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: { ':lease': leaseUntil, ':pending': 'pending', ':expected': expectedAttempt, ':seen': seenNextAttemptAt },
      }),
    );
  }

  async recordAttempt(id: string, expectedAttempt: number, outcome: AttemptRecord, next: NextState): Promise<boolean> {
    const current = await this.get(id);
    if (!current || current.state !== 'pending' || current.attempt !== expectedAttempt) return false;
    const attempts = appendAttempt(current.attempts, outcome);
    const pending = next.state === 'pending';
    // The condition re-checks what was read, so two writers of the same attempt cannot both win.
    return this.conditional(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { id },
        UpdateExpression: pending
          ? 'SET attempt = :next, attempts = :attempts, #state = :state, nextAttemptAt = :at'
          : 'SET attempt = :next, attempts = :attempts, #state = :state, expiresAt = :expires REMOVE dueShard',
        ConditionExpression: '#state = :pending AND attempt = :expected',
        ExpressionAttributeNames: { '#state': 'state' },
        ExpressionAttributeValues: {
          ':next': expectedAttempt + 1,
          ':attempts': attempts,
          ':state': next.state,
          ':pending': 'pending',
          ':expected': expectedAttempt,
          ...(pending ? { ':at': next.nextAttemptAt } : { ':expires': Math.ceil((outcome.at + this.retentionMs) / 1000) }),
        },
      }),
    );
  }

  async get(id: string): Promise<Delivery | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { id }, ConsistentRead: true }));
    return out.Item ? deliveryOf(out.Item) : undefined;
  }

  list(endpointId: string, limit = 50): Promise<Delivery[]> {
    return this.listPage(endpointId, { limit });
  }

  async listPage(endpointId: string, page: { limit: number; before?: number; beforeId?: string }): Promise<Delivery[]> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: ENDPOINT_INDEX,
        KeyConditionExpression: 'endpointId = :ep',
        ExpressionAttributeValues: { ':ep': endpointId },
        ScanIndexForward: false,
        Limit: page.limit,
        // An index's start key is the index key plus the table key: exact even when two share enqueuedAt.
        ...(page.before !== undefined && page.beforeId !== undefined
          ? { ExclusiveStartKey: { endpointId, enqueuedAt: page.before, id: page.beforeId } }
          : {}),
      }),
    );
    return (out.Items ?? []).map(deliveryOf);
  }

  async redeliver(id: string, expectedState: 'failed' | 'gone', expectedAttempt: number, now: number): Promise<Delivery | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { id },
          // Back in the sparse due index; the schedule restarts at this attempt count.
          UpdateExpression:
            'SET #state = :pending, nextAttemptAt = :now, dueShard = :shard, seriesStart = :expected, redeliveries = if_not_exists(redeliveries, :zero) + :one REMOVE expiresAt',
          ConditionExpression: '#state = :expectedState AND attempt = :expected',
          ExpressionAttributeNames: { '#state': 'state' },
          ExpressionAttributeValues: {
            ':pending': 'pending',
            ':now': now,
            ':shard': shardOf(id),
            ':expected': expectedAttempt,
            ':expectedState': expectedState,
            ':zero': 0,
            ':one': 1,
          },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return deliveryOf(out.Attributes!);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  private async conditional(command: UpdateCommand): Promise<boolean> {
    try {
      await this.doc.send(command);
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function deliveryOf(item: Record<string, unknown>): Delivery {
  const { dueShard: _shard, expiresAt: _expires, ...delivery } = item;
  void _shard;
  void _expires;
  return delivery as unknown as Delivery;
}

/** Creates the delivery table and its two indexes; no-op if it exists (tests, local mode). */
export async function ensureDeliveryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'id', AttributeType: 'S' },
      { AttributeName: 'dueShard', AttributeType: 'S' },
      { AttributeName: 'nextAttemptAt', AttributeType: 'N' },
      { AttributeName: 'endpointId', AttributeType: 'S' },
      { AttributeName: 'enqueuedAt', AttributeType: 'N' },
    ],
    KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      {
        IndexName: DUE_INDEX,
        KeySchema: [
          { AttributeName: 'dueShard', KeyType: 'HASH' },
          { AttributeName: 'nextAttemptAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
      {
        IndexName: ENDPOINT_INDEX,
        KeySchema: [
          { AttributeName: 'endpointId', KeyType: 'HASH' },
          { AttributeName: 'enqueuedAt', KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  });
}
