/**
 * Rollups in their own DynamoDB table (docs/data-model.md, "Analytics rollups"). One item per
 * rollup id; each batch is added to an item with one conditional PutItem (read, merge, write if
 * the version read is still current), and the item remembers the last batch position it applied
 * per source, so a redelivered or half-applied batch is recognised item by item: exactly once per
 * item, with no transactions and no unbounded dedup set.
 */
import {
  type AttributeValue,
  ConditionalCheckFailedException,
  DescribeTimeToLiveCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  QueryCommand,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import {
  DEFAULT_RETENTION_DAYS,
  DIMENSIONS,
  GRANULARITIES,
  LATENCY_KINDS,
  type ApplyResult,
  type BatchPosition,
  type Dimension,
  type Granularity,
  type LatencyKind,
  type RetentionDays,
  type Rollup,
  type RollupQuery,
  type RollupReader,
  type RollupWriter,
} from '../core/analytics/model';
import { codeCounts, GRANULARITY_MS, mergeRollups, rollupKey } from '../core/analytics/rollup';
import { LatencySketch, type StoredSketch } from '../core/analytics/sketch';

export const DEFAULT_ANALYTICS_TABLE_NAME = 'plexmcp-analytics';

/** Key schema and TTL attribute of the analytics table (the CDK construct uses the same names). */
export const ANALYTICS_TABLE = { partitionKey: 'pk', sortKey: 'sk', ttlAttribute: 'expiresAt' } as const;

/** Conditional writes one item may lose in a row before the batch fails (and is retried whole). */
export const MAX_WRITE_ATTEMPTS = 8;
/** Items written at once per apply(). */
export const WRITE_CONCURRENCY = 8;

const DAY_SECONDS = 86_400;

export const rollupPartitionKey = (orgId: string, granularity: Granularity, dimension: Dimension) => `u#${orgId}#${granularity}#${dimension}`;
/** ISO instants have one width (years 1970–9999), so string order is time order. */
export const rollupSortKey = (bucketStart: number, group: string) => `${new Date(bucketStart).toISOString()}#${group}`;

/** Which of two positions is later: numeric strings of possibly different widths compare by length first. */
export function comparePositions(a: string, b: string): number {
  if (a.length !== b.length) return a.length - b.length;
  return a < b ? -1 : a > b ? 1 : 0;
}

export class DynamoDbRollups implements RollupWriter, RollupReader {
  private readonly retention: RetentionDays;
  private readonly now: () => number;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    options: { retention?: RetentionDays; now?: () => number } = {},
  ) {
    this.retention = options.retention ?? DEFAULT_RETENTION_DAYS;
    this.now = options.now ?? Date.now;
  }

  /** Epoch seconds when the item of this bucket expires: the bucket's end plus its retention. */
  expiresAt(granularity: Granularity, bucketStart: number): number {
    return Math.floor((bucketStart + GRANULARITY_MS[granularity]) / 1000) + this.retention[granularity] * DAY_SECONDS;
  }

  async apply(position: BatchPosition, rollups: readonly Rollup[]): Promise<ApplyResult> {
    if (comparePositions(position.first, position.last) > 0) throw new Error('batch position: first is after last');
    // One write per item: two rollups of one id in a batch would otherwise meet their own position.
    const byId = new Map<string, Rollup>();
    for (const rollup of rollups) {
      const key = rollupKey(rollup.id);
      const seen = byId.get(key);
      byId.set(key, seen === undefined ? rollup : mergeRollups(seen, rollup));
    }
    const items = [...byId.values()];
    let applied = 0;
    let skipped = 0;
    let next = 0;
    let failure: { error: unknown } | undefined;
    // A bounded pool: after the first failure no new item starts; those in flight finish, then
    // the batch fails and is retried whole (the items already written skip it then).
    const worker = async () => {
      while (failure === undefined && next < items.length) {
        const rollup = items[next++]!;
        try {
          if (await this.applyOne(position, rollup)) applied++;
          else skipped++;
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, items.length) }, worker));
    if (failure !== undefined) throw failure.error;
    return { applied, skipped };
  }

  /** true when written, false when the item already had this batch (or would expire at once). */
  private async applyOne(position: BatchPosition, rollup: Rollup): Promise<boolean> {
    const { id } = rollup;
    const expiresAt = this.expiresAt(id.granularity, id.bucketStart);
    if (expiresAt * 1000 <= this.now()) return false; // a late record for a bucket already past its retention
    const key = { pk: { S: rollupPartitionKey(id.orgId, id.granularity, id.dimension) }, sk: { S: rollupSortKey(id.bucketStart, id.group) } };
    for (let attempt = 1; ; attempt++) {
      const out = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      const item = out.Item;
      const stored = item === undefined ? undefined : readItem(item);
      const applied = stored?.pos[position.source];
      if (applied !== undefined && comparePositions(applied, position.first) >= 0) return false;
      const merged = stored === undefined ? rollup : mergeRollups(stored.rollup, rollup);
      const pos = { ...stored?.pos, [position.source]: position.last };
      const version = (stored?.v ?? 0) + 1;
      try {
        await this.client.send(
          new PutItemCommand({
            TableName: this.tableName,
            Item: { ...key, ...writeItem(merged, pos, version, expiresAt) },
            ...(stored === undefined
              ? { ConditionExpression: 'attribute_not_exists(pk)' }
              : { ConditionExpression: '#v = :v', ExpressionAttributeNames: { '#v': 'v' }, ExpressionAttributeValues: { ':v': { N: String(stored.v) } } }),
          }),
        );
        return true;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || attempt >= MAX_WRITE_ATTEMPTS) throw error;
        // Another writer got there first: re-read (its write may even be this batch, then skip).
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 10 * attempt));
      }
    }
  }

  async query(q: RollupQuery): Promise<Rollup[]> {
    if (!(q.from < q.to)) return [];
    const out: Rollup[] = [];
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      // Every sort key is `<ISO>#<group>`, so `from`'s ISO is below all of that bucket's keys and
      // `to`'s ISO below all of its own: BETWEEN is exactly from ≤ bucketStart < to.
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND sk BETWEEN :from AND :to',
          ExpressionAttributeValues: {
            ':pk': { S: rollupPartitionKey(q.orgId, q.granularity, q.dimension) },
            ':from': { S: new Date(q.from).toISOString() },
            ':to': { S: new Date(q.to).toISOString() },
          },
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const rollup = readItem(item)?.rollup;
        if (rollup !== undefined && rollup.id.bucketStart >= q.from && rollup.id.bucketStart < q.to) out.push(rollup);
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
    return out;
  }
}

const num = (value: number): AttributeValue => ({ N: String(value) });
/** Integer counts of an item; one missing (an item written before the count existed) reads as 0. */
const COUNT_NAMES = ['requests', 'errors', 'rateLimited', 'bytesIn', 'bytesOut', 'costMicroUsd', 'gatewayCostNanoUsd'] as const;

function writeItem(rollup: Rollup, pos: Record<string, string>, version: number, expiresAt: number): Record<string, AttributeValue> {
  const { id } = rollup;
  const item: Record<string, AttributeValue> = {
    orgId: { S: id.orgId },
    granularity: { S: id.granularity },
    dimension: { S: id.dimension },
    group: { S: id.group },
    bucketStart: num(id.bucketStart),
    errorsByCode: { M: Object.fromEntries(Object.entries(rollup.errorsByCode).map(([code, n]) => [code, num(n)])) },
    latency: { M: Object.fromEntries(LATENCY_KINDS.map((kind) => [kind, { S: JSON.stringify(rollup.latency[kind].toStored()) }])) },
    pos: { M: Object.fromEntries(Object.entries(pos).map(([source, p]) => [source, { S: p }])) },
    v: num(version),
    [ANALYTICS_TABLE.ttlAttribute]: num(expiresAt),
  };
  for (const name of COUNT_NAMES) item[name] = num(rollup[name]);
  return item;
}

/** The rollup, positions and version of a stored item; undefined for an item that is not a rollup. */
function readItem(item: Record<string, AttributeValue>): { rollup: Rollup; pos: Record<string, string>; v: number } | undefined {
  const granularity = item.granularity?.S as Granularity | undefined;
  const dimension = item.dimension?.S as Dimension | undefined;
  const orgId = item.orgId?.S;
  const group = item.group?.S;
  const bucketStart = Number(item.bucketStart?.N);
  if (orgId === undefined || group === undefined || !Number.isFinite(bucketStart)) return undefined;
  if (granularity === undefined || !GRANULARITIES.includes(granularity) || dimension === undefined || !DIMENSIONS.includes(dimension)) return undefined;
  const counts = Object.fromEntries(COUNT_NAMES.map((name) => [name, Number(item[name]?.N ?? 0)])) as Record<(typeof COUNT_NAMES)[number], number>;
  const errorsByCode = codeCounts();
  for (const [code, n] of Object.entries(item.errorsByCode?.M ?? {})) errorsByCode[code] = Number(n.N ?? 0);
  const latency = {} as Record<LatencyKind, LatencySketch>;
  for (const kind of LATENCY_KINDS) {
    const text = item.latency?.M?.[kind]?.S;
    latency[kind] = text === undefined ? LatencySketch.empty() : LatencySketch.fromStored(JSON.parse(text) as StoredSketch);
  }
  const pos = Object.create(null) as Record<string, string>;
  for (const [source, p] of Object.entries(item.pos?.M ?? {})) if (p.S !== undefined) pos[source] = p.S;
  return {
    rollup: { id: { orgId, granularity, dimension, group, bucketStart }, ...counts, errorsByCode, latency },
    pos,
    v: Number(item.v?.N ?? 0),
  };
}

/**
 * Creates the analytics table (pk, sk; on demand) and turns TTL on; no-op for what exists. For the
 * local server and tests: in AWS the CDK construct owns the table. dynalite has no TTL API (and
 * never expires items): there, items still carry `expiresAt`, nothing deletes them.
 */
export async function ensureAnalyticsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: ANALYTICS_TABLE.partitionKey, AttributeType: 'S' },
      { AttributeName: ANALYTICS_TABLE.sortKey, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: ANALYTICS_TABLE.partitionKey, KeyType: 'HASH' },
      { AttributeName: ANALYTICS_TABLE.sortKey, KeyType: 'RANGE' },
    ],
  });
  let status: string | undefined;
  try {
    const ttl = await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }));
    status = ttl.TimeToLiveDescription?.TimeToLiveStatus;
  } catch (error) {
    if (isUnknownOperation(error)) return;
    throw error;
  }
  if (status === 'ENABLED' || status === 'ENABLING') return;
  try {
    await client.send(
      new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: ANALYTICS_TABLE.ttlAttribute, Enabled: true } }),
    );
  } catch (error) {
    if (!isUnknownOperation(error)) throw error;
  }
}

function isUnknownOperation(error: unknown): boolean {
  const name = (error as { name?: string } | undefined)?.name;
  return name === 'UnknownOperationException';
}
