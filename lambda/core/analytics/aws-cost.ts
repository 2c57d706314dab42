/**
 * What one gateway request costs the operator in AWS, estimated from a per-region price table:
 * the gateway Lambda (arm64 duration and the request), the API Gateway REST request, the
 * DynamoDB on-demand reads and writes it made, and the CloudWatch Logs ingestion of its log
 * lines. This is the gateway's own cost, reported separately from what upstreams charge (the
 * usage record's `costMicroUsd`, from the MCP's pricing): the two are never summed.
 *
 * Prices (USD, the first volume tier of each, no free tier, no Savings Plans) were taken from the
 * AWS public price pages: https://aws.amazon.com/lambda/pricing/,
 * https://aws.amazon.com/api-gateway/pricing/, https://aws.amazon.com/dynamodb/pricing/on-demand/
 * and https://aws.amazon.com/cloudwatch/pricing/ (Logs, standard class), as published in 2025.
 * DynamoDB is after the on-demand price cut of 2024-11-01, which halved the request prices of
 * every region: us-east-1/us-west-2 as published ($0.625/$0.125), the other regions as their
 * earlier published price halved. Recorded here on 2026-12-01 and not fetched at run time (this
 * code runs without network access to AWS's price list): re-check them before relying on an
 * estimate, and add a region by adding a row. docs/cost.md has the same table.
 *
 * Left out on purpose: data transfer out (depends on where the agents are), Lambda response
 * streaming beyond 6 MB per request, the analytics pipeline (Kinesis, the analytics function)
 * and storage; they are not per-request costs of the gateway hop.
 */
import { MAX_LEASE_BLOCK } from '../gateway/limits';
import type { UsageRecord } from '../gateway/usage';

export interface AwsRegionPrices {
  /** Lambda duration, arm64, USD per GB-second. */
  readonly lambdaArmGbSecondUsd: number;
  /** Lambda requests, USD per million. */
  readonly lambdaRequestsPerMillionUsd: number;
  /** API Gateway REST API requests, USD per million (first 333 million a month). */
  readonly apiGatewayRestPerMillionUsd: number;
  /** DynamoDB on-demand, USD per million write request units. */
  readonly dynamoWritePerMillionUsd: number;
  /** DynamoDB on-demand, USD per million read request units. */
  readonly dynamoReadPerMillionUsd: number;
  /** CloudWatch Logs ingestion (standard class, first tier), USD per GB. */
  readonly logsIngestionPerGbUsd: number;
}

export const AWS_PRICES = {
  'us-east-1': { lambdaArmGbSecondUsd: 0.0000133334, lambdaRequestsPerMillionUsd: 0.2, apiGatewayRestPerMillionUsd: 3.5, dynamoWritePerMillionUsd: 0.625, dynamoReadPerMillionUsd: 0.125, logsIngestionPerGbUsd: 0.5 },
  'us-west-2': { lambdaArmGbSecondUsd: 0.0000133334, lambdaRequestsPerMillionUsd: 0.2, apiGatewayRestPerMillionUsd: 3.5, dynamoWritePerMillionUsd: 0.625, dynamoReadPerMillionUsd: 0.125, logsIngestionPerGbUsd: 0.5 },
  'eu-west-1': { lambdaArmGbSecondUsd: 0.0000133334, lambdaRequestsPerMillionUsd: 0.2, apiGatewayRestPerMillionUsd: 3.5, dynamoWritePerMillionUsd: 0.70675, dynamoReadPerMillionUsd: 0.1415, logsIngestionPerGbUsd: 0.57 },
  'eu-central-1': { lambdaArmGbSecondUsd: 0.0000133334, lambdaRequestsPerMillionUsd: 0.2, apiGatewayRestPerMillionUsd: 3.7, dynamoWritePerMillionUsd: 0.7625, dynamoReadPerMillionUsd: 0.1525, logsIngestionPerGbUsd: 0.63 },
  'ap-northeast-1': { lambdaArmGbSecondUsd: 0.0000133334, lambdaRequestsPerMillionUsd: 0.2, apiGatewayRestPerMillionUsd: 4.25, dynamoWritePerMillionUsd: 0.71345, dynamoReadPerMillionUsd: 0.1427, logsIngestionPerGbUsd: 0.76 },
} as const satisfies Record<string, AwsRegionPrices>;

export type PricedRegion = keyof typeof AWS_PRICES;

/** The regions the table prices. */
export const PRICED_REGIONS = Object.keys(AWS_PRICES) as PricedRegion[];

export function isPricedRegion(region: string): region is PricedRegion {
  return Object.hasOwn(AWS_PRICES, region);
}

/** CloudWatch Logs meters each event as its UTF-8 message plus this many bytes. */
export const LOG_EVENT_OVERHEAD_BYTES = 26;
/** AWS meters log data in GB of 2^30 bytes. */
const BYTES_PER_GB = 1024 ** 3;

export interface GatewayRequestUsage {
  readonly region: string;
  /** The gateway function's memory setting, MB (128-10,240). */
  readonly memoryMb: number;
  /** Billed duration, ms (Lambda bills whole milliseconds, rounded up). */
  readonly billedMs: number;
  /** Log bytes ingested for the request: each event's UTF-8 message plus LOG_EVENT_OVERHEAD_BYTES. */
  readonly logBytes: number;
  /** DynamoDB write request units (1 per standard write of up to 1 KB). */
  readonly dynamoWrites: number;
  /** DynamoDB read request units (1 per strongly consistent read of up to 4 KB, 0.5 eventually consistent). */
  readonly dynamoReads: number;
}

/** The estimate by component, micro-USD (fractional: one request costs a few micro-USD). */
export interface GatewayCostBreakdown {
  readonly lambdaDuration: number;
  readonly lambdaRequest: number;
  readonly apiGateway: number;
  readonly dynamoWrites: number;
  readonly dynamoReads: number;
  readonly logs: number;
  readonly total: number;
}

function nonNegative(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a finite number >= 0, got ${value}`);
}

/**
 * The estimate by component, or undefined for a region the table does not price (an estimate
 * from another region's prices would be wrong without saying so). Throws RangeError on inputs
 * that are not usage (negative, not finite, memory outside Lambda's range).
 */
export function gatewayCostBreakdown(usage: GatewayRequestUsage): GatewayCostBreakdown | undefined {
  const { memoryMb, billedMs, logBytes, dynamoWrites, dynamoReads } = usage;
  if (!Number.isFinite(memoryMb) || memoryMb < 128 || memoryMb > 10_240) throw new RangeError(`memoryMb must be 128-10240, got ${memoryMb}`);
  nonNegative('billedMs', billedMs);
  nonNegative('logBytes', logBytes);
  nonNegative('dynamoWrites', dynamoWrites);
  nonNegative('dynamoReads', dynamoReads);
  if (!isPricedRegion(usage.region)) return undefined;
  const p: AwsRegionPrices = AWS_PRICES[usage.region];
  // Micro-USD throughout: USD × 1e6, per-million prices are then micro-USD per unit.
  const lambdaDuration = (memoryMb / 1024) * (Math.ceil(billedMs) / 1000) * p.lambdaArmGbSecondUsd * 1e6;
  const lambdaRequest = p.lambdaRequestsPerMillionUsd;
  const apiGateway = p.apiGatewayRestPerMillionUsd;
  const writes = dynamoWrites * p.dynamoWritePerMillionUsd;
  const reads = dynamoReads * p.dynamoReadPerMillionUsd;
  const logs = (logBytes / BYTES_PER_GB) * p.logsIngestionPerGbUsd * 1e6;
  return {
    lambdaDuration,
    lambdaRequest,
    apiGateway,
    dynamoWrites: writes,
    dynamoReads: reads,
    logs,
    total: lambdaDuration + lambdaRequest + apiGateway + writes + reads + logs,
  };
}

/**
 * The gateway's own AWS cost of one request, micro-USD, not rounded: a request costs a few
 * micro-USD, so rounding each one would move a sum by up to 0.5 µ$ a request (round the sum
 * instead). Undefined for a region the table does not price.
 */
export function gatewayCostMicroUsd(usage: GatewayRequestUsage): number | undefined {
  return gatewayCostBreakdown(usage)?.total;
}

/** Log bytes CloudWatch meters for these log lines (UTF-8 plus the per-event overhead). */
export function logEventBytes(lines: readonly string[]): number {
  let bytes = 0;
  for (const line of lines) bytes += Buffer.byteLength(line, 'utf8') + LOG_EVENT_OVERHEAD_BYTES;
  return bytes;
}

/**
 * DynamoDB write request units one request through the gateway makes, amortized: the per-minute
 * limiter reserves a block of up to MAX_LEASE_BLOCK requests with one conditional write
 * (gateway/limits.ts), so a request with a key costs 1/MAX_LEASE_BLOCK of a write. This is the
 * best case (a busy key on a warm instance); a key that sends few requests per instance and minute
 * takes a smaller share of a block per write, so the estimate is a lower bound for it. A request
 * refused before authentication (no key) writes nothing. Cached key and MCP records: no reads.
 */
export const AMORTIZED_WRITES_PER_KEYED_REQUEST = 1 / MAX_LEASE_BLOCK;

/**
 * The per-record estimate the analytics consumer applies: `(record) => micro-USD | undefined`
 * for a gateway function of `memoryMb`. From the record alone:
 *
 * - Lambda duration: the record's `totalMs` (from the request's arrival to the end of the
 *   streamed answer) rounded up to a whole ms, at least 1 ms, as the billed duration. A streamed
 *   invocation is billed until the stream ends, which is what totalMs measures; the few ms before
 *   the timer starts and after the answer ends (the usage line itself) and the init phase of a
 *   cold start are left out.
 * - one Lambda request and one API Gateway REST request per record (one record per HTTP request);
 * - DynamoDB: {@link AMORTIZED_WRITES_PER_KEYED_REQUEST} writes when the record has a key;
 * - CloudWatch Logs: the record's own usage line, as `JSON.stringify(record)` (the bytes the
 *   gateway wrote when its line held no other fields) plus the per-event overhead. Lambda's own
 *   START/END/REPORT lines are not counted (a few hundred bytes an invocation, ~0.2 µ$).
 *
 * Undefined for a region the table does not price. Throws RangeError for a memory size outside
 * Lambda's range, at once rather than per record.
 */
export function usageRecordGatewayCost(memoryMb: number): (record: UsageRecord) => number | undefined {
  if (!Number.isInteger(memoryMb) || memoryMb < 128 || memoryMb > 10_240) throw new RangeError(`memoryMb must be a whole number 128-10240, got ${memoryMb}`);
  return (record) => {
    if (!isPricedRegion(record.region)) return undefined;
    return gatewayCostMicroUsd({
      region: record.region,
      memoryMb,
      billedMs: Math.max(1, Math.ceil(record.totalMs)),
      logBytes: Buffer.byteLength(JSON.stringify(record), 'utf8') + LOG_EVENT_OVERHEAD_BYTES,
      dynamoWrites: record.keyId === undefined ? 0 : AMORTIZED_WRITES_PER_KEYED_REQUEST,
      dynamoReads: 0,
    });
  };
}
