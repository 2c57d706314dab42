import { createHash } from 'node:crypto';
import { canonicalJson, GENESIS_HASH, hashEntry, sealEntry } from '../../../lambda/core/audit/entry';
import { chain, draft } from './fixtures';

describe('canonicalJson', () => {
  it('sorts keys at every depth and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: true, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[3,{"y":null,"z":true}]},"b":1}');
  });

  it('leaves undefined members out, as JSON does', () => {
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  // RFC 8785 section 3.2.2 / 3.2.3 examples: number and string forms, and UTF-16 key order.
  it('matches the RFC 8785 examples', () => {
    const input = JSON.parse(
      '{"numbers":[333333333.33333329,1E30,4.50,2e-3,0.000000000000000000000000001],"string":"\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/","literals":[null,true,false]}',
    );
    expect(canonicalJson(input)).toBe('{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],"string":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}');
    const keys = JSON.parse('{"\\u20ac":"Euro Sign","\\r":"Carriage Return","\\ufb33":"Hebrew Letter Dalet With Dagesh","1":"One","\\ud83d\\ude00":"Emoji: Grinning Face","\\u0080":"Control","\\u00f6":"Latin Small Letter O With Diaeresis"}');
    // Compared on the text: JSON.parse would put the integer-like key "1" first again.
    const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'];
    expect(canonicalJson(keys)).toBe(`{${order.map((key) => `${JSON.stringify(key)}:${JSON.stringify(keys[key])}`).join(',')}}`);
  });

  it.each([NaN, Infinity, BigInt(1), new Date(0), () => 1])('refuses %p rather than encoding it ambiguously', (value) => {
    expect(() => canonicalJson({ value })).toThrow(expect.objectContaining({ code: 'audit_unencodable_value' }));
  });
});

describe('hashEntry', () => {
  const [first] = chain(1);

  it('is SHA-256 hex over the canonical encoding of everything but the hash', () => {
    const { hash, ...rest } = first!;
    expect(hash).toBe(createHash('sha256').update(canonicalJson(rest)).digest('hex'));
    expect(hashEntry(first!)).toBe(hash); // the hash field itself is never part of the input
  });

  it('does not depend on key order', () => {
    const { hash, ...rest } = first!;
    const reversed = Object.fromEntries(Object.entries(rest).reverse()) as typeof rest;
    expect(hashEntry(reversed)).toBe(hash);
  });

  it('changes when any field changes', () => {
    const { hash, ...rest } = first!;
    const variants = [
      { ...rest, seq: 2 },
      { ...rest, time: '2026-12-01T12:00:02.000Z' },
      { ...rest, actor: { kind: 'operator' as const } },
      { ...rest, sourceIp: '203.0.113.8' },
      { ...rest, requestId: 'req-x' },
      { ...rest, action: 'mcp.deleted' },
      { ...rest, target: { type: 'mcp', id: 'other' } },
      { ...rest, changes: [{ field: 'timeoutMs', old: 1000, new: 9999 }] },
      { ...rest, prevHash: 'f'.repeat(64) },
    ];
    for (const variant of variants) expect(hashEntry(variant)).not.toBe(hash);
  });

  it('starts every chain from the genesis hash', () => {
    expect(GENESIS_HASH).toMatch(/^0{64}$/);
    expect(first!.prevHash).toBe(GENESIS_HASH);
    const sealed = sealEntry({ ...draft(1), orgId: 'acme', seq: 1, prevHash: GENESIS_HASH });
    expect(sealed).toEqual(first);
  });

  it('records a secret change with no value', () => {
    const secret = first!.changes.find((change) => change.secret);
    expect(secret).toEqual({ field: 'upstreamAuth', secret: true });
  });
});
