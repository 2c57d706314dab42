import type { APIGatewayProxyEvent, Context } from 'aws-lambda';
import { dynamodb, kms, requiredEnv } from '../adapters/aws-clients';
import { createGatewayRuntime, type GatewayRuntime } from '../adapters/gateway-runtime';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { eventToRequest, writeStreamingResponse, type ResponseStream } from '../adapters/lambda-streaming';

/**
 * The gateway Lambda: API Gateway REST with response streaming (`/mcp/{slug}`). The runtime
 * (caches, pools, the session key) is created once per instance and reused.
 */
let runtime: Promise<GatewayRuntime> | undefined;
function getRuntime(): Promise<GatewayRuntime> {
  runtime ??= createGatewayRuntime({
    dynamodb,
    registryTable: requiredEnv('PLEXMCP_REGISTRY_TABLE'),
    countersTable: requiredEnv('PLEXMCP_COUNTERS_TABLE'),
    dataKeys: new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID')),
    allowLoopback: process.env.PLEXMCP_MODE === 'local',
    region: process.env.AWS_REGION ?? 'unknown',
  }).catch((error: unknown) => {
    runtime = undefined; // retry the cold start on the next invocation
    throw error;
  });
  return runtime;
}

export async function handleStreaming(event: APIGatewayProxyEvent, responseStream: ResponseStream, _context: Context): Promise<void> {
  const requestId = event.requestContext?.requestId ?? crypto.randomUUID();
  const gateway = await getRuntime();
  const abort = new AbortController();
  const response = await gateway.handle(eventToRequest(event, abort.signal), {
    slug: event.pathParameters?.slug ?? '',
    sourceIp: event.requestContext?.identity?.sourceIp ?? '',
    requestId,
  });
  await writeStreamingResponse(response, responseStream, abort);
  // Quota flushes and lastUsedAt writes finish before the instance may be frozen.
  await gateway.drain();
}

export const handler = awslambda.streamifyResponse(handleStreaming);
