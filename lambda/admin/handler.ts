import middy from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { handle } from 'hono/aws-lambda';
import { dynamodb, kms, readSecretString, requiredEnv } from '../adapters/aws-clients';
import { systemResolver } from '../adapters/dns-resolver';
import { DynamoDbAlertStore } from '../adapters/dynamodb-alert-store';
import { DynamoDbHealthStore } from '../adapters/dynamodb-health-store';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { DynamoDbRollups } from '../adapters/dynamodb-rollups';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { requestLogging } from '../adapters/lambda-request-logging';
import { alertDeliveryFromEnv } from '../adapters/sns-alerts';
import { createAdminApp } from '../core/admin/app';
import { OperatorCredential } from '../core/admin/operator-credential';
import { AlertService } from '../core/alert-service';
import { ApiKeyAuthenticator } from '../core/api-keys';
import { EnvelopeCipher } from '../core/envelope';
import { RegistryService } from '../core/registry-service';

const registryTable = requiredEnv('PLEXMCP_REGISTRY_TABLE');
const store = new DynamoDbRegistryStore(dynamodb, registryTable);
const service = new RegistryService({
  store,
  cipher: new EnvelopeCipher(new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID'))),
  // In AWS, upstreams must be public https endpoints.
  urlPolicy: { allowLoopback: false, resolve: systemResolver },
});
const adminKeys = new ApiKeyAuthenticator(store, { alwaysReadRecord: true });
const operatorSecretArn = requiredEnv('PLEXMCP_OPERATOR_SECRET_ARN');
// Alert emails go through the SNS topic in PLEXMCP_ORG_ALERTS_TOPIC_ARN; without it the alert
// routes answer 501 alerts_unavailable rather than accept subscriptions that would never deliver.
const alerts = new AlertService({
  store: new DynamoDbAlertStore(dynamodb, registryTable),
  delivery: alertDeliveryFromEnv(),
  getOrg: (orgId) => store.getOrg(orgId),
});

// Usage analytics: the rollups the analytics function writes, in PLEXMCP_ANALYTICS_TABLE (read
// access suffices). Without it the usage routes answer 501 usage_unavailable.
const analyticsTable = process.env.PLEXMCP_ANALYTICS_TABLE;

const app = createAdminApp({
  service,
  authenticateKey: (key) => adminKeys.authenticate(key),
  // Re-read from Secrets Manager after the bound, so a rotated token stops working on warm instances.
  operator: new OperatorCredential(() => readSecretString(operatorSecretArn), { maxAgeMs: optionalSeconds('PLEXMCP_OPERATOR_TOKEN_MAX_AGE_SECONDS') }),
  allowedOrigins: listEnv('PLEXMCP_ADMIN_ALLOWED_ORIGINS'),
  health: new DynamoDbHealthStore(dynamodb, registryTable),
  alerts,
  usage: analyticsTable ? new DynamoDbRollups(dynamodb, analyticsTable) : undefined,
  requestId: (c) => (c.env as { event?: APIGatewayProxyEvent } | undefined)?.event?.requestContext?.requestId ?? crypto.randomUUID(),
});

/** Comma-separated list; none when unset. */
function listEnv(name: string): string[] {
  return (process.env[name] ?? '').split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** Whole seconds as milliseconds; undefined (the default) when unset. */
function optionalSeconds(name: string): number | undefined {
  const value = process.env[name];
  if (value === undefined || value === '') return undefined;
  if (!/^\d+$/.test(value)) throw new Error(`environment variable ${name} must be whole seconds`);
  return Number(value) * 1000;
}

const honoHandler = handle(app) as unknown as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(requestLogging({ service: 'plexmcp-admin' }))
  .handler(honoHandler);
