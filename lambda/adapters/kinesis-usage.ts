/**
 * The AWS transport of usage records: Kinesis records that each hold one CloudWatch Logs
 * subscription batch (gzip of `{messageType, logGroup, logStream, logEvents:[{id, timestamp,
 * message}]}`) from the gateway function's log group. Decoding never throws on the data: a
 * record that is not such a batch, and a log line that is not a valid usage record, are counted
 * and skipped, so one bad line cannot stop the shard. Only a store failure throws, so that
 * Lambda retries the whole batch (the rollup store recognises what it already applied).
 */
import { gunzipSync } from 'node:zlib';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import type { ApplyResult, BatchPosition, RollupWriter } from '../core/analytics/model';
import { usageRecordGatewayCost } from '../core/analytics/aws-cost';
import { aggregateUsage, parseUsageLine } from '../core/analytics/rollup';
import type { UsageRecord } from '../core/gateway/usage';

/**
 * Kinesis sequence numbers are decimal strings of up to 128 digits in principle and 56 today; the
 * positions are compared as strings, so every one is left-padded to this width (the contract's
 * 64), which makes string order numeric order.
 */
export const SEQUENCE_NUMBER_WIDTH = 64;

/** What one invocation's batch held. */
export interface DecodedUsageBatch {
  /** The valid usage records, in shard order. */
  readonly records: UsageRecord[];
  /** Kinesis records in the event. */
  readonly kinesisRecords: number;
  /** Kinesis records that were not a gzip'd CloudWatch Logs batch (skipped). */
  readonly malformedRecords: number;
  /** CloudWatch Logs CONTROL_MESSAGE records (the destination check; skipped). */
  readonly controlMessages: number;
  /** Log lines read from DATA_MESSAGE batches. */
  readonly lines: number;
  /** Lines that are not a valid usage record (skipped). */
  readonly rejectedLines: number;
  /** The batch's place in its shard; undefined for an empty event. */
  readonly position?: BatchPosition;
}

/** `sequenceNumber` left-padded with zeros to {@link SEQUENCE_NUMBER_WIDTH} digits. */
export function paddedSequenceNumber(sequenceNumber: string): string {
  if (!/^\d+$/.test(sequenceNumber) || sequenceNumber.length > SEQUENCE_NUMBER_WIDTH) {
    // Lambda hands over Kinesis's own numbers; anything else is not a record of a stream.
    throw new Error(`kinesis-usage: not a Kinesis sequence number: ${JSON.stringify(sequenceNumber.slice(0, 80))}`);
  }
  return sequenceNumber.padStart(SEQUENCE_NUMBER_WIDTH, '0');
}

/**
 * The shard of a record: Lambda's `eventID` is `<shardId>:<sequenceNumber>`
 * (`shardId-000000000000:4959...`).
 */
export function shardIdOf(record: KinesisStreamRecord): string {
  const separator = record.eventID.indexOf(':');
  const shardId = separator > 0 ? record.eventID.slice(0, separator) : '';
  if (!/^shardId-\d+$/.test(shardId)) {
    throw new Error(`kinesis-usage: event id ${JSON.stringify(record.eventID.slice(0, 80))} names no shard`);
  }
  return shardId;
}

/**
 * The batch position of an event: the shard (every record of one invocation comes from one shard,
 * in order) and the smallest and largest sequence number, padded. Throws when the records name
 * several shards: positions of two shards cannot be one position.
 */
export function batchPositionOf(records: readonly KinesisStreamRecord[]): BatchPosition | undefined {
  if (records.length === 0) return undefined;
  const source = shardIdOf(records[0]!);
  let first: string | undefined;
  let last: string | undefined;
  for (const record of records) {
    const shard = shardIdOf(record);
    if (shard !== source) throw new Error(`kinesis-usage: one batch holds records of ${source} and ${shard}`);
    const padded = paddedSequenceNumber(record.kinesis.sequenceNumber);
    if (first === undefined || padded < first) first = padded;
    if (last === undefined || padded > last) last = padded;
  }
  return { source, first: first!, last: last! };
}

/**
 * Lambda's text log format puts `<ISO time>\t<request id>\t<LEVEL>\t` before a `console.log`
 * line; a line written to stdout directly (Powertools Logger, or `process.stdout.write`) has
 * none. Both reach the consumer the same way, so the prefix is dropped here.
 */
const LAMBDA_TEXT_PREFIX = /^\d{4}-\d{2}-\d{2}T[\d:.]+Z\t[^\t]*\t[A-Z]+\t/;

interface CloudWatchLogsBatch {
  messageType: string;
  logEvents: { message: string }[];
}

function decodeLogsBatch(data: string): CloudWatchLogsBatch | undefined {
  try {
    const parsed: unknown = JSON.parse(gunzipSync(Buffer.from(data, 'base64')).toString('utf8'));
    if (typeof parsed !== 'object' || parsed === null) return undefined;
    const batch = parsed as Partial<CloudWatchLogsBatch>;
    if (typeof batch.messageType !== 'string') return undefined;
    if (batch.messageType === 'CONTROL_MESSAGE') return { messageType: batch.messageType, logEvents: [] };
    if (!Array.isArray(batch.logEvents)) return undefined;
    return { messageType: batch.messageType, logEvents: batch.logEvents };
  } catch {
    // Not base64 gzip, or not JSON: not a subscription batch.
    return undefined;
  }
}

/** Decodes every record of a Kinesis event into usage records, counting what it skipped. */
export function decodeUsageBatch(event: KinesisStreamEvent): DecodedUsageBatch {
  const kinesisRecords = event.Records ?? [];
  const records: UsageRecord[] = [];
  let malformedRecords = 0;
  let controlMessages = 0;
  let lines = 0;
  let rejectedLines = 0;
  for (const record of kinesisRecords) {
    const batch = decodeLogsBatch(record.kinesis.data);
    if (batch === undefined || (batch.messageType !== 'DATA_MESSAGE' && batch.messageType !== 'CONTROL_MESSAGE')) {
      malformedRecords++;
      continue;
    }
    if (batch.messageType === 'CONTROL_MESSAGE') {
      controlMessages++;
      continue;
    }
    for (const logEvent of batch.logEvents) {
      const message = typeof logEvent?.message === 'string' ? logEvent.message : undefined;
      if (message === undefined) {
        lines++;
        rejectedLines++;
        continue;
      }
      // One log event is normally one line; a multi-line event is read line by line.
      for (const raw of message.split('\n')) {
        if (raw.trim() === '') continue;
        lines++;
        const usage = parseUsageLine(raw.replace(LAMBDA_TEXT_PREFIX, ''));
        if (usage === undefined) rejectedLines++;
        else records.push(usage);
      }
    }
  }
  return {
    records,
    kinesisRecords: kinesisRecords.length,
    malformedRecords,
    controlMessages,
    lines,
    rejectedLines,
    position: batchPositionOf(kinesisRecords),
  };
}

/** A second destination of the raw usage records (Timestream), written after the rollups. */
export interface UsageSink {
  /** Writes the records; throws only on a failure worth retrying the whole batch for. */
  write(records: readonly UsageRecord[]): Promise<{ written: number; rejected: number }>;
}

/** The one summary line an invocation logs (counts only: no org, key or content). */
export interface UsageBatchSummary {
  readonly level: 'info';
  readonly msg: 'usage batch';
  readonly source?: string;
  readonly first?: string;
  readonly last?: string;
  readonly kinesisRecords: number;
  readonly malformedRecords: number;
  readonly controlMessages: number;
  readonly lines: number;
  readonly usageRecords: number;
  readonly rejectedLines: number;
  readonly rollups: number;
  readonly rollupsApplied: number;
  readonly rollupsSkipped: number;
  /** Records whose gateway AWS cost was estimated (the others: an unpriced region, or no estimate configured). */
  readonly gatewayCostEstimated: number;
  readonly sinkWritten?: number;
  readonly sinkRejected?: number;
}

export interface UsageConsumerOptions {
  readonly writer: RollupWriter;
  readonly sink?: UsageSink;
  /** Where the summary line goes. @default one JSON line on stdout */
  readonly log?: (line: string) => void;
  /**
   * The gateway's own AWS cost of a record, micro-USD (aws-cost.ts), into the rollups'
   * gatewayCostNanoUsd; `null` for none.
   * @default gatewayCostFromEnv(process.env): from PLEXMCP_GATEWAY_MEMORY_MB, which the
   * UsageAnalytics construct sets; none without it
   */
  readonly gatewayCost?: ((record: UsageRecord) => number | undefined) | null;
}

/** The environment variable with the gateway function's memory size, MB (lib/analytics.ts sets it). */
export const GATEWAY_MEMORY_ENV = 'PLEXMCP_GATEWAY_MEMORY_MB';

/**
 * The per-record gateway cost estimate for the memory size in PLEXMCP_GATEWAY_MEMORY_MB, or
 * undefined when it is not set (no estimate: every rollup's gatewayCostNanoUsd stays 0). A value
 * that is not a Lambda memory size throws, so that a misconfigured consumer fails at its start
 * rather than writing wrong costs.
 */
export function gatewayCostFromEnv(env: Readonly<Record<string, string | undefined>>): ((record: UsageRecord) => number | undefined) | undefined {
  const raw = env[GATEWAY_MEMORY_ENV];
  if (raw === undefined || raw === '') return undefined;
  if (!/^\d{3,5}$/.test(raw)) throw new Error(`${GATEWAY_MEMORY_ENV} must be the gateway function's memory size in MB (128-10240), got ${JSON.stringify(raw.slice(0, 20))}`);
  return usageRecordGatewayCost(Number(raw));
}

/**
 * The analytics consumer: decode, aggregate, apply the rollups with the batch's one position,
 * then the optional sink. A store or sink failure propagates: Lambda then retries the same batch
 * (or its halves, with bisect on error), which the positions make safe.
 */
export function usageConsumer(options: UsageConsumerOptions): (event: KinesisStreamEvent) => Promise<UsageBatchSummary> {
  const log = options.log ?? ((line: string) => console.log(line));
  const estimate = options.gatewayCost === undefined ? gatewayCostFromEnv(process.env) : (options.gatewayCost ?? undefined);
  return async (event) => {
    const decoded = decodeUsageBatch(event);
    let gatewayCostEstimated = 0;
    const gatewayCost =
      estimate === undefined
        ? undefined
        : (record: UsageRecord) => {
            const cost = estimate(record);
            if (cost !== undefined) gatewayCostEstimated++;
            return cost;
          };
    const rollups = decoded.records.length > 0 ? aggregateUsage(decoded.records, { gatewayCost }) : [];
    let applied: ApplyResult = { applied: 0, skipped: 0 };
    if (rollups.length > 0 && decoded.position !== undefined) {
      applied = await options.writer.apply(decoded.position, rollups);
    }
    let sink: { written: number; rejected: number } | undefined;
    if (options.sink !== undefined && decoded.records.length > 0) {
      sink = await options.sink.write(decoded.records);
    }
    const summary: UsageBatchSummary = {
      level: 'info',
      msg: 'usage batch',
      source: decoded.position?.source,
      first: decoded.position?.first,
      last: decoded.position?.last,
      kinesisRecords: decoded.kinesisRecords,
      malformedRecords: decoded.malformedRecords,
      controlMessages: decoded.controlMessages,
      lines: decoded.lines,
      usageRecords: decoded.records.length,
      rejectedLines: decoded.rejectedLines,
      rollups: rollups.length,
      rollupsApplied: applied.applied,
      rollupsSkipped: applied.skipped,
      gatewayCostEstimated,
      sinkWritten: sink?.written,
      sinkRejected: sink?.rejected,
    };
    log(JSON.stringify(summary));
    return summary;
  };
}
