import type { DataKeyProvider } from '../envelope';
import type { RegistryStore } from '../registry-store';

const CONFIG_NAME = 'session-sealing-key';
const CONTEXT = { purpose: 'plexmcp:session-sealing' };

/**
 * The key that seals session ids, the same for every gateway instance and region: created once
 * (a data key from KMS or the local key file, stored wrapped in the replicated registry with a
 * conditional write) and unwrapped by each instance at start.
 */
export async function loadSessionKey(
  store: Pick<RegistryStore, 'getConfig' | 'createConfig'>,
  keys: DataKeyProvider,
): Promise<Uint8Array> {
  let stored = await store.getConfig(CONFIG_NAME);
  if (!stored) {
    const fresh = await keys.generateDataKey(CONTEXT);
    stored = await store.createConfig(CONFIG_NAME, { provider: keys.name, wrappedKey: fresh.wrapped });
    if (stored.wrappedKey === fresh.wrapped) return fresh.plaintext;
  }
  if (stored.provider !== keys.name) throw new Error(`session key was wrapped by ${stored.provider}, not ${keys.name}`);
  return keys.decryptDataKey(stored.wrappedKey!, CONTEXT);
}

/**
 * The two region health checks the session key gives (region-health.ts): the registry holds its
 * wrapped copy (`registry`: readable), and the credentials key unwraps it (`credentialsKey`:
 * KMS, or the local key file, answers).
 */
export function sessionKeyChecks(
  store: Pick<RegistryStore, 'getConfig'>,
  keys: DataKeyProvider,
): { registry: () => Promise<unknown>; credentialsKey: () => Promise<unknown> } {
  const wrapped = async () => {
    const stored = await store.getConfig(CONFIG_NAME);
    if (!stored?.wrappedKey) throw new Error('session key not found');
    return stored.wrappedKey;
  };
  return {
    registry: wrapped,
    credentialsKey: async () => keys.decryptDataKey(await wrapped(), CONTEXT),
  };
}
