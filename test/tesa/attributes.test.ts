import { describe, expect, it } from 'vitest';
import { SparsityAttr } from '../../src/tesa/attributes.js';

describe('SparsityAttr', () => {
  it('round-trips a kept mask and counts pruned elements', () => {
    const mask = new Uint8Array(3 * 70).fill(1);
    for (const i of [0, 5, 69, 70, 139, 200]) mask[i] = 0;
    const a = SparsityAttr.fromMask([3, 70], mask);
    expect(a.count()).toBe(6);
    expect(a.isPruned(69)).toBe(true);
    expect(a.isPruned(68)).toBe(false);
    expect(Array.from(a.toMask())).toEqual(Array.from(mask));
    expect(a.equals(SparsityAttr.fromMask([3, 70], mask))).toBe(true);
  });

  it('answers row and column queries per slice, across word boundaries', () => {
    const a = new SparsityAttr([2, 40, 64]);
    a.pruneRow(3, 1);
    a.pruneCol(7);
    expect(a.rowAllPruned(3, 1)).toBe(true);
    expect(a.rowAllPruned(3, 0)).toBe(false);
    expect(a.rowAllPruned(3)).toBe(false);
    expect(a.colAllPruned(7)).toBe(true);
    expect(a.colAllPruned(8, 1)).toBe(false);
    expect(a.count()).toBe(64 + 2 * 40 - 1);
    expect(a.prunedCols()).toEqual([7]);
    const flags = new Uint8Array(64);
    flags[31] = flags[32] = flags[63] = 1;
    a.pruneCols(flags, 0);
    expect(a.colAllPruned(32, 0)).toBe(true);
    expect(a.colAllPruned(32, 1)).toBe(false);
  });

  it('finds indices pruned along any axis, including whole 32-bit words', () => {
    const a = new SparsityAttr([24, 96, 1, 1]);
    const flags = new Uint8Array(24);
    flags[0] = flags[5] = flags[23] = 1;
    a.pruneAlong(0, flags);
    expect(Array.from(a.allPrunedAlong(0))).toEqual(Array.from(flags));
    expect(a.count()).toBe(3 * 96);
    const b = new SparsityAttr([5, 33]);
    b.pruneAlong(1, Uint8Array.from({ length: 33 }, (_, i) => (i % 11 === 0 ? 1 : 0)));
    expect(Array.from(b.allPrunedAlong(1)).map((v, i) => (v ? i : -1)).filter((i) => i >= 0)).toEqual([0, 11, 22]);
    expect(b.rangeAllPruned(11, 1)).toBe(true);
    expect(b.rangeAllPruned(0, 2)).toBe(false);
  });

  it('union of pruned elements and lower precision (the default resolution)', () => {
    const a = new SparsityAttr([4]);
    a.prune(0);
    a.setBits(2, 8);
    const b = new SparsityAttr([4]);
    b.prune(1);
    b.setBits(2, 16);
    b.setBits(3, 4);
    expect(a.unionPruned(b)).toBe(true);
    expect(a.lowerBits(b)).toBe(true);
    expect(Array.from(a.toBitWidths())).toEqual([0, 0, 8, 4]);
    expect(a.unionPruned(b)).toBe(false);
  });

  it('a 3072×768 attribute costs kilobytes, not megabytes', () => {
    const a = new SparsityAttr([3072, 768]);
    expect(a.byteSize()).toBe(0);
    for (let r = 0; r < 3072; r += 2) a.pruneRow(r);
    a.rowAllPruned(0);
    a.colAllPruned(0);
    expect(a.count()).toBe(1536 * 768);
    expect(a.byteSize()).toBeLessThan(400 * 1024);
    expect(a.prunedRows().length).toBe(1536);
  });
});
