import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { SQSClient } from '@aws-sdk/client-sqs';
import middy, { type MiddlewareObj } from '@middy/core';
import type { APIGatewayProxyEvent, APIGatewayProxyResult, Context } from 'aws-lambda';
import { Hono } from 'hono';
import { handle } from 'hono/aws-lambda';
import { join } from 'node:path';
import { loadConsoleAssets } from '../adapters/console-assets';
import { consoleRoutes } from '../core/console/console-app';
import { createAdminRuntime } from '../adapters/admin-runtime';
import { dynamodb, dynamodbFor, kms, readSecretString, requiredEnv } from '../adapters/aws-clients';
import { systemResolver } from '../adapters/dns-resolver';
import { DynamoDbDeliveryStore } from '../adapters/dynamodb-delivery-store';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { DynamoDbRollups } from '../adapters/dynamodb-rollups';
import { DynamoDbWebhookEndpointStore } from '../adapters/dynamodb-webhook-endpoints';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { KmsDigestSigner } from '../adapters/kms-digest-signer';
import { alertDeliveryFromEnv } from '../adapters/sns-alerts';
import { SqsWebhookQueue } from '../adapters/sqs-webhook-queue';
import type { AdminRequestLog } from '../core/admin/app';
import { EnvelopeCipher } from '../core/envelope';
import type { PlexEventPublisher } from '../core/events/model';
import { limitFromPlan, WebhookService } from '../core/webhooks/endpoints';
import { GrantService } from '../core/oauth/grants';
import { DynamoDbOAuthStore } from '../adapters/dynamodb-oauth-store';

// Service name and namespace come from POWERTOOLS_SERVICE_NAME / POWERTOOLS_METRICS_NAMESPACE
// (set by the construct); the fallbacks keep a bare invocation (tests) meaningful.
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-admin' });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? 'PlexMCP', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-admin' });

const operatorSecretArn = requiredEnv('PLEXMCP_OPERATOR_SECRET_ARN');
// Usage analytics: the rollups the analytics function writes, in PLEXMCP_ANALYTICS_TABLE (read
// access suffices). Without it the usage routes answer 501 usage_unavailable.
const analyticsTable = process.env.PLEXMCP_ANALYTICS_TABLE;
const registryTable = requiredEnv('PLEXMCP_REGISTRY_TABLE');
const dataKeys = new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID'));

// Every region's admin API writes to the primary region's audit table (PLEXMCP_AUDIT_REGION): the
// per-org sequence claim is a conditional write, which a global table honours within one region.
// The digest key lives in that region too. Same region (or unset): the function's own clients.
const auditRegion = process.env.PLEXMCP_AUDIT_REGION || undefined;
const crossRegion = auditRegion !== undefined && auditRegion !== process.env.AWS_REGION;
const auditDynamodb = crossRegion ? dynamodbFor(auditRegion) : undefined;
const auditKms = crossRegion ? new KMSClient({ region: auditRegion }) : kms;

// The digests' public key (PLEXMCP_DIGEST_KEY_ID, the AuditLog signing key's ARN): unset, the digest
// routes answer 501 digests_unavailable.
const digestKeyId = process.env.PLEXMCP_DIGEST_KEY_ID || undefined;
const digestPublicKeyPem = digestKeyId
  ? onceUntilFailure(async () => (await KmsDigestSigner.create(auditKms, digestKeyId)).publicKeyPem)
  : undefined;

// Admin events (mcp.*, key.*) on the region's bus; none when PLEXMCP_EVENT_BUS_NAME is unset. The
// publish is awaited after each change: bounded, so a slow EventBridge cannot hold the request.
const eventBusName = process.env.PLEXMCP_EVENT_BUS_NAME || undefined;
const events: PlexEventPublisher | undefined = eventBusName
  ? new EventBridgePublisher(new EventBridgeClient({ requestHandler: { requestTimeout: 3_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } }), eventBusName)
  : undefined;

// OAuth grants (listed and revoked here): their tokens are in PLEXMCP_OAUTH_TABLE, written in
// PLEXMCP_OAUTH_REGION (the primary's); without the table the grant routes answer 501.
let grants: GrantService | undefined;

const { app, service, audit } = createAdminRuntime({
  grants: () => grants,
  dynamodb,
  registryTable,
  auditTable: requiredEnv('PLEXMCP_AUDIT_TABLE'),
  auditDynamodb,
  digestPublicKeyPem,
  events,
  webhooks: webhooksFromEnv(),
  dataKeys,
  // In AWS, upstreams must be public https endpoints.
  allowLoopback: false,
  // Re-read from Secrets Manager after the bound, so a rotated token stops working on warm instances.
  readOperatorToken: () => readSecretString(operatorSecretArn),
  operatorTokenMaxAgeMs: optionalSeconds('PLEXMCP_OPERATOR_TOKEN_MAX_AGE_SECONDS'),
  // Alert emails go through the SNS topic in PLEXMCP_ORG_ALERTS_TOPIC_ARN (none: 501 alerts_unavailable).
  alertDelivery: alertDeliveryFromEnv(),
  usage: analyticsTable ? new DynamoDbRollups(dynamodb, analyticsTable) : undefined,
  // hono/aws-lambda buffers the answer, and Lambda returns at most 6 MB (base64 for a binary
  // type such as NDJSON adds a third): a larger export is a clear 413, not a dropped response.
  maxExportBytes: 4 * 1024 * 1024,
  allowedOrigins: listEnv('PLEXMCP_ADMIN_ALLOWED_ORIGINS'),
  // The console is served by this function on the domain the caller used (the custom domain, or
  // the execute-api name): API Gateway's record of it, not the client's Host header.
  ownOrigin: (c) => {
    const domain = (c.env as { event?: APIGatewayProxyEvent } | undefined)?.event?.requestContext?.domainName;
    return domain ? `https://${domain}` : undefined;
  },
  requestId: (c) => (c.env as { event?: APIGatewayProxyEvent } | undefined)?.event?.requestContext?.requestId ?? crypto.randomUUID(),
  // API Gateway's view of the caller (after any proxies it trusts), never a client-sent header.
  sourceIp: (c) => (c.env as { event?: APIGatewayProxyEvent } | undefined)?.event?.requestContext?.identity?.sourceIp ?? 'unknown',
  log: logAdminRequest,
});

const oauthTable = process.env.PLEXMCP_OAUTH_TABLE || undefined;
if (oauthTable) {
  grants = new GrantService({
    service,
    journal: audit,
    tokens: new DynamoDbOAuthStore(dynamodbFor(process.env.PLEXMCP_OAUTH_REGION || undefined), oauthTable),
    events,
    warn: (message, fields) => logger.warn(message, fields),
  });
}

/**
 * The webhook routes' service over the tables and queue that WebhookDelivery
 * (lib/webhook-delivery.ts) puts into this function's environment; without
 * PLEXMCP_WEBHOOK_ENDPOINTS_TABLE (an AdminApi deployed without webhooks) the routes answer 501
 * webhooks_unavailable. The same composition as the delivery function's (lambda/webhooks/handler.ts).
 *
 * Endpoints are a global table, and every region's admin API reads and writes them in one region,
 * PLEXMCP_WEBHOOK_ENDPOINTS_REGION (the primary's; unset: this function's): the per-org cap and
 * the version check of every update are conditional writes, which a global table decides within
 * one region only (two regions could each admit the last slot; concurrent updates would be
 * last-writer-wins). Reading there too gives the API its own writes back at once. Deliveries and
 * the queue stay this region's: a test event or redelivery is sent by this region.
 */
function webhooksFromEnv(): WebhookService | undefined {
  const endpointsTable = process.env.PLEXMCP_WEBHOOK_ENDPOINTS_TABLE;
  if (!endpointsTable) return undefined;
  const queue = new SqsWebhookQueue(
    new SQSClient({ requestHandler: { requestTimeout: 3_000, connectionTimeout: 1_000, throwOnRequestTimeout: true } }),
    requiredEnv('PLEXMCP_WEBHOOK_QUEUE_URL'),
  );
  const registry = new DynamoDbRegistryStore(dynamodb, registryTable);
  return new WebhookService({
    endpoints: new DynamoDbWebhookEndpointStore(dynamodbFor(process.env.PLEXMCP_WEBHOOK_ENDPOINTS_REGION), endpointsTable),
    deliveries: new DynamoDbDeliveryStore(dynamodb, requiredEnv('PLEXMCP_WEBHOOK_DELIVERIES_TABLE')),
    // Signing secrets are envelope-encrypted with the credentials key, as upstream credentials are.
    cipher: new EnvelopeCipher(dataKeys),
    // In AWS, webhook URLs must be public https endpoints (resolved addresses checked).
    urlPolicy: { allowLoopback: false, resolve: systemResolver },
    limitFor: limitFromPlan((orgId) => registry.getOrg(orgId)),
    // Test events and redeliveries: the delivery function attempts them when their message arrives.
    onEnqueued: (d) => queue.schedule(d.id, d.nextAttemptAt),
    ...(events ? { events } : {}),
    log: (record) => logger.error(String(record.msg ?? 'webhooks'), record),
  });
}

/**
 * `load` once per instance; a failed load is forgotten so that the next call tries again (a KMS
 * hiccup at the first digest request must not disable the digest routes until a cold start).
 */
function onceUntilFailure<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    if (pending === undefined) {
      const attempt = load();
      pending = attempt;
      attempt.catch(() => {
        if (pending === attempt) pending = undefined;
      });
    }
    return pending;
  };
}

/**
 * The admin app's own record of each request (principal and key id included, as locally), as a
 * Logger line, plus the admin API's request metrics. The API Gateway stage's metrics mix the
 * gateway and the admin API; these are the admin API's alone (dimension `service` only).
 */
function logAdminRequest(record: AdminRequestLog): void {
  if (record.status >= 500) logger.error('admin request', { ...record });
  else logger.info('admin request', { ...record });
  metrics.addMetric('AdminRequests', MetricUnit.Count, 1);
  metrics.addMetric('AdminClientErrors', MetricUnit.Count, record.status >= 400 && record.status < 500 ? 1 : 0);
  metrics.addMetric('AdminServerErrors', MetricUnit.Count, record.status >= 500 ? 1 : 0);
  metrics.addMetric('AdminLatency', MetricUnit.Milliseconds, record.durationMs);
}

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

/**
 * Hono answers its own errors (the API's error format); this catches what escapes it (the
 * adapter itself failing): the error's class is logged — never its message, stack or the
 * request — and the client gets the API's 500.
 */
function internalErrors(): MiddlewareObj<APIGatewayProxyEvent, APIGatewayProxyResult, Error, Context> {
  return {
    onError: (request) => {
      const requestId = request.event.requestContext?.requestId ?? '';
      logger.error('admin request failed', { requestId, method: request.event.httpMethod, error: request.error?.name ?? 'Error' });
      request.response = {
        statusCode: 500,
        headers: { 'content-type': 'application/json', 'x-request-id': requestId },
        body: JSON.stringify({ error: { code: 'internal_error', message: 'Something went wrong', requestId } }),
      };
    },
  };
}

// The web console's files, which the function's bundling builds beside index.js (lib/admin-api.ts).
const root = new Hono().route('/', consoleRoutes(loadConsoleAssets(join(__dirname, 'console')))).route('/', app);

const honoHandler = handle(root) as unknown as (event: APIGatewayProxyEvent, context: Context) => Promise<APIGatewayProxyResult>;

// Middleware order: the Logger's context first (cold start, request id on every line), the
// metrics flush after the response (one EMF line per invocation), the error answer innermost.
export const handler = middy<APIGatewayProxyEvent, APIGatewayProxyResult>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .use(internalErrors())
  .handler(honoHandler);
