import { ConditionalCheckFailedException, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { AuditDigest } from '../core/audit/digest';
import type { DigestMember, DigestStore, StoredDigest } from '../core/audit/digest-producer';
import { AUDIT_TABLE } from '../core/audit/table';

const { partitionKey: PK, sortKey: SK } = AUDIT_TABLE;
const digestPk = (scope: string) => `DIGEST#${scope}`;

/**
 * Signed digests in the audit table, next to the entries (lambda/core/audit/table.ts):
 *   digest  pk=DIGEST#<scope>  sk=<n>   (number, 1, 2, … per scope; '*' is the deployment)
 * with the AuditDigest fields, `signature` (base64 DER), `digestHash`, and for deployment
 * digests `covers` (the per-org digests it vouches for, as a JSON string so it comes back exactly
 * as hashed). Items are only ever put with attribute_not_exists: the number is the commit point,
 * so of two producers racing for digest n exactly one stores it. Nothing here updates or deletes
 * (IAM denies both on DIGEST# partitions, lib/audit-log.ts).
 */
export class DynamoDbAuditDigests implements DigestStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async put(stored: StoredDigest): Promise<boolean> {
    if (!Number.isSafeInteger(stored.n) || stored.n < 1) throw new RangeError('a digest number is a whole number from 1');
    const { digest } = stored;
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [PK]: digestPk(digest.scope),
            [SK]: stored.n,
            scope: digest.scope,
            fromSeq: digest.fromSeq,
            toSeq: digest.toSeq,
            lastHash: digest.lastHash,
            previousDigestHash: digest.previousDigestHash,
            createdAt: digest.createdAt,
            signature: stored.signature,
            digestHash: stored.digestHash,
            ...(stored.covers ? { covers: JSON.stringify(stored.covers) } : {}),
          },
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

  async latest(scope: string): Promise<StoredDigest | undefined> {
    const out = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': PK },
        ExpressionAttributeValues: { ':pk': digestPk(scope) },
        ScanIndexForward: false,
        Limit: 1,
        ConsistentRead: true,
      }),
    );
    const item = out.Items?.[0];
    return item ? storedOf(item) : undefined;
  }

  async list(scope: string, fromN = 1): Promise<StoredDigest[]> {
    const digests: StoredDigest[] = [];
    let startKey: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :pk AND #sk >= :from',
          ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
          ExpressionAttributeValues: { ':pk': digestPk(scope), ':from': fromN },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of out.Items ?? []) digests.push(storedOf(item));
      startKey = out.LastEvaluatedKey;
    } while (startKey);
    return digests;
  }
}

function storedOf(item: Record<string, unknown>): StoredDigest {
  const digest: AuditDigest = {
    scope: item.scope as string,
    fromSeq: item.fromSeq as number,
    toSeq: item.toSeq as number,
    lastHash: item.lastHash as string,
    previousDigestHash: item.previousDigestHash as string,
    createdAt: item.createdAt as string,
  };
  const covers = typeof item.covers === 'string' ? (JSON.parse(item.covers) as DigestMember[]) : undefined;
  return {
    n: item[SK] as number,
    digest,
    signature: item.signature as string,
    digestHash: item.digestHash as string,
    ...(covers ? { covers } : {}),
  };
}
