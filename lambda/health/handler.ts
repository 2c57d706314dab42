import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import middy from '@middy/core';
import { dynamodb, kms, requiredEnv } from '../adapters/aws-clients';
import { EventBridgePublisher } from '../adapters/eventbridge-publisher';
import { createHealthRuntime } from '../adapters/health-runtime';
import { KmsDataKeyProvider } from '../adapters/kms-data-keys';
import { DynamoDbAlertStore } from '../adapters/dynamodb-alert-store';
import { DynamoDbRegistryStore } from '../adapters/dynamodb-registry-store';
import { alertDeliveryFromEnv } from '../adapters/sns-alerts';
import { AlertService } from '../core/alert-service';
import type { CycleReport, Shard } from '../core/health/checker';

/**
 * The scheduled health check (EventBridge Scheduler, every interval, one invocation per shard).
 * The runtime lives at module scope: a warm instance keeps the hysteresis counters between
 * cycles; a cold one resumes from the stored states.
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-health' });
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || 'PlexMCP', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-health' });
const registryTable = requiredEnv('PLEXMCP_REGISTRY_TABLE');
const registry = new DynamoDbRegistryStore(dynamodb, registryTable);
// Org alert emails (pro, team and enterprise plans) through the SNS topic, when configured.
const alerts = new AlertService({
  store: new DynamoDbAlertStore(dynamodb, registryTable),
  delivery: alertDeliveryFromEnv(),
  getOrg: (orgId) => registry.getOrg(orgId),
});
const runtime = createHealthRuntime({
  dynamodb,
  registryTable,
  dataKeys: new KmsDataKeyProvider(kms, requiredEnv('PLEXMCP_KMS_KEY_ID')),
  events: new EventBridgePublisher(new EventBridgeClient({}), requiredEnv('PLEXMCP_EVENT_BUS_NAME')),
  allowLoopback: false,
  region: process.env.AWS_REGION ?? 'unknown',
  alert: async (events) => void (await alerts.dispatch(events)),
});

export async function runShard(event: Partial<Shard> | undefined): Promise<CycleReport> {
  const shards = Number.isInteger(event?.shards) && event!.shards! > 0 ? event!.shards! : 1;
  const shard = Number.isInteger(event?.shard) && event!.shard! >= 0 && event!.shard! < shards ? event!.shard! : 0;
  const report = await runtime.checker.runCycle({ shard, shards });
  // One line per cycle: counts only (no URLs, no error messages).
  logger.info('health cycle', { shard, shards, ...report });
  // The cycle's counts as EMF (dimension service only: shards are an implementation detail).
  metrics.addMetric('HealthEndpoints', MetricUnit.Count, report.endpoints);
  for (const [status, count] of Object.entries(report.statusCounts)) metrics.addMetric(`HealthEndpoints${status[0]!.toUpperCase()}${status.slice(1)}`, MetricUnit.Count, count);
  metrics.addMetric('HealthTransitions', MetricUnit.Count, report.transitions);
  metrics.addMetric('HealthFailures', MetricUnit.Count, report.failures);
  metrics.addMetric('HealthCycleDuration', MetricUnit.Milliseconds, report.durationMs);
  return report;
}

export const handler = middy<Partial<Shard> | undefined, CycleReport>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .handler(runShard);
