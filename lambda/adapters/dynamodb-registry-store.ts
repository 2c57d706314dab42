import {
  ConditionalCheckFailedException,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import {
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { Org, Page, StoredApiKey, StoredMcpServer } from '../core/model';
import { REGISTRY_TABLE } from '../core/registry-table';
import { deleteIfExists, recordOf } from './registry-items';
import { DynamoDbOrgUsage, type OrgUsageOptions } from './dynamodb-org-usage';
import {
  type CappedCreateResult,
  type CreateResult,
  InvalidCursorError,
  type OrgPatch,
  type OrgUsage,
  type PageRequest,
  type RegistryStore,
} from '../core/registry-store';

const { partitionKey: PK, sortKey: SK } = REGISTRY_TABLE;
const { name: LIST_INDEX, partitionKey: GSI_PK, sortKey: GSI_SK } = REGISTRY_TABLE.listIndex;

/**
 * Item layout (docs/data-model.md):
 *   org  pk=ORG#<orgId>  sk=#ORG        gsi1pk=ORGS               gsi1sk=<orgId>
 *   mcp  pk=ORG#<orgId>  sk=MCP#<slug>   gsi1pk=MCPS               gsi1sk=<orgId>#<slug>
 *   key  pk=KEY#<keyId>  sk=#KEY        gsi1pk=ORG#<orgId>#KEYS   gsi1sk=<createdAt>#<keyId>
 *   use  pk=ORG#<orgId>  sk=#USAGE       (counts of MCP servers and live keys for the plan caps)
 *   conf pk=CONFIG#<name> sk=#CONFIG     (deployment-wide settings, e.g. the wrapped session key)
 * Keys live in their own partition so the data plane finds one with a single GetItem by key id.
 */
const orgKey = (orgId: string) => ({ [PK]: `ORG#${orgId}`, [SK]: '#ORG' });
const mcpKey = (orgId: string, slug: string) => ({ [PK]: `ORG#${orgId}`, [SK]: `MCP#${slug}` });
const apiKeyKey = (keyId: string) => ({ [PK]: `KEY#${keyId}`, [SK]: '#KEY' });
const configKey = (name: string) => ({ [PK]: `CONFIG#${name}`, [SK]: '#CONFIG' });
/** An MCP item with its listing attributes (the health checker lists every MCP through gsi1). */
const mcpItem = (mcp: StoredMcpServer) => ({
  ...mcpKey(mcp.orgId, mcp.slug),
  [GSI_PK]: 'MCPS',
  [GSI_SK]: `${mcp.orgId}#${mcp.slug}`,
  entity: 'mcp',
  ...mcp,
});

export interface DynamoDbRegistryStoreOptions {
  /** How the per-org counts behind the plan caps decide that an operation died (tests). */
  readonly usage?: OrgUsageOptions;
}

export class DynamoDbRegistryStore implements RegistryStore {
  private readonly doc: DynamoDBDocumentClient;
  private readonly usage: DynamoDbOrgUsage;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbRegistryStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.usage = new DynamoDbOrgUsage(this.doc, tableName, options.usage);
  }

  // ---- organisations ----

  createOrg(org: Org, requestHash?: string): Promise<CreateResult<Org>> {
    const key = orgKey(org.orgId);
    return this.create(key, { ...key, [GSI_PK]: 'ORGS', [GSI_SK]: org.orgId, entity: 'org', ...org }, requestHash);
  }

  async getOrg(orgId: string): Promise<Org | undefined> {
    return this.get<Org>(orgKey(orgId));
  }

  listOrgs(page: PageRequest): Promise<Page<Org>> {
    return this.query<Org>(
      {
        IndexName: LIST_INDEX,
        KeyConditionExpression: '#gpk = :gpk',
        ExpressionAttributeNames: { '#gpk': GSI_PK },
        ExpressionAttributeValues: { ':gpk': 'ORGS' },
      },
      page,
      { [GSI_PK]: 'ORGS' },
    );
  }

  async updateOrg(orgId: string, patch: OrgPatch, updatedAt: string): Promise<Org | undefined> {
    const fields = { ...patch, updatedAt };
    const names: Record<string, string> = { '#pk': PK };
    const values: Record<string, unknown> = {};
    const sets: string[] = [];
    const removes: string[] = [];
    for (const [field, value] of Object.entries(fields)) {
      if (value === undefined) continue;
      names[`#${field}`] = field;
      if (value === null) {
        removes.push(`#${field}`); // e.g. planOverrides: null clears the overrides
        continue;
      }
      values[`:${field}`] = value;
      sets.push(`#${field} = :${field}`);
    }
    try {
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: orgKey(orgId),
          UpdateExpression: `SET ${sets.join(', ')}${removes.length > 0 ? ` REMOVE ${removes.join(', ')}` : ''}`,
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
        }),
      );
      return recordOf<Org>(out.Attributes!);
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return undefined;
      throw error;
    }
  }

  // ---- MCP servers ----

  createMcp(mcp: StoredMcpServer, requestHash: string | undefined, maxMcpServers: number): Promise<CappedCreateResult<StoredMcpServer>> {
    const key = mcpKey(mcp.orgId, mcp.slug);
    return this.createCounted(mcp.orgId, 'mcpServers', maxMcpServers, key, () => this.create(key, mcpItem(mcp), requestHash));
  }

  getMcp(orgId: string, slug: string): Promise<StoredMcpServer | undefined> {
    return this.get<StoredMcpServer>(mcpKey(orgId, slug));
  }

  listMcps(orgId: string, page: PageRequest): Promise<Page<StoredMcpServer>> {
    return this.query<StoredMcpServer>(
      {
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :mcp)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': `ORG#${orgId}`, ':mcp': 'MCP#' },
      },
      page,
      { [PK]: `ORG#${orgId}` },
    );
  }

  async replaceMcp(mcp: StoredMcpServer, expectedUpdatedAt: string): Promise<'replaced' | 'missing' | 'conflict'> {
    const key = mcpKey(mcp.orgId, mcp.slug);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: mcpItem(mcp),
          ConditionExpression: 'attribute_exists(#pk) AND #updatedAt = :expected',
          ExpressionAttributeNames: { '#pk': PK, '#updatedAt': 'updatedAt' },
          ExpressionAttributeValues: { ':expected': expectedUpdatedAt },
        }),
      );
      return 'replaced';
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      return (await this.get(key)) ? 'conflict' : 'missing';
    }
  }

  async deleteMcp(orgId: string, slug: string): Promise<boolean> {
    const slot = await this.usage.beginRemove(orgId, 'mcpServers');
    let deleted = false;
    try {
      deleted = await deleteIfExists(this.doc, this.tableName, mcpKey(orgId, slug));
    } finally {
      await this.usage.end(slot, deleted ? -1 : 0);
    }
    return deleted;
  }

  // ---- API keys ----

  createKey(key: StoredApiKey, requestHash: string | undefined, maxApiKeys: number): Promise<CappedCreateResult<StoredApiKey>> {
    const itemKey = apiKeyKey(key.keyId);
    const item = { ...itemKey, [GSI_PK]: `ORG#${key.orgId}#KEYS`, [GSI_SK]: `${key.createdAt}#${key.keyId}`, entity: 'key', ...key };
    return this.createCounted(key.orgId, 'apiKeys', maxApiKeys, itemKey, () => this.create(itemKey, item, requestHash));
  }

  getKey(keyId: string): Promise<StoredApiKey | undefined> {
    return this.get<StoredApiKey>(apiKeyKey(keyId));
  }

  listKeys(orgId: string, page: PageRequest): Promise<Page<StoredApiKey>> {
    const partition = `ORG#${orgId}#KEYS`;
    return this.query<StoredApiKey>(
      {
        IndexName: LIST_INDEX,
        KeyConditionExpression: '#gpk = :gpk',
        ExpressionAttributeNames: { '#gpk': GSI_PK },
        ExpressionAttributeValues: { ':gpk': partition },
      },
      page,
      { [GSI_PK]: partition },
    );
  }

  async revokeKey(orgId: string, keyId: string, revokedAt: string): Promise<StoredApiKey | undefined> {
    const slot = await this.usage.beginRemove(orgId, 'apiKeys');
    let revokedNow = false;
    try {
      // Only the first revocation writes (and gives the key's unit back); later ones read it.
      const out = await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyId),
          UpdateExpression: 'SET #revokedAt = :at',
          ConditionExpression: 'attribute_exists(#pk) AND #orgId = :orgId AND attribute_not_exists(#revokedAt)',
          ExpressionAttributeNames: { '#pk': PK, '#revokedAt': 'revokedAt', '#orgId': 'orgId' },
          ExpressionAttributeValues: { ':at': revokedAt, ':orgId': orgId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      revokedNow = true;
      return recordOf<StoredApiKey>(out.Attributes!);
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const existing = await this.getKey(keyId);
      return existing?.orgId === orgId ? existing : undefined;
    } finally {
      await this.usage.end(slot, revokedNow ? -1 : 0);
    }
  }

  getUsage(orgId: string): Promise<OrgUsage> {
    return this.usage.get(orgId);
  }

  async touchKey(keyId: string, at: string): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: apiKeyKey(keyId),
          UpdateExpression: 'SET #lastUsedAt = :at',
          // Never resurrect a deleted key; never move the time backwards.
          ConditionExpression: 'attribute_exists(#pk) AND (attribute_not_exists(#lastUsedAt) OR #lastUsedAt < :at)',
          ExpressionAttributeNames: { '#pk': PK, '#lastUsedAt': 'lastUsedAt' },
          ExpressionAttributeValues: { ':at': at },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    }
  }

  // ---- settings ----

  async getConfig(name: string): Promise<Record<string, string> | undefined> {
    const item = await this.get<{ value: Record<string, string> }>(configKey(name));
    return item?.value;
  }

  async createConfig(name: string, value: Record<string, string>): Promise<Record<string, string>> {
    const key = configKey(name);
    const result = await this.create<{ value: Record<string, string> }>(key, { ...key, entity: 'config', value }, undefined);
    return result.created ? value : result.existing.value;
  }

  // ---- shared mechanics ----

  /**
   * A create that takes a unit of the org's `counter` first and gives it back unless the item was
   * written. At the cap, an existing item of the same key is still returned (an idempotent replay
   * or a taken slug is not a limit).
   */
  private async createCounted<T>(
    orgId: string,
    counter: 'mcpServers' | 'apiKeys',
    cap: number,
    key: Record<string, string>,
    create: () => Promise<CreateResult<T>>,
  ): Promise<CappedCreateResult<T>> {
    const slot = await this.usage.beginCreate(orgId, counter, cap);
    if (slot === 'full') {
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      if (!out.Item) return { created: false, limitReached: true };
      return { created: false, existing: recordOf<T>(out.Item), existingRequestHash: out.Item.requestHash as string | undefined };
    }
    let created = false;
    try {
      const result = await create();
      created = result.created;
      return result;
    } finally {
      await this.usage.end(slot, created ? 0 : -1);
    }
  }

  private async get<T>(key: Record<string, string>): Promise<T | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
    return out.Item ? recordOf<T>(out.Item) : undefined;
  }

  /** One conditional put; on conflict, reads the existing item so the caller can decide. */
  private async create<T>(
    key: Record<string, string>,
    item: Record<string, unknown>,
    requestHash: string | undefined,
  ): Promise<CreateResult<T>> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.tableName,
          Item: requestHash ? { ...item, requestHash } : item,
          ConditionExpression: 'attribute_not_exists(#pk)',
          ExpressionAttributeNames: { '#pk': PK },
        }),
      );
      return { created: true, item: recordOf<T>(item) };
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      if (!out.Item) throw error; // deleted in between: surface the conflict as an error
      return { created: false, existing: recordOf<T>(out.Item), existingRequestHash: out.Item.requestHash as string | undefined };
    }
  }

  /**
   * A page of a query. The cursor is the last evaluated key; on the way back in it must belong to
   * the same partition (`expected`), so a forged cursor cannot read another org's items.
   */
  private async query<T>(
    input: Omit<QueryCommandInput, 'TableName'>,
    page: PageRequest,
    expected: Record<string, string>,
  ): Promise<Page<T>> {
    const out = await this.doc.send(
      new QueryCommand({
        ...input,
        TableName: this.tableName,
        Limit: page.limit,
        ExclusiveStartKey: page.cursor === undefined ? undefined : decodeCursor(page.cursor, expected, input.IndexName),
      }),
    );
    return {
      items: (out.Items ?? []).map((item) => recordOf<T>(item)),
      nextCursor: out.LastEvaluatedKey ? encodeCursor(out.LastEvaluatedKey) : undefined,
    };
  }
}

function encodeCursor(lastKey: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(lastKey)).toString('base64url');
}

function decodeCursor(cursor: string, expected: Record<string, string>, indexName?: string): Record<string, string> {
  const allowed = new Set<string>(indexName ? [PK, SK, GSI_PK, GSI_SK] : [PK, SK]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw new InvalidCursorError();
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new InvalidCursorError();
  const entries = Object.entries(parsed);
  if (entries.length !== allowed.size || entries.some(([k, v]) => !allowed.has(k) || typeof v !== 'string')) {
    throw new InvalidCursorError();
  }
  const key = parsed as Record<string, string>;
  for (const [attribute, value] of Object.entries(expected)) {
    if (key[attribute] !== value) throw new InvalidCursorError();
  }
  return key;
}

/** Creates the registry table with the same key schema as the CDK construct; no-op if it exists. */
export async function ensureRegistryTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' },
      { AttributeName: SK, AttributeType: 'S' },
      { AttributeName: GSI_PK, AttributeType: 'S' },
      { AttributeName: GSI_SK, AttributeType: 'S' },
    ],
    KeySchema: [
      { AttributeName: PK, KeyType: 'HASH' },
      { AttributeName: SK, KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [
      {
        IndexName: LIST_INDEX,
        KeySchema: [
          { AttributeName: GSI_PK, KeyType: 'HASH' },
          { AttributeName: GSI_SK, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      },
    ],
  });
}
