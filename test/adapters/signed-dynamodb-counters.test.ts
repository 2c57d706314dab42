import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { SignedDynamoDbCounters, type CounterCallOptions } from '../../lambda/adapters/signed-dynamodb-counters';
import { StoreUnavailableError } from '../../lambda/core/gateway/errors';

/**
 * What the signed counter client puts on the wire, checked by a loopback endpoint that plays
 * DynamoDB: the signature must verify for the request exactly as received (headers, path and body
 * as undici sent them), session tokens included; errors map like the SDK's.
 */
const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' };

interface Received {
  headers: IncomingMessage['headers'];
  body: string;
  valid: boolean;
}

let server: Server;
let endpoint: string;
const received: Received[] = [];
/** What the fake endpoint answers, in order: a status and body, or nothing at all (`hang`). */
let answers: ({ status: number; body: unknown } | { hang: true })[] = [];
const hanging = new Set<ServerResponse>();

class Sha256 {
  private readonly h;
  constructor(secret?: string | Uint8Array) {
    this.h = secret === undefined ? createHash('sha256') : createHmac('sha256', secret);
  }
  update(d: string | Uint8Array) {
    this.h.update(d);
  }
  async digest() {
    return this.h.digest();
  }
  reset() {}
}

/** Recomputes the signature for the request as received, with the date it carries. */
async function verify(req: IncomingMessage, body: string): Promise<boolean> {
  const amzDate = String(req.headers['x-amz-date']);
  const signedHeaders = /SignedHeaders=([^,]+)/.exec(String(req.headers.authorization))![1]!.split(';');
  const headers: Record<string, string> = {};
  for (const name of signedHeaders) headers[name] = String(req.headers[name]);
  const signer = new SignatureV4({ service: 'dynamodb', region: 'eu-west-1', credentials: CREDENTIALS, sha256: Sha256 as never });
  const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
  const resigned = await signer.sign(
    { method: req.method!, protocol: 'http:', hostname: '127.0.0.1', path: req.url!, query: {}, headers, body },
    { signingDate: date },
  );
  return resigned.headers.authorization === req.headers.authorization;
}

/** The fake endpoint: records the request, checks its signature, plays the next answer. */
async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  received.push({ headers: req.headers, body, valid: await verify(req, body) });
  const next = answers.shift() ?? { status: 200, body: { Attributes: { n: { N: '1' } } } };
  if ('hang' in next) {
    hanging.add(res); // a store that accepted the request and never answers
    res.once('close', () => hanging.delete(res));
    return;
  }
  res.writeHead(next.status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(next.body));
}

beforeAll(async () => {
  server = createServer((req, res) => {
    answer(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  for (const res of hanging) res.destroy();
  server.closeAllConnections();
  return new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  received.length = 0;
  answers = [];
});

/** A loopback port nothing listens on (connections are refused). */
async function refusedPort(): Promise<number> {
  const probe = createNetServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

async function client(options: CounterCallOptions = {}, at = endpoint) {
  const sdk = new DynamoDBClient({ endpoint: at, region: 'eu-west-1', credentials: CREDENTIALS });
  return SignedDynamoDbCounters.fromClient(sdk, 'plexmcp-counters', {}, options);
}

test('sends one UpdateItem whose SigV4 signature verifies as received, with the session token', async () => {
  const counters = await client();
  answers = [{ status: 200, body: { Attributes: { n: { N: '7' } } } }];
  expect(await counters.incrementBelow('rpm#key#1', 60, 1_800_000_000)).toBe(7);
  await counters.close();
  expect(received).toHaveLength(1);
  const [request] = received;
  expect(request!.valid).toBe(true);
  expect(request!.headers['x-amz-target']).toBe('DynamoDB_20120810.UpdateItem');
  expect(request!.headers['x-amz-security-token']).toBe('session-token-example');
  expect(request!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=/);
  expect(JSON.parse(request!.body)).toEqual({
    TableName: 'plexmcp-counters',
    Key: { pk: { S: 'rpm#key#1' } },
    // Room for n: the count may be at most limit - n before adding n.
    UpdateExpression: 'ADD #n :add SET #ttl = :ttl',
    ConditionExpression: 'attribute_not_exists(#n) OR #n <= :most',
    ExpressionAttributeNames: { '#n': 'n', '#ttl': 'ttl' },
    ExpressionAttributeValues: { ':add': { N: '1' }, ':most': { N: '59' }, ':ttl': { N: '1800000000' } },
    ReturnValues: 'UPDATED_NEW',
  });
});

test('a failed condition is "limit reached"; throttling is retried once; other errors surface by type', async () => {
  const counters = await client();
  answers = [{ status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException', message: 'The conditional request failed' } }];
  expect(await counters.incrementBelow('rpm#key#1', 60, 1)).toBeUndefined();

  answers = [{ status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException' } }, { status: 200, body: { Attributes: { n: { N: '3' } } } }];
  expect(await counters.add('quota#org#2026-11', 2, 1)).toBe(3);
  expect(received.slice(-2).every((r) => r.valid)).toBe(true);

  answers = [{ status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ResourceNotFoundException' } }];
  await expect(counters.incrementBelow('x', 1, 1)).rejects.toMatchObject({ type: 'ResourceNotFoundException', status: 400 });
  await counters.close();
});

test('without an explicit endpoint it follows AWS_ENDPOINT_URL_DYNAMODB like the SDK (then the region\'s endpoint)', async () => {
  const sdk = new DynamoDBClient({ region: 'eu-west-1', credentials: CREDENTIALS });
  const counters = await SignedDynamoDbCounters.fromClient(sdk, 'plexmcp-counters', { AWS_ENDPOINT_URL_DYNAMODB: endpoint });
  answers = [{ status: 200, body: { Attributes: { n: { N: '1' } } } }];
  expect(await counters.incrementBelow('rpm#k#1', 5, 1)).toBe(1);
  expect(received.at(-1)!.valid).toBe(true);
  await counters.close();
  const regional = await SignedDynamoDbCounters.fromClient(sdk, 'plexmcp-counters', {});
  expect(regional['url'].href).toBe('https://dynamodb.eu-west-1.amazonaws.com/');
  await regional.close();
});

test('incrementBelow with n puts n and limit - n on the wire; acquire and release are conditional on the owner', async () => {
  const counters = await client();
  answers = [
    { status: 200, body: { Attributes: { n: { N: '9' } } } },
    { status: 200, body: {} },
    { status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException' } },
    { status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException' } },
  ];
  expect(await counters.incrementBelow('rpm#key#2', 20, 1_800_000_000, 9)).toBe(9);
  expect(await counters.acquire('stream#key#3', 'owner-a', 1_000, 1_120)).toBe(true);
  expect(await counters.acquire('stream#key#3', 'owner-b', 1_001, 1_121)).toBe(false);
  await expect(counters.release('stream#key#3', 'owner-b')).resolves.toBeUndefined();
  await counters.close();
  expect(received.every((r) => r.valid)).toBe(true);
  const [increment, acquire, , release] = received.map((r) => JSON.parse(r.body));
  expect(increment.ExpressionAttributeValues).toEqual({ ':add': { N: '9' }, ':most': { N: '11' }, ':ttl': { N: '1800000000' } });
  expect(acquire).toEqual({
    TableName: 'plexmcp-counters',
    Key: { pk: { S: 'stream#key#3' } },
    UpdateExpression: 'SET #o = :owner, #exp = :exp, #ttl = :ttl',
    ConditionExpression: 'attribute_not_exists(#o) OR #exp < :now OR #o = :owner',
    ExpressionAttributeNames: { '#o': 'owner', '#exp': 'leaseUntil', '#ttl': 'ttl' },
    ExpressionAttributeValues: { ':owner': { S: 'owner-a' }, ':exp': { N: '1120' }, ':now': { N: '1000' }, ':ttl': { N: '4720' } },
  });
  expect(release).toEqual({
    TableName: 'plexmcp-counters',
    Key: { pk: { S: 'stream#key#3' } },
    UpdateExpression: 'SET #exp = :zero',
    ConditionExpression: '#o = :owner',
    ExpressionAttributeNames: { '#o': 'owner', '#exp': 'leaseUntil' },
    ExpressionAttributeValues: { ':owner': { S: 'owner-b' }, ':zero': { N: '0' } },
  });
});

test('a store that accepts the request and never answers: StoreUnavailableError after one attempt timeout, not retried', async () => {
  const counters = await client({ attemptTimeoutMs: 300 });
  answers = [{ hang: true }, { hang: true }];
  const started = Date.now();
  await expect(counters.incrementBelow('rpm#key#1', 60, 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  const elapsed = Date.now() - started;
  expect(elapsed).toBeGreaterThanOrEqual(250);
  expect(elapsed).toBeLessThan(2_000);
  // A write that timed out may have been applied: retrying could count the request twice.
  expect(received).toHaveLength(1);
  await counters.close();
});

test('5xx, throttling on every attempt and a refused connection are StoreUnavailableError', async () => {
  const counters = await client();
  answers = [{ status: 500, body: { __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError' } }];
  await expect(counters.incrementBelow('x', 5, 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  expect(received).toHaveLength(1); // a 5xx write may have been applied: not retried

  received.length = 0;
  answers = [
    { status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ThrottlingException' } },
    { status: 400, body: { __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException' } },
  ];
  await expect(counters.acquire('stream#k#0', 'o', 1, 2)).rejects.toBeInstanceOf(StoreUnavailableError);
  expect(received).toHaveLength(2); // default attempts: 2
  await counters.close();

  const refused = await client({ attemptTimeoutMs: 500 }, `http://127.0.0.1:${await refusedPort()}`);
  const started = Date.now();
  await expect(refused.incrementBelow('x', 5, 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  await expect(refused.release('stream#k#0', 'o')).rejects.toBeInstanceOf(StoreUnavailableError);
  expect(Date.now() - started).toBeLessThan(2_000);
  await refused.close();
});
