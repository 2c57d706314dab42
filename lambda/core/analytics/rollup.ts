/**
 * From usage records to rollups: the one aggregation that both the AWS consumer (a Kinesis batch
 * of log lines) and the local server (LocalAnalytics) run, so the two can never count differently.
 *
 * parseUsageLine is the trust boundary for log lines: whatever reaches the consumer (a line the
 * gateway did not write, a truncated or hostile one) is either a well-formed, bounded UsageRecord
 * or undefined. It is a small hand check rather than a zod schema: ~20 flat fields, and it keeps
 * the consumer bundle free of zod.
 */
import { MAX_NAME_CHARS, MAX_RECORDED_METHODS, type UsageRecord } from '../gateway/usage';
import { FLEET_ORG_ID, type Dimension, type Granularity, type LatencyKind, type Rollup } from './model';
import { LatencySketch } from './sketch';

/** A usage line is a few hundred bytes; anything far longer is not one of ours (checked before parsing). */
export const MAX_USAGE_LINE_CHARS = 16_384;
const MAX_HTTP_METHOD_CHARS = 16;
/** Ids and short labels (timestamp, request id, region, status class, error code). */
const MAX_LABEL_CHARS = 128;
/** The gateway's error codes are snake_case words; a code becomes a map key in every rollup it touches. */
const ERROR_CODE = /^[A-Za-z0-9_.:-]{1,64}$/;

export const GRANULARITY_MS: Readonly<Record<Granularity, number>> = { minute: 60_000, hour: 3_600_000, day: 86_400_000 };

/** Start of the UTC minute, hour or day that holds `epochMs`. */
export function bucketStart(epochMs: number, granularity: Granularity): number {
  const size = GRANULARITY_MS[granularity];
  return Math.floor(epochMs / size) * size;
}

type Fields = Record<string, unknown>;

const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;
const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
const isName = (v: unknown, max: number): v is string => isText(v, max) && v.length > 0;

/** An optional field: absent is fine, present must pass `check`. */
function optional<T>(o: Fields, key: string, check: (v: unknown) => v is T): { ok: boolean; value?: T } {
  if (!Object.hasOwn(o, key)) return { ok: true };
  const v = o[key];
  return check(v) ? { ok: true, value: v } : { ok: false };
}

/**
 * A valid usage record from one JSON line, or undefined. Never throws. Unknown fields are dropped
 * (the result is built field by field, so nothing of the line but the known fields survives).
 */
export function parseUsageLine(line: string): UsageRecord | undefined {
  if (typeof line !== 'string' || line.length > MAX_USAGE_LINE_CHARS) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return undefined;
  const o = parsed as Fields;
  if (o.type !== 'usage') return undefined;
  const { timestamp, requestId, region, mcp, httpMethod, messageCount, methods, status, totalMs, bytesIn, bytesOut } = o;
  if (!isName(timestamp, 40) || !Number.isFinite(Date.parse(timestamp))) return undefined;
  if (!isName(requestId, MAX_LABEL_CHARS) || !isText(region, MAX_LABEL_CHARS) || !isName(mcp, MAX_NAME_CHARS)) return undefined;
  if (!isName(httpMethod, MAX_HTTP_METHOD_CHARS) || !isCount(messageCount)) return undefined;
  if (!Array.isArray(methods) || methods.length > MAX_RECORDED_METHODS || !methods.every((m) => isText(m, MAX_NAME_CHARS))) return undefined;
  if (!isCount(status) || status > 999 || !isMs(totalMs) || !isCount(bytesIn) || !isCount(bytesOut)) return undefined;

  const label = (v: unknown): v is string => isName(v, MAX_LABEL_CHARS);
  const name = (v: unknown): v is string => isName(v, MAX_NAME_CHARS);
  const orgId = optional(o, 'orgId', label);
  const keyId = optional(o, 'keyId', label);
  const endpointId = optional(o, 'endpointId', label);
  const tool = optional(o, 'tool', name);
  const resource = optional(o, 'resource', name);
  const prompt = optional(o, 'prompt', name);
  const statusClass = optional(o, 'statusClass', (v): v is string => isName(v, 8));
  const costMicroUsd = optional(o, 'costMicroUsd', isCount);
  const errorCode = optional(o, 'errorCode', (v): v is string => typeof v === 'string' && ERROR_CODE.test(v));
  const gatewayMs = optional(o, 'gatewayMs', isMs);
  const upstreamFirstByteMs = optional(o, 'upstreamFirstByteMs', isMs);
  const extras = { orgId, keyId, endpointId, tool, resource, prompt, statusClass, costMicroUsd, errorCode, gatewayMs, upstreamFirstByteMs };
  const record: Record<string, unknown> = {
    type: 'usage',
    timestamp,
    requestId,
    region,
    mcp,
    httpMethod,
    messageCount,
    methods: [...(methods as string[])],
    status,
    totalMs,
    bytesIn,
    bytesOut,
  };
  for (const [key, field] of Object.entries(extras)) {
    if (!field.ok) return undefined;
    if (field.value !== undefined) record[key] = field.value;
  }
  return record as unknown as UsageRecord;
}

/** An error: not 2xx, or a 2xx that carried one of the gateway's error codes. */
export function isError(record: Pick<UsageRecord, 'status' | 'errorCode'>): boolean {
  return record.status < 200 || record.status > 299 || record.errorCode !== undefined;
}

export function errorCodeOf(record: Pick<UsageRecord, 'status' | 'errorCode'>): string {
  return record.errorCode ?? `http_${record.status}`;
}

/**
 * A map from error code to count without a prototype: a code is data, and `__proto__` or
 * `constructor` must count like any other code rather than reach Object.prototype.
 */
export function codeCounts(): Record<string, number> {
  return Object.create(null) as Record<string, number>;
}

interface Accumulator {
  readonly id: Rollup['id'];
  requests: number;
  errors: number;
  errorsByCode: Record<string, number>;
  rateLimited: number;
  bytesIn: number;
  bytesOut: number;
  costMicroUsd: number;
  gatewayCostNanoUsd: number;
  readonly latency: Record<LatencyKind, LatencySketch>;
}

const GRANULARITY_LIST: readonly Granularity[] = ['minute', 'hour', 'day'];

export interface AggregateOptions {
  /**
   * The gateway's own AWS cost of a record, micro-USD (fractional), or undefined where it is not
   * estimated (aws-cost.ts `usageRecordGatewayCost`). Each estimate is rounded to a whole nano-USD
   * into `gatewayCostNanoUsd`. @default none: every rollup's gatewayCostNanoUsd is 0 (local mode)
   */
  readonly gatewayCost?: (record: UsageRecord) => number | undefined;
}

/** A micro-USD estimate as whole nano-USD; 0 for no estimate (or one that is not a cost). */
export function nanoUsdOf(microUsd: number | undefined): number {
  return microUsd === undefined || !Number.isFinite(microUsd) || microUsd <= 0 ? 0 : Math.round(microUsd * 1000);
}

/**
 * Every rollup the records touch: per org by all / mcp / key / tool / resource / prompt, and the
 * fleet (org FLEET_ORG_ID) by all and org, each at minute, hour and day. A record without an org
 * (refused before authentication) counts in the fleet's `all` only. Records whose timestamp does
 * not parse are left out (parseUsageLine never lets one through).
 */
export function aggregateUsage(records: Iterable<UsageRecord>, options: AggregateOptions = {}): Rollup[] {
  const { gatewayCost } = options;
  const byId = new Map<string, Accumulator>();
  const groups: [string, Dimension, string][] = [];
  for (const record of records) {
    const at = Date.parse(record.timestamp);
    if (!Number.isFinite(at)) continue;
    groups.length = 0;
    groups.push([FLEET_ORG_ID, 'all', '']);
    const org = record.orgId;
    if (org !== undefined) {
      groups.push([FLEET_ORG_ID, 'org', org], [org, 'all', ''], [org, 'mcp', record.mcp]);
      if (record.keyId !== undefined) groups.push([org, 'key', record.keyId]);
      if (record.tool !== undefined) groups.push([org, 'tool', record.tool]);
      if (record.resource !== undefined) groups.push([org, 'resource', record.resource]);
      if (record.prompt !== undefined) groups.push([org, 'prompt', record.prompt]);
    }
    const error = isError(record);
    const code = error ? errorCodeOf(record) : undefined;
    const gatewayNanoUsd = gatewayCost === undefined ? 0 : nanoUsdOf(gatewayCost(record));
    for (const granularity of GRANULARITY_LIST) {
      const start = bucketStart(at, granularity);
      for (const [orgId, dimension, group] of groups) {
        // JSON keeps the parts apart whatever characters a name holds.
        const key = JSON.stringify([orgId, granularity, dimension, group, start]);
        let acc = byId.get(key);
        if (acc === undefined) {
          acc = {
            id: { orgId, granularity, dimension, group, bucketStart: start },
            requests: 0,
            errors: 0,
            errorsByCode: codeCounts(),
            rateLimited: 0,
            bytesIn: 0,
            bytesOut: 0,
            costMicroUsd: 0,
            gatewayCostNanoUsd: 0,
            latency: { total: LatencySketch.empty(), upstreamFirstByte: LatencySketch.empty(), gateway: LatencySketch.empty() },
          };
          byId.set(key, acc);
        }
        acc.requests += 1;
        if (code !== undefined) {
          acc.errors += 1;
          acc.errorsByCode[code] = (acc.errorsByCode[code] ?? 0) + 1;
        }
        if (record.status === 429) acc.rateLimited += 1;
        acc.bytesIn += record.bytesIn;
        acc.bytesOut += record.bytesOut;
        acc.costMicroUsd += record.costMicroUsd ?? 0;
        acc.gatewayCostNanoUsd += gatewayNanoUsd;
        acc.latency.total.add(record.totalMs);
        if (record.upstreamFirstByteMs !== undefined) acc.latency.upstreamFirstByte.add(record.upstreamFirstByteMs);
        if (record.gatewayMs !== undefined) acc.latency.gateway.add(record.gatewayMs);
      }
    }
  }
  return [...byId.values()];
}

/** The string that identifies a rollup item (same parts as its stored key). */
export function rollupKey(id: Rollup['id']): string {
  return JSON.stringify([id.orgId, id.granularity, id.dimension, id.group, id.bucketStart]);
}

/** `a` plus `b` (same id), as a new rollup; neither input changes. */
export function mergeRollups(a: Rollup, b: Rollup): Rollup {
  const errorsByCode = Object.assign(codeCounts(), a.errorsByCode);
  for (const [code, n] of Object.entries(b.errorsByCode)) errorsByCode[code] = (errorsByCode[code] ?? 0) + n;
  const latency = {} as Record<LatencyKind, LatencySketch>;
  for (const kind of ['total', 'upstreamFirstByte', 'gateway'] as const) {
    const merged = LatencySketch.empty();
    merged.merge(a.latency[kind]);
    merged.merge(b.latency[kind]);
    latency[kind] = merged;
  }
  return {
    id: a.id,
    requests: a.requests + b.requests,
    errors: a.errors + b.errors,
    errorsByCode,
    rateLimited: a.rateLimited + b.rateLimited,
    bytesIn: a.bytesIn + b.bytesIn,
    bytesOut: a.bytesOut + b.bytesOut,
    costMicroUsd: a.costMicroUsd + b.costMicroUsd,
    gatewayCostNanoUsd: a.gatewayCostNanoUsd + b.gatewayCostNanoUsd,
    latency,
  };
}
