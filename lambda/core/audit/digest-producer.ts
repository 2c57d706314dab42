import { createHash } from 'node:crypto';
import type { PlexEvent, PlexEventPublisher } from '../events/model';
import type { RegistryStore } from '../registry-store';
import { type AuditDigest, type DigestSigner, digestHash, type SignedDigest, signDigest } from './digest';
import { canonicalJson, GENESIS_HASH, SYSTEM_AUDIT_SCOPE } from './entry';

/** The deployment-wide scope: its digests chain the per-org digests of each run. */
export const DEPLOYMENT_SCOPE = '*';

/** The default interval of the local timer (`plexmcp serve`): one digest run a day. */
export const DEFAULT_DIGEST_INTERVAL_MS = 24 * 60 * 60 * 1000;

/** How many times one scope's digest is retried after another producer took its number. */
const MAX_PUT_ATTEMPTS = 5;

/** An org's chain head: the last claimed seq and its hash (DynamoDbAuditStore.head has this shape). */
export interface ChainHead {
  readonly seq: number;
  readonly hash: string;
}

/** One per-org digest as the deployment digest covers it. */
export interface DigestMember {
  readonly scope: string;
  readonly n: number;
  readonly digestHash: string;
}

/** A digest as stored: its number in the scope (1, 2, …), signature and own hash. */
export interface StoredDigest extends SignedDigest {
  readonly n: number;
  /** digestHash(digest): the next digest's previousDigestHash. */
  readonly digestHash: string;
  /** Deployment digests only: the per-org digests it covers, sorted (see deploymentLastHash). */
  readonly covers?: readonly DigestMember[];
}

/** Append-only digest storage (DynamoDbAuditDigests in the audit table). */
export interface DigestStore {
  /** Stores digest `n` of its scope unless that number is taken; false when it was. */
  put(stored: StoredDigest): Promise<boolean>;
  latest(scope: string): Promise<StoredDigest | undefined>;
  /** The scope's digests with n >= fromN, oldest first. */
  list(scope: string, fromN?: number): Promise<StoredDigest[]>;
}

/** Where each new digest is copied for offline verification (S3 with Object Lock in AWS). */
export interface DigestArchive {
  archive(stored: StoredDigest): Promise<void>;
  /**
   * Whether digest n of the scope is archived. With it, each run also archives the digests that
   * an earlier run stored but failed to archive (walking back from the latest to the last one
   * archived); without it, only the digests the run itself made.
   */
  has?(scope: string, n: number): Promise<boolean>;
}

export interface DigestProducerDeps {
  /** Every org id (the registry's orgs). */
  listOrgIds(): Promise<readonly string[]>;
  /** The org's chain head, undefined for an org with no entries. */
  head(orgId: string): Promise<ChainHead | undefined>;
  readonly store: DigestStore;
  readonly signer: DigestSigner;
  /** Receives one `audit.digest.created` event per new digest. */
  readonly publisher?: PlexEventPublisher;
  readonly archive?: DigestArchive;
  readonly clock?: () => Date;
  /** Told about failures of the timer's runs (which have no caller to throw to). */
  readonly onError?: (error: unknown, failure?: DigestFollowUpFailure) => void;
}

/** A step after the digest was stored (its commit point) that failed; the digest stands. */
export interface DigestFollowUpFailure {
  readonly scope: string;
  readonly n: number;
  readonly step: 'archive' | 'publish';
  readonly error: unknown;
}

export interface DigestRunReport {
  /** The digests this run stored, per-org first, the deployment digest (if any) last. */
  readonly created: readonly StoredDigest[];
  readonly failures: readonly DigestFollowUpFailure[];
}

export class DigestContentionError extends Error {
  readonly code = 'audit_digest_contention';
}

/**
 * The deployment digest's lastHash: SHA-256 (hex) of the canonical JSON of the covered per-org
 * digests as `{ scope, n, digestHash }`, sorted by scope then n (docs/audit.md).
 */
export function deploymentLastHash(members: readonly DigestMember[]): string {
  const sorted = sortMembers(members).map(({ scope, n, digestHash: hash }) => ({ scope, n, digestHash: hash }));
  return createHash('sha256').update(canonicalJson(sorted), 'utf8').digest('hex');
}

function sortMembers(members: readonly DigestMember[]): DigestMember[] {
  return [...members].sort((a, b) => (a.scope < b.scope ? -1 : a.scope > b.scope ? 1 : a.n - b.n));
}

/**
 * Every audit chain that gets digests, the producer's `listOrgIds` in AWS and locally: each org
 * of the registry (page by page) and the system chain of refused requests.
 */
export async function listAllOrgIds(store: Pick<RegistryStore, 'listOrgs'>): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await store.listOrgs({ limit: 100, cursor });
    ids.push(...page.items.map((org) => org.orgId));
    cursor = page.nextCursor;
  } while (cursor);
  return [...ids, SYSTEM_AUDIT_SCOPE];
}

/** The `audit.digest.created` event of a stored digest (orgId is the scope, '*' for the deployment). */
export function digestCreatedEvent(stored: StoredDigest, at: string): PlexEvent {
  const { scope, fromSeq, toSeq, lastHash } = stored.digest;
  return { type: 'audit.digest.created', orgId: scope, at, scope, fromSeq, toSeq, lastHash, digestHash: stored.digestHash };
}

/**
 * Makes the signed digests: per org when its chain moved past its last digest, then one for the
 * deployment over the per-org digests of the run. The store's conditional put is the commit
 * point, so two producers running at once never store two digests under one number: the loser
 * re-reads the scope's latest digest and, if the chain is still ahead of it, makes the next one.
 * Archive and publish follow the commit; their failures are reported and do not undo it.
 */
export class DigestProducer {
  private readonly clock: () => Date;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;

  constructor(private readonly deps: DigestProducerDeps) {
    this.clock = deps.clock ?? (() => new Date());
  }

  async run(): Promise<DigestRunReport> {
    const created: StoredDigest[] = [];
    const failures: DigestFollowUpFailure[] = [];
    const orgIds = [...new Set(await this.deps.listOrgIds())].sort();
    const scopes: string[] = [];
    for (const orgId of orgIds) {
      if (orgId === DEPLOYMENT_SCOPE) continue; // not an org id (slugs), never mistaken for one
      const head = await this.deps.head(orgId);
      if (head === undefined) continue;
      scopes.push(orgId);
      const stored = await this.next(orgId, (previous) => {
        const fromSeq = (previous?.digest.toSeq ?? 0) + 1;
        return head.seq < fromSeq ? undefined : { fromSeq, toSeq: head.seq, lastHash: head.hash };
      });
      if (stored) created.push(stored);
    }
    const members = created.map(({ digest, n, digestHash: hash }) => ({ scope: digest.scope, n, digestHash: hash }));
    if (members.length > 0) {
      // The deployment chain counts covered per-org digests the way an org chain counts entries.
      const deployment = await this.next(DEPLOYMENT_SCOPE, (previous) => {
        const fromSeq = (previous?.digest.toSeq ?? 0) + 1;
        return { fromSeq, toSeq: fromSeq + members.length - 1, lastHash: deploymentLastHash(members) };
      }, sortMembers(members));
      if (deployment) created.push(deployment);
    }
    scopes.push(DEPLOYMENT_SCOPE);
    for (const scope of scopes) await this.archiveTail(scope, created, failures);
    for (const stored of created) await this.publish(stored, failures);
    return { created, failures };
  }

  /** Archives the scope's digests that are not archived yet, oldest first (see DigestArchive.has). */
  private async archiveTail(scope: string, created: readonly StoredDigest[], failures: DigestFollowUpFailure[]): Promise<void> {
    const archive = this.deps.archive;
    if (!archive) return;
    let tail: StoredDigest[];
    if (archive.has) {
      const latest = created.find((d) => d.digest.scope === scope) ?? (await this.deps.store.latest(scope));
      if (!latest) return;
      let first = latest.n;
      while (first >= 1 && !(await archive.has(scope, first))) first--;
      if (first === latest.n) return;
      tail = first + 1 === latest.n ? [latest] : await this.deps.store.list(scope, first + 1);
    } else {
      tail = created.filter((d) => d.digest.scope === scope);
    }
    for (const stored of tail) {
      try {
        await archive.archive(stored);
      } catch (error) {
        // Later digests wait too, so the archive never has a hole the next run would not see.
        failures.push({ scope, n: stored.n, step: 'archive', error });
        return;
      }
    }
  }

  /**
   * Stores the scope's next digest, if `range` says there is one to make after `previous`.
   * Returns undefined when there is nothing new (also when a concurrent producer covered it).
   */
  private async next(
    scope: string,
    range: (previous: StoredDigest | undefined) => Pick<AuditDigest, 'fromSeq' | 'toSeq' | 'lastHash'> | undefined,
    covers?: readonly DigestMember[],
  ): Promise<StoredDigest | undefined> {
    for (let attempt = 0; attempt < MAX_PUT_ATTEMPTS; attempt++) {
      const previous = await this.deps.store.latest(scope);
      const fields = range(previous);
      if (fields === undefined) return undefined;
      const digest: AuditDigest = {
        scope,
        ...fields,
        previousDigestHash: previous ? previous.digestHash : GENESIS_HASH,
        createdAt: this.clock().toISOString(),
      };
      const signed = await signDigest(digest, this.deps.signer);
      const stored: StoredDigest = { ...signed, n: (previous?.n ?? 0) + 1, digestHash: digestHash(digest), ...(covers ? { covers } : {}) };
      if (await this.deps.store.put(stored)) return stored;
    }
    throw new DigestContentionError(`could not store the next digest of scope ${scope}`);
  }

  private async publish(stored: StoredDigest, failures: DigestFollowUpFailure[]): Promise<void> {
    if (!this.deps.publisher) return;
    try {
      await this.deps.publisher.publish([digestCreatedEvent(stored, this.clock().toISOString())]);
    } catch (error) {
      failures.push({ scope: stored.digest.scope, n: stored.n, step: 'publish', error });
    }
  }

  /**
   * Runs every `intervalMs` (default daily) until stop(); for `plexmcp serve`. The first run is
   * one interval after start. A run never overlaps the previous one; failures (a thrown run, or
   * follow-up failures) go to `onError`. The timer is unref'd: it keeps no process alive.
   */
  start(intervalMs: number = DEFAULT_DIGEST_INTERVAL_MS): void {
    if (!Number.isSafeInteger(intervalMs) || intervalMs < 1) throw new RangeError('intervalMs must be a positive whole number of milliseconds');
    if (this.timer) throw new Error('the digest producer is already started');
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.run()
        .then((report) => {
          for (const failure of report.failures) this.deps.onError?.(failure.error, failure);
        })
        .catch((error: unknown) => this.deps.onError?.(error))
        .finally(() => {
          this.running = undefined;
        });
    }, intervalMs);
    this.timer.unref();
  }

  /** Stops the timer and waits for a run in progress to finish. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.running;
  }
}
