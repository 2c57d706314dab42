import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { type DynamoDBDocumentClient, GetCommand, QueryCommand, type QueryCommandInput, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { randomId } from '../core/ids';
import type { OrgUsage, UsageCounter } from '../core/registry-store';
import { REGISTRY_TABLE } from '../core/registry-table';

const { partitionKey: PK, sortKey: SK } = REGISTRY_TABLE;
const { name: LIST_INDEX, partitionKey: GSI_PK } = REGISTRY_TABLE.listIndex;

/** Longer than anything that can still write: Lambda stops a function after 15 minutes. */
export const DEFAULT_STALE_AFTER_MS = 15 * 60_000;
/** How long the counts must have been left alone before a recount (the key index lags its table). */
export const DEFAULT_QUIET_MS = 10_000;

export interface OrgUsageOptions {
  /** An operation still open after this long is dead (its follow-up write will never come). @default 15 min */
  readonly staleAfterMs?: number;
  /** A recount waits until nothing changed for this long. @default 10 s */
  readonly quietMs?: number;
  /** Clock, for tests. @default Date.now */
  readonly now?: () => number;
}

/** An operation that was begun on the counts and must be ended. */
export interface UsageSlot {
  readonly orgId: string;
  readonly counter: UsageCounter;
  readonly id: string;
}

interface UsageItem {
  mcpServers?: number;
  apiKeys?: number;
  version?: number;
  changedAt?: number;
  inFlight?: Record<string, number>;
}

const usageKey = (orgId: string) => ({ [PK]: `ORG#${orgId}`, [SK]: '#USAGE' });

/**
 * Per-org counts of MCP servers and live (unrevoked) API keys, enforced against plan caps with
 * single conditional item writes (transactions do not hold across the replicas of a global table).
 *
 * One item, `ORG#<orgId>` / `#USAGE`, holds both counts, a `version`, `changedAt` and `inFlight`
 * (operation id -> start time) for every create, delete or revoke in progress:
 *
 * - create: `begin` adds 1 only `if count < cap` and records the operation; the item is written;
 *   `end` removes the operation, and takes the 1 back when the item was not written.
 * - delete / revoke: `begin` records the operation; the item is deleted (revoked); `end` removes
 *   the operation and subtracts 1 when this call deleted (revoked) it.
 *
 * Counts therefore run ahead of the items, never behind: a process that dies between the two
 * writes leaves the count too high (the org may be refused a create it is owed, never granted one
 * too many) and leaves its operation in `inFlight`. That is the only way the counts drift, so it
 * is also how drift is found: a create refused while `inFlight` holds operations older than
 * `staleAfterMs` (and nothing changed for `quietMs`) recounts the org's items and writes the
 * counts back on condition that `version` is unchanged, so no operation began meanwhile. The
 * first create of an org (or of an org older than the counts) counts its items the same way.
 */
export class DynamoDbOrgUsage {
  private readonly staleAfterMs: number;
  private readonly quietMs: number;
  private readonly now: () => number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    private readonly tableName: string,
    options: OrgUsageOptions = {},
  ) {
    this.staleAfterMs = options.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
    this.quietMs = options.quietMs ?? DEFAULT_QUIET_MS;
    this.now = options.now ?? Date.now;
  }

  /** The counts; before the org's first counted write, what its items add up to (nothing is written). */
  async get(orgId: string): Promise<OrgUsage> {
    const item = await this.read(orgId);
    if (item?.version === undefined) return this.countItems(orgId);
    return { mcpServers: item.mcpServers ?? 0, apiKeys: item.apiKeys ?? 0 };
  }

  /** Takes one unit of `counter` if fewer than `cap` are in use; 'full' when none is left. */
  async beginCreate(orgId: string, counter: UsageCounter, cap: number): Promise<UsageSlot | 'full'> {
    // A few rounds at most: each retry follows a change we observed (initialised, repaired, freed).
    for (let round = 0; round < 3; round++) {
      const slot: UsageSlot = { orgId, counter, id: randomId('op_') };
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: usageKey(orgId),
            UpdateExpression: 'ADD #count :one, #version :one SET #inFlight.#op = :now, #changedAt = :now',
            ConditionExpression: '#count < :cap',
            ExpressionAttributeNames: { '#count': counter, '#version': 'version', '#inFlight': 'inFlight', '#op': slot.id, '#changedAt': 'changedAt' },
            ExpressionAttributeValues: { ':one': 1, ':now': this.now(), ':cap': cap },
          }),
        );
        return slot;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException)) throw error;
      }
      const item = await this.read(orgId);
      if (item?.version === undefined) {
        await this.recount(orgId, undefined);
      } else if ((item[counter] ?? 0) >= cap && !(await this.repair(orgId, item))) {
        return 'full';
      }
    }
    return 'full';
  }

  /** Records a delete or revoke about to happen (counting the org's items first if need be). */
  async beginRemove(orgId: string, counter: UsageCounter): Promise<UsageSlot> {
    for (let round = 0; ; round++) {
      const slot: UsageSlot = { orgId, counter, id: randomId('op_') };
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.tableName,
            Key: usageKey(orgId),
            UpdateExpression: 'ADD #version :one SET #inFlight.#op = :now, #changedAt = :now',
            ConditionExpression: 'attribute_exists(#version)',
            ExpressionAttributeNames: { '#version': 'version', '#inFlight': 'inFlight', '#op': slot.id, '#changedAt': 'changedAt' },
            ExpressionAttributeValues: { ':one': 1, ':now': this.now() },
          }),
        );
        return slot;
      } catch (error) {
        if (!(error instanceof ConditionalCheckFailedException) || round > 0) throw error;
      }
      await this.recount(orgId, undefined);
    }
  }

  /**
   * Ends an operation, adding `delta` (-1 to give a unit back) once: the condition on the
   * operation makes a repeated end a no-op. A failed end is not the caller's failure: the
   * operation stays in `inFlight` and the next recount repairs what it left.
   */
  async end(slot: UsageSlot, delta: 0 | -1): Promise<void> {
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: usageKey(slot.orgId),
          UpdateExpression: `${delta === 0 ? '' : 'ADD #count :delta '}SET #changedAt = :now REMOVE #inFlight.#op`,
          ConditionExpression: 'attribute_exists(#inFlight.#op)',
          ExpressionAttributeNames: { '#inFlight': 'inFlight', '#op': slot.id, '#changedAt': 'changedAt', ...(delta === 0 ? {} : { '#count': slot.counter }) },
          ExpressionAttributeValues: { ':now': this.now(), ...(delta === 0 ? {} : { ':delta': delta }) },
        }),
      );
    } catch {
      // Deliberately ignored (see above): the count stays high, never low, until repaired.
    }
  }

  /**
   * Recounts when every open operation is stale and nothing changed for `quietMs`; true when the
   * counts were rewritten (the caller may try again).
   */
  private async repair(orgId: string, item: UsageItem): Promise<boolean> {
    const now = this.now();
    const started = Object.values(item.inFlight ?? {});
    if (started.length === 0 || started.some((at) => now - at < this.staleAfterMs)) return false;
    if (now - (item.changedAt ?? 0) < this.quietMs) return false;
    return this.recount(orgId, item.version);
  }

  /**
   * Counts the org's MCP servers (a consistent query of its partition) and unrevoked keys (the
   * key index, hence the quiet period), and writes both if `version` is still `expectedVersion`
   * (undefined: if the counts do not exist yet). False when another writer got there first.
   */
  private async recount(orgId: string, expectedVersion: number | undefined): Promise<boolean> {
    const { mcpServers, apiKeys } = await this.countItems(orgId);
    const fresh = expectedVersion === undefined;
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: usageKey(orgId),
          UpdateExpression: 'SET #entity = :entity, #m = :m, #k = :k, #inFlight = :none, #changedAt = :now, #version = :next',
          ConditionExpression: fresh ? 'attribute_not_exists(#version)' : '#version = :expected',
          ExpressionAttributeNames: {
            '#entity': 'entity', '#m': 'mcpServers', '#k': 'apiKeys', '#inFlight': 'inFlight', '#changedAt': 'changedAt', '#version': 'version',
          },
          ExpressionAttributeValues: {
            ':entity': 'usage', ':m': mcpServers, ':k': apiKeys, ':none': {}, ':now': this.now(),
            ':next': (expectedVersion ?? 0) + 1, ...(fresh ? {} : { ':expected': expectedVersion }),
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  private async countItems(orgId: string): Promise<OrgUsage> {
    const [mcpServers, apiKeys] = await Promise.all([
      this.count({
        KeyConditionExpression: '#pk = :pk AND begins_with(#sk, :mcp)',
        ExpressionAttributeNames: { '#pk': PK, '#sk': SK },
        ExpressionAttributeValues: { ':pk': `ORG#${orgId}`, ':mcp': 'MCP#' },
        ConsistentRead: true,
      }),
      this.count({
        IndexName: LIST_INDEX,
        KeyConditionExpression: '#gpk = :gpk',
        FilterExpression: 'attribute_not_exists(#revokedAt)',
        ExpressionAttributeNames: { '#gpk': GSI_PK, '#revokedAt': 'revokedAt' },
        ExpressionAttributeValues: { ':gpk': `ORG#${orgId}#KEYS` },
      }),
    ]);
    return { mcpServers, apiKeys };
  }

  private async count(input: Omit<QueryCommandInput, 'TableName' | 'Select'>): Promise<number> {
    let total = 0;
    let cursor: Record<string, unknown> | undefined;
    do {
      const out = await this.doc.send(new QueryCommand({ ...input, TableName: this.tableName, Select: 'COUNT', ExclusiveStartKey: cursor }));
      total += out.Count ?? 0;
      cursor = out.LastEvaluatedKey;
    } while (cursor);
    return total;
  }

  private async read(orgId: string): Promise<UsageItem | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: usageKey(orgId), ConsistentRead: true }));
    return out.Item as UsageItem | undefined;
  }
}
