/**
 * The opt-in Timestream for LiveAnalytics sink: every usage record as one multi-measure record
 * (measure name `request`), written with WriteRecords in chunks of at most 100 records (the API's
 * limit). Timestream takes no new customers since 2025-06-20, so nothing requires it: the
 * consumer only builds this sink when the stack created the database and table.
 *
 * A redelivered batch writes the same records again; Timestream treats a record with the same
 * dimensions, time, measure name and values as already written, so retries add nothing. The
 * request id is a dimension so that two requests in the same millisecond with the same other
 * dimensions stay two records instead of one rejecting the other.
 */
import {
  RejectedRecordsException,
  WriteRecordsCommand,
  type _Record,
  type Dimension,
  type MeasureValue,
  type TimestreamWriteClient,
} from '@aws-sdk/client-timestream-write';
import type { UsageRecord } from '../core/gateway/usage';
import type { UsageSink } from './kinesis-usage';

/** WriteRecords accepts at most 100 records per call. */
export const TIMESTREAM_MAX_RECORDS_PER_WRITE = 100;

/** The multi-measure record's name: one record per request. */
export const TIMESTREAM_MEASURE_NAME = 'request';

/** The usage record fields written as dimensions, when present (strings, never empty). */
const DIMENSION_FIELDS = [
  'region',
  'orgId',
  'keyId',
  'mcp',
  'endpointId',
  'httpMethod',
  'tool',
  'resource',
  'prompt',
  'statusClass',
  'errorCode',
  'requestId',
] as const satisfies readonly (keyof UsageRecord)[];

/** The numeric fields written as measures, when present. */
const MEASURE_FIELDS: readonly { field: keyof UsageRecord; type: 'BIGINT' | 'DOUBLE' }[] = [
  { field: 'status', type: 'BIGINT' },
  { field: 'messageCount', type: 'BIGINT' },
  { field: 'totalMs', type: 'DOUBLE' },
  { field: 'gatewayMs', type: 'DOUBLE' },
  { field: 'upstreamFirstByteMs', type: 'DOUBLE' },
  { field: 'bytesIn', type: 'BIGINT' },
  { field: 'bytesOut', type: 'BIGINT' },
  { field: 'costMicroUsd', type: 'BIGINT' },
];

/** The Timestream record of one usage record; undefined when its timestamp is not a time. */
export function timestreamRecordOf(record: UsageRecord): _Record | undefined {
  const time = Date.parse(record.timestamp);
  if (!Number.isFinite(time)) return undefined;
  const dimensions: Dimension[] = [];
  for (const field of DIMENSION_FIELDS) {
    const value = record[field];
    if (typeof value === 'string' && value !== '') dimensions.push({ Name: field, Value: value, DimensionValueType: 'VARCHAR' });
  }
  const measures: MeasureValue[] = [];
  for (const { field, type } of MEASURE_FIELDS) {
    const value = record[field];
    if (typeof value !== 'number' || !Number.isFinite(value)) continue;
    measures.push({ Name: field, Value: String(type === 'BIGINT' ? Math.trunc(value) : value), Type: type });
  }
  if (record.methods.length > 0) measures.push({ Name: 'methods', Value: record.methods.join(','), Type: 'VARCHAR' });
  return {
    Dimensions: dimensions,
    MeasureName: TIMESTREAM_MEASURE_NAME,
    MeasureValueType: 'MULTI',
    MeasureValues: measures,
    Time: String(time),
    TimeUnit: 'MILLISECONDS',
  };
}

export interface TimestreamUsageSinkOptions {
  /** Where the line about rejected records goes. @default one JSON line on stdout */
  readonly log?: (line: string) => void;
}

export class TimestreamUsageSink implements UsageSink {
  private readonly log: (line: string) => void;

  constructor(
    private readonly client: TimestreamWriteClient,
    private readonly databaseName: string,
    private readonly tableName: string,
    options: TimestreamUsageSinkOptions = {},
  ) {
    this.log = options.log ?? ((line: string) => console.log(line));
  }

  /**
   * Writes every record. Records Timestream rejects (too old for the memory store, a conflicting
   * version) are counted and logged with their reasons, never retried: the rollups already hold
   * them, and a retry would be rejected again. Any other failure (throttling, an outage) throws,
   * so that the whole batch is retried.
   */
  async write(records: readonly UsageRecord[]): Promise<{ written: number; rejected: number }> {
    const converted: _Record[] = [];
    const reasons: Record<string, number> = {};
    let rejected = 0;
    for (const record of records) {
      const out = timestreamRecordOf(record);
      if (out === undefined) {
        rejected++;
        reasons['invalid timestamp'] = (reasons['invalid timestamp'] ?? 0) + 1;
      } else {
        converted.push(out);
      }
    }
    let written = 0;
    for (let start = 0; start < converted.length; start += TIMESTREAM_MAX_RECORDS_PER_WRITE) {
      const chunk = converted.slice(start, start + TIMESTREAM_MAX_RECORDS_PER_WRITE);
      try {
        await this.client.send(new WriteRecordsCommand({ DatabaseName: this.databaseName, TableName: this.tableName, Records: chunk }));
        written += chunk.length;
      } catch (error) {
        if (!(error instanceof RejectedRecordsException)) throw error;
        // The records not listed were written (WriteRecords is not all-or-nothing).
        const list = error.RejectedRecords ?? [];
        const count = Math.min(list.length, chunk.length);
        rejected += count;
        written += chunk.length - count;
        for (const item of list) {
          // Timestream's reason text names the problem, not the record's values.
          const reason = (item.Reason ?? 'unknown').slice(0, 200);
          reasons[reason] = (reasons[reason] ?? 0) + 1;
        }
      }
    }
    if (rejected > 0) {
      this.log(JSON.stringify({ level: 'warn', msg: 'timestream rejected records', rejected, written, reasons }));
    }
    return { written, rejected };
  }
}
