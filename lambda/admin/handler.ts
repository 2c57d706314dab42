import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { dynamodb, kms, readSecretString, requiredEnv } from '../adapters/aws-clients';
import { systemResolver } from '../adapters/dns-resolver';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { requestLogging } from '../adapters/lambda-request-logging';
import { createAdminApp } from '../core/admin/app';
import { OperatorCredential } from '../core/admin/operator-credential';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { EnvelopeCipher } from '../core/envelope';
import { RegistryService } from '../core/registry-service';

const store = new DynamoDbRegistryStore(dynamodb, requiredEnv('PLEXMCP_REGISTRY_TABLE'));
const service = new RegistryService({
  store,
  cipher: new EnvelopeCipher(new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID'))),
  // In AWS, upstreams must be public https endpoints.
  urlPolicy: { allowLoopback: false, resolve: systemResolver },
});
const adminKeys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
const operatorSecretArn = requiredEnv('PLEXMCP_OPERATOR_SECRET_ARN');

const app = createAdminApp({
  service,
  authenticateKey: (key) => adminKeys.authenticate(key),
  operator: new OperatorCredential(() => readSecretString(operatorSecretArn)),
  requestId: (c) => (c.env as { event?: APIGatewayProxyEvent } | undefined)?.event?.requestContext?.requestId ?? crypto.randomUUID(),
});

const honoHandler = handle(app) as unknown as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(requestLogging({ service: 'plexmcp-admin' }))
  .handler(honoHandler);
