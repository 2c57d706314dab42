import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/**
 * AWS clients, created once per Lambda instance and reused across invocations. Endpoints follow
 * the SDK's standard `AWS_ENDPOINT_URL_<SERVICE>` variables, which is how tests point them at
 * local engines.
 */
// A store that keeps connections open and never answers must not hold sockets for the SDK's
// default 300 s (the gateway's own deadlines answer the client sooner; these free the sockets).
const DYNAMODB_REQUEST_HANDLER = { requestTimeout: 2_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } as const;
export const dynamodb = new DynamoDBClient({ requestHandler: { ...DYNAMODB_REQUEST_HANDLER } });

// One client per other region, made on first use: the admin function writes the audit log and
// webhook endpoints in the primary region, the webhook function its endpoint changes.
const dynamodbByRegion = new Map<string, DynamoDBClient>();

/**
 * A DynamoDB client for `region`, with the same request bounds as {@link dynamodb}; the function's
 * own client when `region` is unset, empty or the function's own region (`AWS_REGION`), so that a
 * single-region deployment makes no second client. Cached per region.
 */
export function dynamodbFor(region: string | undefined): DynamoDBClient {
  if (!region || region === process.env.AWS_REGION) return dynamodb;
  let client = dynamodbByRegion.get(region);
  if (client === undefined) {
    client = new DynamoDBClient({ region, requestHandler: { ...DYNAMODB_REQUEST_HANDLER } });
    dynamodbByRegion.set(region, client);
  }
  return client;
}
export const kms = new KMSClient({});

// Only the admin function reads a secret (the operator token): the client is created on first use,
// so that no other function constructs it at cold start, or bundles it (nothing else is left that
// refers to it).
let secretsManager: SecretsManagerClient | undefined;

export async function readSecretString(secretId: string): Promise<string> {
  secretsManager ??= new SecretsManagerClient({});
  const out = await secretsManager.send(new GetSecretValueCommand({ SecretId: secretId }));
  if (!out.SecretString) throw new Error('secret has no string value');
  return out.SecretString;
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`environment variable ${name} is not set`);
  return value;
}
