import { createHash } from 'node:crypto';
import {
  API_KEY_PREFIX,
  ApiKeyAuthenticator,
  generateApiKey,
  type KeyLookup,
  parseApiKey,
  publicKey,
  VerifiedKeyCache,
  verifySecret,
} from '../../lambda/core/api-keys';
import { ApiError } from '../../lambda/core/errors';
import type { StoredApiKey } from '../../lambda/core/model';

const KEY_ID_RE = /^[a-z2-7]{16}$/;
const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

/** The `$argon2id$v=19$<params>$<salt>$<hash>` fields of a PHC string, params as a map. */
function phcFields(hash: string) {
  const [empty, algorithm, version, params, salt, digest, ...rest] = hash.split('$');
  return {
    empty,
    algorithm,
    version,
    params: Object.fromEntries((params ?? '').split(',').map((p) => p.split('='))),
    salt,
    digest,
    rest,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** An in-memory implementation of our own KeyLookup port that counts calls. */
class MemoryKeys implements KeyLookup {
  readonly records = new Map<string, StoredApiKey>();
  getKeyCalls = 0;
  readonly touches: Array<{ keyId: string; at: string }> = [];
  failTouch = false;

  async getKey(keyId: string): Promise<StoredApiKey | undefined> {
    this.getKeyCalls++;
    return this.records.get(keyId);
  }

  async touchKey(keyId: string, at: string): Promise<void> {
    this.touches.push({ keyId, at });
    if (this.failTouch) throw new Error('DynamoDB is down');
    const record = this.records.get(keyId);
    if (record) this.records.set(keyId, { ...record, lastUsedAt: at });
  }

  put(record: StoredApiKey): void {
    this.records.set(record.keyId, record);
  }

  update(keyId: string, patch: Partial<StoredApiKey>): void {
    this.records.set(keyId, { ...this.records.get(keyId)!, ...patch });
  }
}

function recordFor(keyId: string, secretHash: string, extra: Partial<StoredApiKey> = {}): StoredApiKey {
  return {
    keyId,
    orgId: 'orgaaaaaaaaaaaaaaaa',
    name: 'ci key',
    role: 'member',
    scopes: { mcps: '*', tools: {} },
    createdAt: '2026-01-01T00:00:00.000Z',
    secretHash,
    ...extra,
  };
}

/** Builds a key, stores its record, and returns the full key. */
async function storedKey(store: MemoryKeys, extra: Partial<StoredApiKey> = {}) {
  const key = await generateApiKey();
  const record = recordFor(key.keyId, key.secretHash, extra);
  store.put(record);
  return { ...key, record };
}

async function expectInvalidKey(promise: Promise<unknown>): Promise<void> {
  let caught: unknown;
  try {
    await promise;
  } catch (error) {
    caught = error;
  }
  expect(caught).toBeInstanceOf(ApiError);
  expect(caught).toMatchObject({ status: 401, code: 'invalid_api_key' });
}

/** The LRU's own keys; the class keeps it private, so reach in to check what it stores. */
function internalCacheKeys(cache: VerifiedKeyCache): string[] {
  return [...(cache as unknown as { cache: { keys(): Iterable<string> } }).cache.keys()];
}

describe('API key format', () => {
  it('is pmcp_<16-char base32 id>_<43-char base64url secret of 256 bits>', async () => {
    const key = await generateApiKey();
    expect(key.fullKey.startsWith(API_KEY_PREFIX)).toBe(true);
    expect(API_KEY_PREFIX).toBe('pmcp_');
    expect(key.keyId).toMatch(KEY_ID_RE);

    const parsed = parseApiKey(key.fullKey);
    expect(parsed).toEqual({ keyId: key.keyId, secret: expect.stringMatching(SECRET_RE) });
    expect(key.fullKey).toBe(`pmcp_${key.keyId}_${parsed!.secret}`);
    expect(Buffer.from(parsed!.secret, 'base64url')).toHaveLength(32);
  });

  it('keeps a fixed key id and makes a fresh secret every time', async () => {
    const a = await generateApiKey('abcdefghijklmnop');
    const b = await generateApiKey('abcdefghijklmnop');
    expect(a.keyId).toBe('abcdefghijklmnop');
    expect(parseApiKey(a.fullKey)!.keyId).toBe('abcdefghijklmnop');
    expect(a.fullKey).not.toBe(b.fullKey);
    expect(a.secretHash).not.toBe(b.secretHash);
  });

  it('makes random key ids when none is given', async () => {
    const [a, b] = await Promise.all([generateApiKey(), generateApiKey()]);
    expect(a.keyId).not.toBe(b.keyId);
  });

  const id = 'abcdefghijklmnop';
  const secret = 'A'.repeat(42) + '_';
  const valid = `pmcp_${id}_${secret}`;

  it('parses a well-formed key', () => {
    expect(parseApiKey(valid)).toEqual({ keyId: id, secret });
  });

  it.each([
    ['empty', ''],
    ['no prefix', `${id}_${secret}`],
    ['wrong prefix', `pmck_${id}_${secret}`],
    ['upper-case prefix', `PMCP_${id}_${secret}`],
    ['operator token prefix', `pmop_${id}_${secret}`],
    ['short secret (42)', `pmcp_${id}_${secret.slice(1)}`],
    ['long secret (44)', `pmcp_${id}_${secret}A`],
    ['upper-case key id', `pmcp_${id.toUpperCase()}_${secret}`],
    ['one upper-case char in key id', `pmcp_Abcdefghijklmnop_${secret}`],
    ['key id with non-base32 digits 0 and 1', `pmcp_abcdefghijklmn01_${secret}`],
    ['key id with non-base32 digit 8', `pmcp_abcdefghijklmno8_${secret}`],
    ['short key id (15)', `pmcp_${id.slice(1)}_${secret}`],
    ['long key id (17)', `pmcp_${id}a_${secret}`],
    ['extra characters after', `${valid}x`],
    ['extra segment after', `${valid}_x`],
    ['extra characters before', `x${valid}`],
    ['leading space', ` ${valid}`],
    ['trailing space', `${valid} `],
    ['trailing newline', `${valid}\n`],
    ['inner whitespace', `pmcp_${id} _${secret.slice(1)}`],
    ['standard base64 "+"', `pmcp_${id}_${secret.slice(1)}+`],
    ['standard base64 "/"', `pmcp_${id}_${secret.slice(1)}/`],
    ['base64 padding', `pmcp_${id}_${secret.slice(1)}=`],
    ['missing separator', `pmcp_${id}${secret}`],
  ])('rejects a malformed key: %s', (_label, presented) => {
    expect(parseApiKey(presented)).toBeUndefined();
  });
});

describe('secret hashing', () => {
  it('stores an Argon2id hash with OWASP minimum parameters that does not contain the secret', async () => {
    const key = await generateApiKey();
    const { secret } = parseApiKey(key.fullKey)!;
    // argon2 writes the parameters as m=19456,p=1,t=2; check their values, not their order.
    expect(phcFields(key.secretHash)).toEqual({
      empty: '',
      algorithm: 'argon2id',
      version: 'v=19',
      params: { m: '19456', t: '2', p: '1' },
      salt: expect.stringMatching(/^[A-Za-z0-9+/]{22}$/),
      digest: expect.stringMatching(/^[A-Za-z0-9+/]{43}$/),
      rest: [],
    });
    expect(key.secretHash).not.toContain(secret);
    expect(key.secretHash).not.toContain(key.fullKey);
    expect(key.secretHash).not.toContain(Buffer.from(secret).toString('base64').replace(/=+$/, ''));
  });

  it('verifies the right secret and refuses others', async () => {
    const key = await generateApiKey();
    const { secret } = parseApiKey(key.fullKey)!;
    expect(await verifySecret(key.secretHash, secret)).toBe(true);
    expect(await verifySecret(key.secretHash, secret.slice(0, -1) + (secret.endsWith('A') ? 'B' : 'A'))).toBe(false);
    expect(await verifySecret(key.secretHash, key.fullKey)).toBe(false);
    expect(await verifySecret(key.secretHash, '')).toBe(false);
  });

  it('returns false for an undefined hash (unknown key id) and for a corrupt hash', async () => {
    const key = await generateApiKey();
    const { secret } = parseApiKey(key.fullKey)!;
    expect(await verifySecret(undefined, secret)).toBe(false);
    expect(await verifySecret('not-a-hash', secret)).toBe(false);
  });

  it('publicKey drops the hash', async () => {
    const key = await generateApiKey();
    const record = recordFor(key.keyId, key.secretHash);
    const view = publicKey(record);
    expect(view).not.toHaveProperty('secretHash');
    expect(JSON.stringify(view)).not.toContain('argon2');
    expect(view).toEqual({ ...record, secretHash: undefined });
  });
});

describe('ApiKeyAuthenticator', () => {
  it('returns the public record for a valid key', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const auth = new ApiKeyAuthenticator(store);
    const result = await auth.authenticate(key.fullKey);
    expect(result.keyId).toBe(key.keyId);
    expect(result.orgId).toBe(key.record.orgId);
    expect(result).not.toHaveProperty('secretHash');
    expect(store.getKeyCalls).toBe(1);
  });

  it('refuses a malformed key without reading the store', async () => {
    const store = new MemoryKeys();
    const auth = new ApiKeyAuthenticator(store);
    await expectInvalidKey(auth.authenticate('Bearer nonsense'));
    await expectInvalidKey(auth.authenticate(''));
    expect(store.getKeyCalls).toBe(0);
  });

  it('refuses an unknown key id with 401 invalid_api_key', async () => {
    const store = new MemoryKeys();
    const key = await generateApiKey(); // never stored
    const auth = new ApiKeyAuthenticator(store);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.getKeyCalls).toBe(1);
    expect(store.touches).toHaveLength(0);
  });

  it('refuses a wrong secret for a known key id', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const other = await generateApiKey(key.keyId); // same id, different secret
    const auth = new ApiKeyAuthenticator(store);
    await expectInvalidKey(auth.authenticate(other.fullKey));
    // The right key still works, and the wrong one still fails after it was cached.
    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    await expectInvalidKey(auth.authenticate(other.fullKey));
    expect(store.touches).toHaveLength(1);
  });

  it('refuses a revoked key', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store, { revokedAt: '2026-02-01T00:00:00.000Z' });
    const auth = new ApiKeyAuthenticator(store);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.touches).toHaveLength(0);
  });

  it("refuses an OAuth grant's backing key even with its right secret: it works through tokens only", async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store, { oauth: { clientId: 'https://client.example/meta.json', clientName: 'Client', grantId: 'grant-1' } });
    const auth = new ApiKeyAuthenticator(store);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.touches).toHaveLength(0);
  });

  it('refuses a key at and after its expiry, accepts it just before', async () => {
    const expiresAt = '2026-06-01T00:00:00.000Z';
    const store = new MemoryKeys();
    const key = await storedKey(store, { expiresAt });
    let clock = Date.parse(expiresAt) - 1;
    const auth = new ApiKeyAuthenticator(store, { now: () => clock });
    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    clock = Date.parse(expiresAt);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    clock += 86_400_000;
    await expectInvalidKey(auth.authenticate(key.fullKey));
  });

  it('serves a cache hit without reading the record again', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const cache = new VerifiedKeyCache();
    const auth = new ApiKeyAuthenticator(store, { cache });
    await auth.authenticate(key.fullKey);
    expect(store.getKeyCalls).toBe(1);
    for (let i = 0; i < 5; i++) await auth.authenticate(key.fullKey);
    expect(store.getKeyCalls).toBe(1);
    expect(cache.size).toBe(1);
  });

  it('skips Argon2 on a cache hit', async () => {
    // The cached record's hash is not a valid Argon2 hash: verifySecret would return false for
    // it, so success proves that no verification ran.
    const store = new MemoryKeys();
    const key = await generateApiKey();
    const record = recordFor(key.keyId, '$argon2id$corrupt');
    expect(await verifySecret(record.secretHash, parseApiKey(key.fullKey)!.secret)).toBe(false);
    store.put(record);
    const cache = new VerifiedKeyCache();
    cache.set(key.fullKey, record);

    await expect(new ApiKeyAuthenticator(store, { cache }).authenticate(key.fullKey)).resolves.toMatchObject({
      keyId: key.keyId,
    });
    expect(store.getKeyCalls).toBe(0);

    // alwaysReadRecord reads the record but still skips Argon2 when the hash is unchanged.
    await expect(
      new ApiKeyAuthenticator(store, { cache, alwaysReadRecord: true }).authenticate(key.fullKey),
    ).resolves.toMatchObject({ keyId: key.keyId });
    expect(store.getKeyCalls).toBe(1);
  });

  it('verifies again when the stored hash differs from the cached one', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const cache = new VerifiedKeyCache();
    const auth = new ApiKeyAuthenticator(store, { cache, alwaysReadRecord: true });
    await auth.authenticate(key.fullKey);
    // The key's secret was rotated: the old full key must stop working even though it is cached.
    const rotated = await generateApiKey(key.keyId);
    store.update(key.keyId, { secretHash: rotated.secretHash });
    await expectInvalidKey(auth.authenticate(key.fullKey));
    await expect(auth.authenticate(rotated.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
  });

  it('with alwaysReadRecord reads the record every time and sees a revocation at once', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const auth = new ApiKeyAuthenticator(store, { cache: new VerifiedKeyCache(), alwaysReadRecord: true });
    await auth.authenticate(key.fullKey);
    await auth.authenticate(key.fullKey);
    await auth.authenticate(key.fullKey);
    expect(store.getKeyCalls).toBe(3);
    store.update(key.keyId, { revokedAt: new Date().toISOString() });
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.getKeyCalls).toBe(4);
  });

  it('with the cache alone, a revoked key works only until the cache TTL expires', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const cache = new VerifiedKeyCache({ ttlMs: 50 });
    const auth = new ApiKeyAuthenticator(store, { cache });
    await auth.authenticate(key.fullKey);
    store.update(key.keyId, { revokedAt: new Date().toISOString() });

    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    expect(store.getKeyCalls).toBe(1);

    await sleep(80);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.getKeyCalls).toBe(2);
    expect(cache.size).toBe(0);
  });

  it('does not extend the cache TTL when it records lastUsedAt', async () => {
    // Every request writes lastUsedAt (touchIntervalMs 0). Those writes must not keep a revoked
    // key's cache entry alive past ttlMs from its verification.
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const cache = new VerifiedKeyCache({ ttlMs: 200 });
    const auth = new ApiKeyAuthenticator(store, { cache, touchIntervalMs: 0 });
    await auth.authenticate(key.fullKey);
    store.update(key.keyId, { revokedAt: new Date().toISOString() });

    await sleep(120);
    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    await sleep(120);
    await expectInvalidKey(auth.authenticate(key.fullKey));
    expect(store.touches.length).toBeGreaterThanOrEqual(2);
  });

  it('writes lastUsedAt at most once per touchIntervalMs', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const start = Date.parse('2026-03-01T12:00:00.000Z');
    let clock = start;
    const auth = new ApiKeyAuthenticator(store, { now: () => clock, touchIntervalMs: 1_000 });

    await auth.authenticate(key.fullKey);
    clock = start + 400;
    await auth.authenticate(key.fullKey);
    clock = start + 999;
    await auth.authenticate(key.fullKey);
    expect(store.touches).toEqual([{ keyId: key.keyId, at: new Date(start).toISOString() }]);

    clock = start + 1_000;
    await auth.authenticate(key.fullKey);
    clock = start + 1_500;
    await auth.authenticate(key.fullKey);
    expect(store.touches).toEqual([
      { keyId: key.keyId, at: new Date(start).toISOString() },
      { keyId: key.keyId, at: new Date(start + 1_000).toISOString() },
    ]);
    // Only the first request read the record; the rest were cache hits.
    expect(store.getKeyCalls).toBe(1);
  });

  it('writes lastUsedAt at most once per interval when reading the record every time', async () => {
    const store = new MemoryKeys();
    const key = await storedKey(store);
    const start = Date.parse('2026-03-01T12:00:00.000Z');
    let clock = start;
    const auth = new ApiKeyAuthenticator(store, { now: () => clock, touchIntervalMs: 1_000, alwaysReadRecord: true });
    await auth.authenticate(key.fullKey);
    clock = start + 500;
    await auth.authenticate(key.fullKey);
    expect(store.touches).toHaveLength(1);
    clock = start + 1_000;
    await auth.authenticate(key.fullKey);
    expect(store.touches).toHaveLength(2);
  });

  it('does not fail authentication when writing lastUsedAt fails', async () => {
    const store = new MemoryKeys();
    store.failTouch = true;
    const key = await storedKey(store);
    const auth = new ApiKeyAuthenticator(store);
    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    await expect(auth.authenticate(key.fullKey)).resolves.toMatchObject({ keyId: key.keyId });
    expect(store.touches.length).toBeGreaterThanOrEqual(1);
  });
});

describe('VerifiedKeyCache', () => {
  const record = recordFor('abcdefghijklmnop', '$argon2id$x');

  it('is bounded by maxEntries and evicts the least recently used', () => {
    const cache = new VerifiedKeyCache({ maxEntries: 3 });
    const keys = Array.from({ length: 10 }, (_, i) => `pmcp_abcdefghijklmnop_${String(i).padStart(43, 'A')}`);
    for (const k of keys) cache.set(k, record);
    expect(cache.size).toBe(3);
    expect(cache.get(keys[0]!)).toBeUndefined();
    expect(cache.get(keys[6]!)).toBeUndefined();
    expect(cache.get(keys[9]!)).toEqual(record);
  });

  it('uses 60 s and 10 000 entries by default', () => {
    const cache = new VerifiedKeyCache();
    expect(cache.ttlMs).toBe(60_000);
    for (let i = 0; i < 10_050; i++) cache.set(`k${i}`, record);
    expect(cache.size).toBe(10_000);
  });

  it('keys entries by the SHA-256 of the presented key, never the key itself', async () => {
    const key = await generateApiKey();
    const { secret } = parseApiKey(key.fullKey)!;
    const cache = new VerifiedKeyCache();
    cache.set(key.fullKey, recordFor(key.keyId, key.secretHash));

    const expected = createHash('sha256').update(key.fullKey).digest('base64url');
    expect(VerifiedKeyCache.fingerprint(key.fullKey)).toBe(expected);
    const stored = internalCacheKeys(cache);
    expect(stored).toEqual([expected]);
    for (const k of stored) {
      expect(k).not.toContain(secret);
      expect(k).not.toContain(key.fullKey);
    }
    expect(cache.get(key.fullKey)?.keyId).toBe(key.keyId);
  });

  it('update replaces a record without extending its TTL and never inserts', async () => {
    const cache = new VerifiedKeyCache({ ttlMs: 150 });
    cache.update('absent', record);
    expect(cache.size).toBe(0);

    cache.set('a', record);
    await sleep(90);
    cache.update('a', { ...record, lastUsedAt: '2026-03-01T00:00:00.000Z' });
    expect(cache.get('a')?.lastUsedAt).toBe('2026-03-01T00:00:00.000Z');
    await sleep(90);
    expect(cache.get('a')).toBeUndefined();
  });

  it('delete removes an entry', () => {
    const cache = new VerifiedKeyCache();
    cache.set('a', record);
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
