import { Logger } from '@aws-lambda-powertools/logger';
import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { logMetrics } from '@aws-lambda-powertools/metrics/middleware';
import { TimestreamWriteClient } from '@aws-sdk/client-timestream-write';
import middy from '@middy/core';
import type { KinesisStreamEvent } from 'aws-lambda';
import { dynamodb, requiredEnv } from '../adapters/aws-clients';
import { DynamoDbRollups } from '../adapters/dynamodb-rollups';
import { decodeUsageBatch, usageConsumer, type UsageBatchSummary, type UsageSink } from '../adapters/kinesis-usage';
import { TimestreamUsageSink } from '../adapters/timestream-sink';
import { DEFAULT_METRICS_NAMESPACE, publishUsageMetrics, usageMetricsFromEnv } from '../adapters/usage-metrics';
import type { RetentionDays } from '../core/analytics/model';
import { OtlpUsageMetrics } from '../core/analytics/otlp-metrics';
import type { UsageRecord } from '../core/gateway/usage';

/**
 * The analytics consumer (Kinesis event source mapping on the usage stream): one invocation per
 * batch of one shard, in order. It aggregates the batch's usage records into rollups, applies
 * them to the rollup table with the batch's position (exactly once per rollup item), writes the
 * records to Timestream when the stack created it, and then emits the gateway's operational
 * metrics (usage-metrics.ts) as EMF. A failure throws: Lambda retries the batch.
 */
const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-analytics' });
/** The consumer's own metrics (service `plexmcp-analytics`): what each batch held. */
const metrics = new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE || DEFAULT_METRICS_NAMESPACE, serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'plexmcp-analytics' });
/** The gateway's request metrics (service `plexmcp-gateway`), from the usage records. */
const usageMetrics = usageMetricsFromEnv();

const rollups = new DynamoDbRollups(dynamodb, requiredEnv('PLEXMCP_ANALYTICS_TABLE'), { retention: retentionFromEnv() });

// Timestream only when the stack made it (`plexmcp:timestream`); never constructed otherwise.
const timestreamDatabase = process.env.PLEXMCP_TIMESTREAM_DATABASE;
const sink: UsageSink | undefined = timestreamDatabase
  ? new TimestreamUsageSink(new TimestreamWriteClient({}), timestreamDatabase, requiredEnv('PLEXMCP_TIMESTREAM_TABLE'))
  : undefined;

// OTLP/HTTP (the construct's `otlpEndpoint`): the metrics `plexmcp serve --otlp-endpoint` exports
// locally, exported at the end of every batch (no timer: the instance may be frozen between
// invocations). Best effort: a collector that is down loses that batch's export, never the batch.
const otlpEndpoint = process.env.PLEXMCP_OTLP_ENDPOINT;
const otlp = otlpEndpoint ? new OtlpUsageMetrics({ url: otlpEndpoint, exportIntervalMs: 3_600_000 }) : undefined;

async function exportOtlp(metricsOut: OtlpUsageMetrics, records: readonly UsageRecord[]): Promise<void> {
  for (const record of records) metricsOut.record(record);
  await metricsOut.flush().catch((error: unknown) => logger.warn('OTLP export failed', { error: (error as Error).name }));
}

// The summary is logged below through the Logger, with the Lambda context.
const consume = usageConsumer({ writer: rollups, sink, log: () => undefined });

/** `PLEXMCP_ANALYTICS_RETENTION`: `{"minute":2,"hour":90,"day":730}` (the construct validates it). */
function retentionFromEnv(): RetentionDays | undefined {
  const raw = process.env.PLEXMCP_ANALYTICS_RETENTION;
  if (!raw) return undefined;
  const parsed = JSON.parse(raw) as RetentionDays;
  for (const key of ['minute', 'hour', 'day'] as const) {
    if (!Number.isInteger(parsed[key]) || parsed[key] < 1) throw new Error(`PLEXMCP_ANALYTICS_RETENTION.${key} must be a whole number of days`);
  }
  return parsed;
}

export async function consumeBatch(event: KinesisStreamEvent): Promise<UsageBatchSummary> {
  const summary = await consume(event);
  // The Logger writes its own level and message fields.
  const counts: Record<string, unknown> = { ...summary };
  delete counts.level;
  delete counts.msg;
  logger.info(summary.msg, counts);
  metrics.addMetric('UsageRecords', MetricUnit.Count, summary.usageRecords);
  metrics.addMetric('RejectedLines', MetricUnit.Count, summary.rejectedLines);
  metrics.addMetric('MalformedRecords', MetricUnit.Count, summary.malformedRecords);
  // After the rollups, so a batch that failed (and will be retried) emits nothing; and not for a
  // batch every rollup item had already applied (a redelivery of a batch that succeeded), whose
  // metrics were emitted the first time. The records are decoded again here: kinesis-usage.ts
  // returns counts only, and a second gunzip is cheap next to the rollup writes.
  const redelivery = summary.rollupsApplied === 0 && summary.rollupsSkipped > 0;
  if (summary.usageRecords > 0 && !redelivery) {
    const { records } = decodeUsageBatch(event);
    publishUsageMetrics(records, usageMetrics);
    if (otlp) await exportOtlp(otlp, records);
  }
  return summary;
}

export const handler = middy<KinesisStreamEvent, UsageBatchSummary>()
  .use(injectLambdaContext(logger))
  .use(logMetrics(metrics, { captureColdStartMetric: true }))
  .handler(consumeBatch);
