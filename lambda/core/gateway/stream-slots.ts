/**
 * The per-key cap on long-lived streams (GET streams, `subscriptions/listen`). A key has `limit`
 * slots in the counters table; a stream holds one as a lease that it renews while open and gives
 * back when it ends. A gateway instance that dies mid-stream loses its lease after at most
 * `leaseSeconds`, so a crash never leaks a slot for long. Exact across instances and regions'
 * instances sharing a table: taking a slot is one conditional write.
 */
import { randomBytes } from 'node:crypto';

/** Leases in the counters table (single conditional writes). */
export interface LeaseStore {
  /** Takes (or renews) lease `id` for `owner` until `expiresAtSeconds`, if it is free, expired at `nowSeconds`, or already `owner`'s. */
  acquire(id: string, owner: string, nowSeconds: number, expiresAtSeconds: number): Promise<boolean>;
  /** Gives lease `id` back if `owner` still holds it. */
  release(id: string, owner: string): Promise<void>;
}

export interface StreamSlotsOptions {
  /** How long a lease lasts without renewal (the bound on a slot lost by a crashed instance). @default 120 */
  readonly leaseSeconds?: number;
  /** Most slots tried for one stream; every slot is tried when the limit is at most this. @default 16 */
  readonly maxProbes?: number;
  readonly now?: () => number;
  readonly random?: () => number;
}

/** A held slot: `release()` gives it back (idempotent; the promise is the write, already tracked by the host). */
export interface StreamSlot {
  release(): Promise<void>;
}

export class StreamSlots {
  /** Slots this instance holds, by lease id: what `close()` gives back. */
  private readonly held = new Map<string, StreamSlot>();
  private readonly leaseSeconds: number;
  private readonly maxProbes: number;
  private readonly now: () => number;
  private readonly random: () => number;

  constructor(
    private readonly store: LeaseStore,
    /** Release and renewal writes happen after the response started: the host tracks them. */
    private readonly background: (work: Promise<unknown>) => void,
    options: StreamSlotsOptions = {},
  ) {
    this.leaseSeconds = options.leaseSeconds ?? 120;
    this.maxProbes = options.maxProbes ?? 16;
    this.now = options.now ?? Date.now;
    this.random = options.random ?? Math.random;
  }

  /** A free slot of `keyId`'s `limit`, or undefined when all the slots tried are held. */
  async take(keyId: string, limit: number): Promise<StreamSlot | undefined> {
    const owner = randomBytes(12).toString('base64url');
    const start = Math.floor(this.random() * limit);
    const probes = Math.min(limit, this.maxProbes);
    for (let k = 0; k < probes; k++) {
      const id = `stream#${keyId}#${(start + k) % limit}`;
      if (await this.store.acquire(id, owner, this.nowSeconds(), this.nowSeconds() + this.leaseSeconds)) return this.hold(id, owner);
    }
    return undefined;
  }

  /** Stops every renewal and gives every held slot back (the host is shutting down). */
  async close(): Promise<void> {
    const releases = [...this.held.values()].map((slot) => slot.release());
    await Promise.all(releases);
  }

  private hold(id: string, owner: string): StreamSlot {
    // Renewed at a third of the lease, so one failed renewal does not lose it; a renewal that
    // finds the lease taken over (this holder was frozen past it) stops renewing.
    const renew = setInterval(() => {
      const renewing = this.store.acquire(id, owner, this.nowSeconds(), this.nowSeconds() + this.leaseSeconds).then(
        (kept) => {
          if (!kept) stop();
        },
        () => undefined,
      );
      this.background(renewing);
    }, (this.leaseSeconds * 1000) / 3);
    renew.unref();
    const key = `${id}#${owner}`;
    let released = false;
    const stop = () => {
      clearInterval(renew);
      this.held.delete(key);
    };
    const slot: StreamSlot = {
      release: () => {
        if (released) return Promise.resolve();
        released = true;
        stop();
        const giving = this.store.release(id, owner).catch(() => undefined);
        this.background(giving);
        return giving;
      },
    };
    this.held.set(key, slot);
    return slot;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }
}
