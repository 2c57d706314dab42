import { createHash } from 'node:crypto';
import { LocalDigestSigner, verifyDigest } from '../../../lambda/core/audit/digest';
import {
  DEFAULT_DIGEST_INTERVAL_MS,
  deploymentLastHash,
  DigestProducer,
  type DigestStore,
  type StoredDigest,
} from '../../../lambda/core/audit/digest-producer';
import { GENESIS_HASH } from '../../../lambda/core/audit/entry';
import { parseEvent } from '../../../lambda/core/events/catalog';
import type { PlexEvent } from '../../../lambda/core/events/model';

/** The DigestStore contract in memory (the DynamoDB one is tested on the engine in test/adapters). */
class MemoryDigests implements DigestStore {
  readonly items = new Map<string, StoredDigest[]>();
  /** Numbers that a "concurrent producer" takes just before this one's put. */
  stolen = 0;
  async put(stored: StoredDigest): Promise<boolean> {
    const list = this.items.get(stored.digest.scope) ?? [];
    if (this.stolen > 0) {
      this.stolen--;
      return false;
    }
    if (list.some((d) => d.n === stored.n)) return false;
    this.items.set(stored.digest.scope, [...list, stored]);
    return true;
  }
  async latest(scope: string) {
    return this.items.get(scope)?.at(-1);
  }
  async list(scope: string, fromN = 1) {
    return (this.items.get(scope) ?? []).filter((d) => d.n >= fromN);
  }
}

const signer = LocalDigestSigner.generate();
const heads: Record<string, { seq: number; hash: string }> = { acme: { seq: 4, hash: 'aa'.repeat(32) }, globex: { seq: 2, hash: 'bb'.repeat(32) } };

function producer(store: DigestStore, extra: Partial<ConstructorParameters<typeof DigestProducer>[0]> = {}) {
  return new DigestProducer({
    listOrgIds: async () => ['globex', 'acme', '*', 'idle'],
    head: async (orgId) => heads[orgId],
    store,
    signer,
    clock: () => new Date('2026-12-02T00:00:00.000Z'),
    ...extra,
  });
}

describe('deploymentLastHash', () => {
  it('is SHA-256 of the canonical JSON of {scope, n, digestHash}, sorted by scope then n', () => {
    const members = [
      { scope: 'globex', n: 1, digestHash: 'cc'.repeat(32) },
      { scope: 'acme', n: 3, digestHash: 'dd'.repeat(32) },
      { scope: 'acme', n: 2, digestHash: 'ee'.repeat(32) },
    ];
    const expected = createHash('sha256')
      .update(`[{"digestHash":"${'ee'.repeat(32)}","n":2,"scope":"acme"},{"digestHash":"${'dd'.repeat(32)}","n":3,"scope":"acme"},{"digestHash":"${'cc'.repeat(32)}","n":1,"scope":"globex"}]`)
      .digest('hex');
    expect(deploymentLastHash(members)).toBe(expected);
    expect(deploymentLastHash([...members].reverse())).toBe(expected);
  });
});

describe('DigestProducer', () => {
  it('makes one digest per org with entries, never one for an org id "*", then the deployment digest', async () => {
    const store = new MemoryDigests();
    const { created } = await producer(store).run();
    expect(created.map((d) => d.digest)).toEqual([
      { scope: 'acme', fromSeq: 1, toSeq: 4, lastHash: heads.acme!.hash, previousDigestHash: GENESIS_HASH, createdAt: '2026-12-02T00:00:00.000Z' },
      { scope: 'globex', fromSeq: 1, toSeq: 2, lastHash: heads.globex!.hash, previousDigestHash: GENESIS_HASH, createdAt: '2026-12-02T00:00:00.000Z' },
      { scope: '*', fromSeq: 1, toSeq: 2, lastHash: deploymentLastHash(created.slice(0, 2).map((d) => ({ scope: d.digest.scope, n: d.n, digestHash: d.digestHash }))), previousDigestHash: GENESIS_HASH, createdAt: '2026-12-02T00:00:00.000Z' },
    ]);
    for (const d of created) expect(verifyDigest(d.digest, d.signature, signer.publicKeyPem)).toBe(true);
  });

  it('retries with the next number when a concurrent producer took one, and gives up with a stable code', async () => {
    const store = new MemoryDigests();
    store.stolen = 2;
    const { created } = await producer(store).run();
    expect(created.map((d) => [d.digest.scope, d.n])).toEqual([['acme', 1], ['globex', 1], ['*', 1]]);
    store.stolen = 100;
    heads.acme = { seq: 5, hash: 'ab'.repeat(32) };
    await expect(producer(store).run()).rejects.toMatchObject({ code: 'audit_digest_contention' });
  });

  it('publishes audit.digest.created events that the event catalog accepts, the deployment one included', async () => {
    const published: PlexEvent[] = [];
    await producer(new MemoryDigests(), { publisher: { publish: async (events) => void published.push(...events) } }).run();
    expect(published.map((e) => e.orgId)).toEqual(['acme', 'globex', '*']);
    for (const event of published) expect(parseEvent(event)).toEqual(event);
  });

  it('reports a publish failure without undoing the digest', async () => {
    const store = new MemoryDigests();
    const failure = new Error('bus down');
    const report = await producer(store, { publisher: { publish: async () => Promise.reject(failure) } }).run();
    expect(report.created).toHaveLength(3);
    expect(report.failures.map((f) => [f.scope, f.n, f.step, f.error])).toEqual([
      ['acme', 1, 'publish', failure],
      ['globex', 1, 'publish', failure],
      ['*', 1, 'publish', failure],
    ]);
    expect(await store.list('acme')).toHaveLength(1);
  });

  describe('timer', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('runs every interval (daily by default) until stop, without overlapping runs', async () => {
      const store = new MemoryDigests();
      const runs: number[] = [];
      let release: () => void = () => undefined;
      const p = producer(store, {
        listOrgIds: async () => {
          runs.push(Date.now());
          await new Promise<void>((resolve) => (release = resolve));
          return [];
        },
      });
      p.start();
      await jest.advanceTimersByTimeAsync(DEFAULT_DIGEST_INTERVAL_MS - 1);
      expect(runs).toHaveLength(0);
      await jest.advanceTimersByTimeAsync(1);
      expect(runs).toHaveLength(1);
      // The first run has not finished: the next tick is skipped.
      await jest.advanceTimersByTimeAsync(DEFAULT_DIGEST_INTERVAL_MS);
      expect(runs).toHaveLength(1);
      release();
      await jest.advanceTimersByTimeAsync(DEFAULT_DIGEST_INTERVAL_MS);
      expect(runs).toHaveLength(2);
      release();
      await p.stop();
      await jest.advanceTimersByTimeAsync(3 * DEFAULT_DIGEST_INTERVAL_MS);
      expect(runs).toHaveLength(2);
    });

    it('hands failed runs to onError and keeps going', async () => {
      const errors: unknown[] = [];
      const p = producer(new MemoryDigests(), { listOrgIds: async () => Promise.reject(new Error('registry down')), onError: (e) => errors.push(e) });
      p.start(1000);
      await jest.advanceTimersByTimeAsync(2000);
      await p.stop();
      expect(errors.map(String)).toEqual(['Error: registry down', 'Error: registry down']);
    });

    it('refuses a bad interval and a second start', () => {
      const p = producer(new MemoryDigests());
      expect(() => p.start(0)).toThrow(RangeError);
      expect(() => p.start(1.5)).toThrow(RangeError);
      p.start(1000);
      expect(() => p.start(1000)).toThrow('already started');
      void p.stop();
    });
  });
});
