import { RegistryCache } from '../../../lambda/core/gateway/registry-cache';
import type { Org, StoredMcpServer } from '../../../lambda/core/model';

function countingStore() {
  const calls = { org: 0, mcp: 0 };
  const org = { orgId: 'org_1', name: 'A', plan: 'free', ipAllowlist: [], createdAt: '', updatedAt: '' } as Org;
  return {
    calls,
    store: {
      getOrg: async (id: string) => (calls.org++, id === 'org_1' ? org : undefined),
      getMcp: async (_org: string, slug: string) => (calls.mcp++, slug === 'known' ? ({ slug } as StoredMcpServer) : undefined),
    },
  };
}

test('warm reads cost no store calls; entries expire after the TTL', async () => {
  const { store, calls } = countingStore();
  const cache = new RegistryCache(store, { ttlMs: 40 });
  await cache.getOrg('org_1');
  await cache.getOrg('org_1');
  await cache.getMcp('org_1', 'known');
  await cache.getMcp('org_1', 'known');
  expect(calls).toEqual({ org: 1, mcp: 1 });
  await new Promise((r) => setTimeout(r, 60));
  await cache.getOrg('org_1');
  expect(calls.org).toBe(2);
});

test('unknown slugs are remembered briefly, so probing them costs no reads', async () => {
  const { store, calls } = countingStore();
  const cache = new RegistryCache(store, { ttlMs: 10_000, negativeTtlMs: 30 });
  expect(await cache.getMcp('org_1', 'nope')).toBeUndefined();
  expect(await cache.getMcp('org_1', 'nope')).toBeUndefined();
  expect(calls.mcp).toBe(1);
  await new Promise((r) => setTimeout(r, 50));
  await cache.getMcp('org_1', 'nope');
  expect(calls.mcp).toBe(2);
});

test('the cache is keyed by org: the same slug of two orgs is two entries', async () => {
  const { store, calls } = countingStore();
  const cache = new RegistryCache(store);
  await cache.getMcp('org_1', 'known');
  await cache.getMcp('org_2', 'known');
  expect(calls.mcp).toBe(2);
});
