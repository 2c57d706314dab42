import { Logger } from '@aws-lambda-powertools/logger';
import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { dynamodb, dynamodbFor, kms, requiredEnv } from '../adapters/aws-clients';
import { createGatewayRuntime, type GatewayRuntime } from '../adapters/gateway-runtime';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { DynamoDbOAuthStore } from '../adapters/dynamodb-oauth-store';
import { eventToGatewayRequest, writeStreamingAnswer, type ResponseStream } from '../adapters/lambda-streaming';
import { GATEWAY_ERRORS } from '../core/gateway/errors';
import type { GatewayAnswer } from '../core/gateway/exchange';
import { jsonRpcCodeForStatus, jsonRpcErrorBody } from '../core/gateway/jsonrpc';
import { healthAnswer } from '../core/gateway/region-health';
import { PROTECTED_RESOURCE_WELL_KNOWN, protectedResourceAnswer } from '../core/gateway/protected-resource';
import { apiGatewayBaseUrl, checkedBaseUrl } from '../core/gateway/public-url';
import { type AccessTokenReader, replicaThenWriter } from '../core/oauth/access-tokens';

/**
 * The gateway Lambda: API Gateway REST with response streaming (`/mcp/{slug}`; `/healthz`:
 * whether this region can serve, for Route 53's health checks; and the OAuth protected resource
 * metadata, `/.well-known/oauth-protected-resource` and `…/{proxy+}` below it). The runtime
 * (caches, pools, the session key) is created once per instance and reused.
 */
let runtime: Promise<GatewayRuntime> | undefined;
const region = process.env.AWS_REGION ?? 'unknown';
/**
 * The handler's own log lines (Powertools, ~24 KB of the bundle). Usage records do not go through
 * it: they are bare JSON lines on stdout (gateway-runtime.ts), as the analytics pipeline reads them.
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-gateway' });
/**
 * OAuth access tokens, read by hash from the authorization server's table (when deployed with
 * one): this region's replica, then the writer region's (PLEXMCP_OAUTH_REGION, set where it is
 * another) for a token that has not replicated yet.
 */
function accessTokenReader(): AccessTokenReader | undefined {
  const table = process.env.PLEXMCP_OAUTH_TABLE;
  if (!table) return undefined;
  const replica = new DynamoDbOAuthStore(dynamodb, table);
  const writerRegion = process.env.PLEXMCP_OAUTH_REGION;
  return writerRegion && writerRegion !== region ? replicaThenWriter(replica, new DynamoDbOAuthStore(dynamodbFor(writerRegion), table)) : replica;
}

function getRuntime(): Promise<GatewayRuntime> {
  runtime ??= createGatewayRuntime({
    dynamodb,
    registryTable: requiredEnv('PLEXMCP_REGISTRY_TABLE'),
    countersTable: requiredEnv('PLEXMCP_COUNTERS_TABLE'),
    dataKeys: new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID')),
    allowLoopback: process.env.PLEXMCP_MODE === 'local',
    region,
    accessTokens: accessTokenReader(),
  }).catch((error: unknown) => {
    runtime = undefined; // retry the cold start on the next invocation
    throw error;
  });
  return runtime;
}

/**
 * Not a Middy handler: the response is streamed as it arrives, the client's disconnect must abort
 * the upstream request, and deferred work must be awaited after the last byte — so the adapter
 * owns the stream. The gateway itself logs one usage record per request.
 */
export async function handleStreaming(event: APIGatewayProxyEvent, responseStream: ResponseStream, _context: Context): Promise<void> {
  const requestId = event.requestContext?.requestId ?? crypto.randomUUID();
  const abort = new AbortController();
  let gateway: GatewayRuntime;
  const healthCheck = event.resource === '/healthz';
  const baseUrl = publicBaseUrl(event);
  // The metadata is a pure function of the base URL and the path: it needs no runtime (and so
  // answers even while the store is down, which is when a client may be rediscovering).
  if (event.resource?.startsWith(PROTECTED_RESOURCE_WELL_KNOWN)) {
    const proxy = event.pathParameters?.proxy;
    const path = proxy === undefined ? PROTECTED_RESOURCE_WELL_KNOWN : `${PROTECTED_RESOURCE_WELL_KNOWN}/${proxy}`;
    await writeStreamingAnswer(protectedResourceAnswer(event.httpMethod, path, baseUrl, requestId), responseStream, abort);
    return;
  }
  try {
    gateway = await getRuntime();
  } catch (error) {
    logger.error('gateway cold start failed', { requestId, error: (error as Error).name });
    // A region whose gateway cannot start (store or key unreachable) is not healthy either.
    const answer = healthCheck ? healthAnswer({ ok: false, failing: ['startup'], checkedAt: Date.now() }, region, requestId) : internalError(requestId);
    await writeStreamingAnswer(answer, responseStream, abort);
    return;
  }
  if (healthCheck) {
    await writeStreamingAnswer(await gateway.healthz(requestId), responseStream, abort);
    return;
  }
  const answer = await gateway.handle(eventToGatewayRequest(event, abort.signal), {
    slug: event.pathParameters?.slug ?? '',
    sourceIp: event.requestContext?.identity?.sourceIp ?? '',
    requestId,
    baseUrl,
  });
  await writeStreamingAnswer(answer, responseStream, abort);
  // Quota flushes and lastUsedAt writes finish before the instance may be frozen.
  await gateway.drain();
}

/**
 * This deployment's public base URL: PLEXMCP_PUBLIC_BASE_URL when set (a custom domain with a
 * base path mapping, which the event does not reveal), else the domain the request came to, with
 * the stage on the default execute-api host name.
 */
function publicBaseUrl(event: APIGatewayProxyEvent): string | undefined {
  const configured = process.env.PLEXMCP_PUBLIC_BASE_URL;
  if (configured) return checkedBaseUrl(configured.replace(/\/+$/, ''));
  return apiGatewayBaseUrl(event.requestContext?.domainName, event.requestContext?.stage);
}

function internalError(requestId: string): GatewayAnswer {
  const body = jsonRpcErrorBody(null, jsonRpcCodeForStatus(500), GATEWAY_ERRORS.internal_error.message, { code: 'internal_error', requestId });
  return { status: 500, headers: { 'content-type': 'application/json', 'x-request-id': requestId }, body };
}

export const handler = awslambda.streamifyResponse(handleStreaming);
