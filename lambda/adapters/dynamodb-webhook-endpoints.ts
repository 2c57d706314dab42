import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { CreateEndpointResult, StoredWebhookEndpoint, WebhookEndpointStore } from '../core/webhooks/endpoints';
import { createTableIfMissing } from './dynamodb-tables';

/**
 * Webhook endpoints on their own table (see docs/webhooks.md for why not the delivery table).
 *
 * Layout: hash `pk` = `ORG#<orgId>`, range `sk` = `WHE#<endpointId>` for an endpoint and
 * `COUNT` for the org's endpoint counter `n`. No transactions (ARCHITECTURE.md §5): every write
 * is one conditional item write, and the per-org cap is the counter's condition:
 *
 * - create: (1) `n = n + 1` if `n < max`, (2) put the endpoint if absent (on failure, (1) is
 *   undone). delete: (1) delete the endpoint if present, (2) `n = n - 1`. So `n` is never below
 *   the real count, and concurrent creates never exceed the cap.
 * - A crash between the two steps leaves `n` one too high (a slot leaked, never a slot too
 *   many). When a create is refused at the cap, the store counts the org's endpoints and, if the
 *   counter is higher and has not moved for COUNTER_SETTLE_MS (so no create is still between its
 *   two steps), sets it to the count — on condition that it is unchanged — and tries once more.
 */
export const COUNTER_SETTLE_MS = 60_000;
const COUNT_SK = 'COUNT';
const pkOf = (orgId: string) => `ORG#${orgId}`;
const skOf = (endpointId: string) => `WHE#${endpointId}`;

export class DynamoDbWebhookEndpointStore implements WebhookEndpointStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    private readonly now: () => number = Date.now,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async create(endpoint: StoredWebhookEndpoint, max: number): Promise<CreateEndpointResult> {
    if (!(await this.reserve(endpoint.orgId, max))) {
      if (!(await this.repairCounter(endpoint.orgId)) || !(await this.reserve(endpoint.orgId, max))) return 'limit_reached';
    }
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: pkOf(endpoint.orgId), sk: skOf(endpoint.endpointId), ...endpoint },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return 'created';
    } catch (error) {
      await this.release(endpoint.orgId).catch(() => undefined);
      if (error instanceof ConditionalCheckFailedException) return 'exists';
      throw error;
    }
  }

  async get(orgId: string, endpointId: string): Promise<StoredWebhookEndpoint | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: pkOf(orgId), sk: skOf(endpointId) }, ConsistentRead: true }),
    );
    return out.Item ? endpointOf(out.Item) : undefined;
  }

  async list(orgId: string): Promise<StoredWebhookEndpoint[]> {
    const items: StoredWebhookEndpoint[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': pkOf(orgId), ':prefix': 'WHE#' },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      items.push(...(out.Items ?? []).map(endpointOf));
      start = out.LastEvaluatedKey;
    } while (start);
    return items.sort((a, b) => a.createdAt.localeCompare(b.createdAt) || a.endpointId.localeCompare(b.endpointId));
  }

  async replace(endpoint: StoredWebhookEndpoint, expectedVersion: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { pk: pkOf(endpoint.orgId), sk: skOf(endpoint.endpointId), ...endpoint },
          ConditionExpression: 'version = :expected',
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async delete(orgId: string, endpointId: string): Promise<boolean> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.tableName,
          Key: { pk: pkOf(orgId), sk: skOf(endpointId) },
          ConditionExpression: 'attribute_exists(pk)',
        }),
      );
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
    await this.release(orgId);
    return true;
  }

  /** The org's counter as stored (tests, repair). */
  async counter(orgId: string): Promise<{ n: number; changedAt: number } | undefined> {
    const out = await this.doc.send(
      new GetCommand({ TableName: this.tableName, Key: { pk: pkOf(orgId), sk: COUNT_SK }, ConsistentRead: true }),
    );
    return out.Item ? { n: out.Item.n as number, changedAt: out.Item.changedAt as number } : undefined;
  }

  private async reserve(orgId: string, max: number): Promise<boolean> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pkOf(orgId), sk: COUNT_SK },
          UpdateExpression: 'SET n = if_not_exists(n, :zero) + :one, changedAt = :now',
          ConditionExpression: 'attribute_not_exists(n) OR n < :max',
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':max': max, ':now': this.now() },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async release(orgId: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pkOf(orgId), sk: COUNT_SK },
          UpdateExpression: 'SET n = n - :one, changedAt = :now',
          ConditionExpression: 'n > :zero',
          ExpressionAttributeValues: { ':zero': 0, ':one': 1, ':now': this.now() },
        }),
      );
    } catch (error) {
      // Already 0 (or absent): nothing to give back.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  /** Lowers a counter left too high by a crash; true when it did. */
  private async repairCounter(orgId: string): Promise<boolean> {
    const seen = await this.counter(orgId);
    if (!seen || this.now() - seen.changedAt < COUNTER_SETTLE_MS) return false;
    const actual = (await this.list(orgId)).length;
    if (actual >= seen.n) return false;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: { pk: pkOf(orgId), sk: COUNT_SK },
          UpdateExpression: 'SET n = :actual, changedAt = :now',
          ConditionExpression: 'n = :seen AND changedAt = :seenAt',
          ExpressionAttributeValues: { ':actual': actual, ':seen': seen.n, ':seenAt': seen.changedAt, ':now': this.now() },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }
}

function endpointOf(item: Record<string, unknown>): StoredWebhookEndpoint {
  const { pk: _pk, sk: _sk, ...endpoint } = item;
  void _pk;
  void _sk;
  return endpoint as unknown as StoredWebhookEndpoint;
}

/** Creates the endpoint table; no-op if it exists (tests, local mode). */
export async function ensureWebhookEndpointTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: 'pk', AttributeType: 'S' },
      { AttributeName: 'sk', AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
  });
}
