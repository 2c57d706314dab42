import { type AuditEntry, sealEntry } from '../../../lambda/core/audit/entry';
import { verifyChain } from '../../../lambda/core/audit/verify';
import { chain } from './fixtures';

describe('verifyChain', () => {
  const entries = chain(8);

  it('accepts an intact chain and returns its last entry', () => {
    expect(verifyChain(entries)).toEqual({ ok: true, last: { seq: 8, hash: entries[7]!.hash } });
    expect(verifyChain([])).toEqual({ ok: true, last: undefined });
  });

  it('accepts a partial chain from an anchor, and refuses it without one', () => {
    const anchor = { seq: 3, hash: entries[2]!.hash };
    expect(verifyChain(entries.slice(3), anchor)).toEqual({ ok: true, last: { seq: 8, hash: entries[7]!.hash } });
    expect(verifyChain(entries.slice(3))).toEqual({ ok: false, seq: 1, problem: 'removed' });
  });

  it('names an edited entry as altered', () => {
    const edited = entries.map((e) => (e.seq === 5 ? { ...e, sourceIp: '198.51.100.1' } : e));
    expect(verifyChain(edited)).toEqual({ ok: false, seq: 5, problem: 'altered' });
  });

  it('names an entry whose seq field was edited as altered', () => {
    const edited = entries.map((e) => (e.seq === 4 ? { ...e, seq: 40 } : e));
    expect(verifyChain(edited)).toEqual({ ok: false, seq: 40, problem: 'altered' });
  });

  it('names a rewritten entry with a recomputed hash by the broken link after it', () => {
    const rewritten = entries.map((e) => {
      if (e.seq !== 5) return e;
      const { hash: _hash, ...rest } = e;
      void _hash;
      return sealEntry({ ...rest, action: 'mcp.created' });
    });
    expect(verifyChain(rewritten)).toEqual({ ok: false, seq: 6, problem: 'broken-link' });
  });

  it('names a deleted entry as removed', () => {
    expect(verifyChain(entries.filter((e) => e.seq !== 3))).toEqual({ ok: false, seq: 3, problem: 'removed' });
  });

  it('names two swapped entries as reordered', () => {
    const swapped = [...entries];
    [swapped[5], swapped[6]] = [swapped[6]!, swapped[5]!];
    expect(verifyChain(swapped)).toEqual({ ok: false, seq: 7, problem: 'reordered' });
  });

  it('names an inserted entry, even a well-formed one that links correctly', () => {
    const forged: AuditEntry = sealEntry({ ...entries[3]!, requestId: 'forged', prevHash: entries[2]!.hash });
    const inserted = [...entries.slice(0, 3), forged, ...entries.slice(3)];
    expect(verifyChain(inserted)).toEqual({ ok: false, seq: 4, problem: 'inserted' });
    const duplicate = [...entries.slice(0, 5), entries[4]!, ...entries.slice(5)];
    expect(verifyChain(duplicate)).toEqual({ ok: false, seq: 5, problem: 'inserted' });
  });

  it('names a chain that does not start from the genesis as a broken link', () => {
    const other = chain(2, 'other');
    const mixed = [entries[0]!, { ...other[1]! }];
    expect(verifyChain(mixed)).toEqual({ ok: false, seq: 2, problem: 'broken-link' });
  });
});
