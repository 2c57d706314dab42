import { createHash, createHmac } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { SignatureV4 } from '@smithy/signature-v4';
import { SignedDynamoDbCounters } from '../../lambda/adapters/signed-dynamodb-counters';

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
let answers: { status: number; body: unknown }[] = [];

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

beforeAll(async () => {
  server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    received.push({ headers: req.headers, body, valid: await verify(req, body) });
    const answer = answers.shift() ?? { status: 200, body: { Attributes: { n: { N: '1' } } } };
    res.writeHead(answer.status, { 'content-type': 'application/x-amz-json-1.0' }).end(JSON.stringify(answer.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise((resolve) => server.close(resolve)));
beforeEach(() => {
  received.length = 0;
  answers = [];
});

async function client() {
  const sdk = new DynamoDBClient({ endpoint, region: 'eu-west-1', credentials: CREDENTIALS });
  return SignedDynamoDbCounters.fromClient(sdk, 'plexmcp-counters');
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
    UpdateExpression: 'ADD #n :one SET #ttl = :ttl',
    ConditionExpression: 'attribute_not_exists(#n) OR #n < :limit',
    ExpressionAttributeNames: { '#n': 'n', '#ttl': 'ttl' },
    ExpressionAttributeValues: { ':one': { N: '1' }, ':limit': { N: '60' }, ':ttl': { N: '1800000000' } },
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
