import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import type { AlertStore } from '../core/alert-service';
import type { AlertSubscription } from '../core/alerts';
import { REGISTRY_TABLE } from '../core/registry-table';
import { deleteIfExists, queryByPrefix, recordOf } from './registry-items';

const { partitionKey: PK, sortKey: SK } = REGISTRY_TABLE;

/**
 * Alert subscriptions in the registry table, next to their org:
 *   alert  pk=ORG#<orgId>  sk=ALERT#<subscriptionId>  entity=alert
 * An org's subscriptions are one Query (`begins_with(sk, ALERT#)`); there are at most 20.
 */
const alertKey = (orgId: string, subscriptionId: string) => ({ [PK]: `ORG#${orgId}`, [SK]: `ALERT#${subscriptionId}` });

export class DynamoDbAlertStore implements AlertStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  listSubscriptions(orgId: string): Promise<AlertSubscription[]> {
    return queryByPrefix<AlertSubscription>(this.doc, this.tableName, `ORG#${orgId}`, 'ALERT#', { consistentRead: true });
  }

  async getSubscription(orgId: string, subscriptionId: string): Promise<AlertSubscription | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: alertKey(orgId, subscriptionId), ConsistentRead: true }));
    return out.Item ? recordOf<AlertSubscription>(out.Item) : undefined;
  }

  async createSubscription(subscription: AlertSubscription): Promise<boolean> {
    const key = alertKey(subscription.orgId, subscription.subscriptionId);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: { ...key, entity: 'alert', ...subscription },
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  deleteSubscription(orgId: string, subscriptionId: string): Promise<boolean> {
    return deleteIfExists(this.doc, this.tableName, alertKey(orgId, subscriptionId));
  }
}
