import { TimestreamWriteClient } from '@aws-sdk/client-timestream-write';
import type { KinesisStreamEvent } from 'aws-lambda';
import { dynamodb, requiredEnv } from '../adapters/aws-clients';
import { DynamoDbRollups } from '../adapters/dynamodb-rollups';
import { usageConsumer, type UsageBatchSummary, type UsageSink } from '../adapters/kinesis-usage';
import { TimestreamUsageSink } from '../adapters/timestream-sink';
import type { RetentionDays } from '../core/analytics/model';

/**
 * The analytics consumer (Kinesis event source mapping on the usage stream): one invocation per
 * batch of one shard, in order. It aggregates the batch's usage records into rollups, applies
 * them to the rollup table with the batch's position (exactly once per rollup item), and writes
 * the records to Timestream when the stack created it. A failure throws: Lambda retries the batch.
 */
const rollups = new DynamoDbRollups(dynamodb, requiredEnv('PLEXMCP_ANALYTICS_TABLE'), { retention: retentionFromEnv() });

// Timestream only when the stack made it (`plexmcp:timestream`); never constructed otherwise.
const timestreamDatabase = process.env.PLEXMCP_TIMESTREAM_DATABASE;
const sink: UsageSink | undefined = timestreamDatabase
  ? new TimestreamUsageSink(new TimestreamWriteClient({}), timestreamDatabase, requiredEnv('PLEXMCP_TIMESTREAM_TABLE'))
  : undefined;

const consume = usageConsumer({ writer: rollups, sink });

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

export async function handler(event: KinesisStreamEvent): Promise<UsageBatchSummary> {
  return consume(event);
}
