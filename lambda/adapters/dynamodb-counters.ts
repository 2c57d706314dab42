import { ConditionalCheckFailedException, CreateTableCommand, type DynamoDBClient, ResourceInUseException, waitUntilTableExists } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { RequestCounter } from '../core/gateway/limits';
import { COUNTERS_TABLE } from '../core/registry-table';

/**
 * Counters in a regional DynamoDB table: one item per counter, expired by TTL. Each call is
 * exactly one UpdateItem.
 */
export class DynamoDbCounters implements RequestCounter {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client);
  }

  async incrementBelow(counterId: string, limit: number, expiresAtSeconds: number): Promise<number | undefined> {
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { [COUNTERS_TABLE.partitionKey]: counterId },
          UpdateExpression: 'ADD #n :one SET #ttl = :ttl',
          ConditionExpression: 'attribute_not_exists(#n) OR #n < :limit',
          ExpressionAttributeNames: { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute },
          ExpressionAttributeValues: { ':one': 1, ':limit': limit, ':ttl': expiresAtSeconds },
          ReturnValues: 'UPDATED_NEW',
        }),
      );
      return out.Attributes!.n as number;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  async add(counterId: string, delta: number, expiresAtSeconds: number): Promise<number> {
    const out = await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [COUNTERS_TABLE.partitionKey]: counterId },
        UpdateExpression: 'ADD #n :delta SET #ttl = :ttl',
        ExpressionAttributeNames: { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute },
        ExpressionAttributeValues: { ':delta': delta, ':ttl': expiresAtSeconds },
        ReturnValues: 'UPDATED_NEW',
      }),
    );
    return out.Attributes!.n as number;
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
