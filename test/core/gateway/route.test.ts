import { randomBytes } from 'node:crypto';
import { GatewayError } from '../../../lambda/core/gateway/errors';
import { openSession } from '../../../lambda/core/gateway/route';
import { SessionSealer, type SessionClaims } from '../../../lambda/core/gateway/sessions';
import type { ApiKey, StoredMcpServer } from '../../../lambda/core/model';

const key = { keyId: 'k1', orgId: 'org_a' } as ApiKey;
const otherKey = { keyId: 'k2', orgId: 'org_a' } as ApiKey;
const mcp = { slug: 'alpha' } as StoredMcpServer;
const otherMcp = { slug: 'beta' } as StoredMcpServer;
const T0 = 1_800_000_000;

/** A real sealer whose `open` calls are counted. */
function countingSealer(maxAgeSeconds = 10): { sealer: SessionSealer; opens: () => number } {
  const sealer = new SessionSealer(randomBytes(32), maxAgeSeconds);
  let opens = 0;
  const open = sealer.open.bind(sealer);
  sealer.open = (...args) => {
    opens++;
    return open(...args);
  };
  return { sealer, opens: () => opens };
}

const claims = (issuedAt = T0): SessionClaims => ({ keyId: 'k1', orgId: 'org_a', mcp: 'alpha', endpointId: 'e1', upstreamSessionId: 'up-1', issuedAt });

function refused(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return error instanceof GatewayError ? error.code : String(error);
  }
  return undefined;
}

test('no id, no session', () => {
  const { sealer, opens } = countingSealer();
  expect(openSession(sealer, null, key, mcp, T0)).toBeUndefined();
  expect(openSession(sealer, '', key, mcp, T0)).toBeUndefined();
  expect(opens()).toBe(0);
});

test('within one second an id is opened once; the next second opens it again', () => {
  const { sealer, opens } = countingSealer();
  const id = sealer.seal(claims());
  for (let i = 0; i < 5; i++) expect(openSession(sealer, id, key, mcp, T0)).toMatchObject({ upstreamSessionId: 'up-1', endpointId: 'e1' });
  expect(opens()).toBe(1);
  openSession(sealer, id, key, mcp, T0 + 1);
  expect(opens()).toBe(2);
});

test('an id opened a moment ago is still refused to another key or MCP', () => {
  const { sealer } = countingSealer();
  const id = sealer.seal(claims());
  openSession(sealer, id, key, mcp, T0);
  expect(refused(() => openSession(sealer, id, otherKey, mcp, T0))).toBe('session_not_found');
  expect(refused(() => openSession(sealer, id, key, otherMcp, T0))).toBe('session_not_found');
  expect(refused(() => openSession(sealer, id, { ...key, orgId: 'org_b' }, mcp, T0))).toBe('session_not_found');
  expect(openSession(sealer, id, key, mcp, T0)).toBeDefined();
});

test('expiry is exact to the second even when the id was opened in the second before', () => {
  const { sealer } = countingSealer(10);
  const id = sealer.seal(claims(T0));
  expect(openSession(sealer, id, key, mcp, T0 + 10)).toBeDefined(); // the last second it is valid
  expect(openSession(sealer, id, key, mcp, T0 + 10)).toBeDefined();
  expect(refused(() => openSession(sealer, id, key, mcp, T0 + 11))).toBe('session_not_found');
});

test('what one sealer opened means nothing to another (another gateway, another key)', () => {
  const a = countingSealer();
  const b = countingSealer();
  const id = a.sealer.seal(claims());
  openSession(a.sealer, id, key, mcp, T0);
  expect(refused(() => openSession(b.sealer, id, key, mcp, T0))).toBe('session_not_found');
  expect(b.opens()).toBe(1);
});

test('ids that do not open are never remembered: each is checked again', () => {
  const { sealer, opens } = countingSealer();
  const id = sealer.seal(claims());
  const altered = id.slice(0, -2) + (id.endsWith('A') ? 'BB' : 'AA');
  for (let i = 0; i < 3; i++) expect(refused(() => openSession(sealer, altered, key, mcp, T0))).toBe('session_not_found');
  expect(opens()).toBe(3);
});
