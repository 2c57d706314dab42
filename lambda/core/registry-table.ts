/**
 * The registry table's key schema, shared by the CDK construct and the local engine so that
 * both create exactly the same table. Item layout is documented in docs/data-model.md.
 */
export const REGISTRY_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
  /** Secondary index for listings that the base key cannot serve (orgs, an org's keys). */
  listIndex: { name: 'gsi1', partitionKey: 'gsi1pk', sortKey: 'gsi1sk' },
  /** Epoch seconds; DynamoDB TTL removes idempotency records after it. */
  ttlAttribute: 'ttl',
} as const;

/** Default physical table name in local mode; in AWS the construct chooses it. */
export const DEFAULT_REGISTRY_TABLE_NAME = 'plexmcp-registry';

/** The regional counters table (rate limits, quotas): one item per counter, expired by TTL. */
export const COUNTERS_TABLE = {
  partitionKey: 'pk',
  ttlAttribute: 'ttl',
} as const;

export const DEFAULT_COUNTERS_TABLE_NAME = 'plexmcp-counters';
