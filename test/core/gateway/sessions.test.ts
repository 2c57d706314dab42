import { randomBytes } from 'node:crypto';
import { SessionSealer, type SessionClaims } from '../../../lambda/core/gateway/sessions';

const key = randomBytes(32);
const claims: SessionClaims = { endpointId: 'ep_a', upstreamSessionId: 'upstream-123', orgId: 'org_1', mcp: 'tools', keyId: 'key_a', issuedAt: 1_000_000 };
const expect1 = { orgId: 'org_1', mcp: 'tools', keyId: 'key_a' };

describe('SessionSealer', () => {
  const sealer = new SessionSealer(key, 3600);

  test('round trip: the id hides the endpoint and upstream session, and opens to the same claims', () => {
    const id = sealer.seal(claims);
    expect(id).toMatch(/^pms2\.[A-Za-z0-9_-]+$/);
    expect(id).not.toContain('upstream-123');
    expect(id).not.toContain('ep_a');
    expect(sealer.open(id, expect1, 1_000_010)).toEqual(claims);
  });

  test('two seals of the same claims differ (fresh IV)', () => {
    expect(sealer.seal(claims)).not.toBe(sealer.seal(claims));
  });

  test('another org, MCP or API key cannot use the id', () => {
    const id = sealer.seal(claims);
    expect(sealer.open(id, { ...expect1, orgId: 'org_2' }, 1_000_010)).toBeUndefined();
    expect(sealer.open(id, { ...expect1, mcp: 'other' }, 1_000_010)).toBeUndefined();
    expect(sealer.open(id, { ...expect1, keyId: 'key_b' }, 1_000_010)).toBeUndefined();
    expect(sealer.open(id, expect1, 1_000_010)).toEqual(claims);
  });

  test('only the canonical spelling opens: a changed last character (unused bits), junk characters or the base64 alphabet do not', () => {
    for (let i = 0; i < 200; i++) {
      const id = sealer.seal({ ...claims, upstreamSessionId: `upstream-${i}` });
      const last = id.length - 1;
      for (const c of ['A', 'B', 'C', 'D']) {
        if (c !== id[last]) expect(sealer.open(id.slice(0, last) + c, expect1, 1_000_010)).toBeUndefined();
      }
    }
    const id = sealer.seal(claims);
    expect(sealer.open(id, expect1, 1_000_010)).toEqual(claims);
    expect(sealer.open(`${id}!`, expect1, 1_000_010)).toBeUndefined();
    expect(sealer.open(`${id.slice(0, 10)}.${id.slice(10)}`, expect1, 1_000_010)).toBeUndefined();
    expect(sealer.open(`${id}==`, expect1, 1_000_010)).toBeUndefined();
    const standard = id.replace(/-/g, '+').replace(/_/g, '/');
    if (standard !== id) expect(sealer.open(standard, expect1, 1_000_010)).toBeUndefined();
  });

  test('expired, future-dated, tampered, truncated, foreign-key and garbage ids do not open', () => {
    const id = sealer.seal(claims);
    expect(sealer.open(id, expect1, 1_000_000 + 3601)).toBeUndefined();
    expect(sealer.open(id, expect1, 1_000_000 - 120)).toBeUndefined();
    const body = id.slice(5);
    for (let i = 0; i < body.length; i += 7) {
      const flipped = body.slice(0, i) + (body[i] === 'A' ? 'B' : 'A') + body.slice(i + 1);
      expect(sealer.open(`pms2.${flipped}`, expect1, 1_000_010)).toBeUndefined();
    }
    expect(sealer.open(id.slice(0, -4), expect1, 1_000_010)).toBeUndefined();
    expect(new SessionSealer(randomBytes(32)).open(id, expect1, 1_000_010)).toBeUndefined();
    for (const garbage of ['', 'pms2.', 'pms2.!!!', 'upstream-123', 'pms1.' + body, 'pms2.' + 'A'.repeat(5000)]) {
      expect(sealer.open(garbage, expect1, 1_000_010)).toBeUndefined();
    }
  });

  test('refuses a key of the wrong size', () => {
    expect(() => new SessionSealer(randomBytes(16))).toThrow('32 bytes');
  });
});
