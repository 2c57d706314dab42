import type { KeyLookup } from './api-keys';
import type { Org, Page, StoredApiKey, StoredMcpServer } from './model';

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

export type OrgPatch = Partial<Pick<Org, 'name' | 'plan' | 'ipAllowlist'>>;

/** The registry's persistence port. Every write is one conditional item write (no transactions). */
export interface RegistryStore extends KeyLookup {
  createOrg(org: Org, requestHash?: string): Promise<CreateResult<Org>>;
  getOrg(orgId: string): Promise<Org | undefined>;
  listOrgs(page: PageRequest): Promise<Page<Org>>;
  updateOrg(orgId: string, patch: OrgPatch, updatedAt: string): Promise<Org | undefined>;

  createMcp(mcp: StoredMcpServer, requestHash?: string): Promise<CreateResult<StoredMcpServer>>;
  getMcp(orgId: string, slug: string): Promise<StoredMcpServer | undefined>;
  listMcps(orgId: string, page: PageRequest): Promise<Page<StoredMcpServer>>;
  /** Replaces the record if it is still the version read (`expectedUpdatedAt`). */
  replaceMcp(mcp: StoredMcpServer, expectedUpdatedAt: string): Promise<'replaced' | 'missing' | 'conflict'>;
  deleteMcp(orgId: string, slug: string): Promise<boolean>;

  createKey(key: StoredApiKey, requestHash?: string): Promise<CreateResult<StoredApiKey>>;
  listKeys(orgId: string, page: PageRequest): Promise<Page<StoredApiKey>>;
  /** Sets `revokedAt` once; a second revoke keeps the first time. Undefined when not in `orgId`. */
  revokeKey(orgId: string, keyId: string, revokedAt: string): Promise<StoredApiKey | undefined>;

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
