import { createHash } from 'node:crypto';
import { accessTokenHash, type AccessTokenReader, type AccessTokenRecord } from '../../../lambda/core/oauth/access-tokens';
import { OAuthTokenAuthenticator, TokenRefusedError, type TokenRefusal } from '../../../lambda/core/oauth/token-authenticator';
import type { StoredApiKey } from '../../../lambda/core/model';

const BASE = 'https://gw.example.com';
const NOW = Date.parse('2026-03-01T12:00:00Z');

/** Token records and keys in memory, counting the reads the authenticator makes. */
function fixture() {
  const records = new Map<string, AccessTokenRecord>();
  const keys = new Map<string, StoredApiKey>();
  const reads = { tokens: 0, keys: 0 };
  const tokens: AccessTokenReader = {
    find: async (tokenHash) => {
      reads.tokens++;
      return records.get(tokenHash);
    },
  };
  const clock = { now: NOW };
  const key = (overrides: Partial<StoredApiKey> = {}): StoredApiKey => ({
    keyId: 'key_grant_1',
    orgId: 'org_a',
    name: 'OAuth: Claude',
    role: 'member',
    scopes: { mcps: ['github'], tools: {} },
    createdAt: '2026-03-01T00:00:00Z',
    secretHash: 'never-verifies',
    oauth: { clientId: 'client_1', clientName: 'Claude', grantId: 'grant_1' },
    ...overrides,
  });
  const record = (overrides: Partial<AccessTokenRecord> = {}): AccessTokenRecord => ({
    keyId: 'key_grant_1',
    orgId: 'org_a',
    clientId: 'client_1',
    grantId: 'grant_1',
    scope: 'mcp:tools mcp:resources',
    resource: `${BASE}/mcp/github`,
    expiresAt: Math.floor(NOW / 1000) + 600,
    issuer: BASE,
    ...overrides,
  });
  const issue = (token: string, overrides: Partial<AccessTokenRecord> = {}) => records.set(accessTokenHash(token), record(overrides));
  const authenticator = (options: { ttlMs?: number; failedTtlMs?: number; touchKey?: (keyId: string, at: string) => Promise<void> } = {}) =>
    new OAuthTokenAuthenticator({
      tokens,
      getKey: async (keyId) => {
        reads.keys++;
        return keys.get(keyId);
      },
      now: () => clock.now,
      ...options,
    });
  keys.set('key_grant_1', key());
  return { records, keys, reads, clock, key, issue, authenticator };
}

async function refusal(promise: Promise<unknown>): Promise<TokenRefusal> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TokenRefusedError);
  return (error as TokenRefusedError).reason;
}

test('accessTokenHash is the base64url SHA-256 of the token (what the store keys records by)', () => {
  expect(accessTokenHash('opaque-token')).toBe(createHash('sha256').update('opaque-token').digest('base64url'));
  expect(accessTokenHash('opaque-token')).not.toContain('=');
});

test('a valid token is its backing key, without the secret hash, with the scopes it was granted', async () => {
  const f = fixture();
  f.issue('tok-valid');
  const caller = await f.authenticator().authenticate('tok-valid', { baseUrl: BASE, slug: 'github' });
  expect(caller.key.keyId).toBe('key_grant_1');
  expect(caller.key.orgId).toBe('org_a');
  expect(caller.key).not.toHaveProperty('secretHash');
  expect([...caller.scopes].sort()).toEqual(['mcp:resources', 'mcp:tools']);
  expect(caller).toMatchObject({ clientId: 'client_1', grantId: 'grant_1' });
});

test('a token for the root resource reaches any slug; a token for one MCP only that one', async () => {
  const f = fixture();
  f.issue('tok-root', { resource: `${BASE}/mcp` });
  f.issue('tok-github');
  const auth = f.authenticator();
  await expect(auth.authenticate('tok-root', { baseUrl: BASE, slug: 'linear' })).resolves.toBeDefined();
  await expect(auth.authenticate('tok-github', { baseUrl: BASE, slug: 'github' })).resolves.toBeDefined();
  expect(await refusal(auth.authenticate('tok-github', { baseUrl: BASE, slug: 'linear' }))).toBe('wrong_audience');
  // A resource of another deployment, or a prefix trick, is not ours.
  f.issue('tok-other', { resource: 'https://evil.example.com/mcp/github' });
  f.issue('tok-prefix', { resource: `${BASE}/mcp/github-extra` });
  expect(await refusal(auth.authenticate('tok-other', { baseUrl: BASE, slug: 'github' }))).toBe('wrong_audience');
  expect(await refusal(auth.authenticate('tok-prefix', { baseUrl: BASE, slug: 'github' }))).toBe('wrong_audience');
});

test('unknown, expired, wrong issuer: refused', async () => {
  const f = fixture();
  const auth = f.authenticator();
  expect(await refusal(auth.authenticate('tok-unknown', { baseUrl: BASE, slug: 'github' }))).toBe('unknown');
  f.issue('tok-expired', { expiresAt: Math.floor(NOW / 1000) });
  expect(await refusal(auth.authenticate('tok-expired', { baseUrl: BASE, slug: 'github' }))).toBe('expired');
  f.issue('tok-issuer', { issuer: 'https://other.example.com' });
  expect(await refusal(auth.authenticate('tok-issuer', { baseUrl: BASE, slug: 'github' }))).toBe('wrong_issuer');
  // Without a base URL nothing can be checked: refused, never accepted unchecked.
  f.issue('tok-nobase');
  expect(await refusal(auth.authenticate('tok-nobase', { baseUrl: undefined, slug: 'github' }))).toBe('no_base_url');
});

test('the backing key must exist, be unrevoked, unexpired, of the same org and of the same grant', async () => {
  const f = fixture();
  const auth = f.authenticator();
  const cases: [string, Partial<StoredApiKey> | 'missing', TokenRefusal][] = [
    ['tok-missing', 'missing', 'key_unusable'],
    ['tok-revoked', { revokedAt: '2026-03-01T11:00:00Z' }, 'key_unusable'],
    ['tok-key-expired', { expiresAt: '2026-03-01T11:59:59Z' }, 'key_unusable'],
    ['tok-other-org', { orgId: 'org_b' }, 'key_unusable'],
    ['tok-plain-key', { oauth: undefined }, 'grant_mismatch'],
    ['tok-other-grant', { oauth: { clientId: 'client_1', clientName: 'Claude', grantId: 'grant_2' } }, 'grant_mismatch'],
  ];
  for (const [token, keyChange, reason] of cases) {
    const keyId = `key_${token}`;
    if (keyChange !== 'missing') f.keys.set(keyId, f.key({ keyId, ...keyChange }));
    f.issue(token, { keyId });
    expect({ token, reason: await refusal(auth.authenticate(token, { baseUrl: BASE, slug: 'github' })) }).toEqual({ token, reason });
  }
});

test('a verified token is served from memory; it is read again after the TTL (so a revoked key is refused then)', async () => {
  const f = fixture();
  f.issue('tok-cached');
  const auth = f.authenticator({ ttlMs: 40 });
  await auth.authenticate('tok-cached', { baseUrl: BASE, slug: 'github' });
  await auth.authenticate('tok-cached', { baseUrl: BASE, slug: 'github' });
  expect(f.reads).toEqual({ tokens: 1, keys: 1 });
  // Audience is checked on every request, cached or not.
  expect(await refusal(auth.authenticate('tok-cached', { baseUrl: BASE, slug: 'linear' }))).toBe('wrong_audience');
  expect(f.reads).toEqual({ tokens: 1, keys: 1 });
  f.keys.set('key_grant_1', f.key({ revokedAt: '2026-03-01T12:00:00Z' }));
  await new Promise((resolve) => setTimeout(resolve, 60));
  expect(await refusal(auth.authenticate('tok-cached', { baseUrl: BASE, slug: 'github' }))).toBe('key_unusable');
  expect(f.reads).toEqual({ tokens: 2, keys: 2 });
});

test('a cached token stops at its own expiry, however long the cache would keep it', async () => {
  const f = fixture();
  f.issue('tok-short', { expiresAt: Math.floor(NOW / 1000) + 5 });
  const auth = f.authenticator({ ttlMs: 3_600_000 });
  await auth.authenticate('tok-short', { baseUrl: BASE, slug: 'github' });
  f.clock.now = NOW + 5_000;
  expect(await refusal(auth.authenticate('tok-short', { baseUrl: BASE, slug: 'github' }))).toBe('expired');
});

test('a failed token is refused from memory for a while (no store read), then read again', async () => {
  const f = fixture();
  const auth = f.authenticator({ failedTtlMs: 40 });
  expect(await refusal(auth.authenticate('tok-late', { baseUrl: BASE, slug: 'github' }))).toBe('unknown');
  expect(await refusal(auth.authenticate('tok-late', { baseUrl: BASE, slug: 'github' }))).toBe('unknown');
  expect(f.reads.tokens).toBe(1);
  // Issued (or replicated) since: found once the failure is forgotten.
  f.issue('tok-late');
  await new Promise((resolve) => setTimeout(resolve, 60));
  await expect(auth.authenticate('tok-late', { baseUrl: BASE, slug: 'github' })).resolves.toBeDefined();
  expect(f.reads.tokens).toBe(2);
});

test('concurrent first requests with one token share one read; store failures propagate and are not remembered', async () => {
  const f = fixture();
  f.issue('tok-burst');
  const auth = f.authenticator();
  await Promise.all(Array.from({ length: 5 }, () => auth.authenticate('tok-burst', { baseUrl: BASE, slug: 'github' })));
  expect(f.reads).toEqual({ tokens: 1, keys: 1 });

  let failing = true;
  const flaky = new OAuthTokenAuthenticator({
    tokens: {
      find: async (tokenHash) => {
        if (failing) throw new Error('store down');
        return f.records.get(tokenHash);
      },
    },
    getKey: async (keyId) => f.keys.get(keyId),
    now: () => f.clock.now,
  });
  await expect(flaky.authenticate('tok-burst', { baseUrl: BASE, slug: 'github' })).rejects.toThrow('store down');
  failing = false;
  await expect(flaky.authenticate('tok-burst', { baseUrl: BASE, slug: 'github' })).resolves.toBeDefined();
});

test("a token's use is recorded on its backing key (lastUsedAt), at most once a minute per key", async () => {
  const { issue, authenticator, clock } = fixture();
  issue('tok-1');
  issue('tok-2');
  const touches: [string, string][] = [];
  const auth = authenticator({ touchKey: async (keyId, at) => void touches.push([keyId, at]) });
  const target = { baseUrl: BASE, slug: 'github' };
  await auth.authenticate('tok-1', target);
  await auth.authenticate('tok-2', target); // the same grant's key: not again
  clock.now += 59_000;
  await auth.authenticate('tok-1', target);
  expect(touches).toEqual([['key_grant_1', new Date(NOW).toISOString()]]);
  clock.now += 1_000;
  await auth.authenticate('tok-1', target);
  expect(touches).toHaveLength(2);
  expect(touches[1]).toEqual(['key_grant_1', new Date(NOW + 60_000).toISOString()]);
});
