/**
 * The audit table's key schema, shared by the store, the local engine and (later) the CDK
 * construct. Its own table rather than the registry table, so that IAM can grant PutItem on it
 * to the one writer and deny UpdateItem/DeleteItem on entry partitions (`dynamodb:LeadingKeys`)
 * to every function, without touching the registry's permissions.
 *   entry  pk=ORG#<orgId>   sk=<seq>   (number; Query order is chain order)
 *   head   pk=HEAD#<orgId>  sk=0       seq, hash and the full entry last claimed (crash repair)
 */
export const AUDIT_TABLE = {
  partitionKey: 'pk',
  sortKey: 'sk',
} as const;

export const DEFAULT_AUDIT_TABLE_NAME = 'plexmcp-audit';
