import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { DeleteCommand, type DynamoDBDocumentClient, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { REGISTRY_TABLE } from '../core/registry-table';

/** Attributes of the registry table's layout (keys, index keys, TTL, bookkeeping), not of records. */
const LAYOUT_ATTRIBUTES = [
  REGISTRY_TABLE.partitionKey,
  REGISTRY_TABLE.sortKey,
  REGISTRY_TABLE.listIndex.partitionKey,
  REGISTRY_TABLE.listIndex.sortKey,
  REGISTRY_TABLE.ttlAttribute,
  'entity',
  'requestHash',
];

/** The domain record an item holds: the item without its layout attributes. */
export function recordOf<T>(item: Record<string, unknown>): T {
  const copy: Record<string, unknown> = { ...item };
  for (const attribute of LAYOUT_ATTRIBUTES) delete copy[attribute];
  return copy as T;
}

/** Every item of partition `pk` whose sort key starts with `prefix`, across pages, as records. */
export async function queryByPrefix<T>(
  doc: DynamoDBDocumentClient,
  tableName: string,
  pk: string,
  prefix: string,
  options: { consistentRead?: boolean } = {},
): Promise<T[]> {
  const items: T[] = [];
  let cursor: Record<string, unknown> | undefined;
  do {
    const out = await doc.send(
      new QueryCommand({
        TableName: tableName,
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
        ExpressionAttributeNames: { '#pk': REGISTRY_TABLE.partitionKey, '#sk': REGISTRY_TABLE.sortKey },
        ExpressionAttributeValues: { ':pk': pk, ':prefix': prefix },
        ConsistentRead: options.consistentRead,
        ExclusiveStartKey: cursor,
      }),
    );
    items.push(...(out.Items ?? []).map((item) => recordOf<T>(item)));
    cursor = out.LastEvaluatedKey;
  } while (cursor);
  return items;
}

/** Deletes an item if it exists, as one conditional write; false when there was none. */
export async function deleteIfExists(doc: DynamoDBDocumentClient, tableName: string, key: Record<string, string>): Promise<boolean> {
  try {
    await doc.send(
      new DeleteCommand({
        TableName: tableName,
        Key: key,
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: { '#pk': REGISTRY_TABLE.partitionKey },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof ConditionalCheckFailedException) return false;
    throw error;
  }
}
