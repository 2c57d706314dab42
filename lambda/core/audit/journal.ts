import type { AuditEntry, AuditEntryDraft } from './entry';

/** What a change is about to be, recorded when its writer takes the org's change lock. */
export type AuditIntent = Omit<AuditEntryDraft, 'changes' | 'outcome'>;

/** The right to append the org's next entry, held by one writer at a time. */
export interface AuditLock {
  readonly orgId: string;
  readonly token: string;
}

export interface AuditListQuery {
  /** First sequence number (the cursor). @default 1 */
  readonly fromSeq?: number;
  /** Entries at or after this instant (ISO 8601). */
  readonly fromTime?: string;
  /** Entries before this instant (ISO 8601). */
  readonly toTime?: string;
  /** Only this action, e.g. 'key.revoked'. */
  readonly action?: string;
  /** @default 100 */
  readonly limit?: number;
}

export interface AuditPage {
  readonly entries: AuditEntry[];
  /** The seq to pass as fromSeq for the next page; absent on the last page. */
  readonly nextSeq?: number;
}

/** The head of an org's chain: its last sequence number and hash. */
export interface AuditHeadView {
  readonly seq: number;
  readonly hash: string;
}

/**
 * The audit log's persistence port (DynamoDbAuditStore). Appends are serialised per org by a
 * change lock, so an entry's old values are the ones its change replaced and sequence numbers
 * are gapless.
 */
export interface AuditJournal {
  /** Takes the org's change lock (waiting for a holder to finish), recording what is about to change. */
  begin(orgId: string, intent: AuditIntent): Promise<AuditLock>;
  /** Appends the entry for the change made under `lock`, and releases it. */
  commit(lock: AuditLock, draft: AuditEntryDraft): Promise<AuditEntry>;
  /** Releases the lock without an entry: the change was refused and nothing was written. */
  release(lock: AuditLock): Promise<void>;
  /** begin + commit: an entry that reports something rather than guarding a change. */
  append(orgId: string, draft: AuditEntryDraft): Promise<AuditEntry>;
  list(orgId: string, query?: AuditListQuery): Promise<AuditPage>;
  head(orgId: string): Promise<AuditHeadView | undefined>;
}

export class AuditBusyError extends Error {
  readonly code = 'audit_busy';
}
