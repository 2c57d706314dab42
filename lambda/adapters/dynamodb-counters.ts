import {
  type AttributeValue,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import type { RequestCounter } from '../core/gateway/limits';
import type { OnceMarks } from '../core/events/once-marks';
import type { LeaseStore } from '../core/gateway/stream-slots';
import { COUNTERS_TABLE } from '../core/registry-table';

const NAMES = { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute };
const num = (value: number) => ({ N: String(value) });

/**
 * Counters in a regional DynamoDB table: one item per counter, expired by TTL. Each call is
 * exactly one UpdateItem. This is the data plane's one store round trip per request, so it uses
 * the low-level client with the attribute values written out (no document marshalling).
 */
export class DynamoDbCounters implements RequestCounter, LeaseStore {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async incrementBelow(counterId: string, limit: number, expiresAtSeconds: number, n = 1): Promise<number | undefined> {
    if (n > limit) return undefined; // can never fit (and a fresh counter would otherwise take it)
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [COUNTERS_TABLE.partitionKey]: { S: counterId } },
          UpdateExpression: 'ADD #n :add SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#n) OR #n <= :most',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':add': num(n), ':most': num(limit - n), ':ttl': num(expiresAtSeconds) },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return Number(out.Attributes!.n!.N);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async add(counterId: string, delta: number, expiresAtSeconds: number): Promise<number> {
    const out = await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { [COUNTERS_TABLE.partitionKey]: { S: counterId } },
        UpdateExpression: 'ADD #n :delta SET #ttl = :ttl',
        ExpressionAttributeNames: NAMES,
        ExpressionAttributeValues: { ':delta': num(delta), ':ttl': num(expiresAtSeconds) },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return Number(out.Attributes!.n!.N);
  }

  async acquire(id: string, owner: string, nowSeconds: number, expiresAtSeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [COUNTERS_TABLE.partitionKey]: { S: id } },
          UpdateExpression: 'SET #o = :owner, #exp = :exp, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#o) OR #exp < :now OR #o = :owner',
          ExpressionAttributeNames: LEASE_NAMES,
          ExpressionAttributeValues: { ':owner': { S: owner }, ':exp': num(expiresAtSeconds), ':now': num(nowSeconds), ':ttl': num(expiresAtSeconds + 3600) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(id: string, owner: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [COUNTERS_TABLE.partitionKey]: { S: id } },
          UpdateExpression: 'SET #exp = :zero',
          ConditionExpression: '#o = :owner',
          ExpressionAttributeNames: { '#o': 'owner', '#exp': 'leaseUntil' },
          ExpressionAttributeValues: { ':owner': { S: owner }, ':zero': num(0) },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

/** A marker's item key: the counters table's (`pk` only) unless told otherwise. */
export type MarkKey = (id: string) => Record<string, AttributeValue>;
const counterKey: MarkKey = (id) => ({ [COUNTERS_TABLE.partitionKey]: { S: id } });

/**
 * Markers that exist once (`OnceMarks`), one item each, written and taken back with UpdateItem
 * only (the gateway's and health monitor's grants): `claimedAt` is set on condition that it is
 * absent, and removed on condition that it is present. Used for events that must go out once
 * however many instances see their cause (quota thresholds in the counters table; expiring keys
 * in the registry table, with `keyOf` giving that table's pk/sk). Expired by TTL.
 */
export class DynamoDbOnceMarks implements OnceMarks {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
    private readonly keyOf: MarkKey = counterKey,
    private readonly now: () => number = Date.now,
  ) {}

  async claim(id: string, expiresAtSeconds: number): Promise<boolean> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.keyOf(id),
          UpdateExpression: 'SET #c = :now, #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#c)',
          ExpressionAttributeNames: { '#c': 'claimedAt', '#ttl': COUNTERS_TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':now': { S: new Date(this.now()).toISOString() }, ':ttl': num(Math.ceil(expiresAtSeconds)) },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async release(id: string): Promise<void> {
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.keyOf(id),
          UpdateExpression: 'REMOVE #c',
          ConditionExpression: 'attribute_exists(#c)',
          ExpressionAttributeNames: { '#c': 'claimedAt' },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }
}

const LEASE_NAMES = { '#o': 'owner', '#exp': 'leaseUntil', '#ttl': COUNTERS_TABLE.ttlAttribute };

/** Creates the counters table with the construct's key schema; no-op if it exists. */
export async function ensureCountersTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [{ AttributeName: COUNTERS_TABLE.partitionKey, AttributeType: 'S' }],
    KeySchema: [{ AttributeName: COUNTERS_TABLE.partitionKey, KeyType: 'HASH' }],
  });
}
