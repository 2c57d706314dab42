import type { KeyLookup } from './api-keys';
import type { Org, Page, StoredApiKey, StoredMcpServer } from './model';
import type { PlanLimits } from './plans';

export interface PageRequest {
  readonly limit: number;
  readonly cursor?: string;
}

/**
 * Outcome of a create. Creates are single conditional writes: when the item already exists,
 * `existing` is returned with the request hash it was created with, so the caller can tell an
 * idempotent retry (same hash) from a real conflict.
 */
export type CreateResult<T> =
  | { readonly created: true; readonly item: T }
  | { readonly created: false; readonly existing: T; readonly existingRequestHash?: string };

/**
 * The outcome of a create that a plan caps: also `limitReached` when the org has no unit of the
 * counter left (and no item of that id exists, so it is not a replay).
 */
export type CappedCreateResult<T> = CreateResult<T> | { readonly created: false; readonly limitReached: true };

/** `planOverrides: null` removes the org's overrides. */
export type OrgPatch = Partial<Pick<Org, 'name' | 'plan' | 'ipAllowlist'>> & { readonly planOverrides?: Partial<PlanLimits> | null };

/** What the plan caps by count, per org. */
export type UsageCounter = 'mcpServers' | 'apiKeys';
/** How many MCP servers and unrevoked API keys an org has, as counted for its plan's caps. */
export type OrgUsage = Readonly<Record<UsageCounter, number>>;

/**
 * The registry's persistence port. Every write is one conditional item write (no transactions).
 * Creates of MCP servers and keys take a unit of the org's count first (at most `cap`); deletes
 * and revocations give it back: the counts can run ahead of the items but never behind them.
 */
export interface RegistryStore extends KeyLookup {
  createOrg(org: Org, requestHash?: string): Promise<CreateResult<Org>>;
  getOrg(orgId: string): Promise<Org | undefined>;
  listOrgs(page: PageRequest): Promise<Page<Org>>;
  updateOrg(orgId: string, patch: OrgPatch, updatedAt: string): Promise<Org | undefined>;

  /** Creates the MCP server if the org has fewer than `maxMcpServers`. */
  createMcp(mcp: StoredMcpServer, requestHash: string | undefined, maxMcpServers: number): Promise<CappedCreateResult<StoredMcpServer>>;
  getMcp(orgId: string, slug: string): Promise<StoredMcpServer | undefined>;
  listMcps(orgId: string, page: PageRequest): Promise<Page<StoredMcpServer>>;
  /** Replaces the record if it is still the version read (`expectedUpdatedAt`). */
  replaceMcp(mcp: StoredMcpServer, expectedUpdatedAt: string): Promise<'replaced' | 'missing' | 'conflict'>;
  deleteMcp(orgId: string, slug: string): Promise<boolean>;

  /** Creates the key if the org has fewer than `maxApiKeys` unrevoked keys. */
  createKey(key: StoredApiKey, requestHash: string | undefined, maxApiKeys: number): Promise<CappedCreateResult<StoredApiKey>>;
  listKeys(orgId: string, page: PageRequest): Promise<Page<StoredApiKey>>;
  /** Sets `revokedAt` once; a second revoke keeps the first time. Undefined when not in `orgId`. */
  revokeKey(orgId: string, keyId: string, revokedAt: string): Promise<StoredApiKey | undefined>;
  /** The org's counted MCP servers and unrevoked keys (counted from its items before its first counted write). */
  getUsage(orgId: string): Promise<OrgUsage>;

  /** A deployment-wide setting (e.g. the wrapped session-sealing key). */
  getConfig(name: string): Promise<Record<string, string> | undefined>;
  /** Creates a setting once; returns the value that won when two writers race. */
  createConfig(name: string, value: Record<string, string>): Promise<Record<string, string>>;
}

/** Thrown for a cursor that was not issued for this listing (tampered, or from another org). */
export class InvalidCursorError extends Error {
  constructor() {
    super('invalid cursor');
  }
}
