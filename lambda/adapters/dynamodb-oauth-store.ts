import { DescribeTimeToLiveCommand, UpdateTimeToLiveCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  UpdateCommand,
} from '@aws-sdk/lib-dynamodb';
import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { createTableIfMissing } from './dynamodb-tables';
import type { AccessTokenReader, AccessTokenRecord } from '../core/oauth/access-tokens';
import { accessTokenHash, OAUTH_TABLE, oauthItemKey } from '../core/oauth/table';

export { accessTokenHash } from '../core/oauth/table';

const { partitionKey: PK, ttlAttribute: EXPIRES_AT } = OAUTH_TABLE;
const GRANT_INDEX = OAUTH_TABLE.grantIndex;
const SESSION_UID_INDEX = OAUTH_TABLE.sessionUidIndex;

/** A model's payload as oidc-provider hands it over: plain JSON. */
export type OAuthPayload = Record<string, unknown>;

/** oidc-provider's Adapter contract (lib/adapters/memory_adapter.js), one instance per model. */
export interface OAuthModelAdapter {
  upsert(id: string, payload: OAuthPayload, expiresIn?: number): Promise<void>;
  find(id: string): Promise<OAuthPayload | undefined>;
  findByUid(uid: string): Promise<OAuthPayload | undefined>;
  findByUserCode(userCode: string): Promise<OAuthPayload | undefined>;
  consume(id: string): Promise<void>;
  destroy(id: string): Promise<void>;
  revokeByGrantId(grantId: string): Promise<void>;
}

/**
 * The models whose items belong to a grant (memory_adapter.js's `grantable`): revoking the grant
 * deletes them. Others (Grant itself, Session, Interaction, Client, …) carry no grantId index.
 */
const GRANT_MEMBER_MODELS: ReadonlySet<string> = new Set([
  'AccessToken',
  'AuthorizationCode',
  'RefreshToken',
  'DeviceCode',
  'BackchannelAuthenticationRequest',
  'PreAuthorizedCode',
]);

/**
 * Stands for the item's id in its stored JSON text (the Interaction's `returnTo` URL holds it,
 * every token's `jti` is it). JSON.stringify escapes every control character, so its output never
 * holds U+0001 and the substitution is undone exactly.
 */
const ID_PLACEHOLDER = '\u0001';

/** BatchWriteItem's limit, and so the page size of a grant's revocation. */
const BATCH_WRITE_LIMIT = 25;

/**
 * Thrown by consume() for an item that was consumed already (the losing one of two concurrent
 * uses of a code or refresh token) or is gone. Shaped like oidc-provider's own errors (status,
 * `expose`, the OAuth error code as message) so that its token endpoint answers 400
 * invalid_grant rather than 500, without this module importing oidc-provider.
 */
export class OAuthItemConsumedError extends Error {
  readonly status = 400;
  readonly statusCode = 400;
  readonly expose = true;
  readonly error = 'invalid_grant';
  readonly error_description = 'grant request is invalid';
  constructor(readonly error_detail: string) {
    super('invalid_grant');
    this.name = 'OAuthItemConsumedError';
  }
}

export interface DynamoDbOAuthStoreOptions {
  /** Epoch ms. @default Date.now */
  readonly now?: () => number;
  /** Seconds added to every lifetime, as oidc-provider's clockTolerance (memory_adapter.js does the same). @default 0 */
  readonly clockToleranceSeconds?: number;
  /** Items of a grant read per page while revoking it (at most 25: one BatchWriteItem each). @default 25 */
  readonly revocationPageSize?: number;
  /**
   * A registered client (DCR) not used for this many seconds is forgotten (the client registers
   * again); each use pushes its expiry out (at most once per half of it). @default 30 days
   */
  readonly idleClientSeconds?: number;
}

interface StoredItem {
  readonly pk: string;
  readonly model: string;
  readonly payload: string;
  readonly expiresAt?: number;
  readonly grantId?: string;
  readonly uid?: string;
  readonly consumed?: number;
}

/**
 * oidc-provider's persistence over one DynamoDB table (see OAUTH_TABLE for the item layout), and
 * the gateway's reader of the access tokens it stores.
 *
 * No id is stored: items are keyed by the SHA-256 of the id, and the id is blanked out of the
 * payload text (restored from the caller's id on find). An Interaction is stored without
 * `session.cookie`, the Session's id that oidc-provider copies there for the application's
 * information only (it never reads it back). Payloads are never logged.
 *
 * Usage: `new Provider(issuer, { adapter: (name) => store.adapterFor(name) })` (an arrow
 * function is not constructable, so oidc-provider calls it as a factory, once per model).
 */
export class DynamoDbOAuthStore implements AccessTokenReader {
  private readonly doc: DynamoDBDocumentClient;
  private readonly now: () => number;
  private readonly clockToleranceSeconds: number;
  private readonly revocationPageSize: number;
  private readonly idleClientSeconds: number;

  constructor(
    client: DynamoDBClient,
    private readonly tableName: string,
    options: DynamoDbOAuthStoreOptions = {},
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
    this.now = options.now ?? Date.now;
    this.clockToleranceSeconds = options.clockToleranceSeconds ?? 0;
    this.revocationPageSize = Math.min(BATCH_WRITE_LIMIT, Math.max(1, options.revocationPageSize ?? BATCH_WRITE_LIMIT));
    this.idleClientSeconds = options.idleClientSeconds ?? 30 * 24 * 3600;
  }

  /** The Adapter oidc-provider uses for `modelName` (AccessToken, Client, Session, …). */
  adapterFor(modelName: string): OAuthModelAdapter {
    return {
      upsert: (id, payload, expiresIn) => this.upsert(modelName, id, payload, expiresIn),
      find: (id) => this.findItem(modelName, id),
      findByUid: (uid) => this.findByUid(modelName, uid),
      // The device flow is not enabled: no user codes are stored, none is found.
      findByUserCode: async () => undefined,
      consume: (id) => this.consume(modelName, id),
      destroy: (id) => this.destroy(modelName, id),
      revokeByGrantId: (grantId) => this.revokeByGrantId(grantId),
    };
  }

  /** AccessTokenReader: the access token whose SHA-256 is `tokenHash`, if it is live and complete. */
  async find(tokenHash: string): Promise<AccessTokenRecord | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(tokenHash)) return undefined;
    const item = await this.getLive(oauthItemKey('AccessToken', tokenHash));
    if (item?.model !== 'AccessToken') return undefined;
    const payload = payloadOf(item, undefined);
    const record = accessTokenRecordOf(payload, this.nowSeconds());
    if (record === undefined) return undefined;
    // Mirrors oidc-provider's checkSessionBinding: a token that expires with its session dies with it.
    if (payload.expiresWithSession === true && !(await this.sessionHolds(payload, record))) return undefined;
    return record;
  }

  /** Deletes every token-like item of the grant (all models), paging through the byGrant index. */
  async revokeByGrantId(grantId: string): Promise<void> {
    let startKey: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(
        new QueryCommand({
          TableName: this.tableName,
          IndexName: GRANT_INDEX.name,
          KeyConditionExpression: '#grantId = :grantId',
          ExpressionAttributeNames: { '#grantId': GRANT_INDEX.partitionKey },
          ExpressionAttributeValues: { ':grantId': grantId },
          Limit: this.revocationPageSize,
          ExclusiveStartKey: startKey,
        }),
      );
      const keys = (page.Items ?? []).map((item) => ({ [PK]: item[PK] as string }));
      if (keys.length > 0) await this.deleteAll(keys);
      startKey = page.LastEvaluatedKey;
    } while (startKey !== undefined);
  }

  private async upsert(model: string, id: string, payload: OAuthPayload, givenExpiresIn: number | undefined): Promise<void> {
    // oidc-provider gives registered clients no lifetime: an idle one expires here.
    const expiresIn = givenExpiresIn ?? (model === 'Client' ? this.idleClientSeconds : undefined);
    const grantId = GRANT_MEMBER_MODELS.has(model) && typeof payload.grantId === 'string' ? payload.grantId : undefined;
    const uid = model === 'Session' && typeof payload.uid === 'string' ? payload.uid : undefined;
    const item: StoredItem = {
      pk: oauthItemKey(model, accessTokenHash(id)),
      model,
      payload: serializePayload(model, id, payload),
      ...(typeof expiresIn === 'number' ? { expiresAt: this.nowSeconds() + expiresIn + this.clockToleranceSeconds } : {}),
      ...(grantId !== undefined ? { grantId } : {}),
      ...(uid !== undefined ? { uid } : {}),
      ...(typeof payload.consumed === 'number' ? { consumed: payload.consumed } : {}),
    };
    await this.doc.send(new PutCommand({ TableName: this.tableName, Item: item }));
  }

  private async findItem(model: string, id: string): Promise<OAuthPayload | undefined> {
    const item = await this.getLive(oauthItemKey(model, accessTokenHash(id)));
    if (item === undefined) return undefined;
    if (model === 'Client') await this.keepClient(item);
    return payloadOf(item, id);
  }

  /** A client in use: its idle expiry is pushed out once less than half of it is left. */
  private async keepClient(item: StoredItem): Promise<void> {
    const now = this.nowSeconds();
    if (typeof item.expiresAt !== 'number' || item.expiresAt - now > this.idleClientSeconds / 2) return;
    await this.doc.send(
      new UpdateCommand({
        TableName: this.tableName,
        Key: { [PK]: item.pk },
        UpdateExpression: 'SET #expiresAt = :expiresAt',
        ConditionExpression: 'attribute_exists(#pk)',
        ExpressionAttributeNames: { '#pk': PK, '#expiresAt': 'expiresAt' },
        ExpressionAttributeValues: { ':expiresAt': now + this.idleClientSeconds },
      }),
    ).catch((error: unknown) => {
      // Deleted meanwhile: nothing to keep.
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
    });
  }

  private async findByUid(model: string, uid: string): Promise<OAuthPayload | undefined> {
    const { Items } = await this.doc.send(
      new QueryCommand({
        TableName: this.tableName,
        IndexName: SESSION_UID_INDEX.name,
        KeyConditionExpression: '#uid = :uid',
        ExpressionAttributeNames: { '#uid': SESSION_UID_INDEX.partitionKey },
        ExpressionAttributeValues: { ':uid': uid },
      }),
    );
    for (const indexed of Items ?? []) {
      const pk = indexed[PK] as string;
      if (!pk.startsWith(`${model}#`)) continue;
      // The index is eventually consistent: read the item itself for its current state.
      const item = await this.getLive(pk);
      if (item === undefined || item.uid !== uid) continue;
      // The caller gave the uid, not the id: the payload comes back without its `jti` (the
      // Session id), which its callers (token session binding, interaction checks) do not use.
      const payload = payloadOf(item, undefined);
      if (payload.jti === ID_PLACEHOLDER) delete payload.jti;
      return payload;
    }
    return undefined;
  }

  /**
   * Marks a single-use item used, on condition that it exists and was not used yet, so that of
   * two concurrent uses exactly one succeeds. The loser is a replay: the grant's tokens are
   * revoked (what oidc-provider does when it sees a consumed code or refresh token), then it throws.
   */
  private async consume(model: string, id: string): Promise<void> {
    const key = { [PK]: oauthItemKey(model, accessTokenHash(id)) };
    try {
      await this.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: key,
          UpdateExpression: 'SET #consumed = :now',
          ConditionExpression: 'attribute_exists(#pk) AND attribute_not_exists(#consumed)',
          ExpressionAttributeNames: { '#pk': PK, '#consumed': 'consumed' },
          ExpressionAttributeValues: { ':now': this.nowSeconds() },
        }),
      );
    } catch (error) {
      if (!(error instanceof ConditionalCheckFailedException)) throw error;
      const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
      const item = Item as StoredItem | undefined;
      if (item === undefined) throw new OAuthItemConsumedError(`${model} not found`);
      if (item.grantId !== undefined) await this.revokeByGrantId(item.grantId);
      throw new OAuthItemConsumedError(`${model} already consumed`);
    }
  }

  private async destroy(model: string, id: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.tableName, Key: { [PK]: oauthItemKey(model, accessTokenHash(id)) } }));
  }

  /** The item, unless it is missing or past its expiresAt (TTL deletes lazily, up to days later). */
  private async getLive(pk: string): Promise<StoredItem | undefined> {
    const { Item } = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: { [PK]: pk }, ConsistentRead: true }));
    const item = Item as StoredItem | undefined;
    if (item === undefined) return undefined;
    if (typeof item.expiresAt === 'number' && item.expiresAt <= this.nowSeconds()) return undefined;
    return item;
  }

  private async sessionHolds(payload: OAuthPayload, record: AccessTokenRecord): Promise<boolean> {
    if (typeof payload.sessionUid !== 'string') return false;
    const session = await this.findByUid('Session', payload.sessionUid);
    if (session === undefined || session.accountId !== record.keyId) return false;
    const authorizations = session.authorizations as Record<string, { grantId?: unknown } | undefined> | undefined;
    return authorizations?.[record.clientId]?.grantId === record.grantId;
  }

  private async deleteAll(keys: Record<string, string>[]): Promise<void> {
    let pending = keys.map((Key) => ({ DeleteRequest: { Key } }));
    for (let attempt = 0; pending.length > 0; attempt++) {
      if (attempt === 8) throw new Error(`revocation: ${pending.length} items of the grant were not deleted (throttled)`);
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 20 * 2 ** attempt));
      const { UnprocessedItems } = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending } }));
      pending = (UnprocessedItems?.[this.tableName] ?? []) as typeof pending;
    }
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }
}

function serializePayload(model: string, id: string, payload: OAuthPayload): string {
  let stored = payload;
  if (model === 'Interaction' && isRecord(payload.session) && 'cookie' in payload.session) {
    const { cookie: _sessionId, ...session } = payload.session;
    void _sessionId;
    stored = { ...payload, session };
  }
  const text = JSON.stringify(stored);
  const idText = JSON.stringify(id).slice(1, -1);
  return idText === '' ? text : text.split(idText).join(ID_PLACEHOLDER);
}

/**
 * The payload with the id put back where it was blanked out. Without the id (findByUid), the
 * placeholder is parsed as itself: a raw control character is not valid JSON, its escape is.
 */
function payloadOf(item: StoredItem, id: string | undefined): OAuthPayload {
  const idText = id === undefined ? '\\u0001' : JSON.stringify(id).slice(1, -1);
  const payload = parsePayload(idText === '' ? item.payload : item.payload.split(ID_PLACEHOLDER).join(idText));
  if (typeof item.consumed === 'number') payload.consumed = item.consumed;
  return payload;
}

function parsePayload(text: string): OAuthPayload {
  const value: unknown = JSON.parse(text);
  if (!isRecord(value)) throw new Error('OAuth table: an item whose payload is not an object');
  return value;
}

/**
 * What the gateway needs of an AccessToken payload as oidc-provider writes it (opaque format,
 * `extra` from extraTokenClaims: { orgId, iss }), or undefined when it is expired or incomplete.
 * A sender-constrained token (DPoP `jkt`, mTLS `x5t#S256`) is refused: the gateway checks no
 * proof of possession, and would otherwise accept as a bearer token what must not be one.
 */
export function accessTokenRecordOf(payload: OAuthPayload, nowSeconds: number): AccessTokenRecord | undefined {
  if (payload.kind !== 'AccessToken') return undefined;
  if (payload.jkt !== undefined || payload['x5t#S256'] !== undefined) return undefined;
  const extra = isRecord(payload.extra) ? payload.extra : {};
  const resource = Array.isArray(payload.aud) ? (payload.aud.length === 1 ? payload.aud[0] : undefined) : payload.aud;
  const { accountId, clientId, grantId, exp } = payload;
  const scope = payload.scope ?? '';
  if (
    typeof accountId !== 'string' || accountId === '' ||
    typeof clientId !== 'string' || clientId === '' ||
    typeof grantId !== 'string' || grantId === '' ||
    typeof scope !== 'string' ||
    typeof resource !== 'string' || resource === '' ||
    typeof exp !== 'number' || exp <= nowSeconds ||
    typeof extra.orgId !== 'string' || extra.orgId === '' ||
    typeof extra.iss !== 'string' || extra.iss === ''
  ) {
    return undefined;
  }
  return { keyId: accountId, orgId: extra.orgId, clientId, grantId, scope, resource, expiresAt: exp, issuer: extra.iss };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Creates the OAuth table (pk; the byGrant and bySessionUid indexes; on demand) and turns TTL on
 * `expiresAt`; no-op for what exists. For the local server and tests: in AWS the CDK construct
 * owns the table. dynalite has no TTL API: there nothing deletes expired items, and the store
 * refuses them by their expiresAt all the same.
 */
export async function ensureOAuthTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await createTableIfMissing(client, {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: [
      { AttributeName: PK, AttributeType: 'S' },
      { AttributeName: GRANT_INDEX.partitionKey, AttributeType: 'S' },
      { AttributeName: SESSION_UID_INDEX.partitionKey, AttributeType: 'S' },
    ],
    KeySchema: [{ AttributeName: PK, KeyType: 'HASH' }],
    GlobalSecondaryIndexes: [
      { IndexName: GRANT_INDEX.name, KeySchema: [{ AttributeName: GRANT_INDEX.partitionKey, KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' } },
      {
        IndexName: SESSION_UID_INDEX.name,
        KeySchema: [{ AttributeName: SESSION_UID_INDEX.partitionKey, KeyType: 'HASH' }],
        Projection: { ProjectionType: 'KEYS_ONLY' },
      },
    ],
  });
  let status: string | undefined;
  try {
    status = (await client.send(new DescribeTimeToLiveCommand({ TableName: tableName }))).TimeToLiveDescription?.TimeToLiveStatus;
  } catch (error) {
    if (isUnknownOperation(error)) return;
    throw error;
  }
  if (status === 'ENABLED' || status === 'ENABLING') return;
  try {
    await client.send(new UpdateTimeToLiveCommand({ TableName: tableName, TimeToLiveSpecification: { AttributeName: EXPIRES_AT, Enabled: true } }));
  } catch (error) {
    if (!isUnknownOperation(error)) throw error;
  }
}

function isUnknownOperation(error: unknown): boolean {
  return (error as { name?: string } | undefined)?.name === 'UnknownOperationException';
}
