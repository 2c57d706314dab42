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
export const dynamodb = new DynamoDBClient({ requestHandler: { requestTimeout: 2_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } });
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
