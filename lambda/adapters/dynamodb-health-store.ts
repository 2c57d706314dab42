import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, PutCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import type { EndpointHealth, HealthTransition } from '../core/health/model';
import type { HealthStore, McpHealthView, StoredMetadata } from '../core/health/store';
import type { StoredMcpServer } from '../core/model';
import { REGISTRY_TABLE } from '../core/registry-table';
import { queryByPrefix, recordOf } from './registry-items';

const { partitionKey: PK, sortKey: SK, ttlAttribute: TTL } = REGISTRY_TABLE;
const { name: LIST_INDEX, partitionKey: GSI_PK } = REGISTRY_TABLE.listIndex;

/** History entries are kept this long (DynamoDB TTL). */
const HISTORY_TTL_SECONDS = 7 * 86_400;

/**
 * Health items in the registry table, one partition per MCP server (docs/health.md):
 *   state    pk=HEALTH#<orgId>#<slug>  sk=STATE#<region>#<endpointId>
 *   history  pk=HEALTH#<orgId>#<slug>  sk=HIST#<at>#<region>#<endpointId>   (TTL 7 days)
 *   metadata pk=HEALTH#<orgId>#<slug>  sk=META
 * MCP servers are listed for the checker through gsi1 (gsi1pk=MCPS).
 */
export class DynamoDbHealthStore implements HealthStore {
  private readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  async *listAllMcps(): AsyncIterable<StoredMcpServer> {
    let cursor: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: LIST_INDEX,
          KeyConditionExpression: '#gpk = :mcps',
          ExpressionAttributeNames: { '#gpk': GSI_PK },
          ExpressionAttributeValues: { ':mcps': 'MCPS' },
          ExclusiveStartKey: cursor,
        }),
      );
      for (const item of out.Items ?? []) yield recordOf<StoredMcpServer>(item);
      cursor = out.LastEvaluatedKey;
    } while (cursor);
  }

  async getStates(orgId: string, mcp: string, region: string): Promise<EndpointHealth[]> {
    return queryByPrefix<EndpointHealth>(this.doc, this.tableName, partition(orgId, mcp), `STATE#${region}#`);
  }

  async putState(state: EndpointHealth, transition?: HealthTransition): Promise<void> {
    const pk = partition(state.orgId, state.mcp);
    await this.doc.send(
      new PutCommand({ TableName: this.tableName, Item: { [PK]: pk, [SK]: `STATE#${state.region}#${state.endpointId}`, entity: 'health', ...state } }),
    );
    if (transition) {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: {
            [PK]: pk,
            [SK]: `HIST#${transition.at}#${transition.region}#${transition.endpointId}`,
            entity: 'health-history',
            [TTL]: Math.floor(Date.parse(transition.at) / 1000) + HISTORY_TTL_SECONDS,
            ...transition,
          },
        }),
      );
    }
  }

  async getMcpHealth(orgId: string, mcp: string, historyLimit: number): Promise<McpHealthView> {
    const pk = partition(orgId, mcp);
    const [endpoints, history] = await Promise.all([
      queryByPrefix<EndpointHealth>(this.doc, this.tableName, pk, 'STATE#'),
      historyLimit <= 0
        ? Promise.resolve([])
        : this.doc
            .send(
              new QueryCommand({
                TableName: this.tableName,
                KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :prefix)',
                ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
                ExpressionAttributeValues: { ':pk': pk, ':prefix': 'HIST#' },
                ScanIndexForward: false,
                Limit: historyLimit,
              }),
            )
            .then((out) => (out.Items ?? []).map((item) => recordOf<HealthTransition>(item))),
    ]);
    return { endpoints, history };
  }

  async getMetadata(orgId: string, mcp: string): Promise<StoredMetadata | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [PK]: partition(orgId, mcp), [SK]: 'META' } }));
    return out.Item ? recordOf<StoredMetadata>(out.Item) : undefined;
  }

  async putMetadata(orgId: string, mcp: string, metadata: StoredMetadata): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: { [PK]: partition(orgId, mcp), [SK]: 'META', entity: 'mcp-metadata', ...metadata } }));
  }
}

const partition = (orgId: string, mcp: string) => `HEALTH#${orgId}#${mcp}`;
