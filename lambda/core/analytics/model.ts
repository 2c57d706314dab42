/**
 * The analytics engine's shared vocabulary: what a rollup is, how it is identified, and the two
 * interfaces between the aggregation (rollup.ts) and the stores that keep rollups. Everything here
 * is derived from usage records (gateway/usage.ts) off the request path; nothing holds content.
 */
import type { LatencySketch } from './sketch';

export const GRANULARITIES = ['minute', 'hour', 'day'] as const;
export type Granularity = (typeof GRANULARITIES)[number];

/**
 * How an org's usage is broken down: `all` (one group, ''), or by MCP slug, key id, tool,
 * resource URI or prompt name. `org` exists only in the fleet view (orgId FLEET_ORG_ID), where
 * the group is the org id.
 */
export const DIMENSIONS = ['all', 'mcp', 'key', 'tool', 'resource', 'prompt', 'org'] as const;
export type Dimension = (typeof DIMENSIONS)[number];

/** The org id of the operator's fleet-wide rollups (dimension `all` and `org`). */
export const FLEET_ORG_ID = '*';

export const LATENCY_KINDS = ['total', 'upstreamFirstByte', 'gateway'] as const;
export type LatencyKind = (typeof LATENCY_KINDS)[number];

export interface RollupId {
  readonly orgId: string;
  readonly granularity: Granularity;
  readonly dimension: Dimension;
  /** '' for `all`; otherwise the MCP slug, key id, tool, resource or prompt name, or org id. */
  readonly group: string;
  /** Start of the bucket, epoch milliseconds (UTC minute, hour or day). */
  readonly bucketStart: number;
}

/** What one rollup counts. Costs are integer micro-USD so that sums are exact. */
export interface RollupCounts {
  readonly requests: number;
  /** Requests whose status was not 2xx or that carried a JSON-RPC error code from the gateway. */
  readonly errors: number;
  /** By the gateway's stable error code (e.g. `rate_limited`) or `http_<status>` for upstream errors. */
  readonly errorsByCode: Readonly<Record<string, number>>;
  /** 429 answers (rate_limited, quota_exceeded, handshake_limited, too_many_streams). */
  readonly rateLimited: number;
  readonly bytesIn: number;
  readonly bytesOut: number;
  /** Upstream cost from the MCP's pricing, micro-USD. */
  readonly costMicroUsd: number;
  /**
   * The gateway's own AWS cost, estimated per record by the consumer (aws-cost.ts, docs/cost.md),
   * integer nano-USD: one request costs a few micro-USD, so each estimate is rounded to a whole
   * nano-USD (at most 0.0005 µ$ off) and sums stay exact and independent of how records were
   * batched. 0 where nothing was estimated: locally, in a region the price table lacks, or without
   * the gateway's memory size. Never summed with costMicroUsd. Items written before this field
   * existed read as 0.
   */
  readonly gatewayCostNanoUsd: number;
}

export interface Rollup extends RollupCounts {
  readonly id: RollupId;
  readonly latency: Readonly<Record<LatencyKind, LatencySketch>>;
}

/** Days each granularity is kept (DynamoDB TTL). */
export interface RetentionDays {
  readonly minute: number;
  readonly hour: number;
  readonly day: number;
}

export const DEFAULT_RETENTION_DAYS: RetentionDays = { minute: 2, hour: 90, day: 730 };

/**
 * Where a batch of usage records sits in its ordered source: a Kinesis shard (source = shard id,
 * first/last = the batch's first and last sequence numbers, zero-padded to one width) or a local
 * process (source = its boot id, first = last = its flush number, zero-padded). Within a source,
 * positions only grow and a failed batch is retried before any later one: each rollup item keeps
 * the last position it applied per source and skips a batch at or below it, so every batch is
 * counted exactly once per rollup item, whether it is delivered twice or fails half-way.
 */
export interface BatchPosition {
  readonly source: string;
  readonly first: string;
  readonly last: string;
}

export interface ApplyResult {
  /** Rollup items this batch was added to. */
  readonly applied: number;
  /** Rollup items that already had this batch (a redelivery). */
  readonly skipped: number;
}

export interface RollupWriter {
  /** Adds every rollup of one batch to its stored item, each exactly once (see BatchPosition). */
  apply(position: BatchPosition, rollups: readonly Rollup[]): Promise<ApplyResult>;
}

export interface RollupQuery {
  readonly orgId: string;
  readonly granularity: Granularity;
  readonly dimension: Dimension;
  /** Inclusive, epoch ms (bucket starts). */
  readonly from: number;
  /** Exclusive, epoch ms. */
  readonly to: number;
}

export interface RollupReader {
  /** Every stored rollup of the org, granularity and dimension with from ≤ bucketStart < to, all groups. */
  query(query: RollupQuery): Promise<Rollup[]>;
}
