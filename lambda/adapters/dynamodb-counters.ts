import {
  ConditionalCheckFailedException,
  CreateTableCommand,
  type DynamoDBClient,
  ResourceInUseException,
  UpdateItemCommand,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import type { RequestCounter } from '../core/gateway/limits';
import { COUNTERS_TABLE } from '../core/registry-table';

const NAMES = { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute };
const num = (value: number) => ({ N: String(value) });

/**
 * Counters in a regional DynamoDB table: one item per counter, expired by TTL. Each call is
 * exactly one UpdateItem. This is the data plane's one store round trip per request, so it uses
 * the low-level client with the attribute values written out (no document marshalling).
 */
export class DynamoDbCounters implements RequestCounter {
  constructor(
    private readonly client: DynamoDBClient,
    private readonly tableName: string,
  ) {}

  async incrementBelow(counterId: string, limit: number, expiresAtSeconds: number): Promise<number | undefined> {
    try {
      const out = await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: { [COUNTERS_TABLE.partitionKey]: { S: counterId } },
          UpdateExpression: 'ADD #n :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#n) OR #n < :limit',
          ExpressionAttributeNames: NAMES,
          ExpressionAttributeValues: { ':one': num(1), ':limit': num(limit), ':ttl': num(expiresAtSeconds) },
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
}

/** Creates the counters table with the construct's key schema; no-op if it exists. */
export async function ensureCountersTable(client: DynamoDBClient, tableName: string): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: COUNTERS_TABLE.partitionKey, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: COUNTERS_TABLE.partitionKey, KeyType: 'HASH' }],
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1, maxDelay: 1 }, { TableName: tableName });
}
