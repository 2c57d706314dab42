import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { StoreUnavailableError } from '../core/gateway/errors';
import type { RequestCounter } from '../core/gateway/limits';
import type { LeaseStore } from '../core/gateway/stream-slots';
import { COUNTERS_TABLE } from '../core/registry-table';
// undici's dispatcher files, not its package entry (see there: ~740 KB of bundle it would add).
import { dispatchRequest, Pool } from './undici-upstream';
import { NodeSha256 } from './node-sha256';


/** A DynamoDB JSON-protocol error, by its short type name (e.g. ConditionalCheckFailedException). */
export class DynamoDbRequestError extends Error {
  constructor(
    readonly type: string,
    readonly status: number,
  ) {
    super(`DynamoDB ${type} (${status})`);
    this.name = 'DynamoDbRequestError';
  }
}

/**
 * The data plane's one store round trip per request — the counter UpdateItem — sent straight over
 * an undici pool and signed with the AWS SDK's own SigV4 signer and credentials. The full SDK
 * client spends about 0.9 ms of CPU per call in its middleware stack on a 2 vCPU machine; this
 * path spends a fraction of that (README, Benchmark). Everything else keeps using the SDK.
 */
export interface CounterCallOptions {
  /** Longest wait for one attempt's answer. @default 1_000 */
  readonly attemptTimeoutMs?: number;
  /** Attempts per call; only throttling is retried (see updateItem). @default 2 */
  readonly attempts?: number;
}

export class SignedDynamoDbCounters implements RequestCounter, LeaseStore {
  private readonly pool: Pool;
  private readonly signer: SignatureV4;
  private readonly url: URL;
  private readonly attemptTimeoutMs: number;
  private readonly attempts: number;

  private constructor(
    endpoint: string,
    region: () => Promise<string>,
    credentials: SignatureV4['credentialProvider'],
    private readonly tableName: string,
    options: CounterCallOptions,
  ) {
    this.attemptTimeoutMs = options.attemptTimeoutMs ?? 1_000;
    this.attempts = options.attempts ?? 2;
    this.url = new URL(endpoint);
    this.pool = new Pool(this.url.origin, { connections: 64, keepAliveTimeout: 60_000, connect: { timeout: this.attemptTimeoutMs } });
    this.signer = new SignatureV4({ service: 'dynamodb', region, credentials, sha256: NodeSha256 });
  }

  /**
   * Uses the region and credentials an SDK client resolved, and its endpoint: the one it was given,
   * else the SDK's standard endpoint variables (`AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`),
   * else the region's public endpoint.
   */
  static async fromClient(
    client: DynamoDBClient,
    tableName: string,
    env: NodeJS.ProcessEnv = process.env,
    options: CounterCallOptions = {},
  ): Promise<SignedDynamoDbCounters> {
    const region = await client.config.region();
    const configured = client.config.endpoint ? await client.config.endpoint() : undefined;
    const endpoint = configured
      ? `${configured.protocol}//${configured.hostname}${configured.port ? `:${configured.port}` : ''}`
      : (env.AWS_ENDPOINT_URL_DYNAMODB ?? env.AWS_ENDPOINT_URL ?? `https://dynamodb.${region}.${region.startsWith('cn-') ? 'amazonaws.com.cn' : 'amazonaws.com'}`);
    return new SignedDynamoDbCounters(endpoint, async () => region, () => client.config.credentials(), tableName, options);
  }

  async incrementBelow(counterId: string, limit: number, expiresAtSeconds: number, n = 1): Promise<number | undefined> {
    if (n > limit) return undefined; // can never fit (and a fresh counter would otherwise take it)
    try {
      const out = await this.updateItem({
        TableName: this.tableName,
        Key: { [COUNTERS_TABLE.partitionKey]: { S: counterId } },
        UpdateExpression: 'ADD #n :add SET #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(#n) OR #n <= :most',
        ExpressionAttributeNames: { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute },
        ExpressionAttributeValues: { ':add': { N: String(n) }, ':most': { N: String(limit - n) }, ':ttl': { N: String(expiresAtSeconds) } },
        ReturnValues: 'UPDATED_NEW',
      });
      return Number(out.Attributes.n.N);
    } catch (error) {
      if (error instanceof DynamoDbRequestError && error.type === 'ConditionalCheckFailedException') return undefined;
      throw error;
    }
  }

  async add(counterId: string, delta: number, expiresAtSeconds: number): Promise<number> {
    const out = await this.updateItem({
      TableName: this.tableName,
      Key: { [COUNTERS_TABLE.partitionKey]: { S: counterId } },
      UpdateExpression: 'ADD #n :delta SET #ttl = :ttl',
      ExpressionAttributeNames: { '#n': 'n', '#ttl': COUNTERS_TABLE.ttlAttribute },
      ExpressionAttributeValues: { ':delta': { N: String(delta) }, ':ttl': { N: String(expiresAtSeconds) } },
      ReturnValues: 'UPDATED_NEW',
    });
    return Number(out.Attributes.n.N);
  }

  async acquire(id: string, owner: string, nowSeconds: number, expiresAtSeconds: number): Promise<boolean> {
    try {
      await this.updateItem({
        TableName: this.tableName,
        Key: { [COUNTERS_TABLE.partitionKey]: { S: id } },
        UpdateExpression: 'SET #o = :owner, #exp = :exp, #ttl = :ttl',
        ConditionExpression: 'attribute_not_exists(#o) OR #exp < :now OR #o = :owner',
        ExpressionAttributeNames: { '#o': 'owner', '#exp': 'leaseUntil', '#ttl': COUNTERS_TABLE.ttlAttribute },
        ExpressionAttributeValues: {
          ':owner': { S: owner },
          ':exp': { N: String(expiresAtSeconds) },
          ':now': { N: String(nowSeconds) },
          ':ttl': { N: String(expiresAtSeconds + 3600) },
        },
      });
      return true;
    } catch (error) {
      if (error instanceof DynamoDbRequestError && error.type === 'ConditionalCheckFailedException') return false;
      throw error;
    }
  }

  async release(id: string, owner: string): Promise<void> {
    try {
      await this.updateItem({
        TableName: this.tableName,
        Key: { [COUNTERS_TABLE.partitionKey]: { S: id } },
        UpdateExpression: 'SET #exp = :zero',
        ConditionExpression: '#o = :owner',
        ExpressionAttributeNames: { '#o': 'owner', '#exp': 'leaseUntil' },
        ExpressionAttributeValues: { ':owner': { S: owner }, ':zero': { N: '0' } },
      });
    } catch (error) {
      // Someone else holds it now (our lease had expired): nothing to give back.
      if (!(error instanceof DynamoDbRequestError && error.type === 'ConditionalCheckFailedException')) throw error;
    }
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  /**
   * One signed UpdateItem, each attempt bounded by `attemptTimeoutMs`. Only throttling is retried
   * (up to `attempts` in all): a throttled write was not applied, while one that timed out, was
   * reset or failed with a 5xx may have been, and the counters' ADD is not idempotent (a retry
   * would count a request twice). A store that does not answer is StoreUnavailableError: the
   * gateway answers 503 rather than wait (or proxy unchecked).
   */
  private async updateItem(input: object): Promise<{ Attributes: { n: { N: string } } }> {
    const body = JSON.stringify(input);
    for (let attempt = 1; ; attempt++) {
      const signed = await this.signer.sign({
        method: 'POST',
        protocol: this.url.protocol,
        hostname: this.url.hostname,
        port: this.url.port ? Number(this.url.port) : undefined,
        path: '/',
        query: {},
        headers: {
          host: this.url.host,
          'content-type': 'application/x-amz-json-1.0',
          'x-amz-target': 'DynamoDB_20120810.UpdateItem',
        },
        body,
      });
      let status: number;
      let text: string;
      try {
        const res = await dispatchRequest(this.pool, {
          method: 'POST',
          path: '/',
          headers: signed.headers,
          body,
          headersTimeout: this.attemptTimeoutMs,
          bodyTimeout: this.attemptTimeoutMs,
        });
        status = res.statusCode;
        text = await res.body.text();
      } catch (error) {
        // Refused, reset or silent: the store is not answering.
        throw new StoreUnavailableError((error as Error).name);
      }
      if (status === 200) return JSON.parse(text);
      const type = String((safeJson(text) as { __type?: string }).__type ?? 'UnknownError').split('#').pop()!;
      const throttled = type === 'ThrottlingException' || type === 'ProvisionedThroughputExceededException';
      if (status >= 500 || (throttled && attempt >= this.attempts)) throw new StoreUnavailableError(type);
      if (!throttled) throw new DynamoDbRequestError(type, status);
      await new Promise((resolve) => setTimeout(resolve, 25 * attempt));
    }
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text || '{}');
  } catch {
    return {};
  }
}
