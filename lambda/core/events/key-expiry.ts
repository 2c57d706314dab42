import type { ApiKey } from '../model';
import type { PlexEvent, PlexEventPublisher } from './model';
import type { OnceMarks } from './once-marks';

/** How long before its expiry a key is announced as `key.expiring`. */
export const KEY_EXPIRY_NOTICE_MS = 7 * 24 * 60 * 60_000;
/** How often the scan runs at most (it rides on a more frequent schedule). */
export const KEY_EXPIRY_SCAN_INTERVAL_MS = 60 * 60_000;
/** Markers outlive the key's expiry by this much (then TTL removes them; an expired key is never announced). */
const MARKER_GRACE_SECONDS = 24 * 60 * 60;

export interface KeyExpiryScanDeps {
  /** Every API key of every org (revoked and expired ones too: the scan filters). */
  readonly keys: () => AsyncIterable<Pick<ApiKey, 'keyId' | 'orgId' | 'name' | 'expiresAt' | 'revokedAt'>>;
  /** One marker per key decides who announces it (DynamoDbOnceMarks on the registry table). */
  readonly marks: OnceMarks;
  readonly events: PlexEventPublisher;
  readonly now?: () => Date;
  /** @default KEY_EXPIRY_SCAN_INTERVAL_MS */
  readonly intervalMs?: number;
  /** @default KEY_EXPIRY_NOTICE_MS */
  readonly noticeMs?: number;
}

export interface KeyExpiryReport {
  /** Keys looked at. */
  readonly keys: number;
  /** Keys inside their notice window, not revoked, not expired. */
  readonly due: number;
  /** `key.expiring` events this run published (the others were announced before). */
  readonly published: number;
  /** Marker or publish failures: those keys are tried again on the next run. */
  readonly failures: number;
}

/** The marker id of a key's `key.expiring` (docs/events.md). */
export const keyExpiringMarker = (keyId: string) => `key-expiring#${keyId}`;

/**
 * Publishes `key.expiring` once per key, when now >= expiresAt - 7 days and the key is neither
 * revoked nor expired yet. "Once" is a conditional marker per key: of any number of runs (hourly,
 * on several instances, after a restart) exactly one claims it and publishes; a failed publish
 * releases the marker so the next run tries again. `runIfDue` throttles the scan to
 * `intervalMs` per instance, so it can ride on the health monitor's per-minute cycle.
 */
export class KeyExpiryScan {
  private readonly now: () => Date;
  private readonly intervalMs: number;
  private readonly noticeMs: number;
  private lastRunAt = -Infinity;
  private running: Promise<KeyExpiryReport> | undefined;

  constructor(private readonly deps: KeyExpiryScanDeps) {
    this.now = deps.now ?? (() => new Date());
    this.intervalMs = deps.intervalMs ?? KEY_EXPIRY_SCAN_INTERVAL_MS;
    this.noticeMs = deps.noticeMs ?? KEY_EXPIRY_NOTICE_MS;
  }

  /** Runs the scan when the last one began at least `intervalMs` ago; undefined when not due. */
  runIfDue(): Promise<KeyExpiryReport> | undefined {
    if (this.running) return undefined;
    const nowMs = this.now().getTime();
    if (nowMs - this.lastRunAt < this.intervalMs) return undefined;
    // Counted from the start, failed or not: a store that fails is not hammered every minute.
    this.lastRunAt = nowMs;
    return this.run();
  }

  /** One scan over every key, now. */
  run(): Promise<KeyExpiryReport> {
    this.running ??= this.scan().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async scan(): Promise<KeyExpiryReport> {
    const now = this.now();
    const nowMs = now.getTime();
    let keys = 0;
    let due = 0;
    let published = 0;
    let failures = 0;
    for await (const key of this.deps.keys()) {
      keys++;
      if (key.revokedAt !== undefined || key.expiresAt === undefined) continue;
      const expiresMs = Date.parse(key.expiresAt);
      if (!Number.isFinite(expiresMs) || nowMs >= expiresMs || nowMs < expiresMs - this.noticeMs) continue;
      due++;
      const outcome = await this.announce(key, expiresMs, now);
      if (outcome === 'published') published++;
      else if (outcome === 'failed') failures++;
    }
    return { keys, due, published, failures };
  }

  private async announce(key: Pick<ApiKey, 'keyId' | 'orgId' | 'name'>, expiresMs: number, now: Date): Promise<'published' | 'known' | 'failed'> {
    const marker = keyExpiringMarker(key.keyId);
    try {
      if (!(await this.deps.marks.claim(marker, Math.ceil(expiresMs / 1000) + MARKER_GRACE_SECONDS))) return 'known';
    } catch {
      return 'failed';
    }
    const event: PlexEvent = {
      type: 'key.expiring',
      orgId: key.orgId,
      at: now.toISOString(),
      keyId: key.keyId,
      name: key.name,
      expiresAt: new Date(expiresMs).toISOString(),
    };
    try {
      await this.deps.events.publish([event]);
      return 'published';
    } catch {
      // Not sent: let the next run claim it again (if this fails too, the key goes unannounced).
      await this.deps.marks.release(marker).catch(() => undefined);
      return 'failed';
    }
  }
}
