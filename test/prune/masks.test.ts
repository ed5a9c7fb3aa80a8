import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { makeGroupMasks, makeMask, coarseKeptCount, lowestUnits } from '../../src/prune/masks.js';
import { formatPattern, parsePattern, parseRatio } from '../../src/prune/pattern.js';
import { elementImportance } from '../../src/prune/importance.js';
import { maskedFraction } from '../../src/plan/sparsity.js';
import type { LayerGroup } from '../../src/tesa/layer-group.js';

function randomWeight(shape: number[], seed = 's'): { data: Float32Array; shape: number[] } {
  const rng = seedrandom(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng() * 2 - 1;
  return { data, shape };
}

const kept = (m: Uint8Array): number => m.reduce((a, b) => a + b, 0);

describe('pattern strings', () => {
  it('parses and formats every form', () => {
    for (const s of ['dense', 'fine', 'block:1x32', 'block:4x4', 'row', 'col', 'channel', 'tile:128', 'tile:64+fine:0.05', 'nm:2:4']) {
      expect(formatPattern(parsePattern(s))).toBe(s);
    }
    expect(parsePattern('block:32x1')).toEqual({ kind: 'block', rows: 32, cols: 1 });
  });
  it('rejects bad forms naming the option and listing valid forms', () => {
    for (const s of ['blocks:1x32', 'block:0x4', 'block:1x1', 'nm:4:2', 'tile:0', 'tile:8+fine:1.5', '']) {
      try {
        parsePattern(s, '--pattern');
        expect.unreachable(s);
      } catch (e) {
        const err = e as { code: string; message: string; hint: string };
        expect(err.code).toBe('BAD_INPUT');
        expect(err.message).toContain('--pattern');
        expect(err.hint).toContain('block:RxC');
      }
    }
  });
  it('parses ratios as fractions or percents', () => {
    expect(parseRatio('0.8')).toBeCloseTo(0.8);
    expect(parseRatio('80%')).toBeCloseTo(0.8);
    expect(parseRatio('80')).toBeCloseTo(0.8);
    expect(() => parseRatio('1')).toThrow(/sparsity/);
  });
});

describe('importance', () => {
  it('l1, l2 and taylor', () => {
    const w = new Float32Array([-2, 1, 0.5]);
    expect(Array.from(elementImportance('w', w))).toEqual([2, 1, 0.5]);
    expect(Array.from(elementImportance('w', w, { importance: 'l2' }))).toEqual([4, 1, 0.25]);
    expect(Array.from(elementImportance('w', w, { importance: 'taylor', gradient: new Float32Array([0, 3, -4]) }))).toEqual([0, 3, 2]);
    expect(() => elementImportance('w', w, { importance: 'taylor' })).toThrow(/gradient/);
  });
});

describe('makeMask', () => {
  it('fine prunes exactly the smallest magnitudes', () => {
    const w = { data: new Float32Array([5, -1, 3, 0.5, -4, 2, 0.1, 6]), shape: [2, 4] };
    const m = makeMask(w, 'fine', 0.5);
    expect(Array.from(m)).toEqual([1, 0, 1, 0, 1, 0, 0, 1]);
  });
  it('fine hits exact ratios and is deterministic', () => {
    const w = randomWeight([64, 96]);
    for (const r of [0.3, 0.8, 0.95]) {
      const m = makeMask(w, 'fine', r);
      expect(kept(m)).toBe(64 * 96 - Math.round(r * 64 * 96));
      expect(makeMask(w, 'fine', r)).toEqual(m);
    }
  });
  it('taylor ranks by |w·g|, not |w|', () => {
    const w = { data: new Float32Array([10, 1, 1, 1]), shape: [2, 2] };
    const m = makeMask(w, 'fine', 0.25, { importance: 'taylor', gradient: new Float32Array([0, 1, 1, 1]) });
    expect(Array.from(m)).toEqual([0, 1, 1, 1]);
  });
  it('block:RxC prunes whole blocks, lowest summed importance first', () => {
    for (const [R, C] of [[1, 4], [1, 32], [1, 64], [4, 1], [32, 1], [4, 4], [32, 32]] as const) {
      const w = randomWeight([64, 128], `b${R}x${C}`);
      const m = makeMask(w, `block:${R}x${C}`, 0.75);
      const blocks = (64 / R) * (128 / C);
      expect(kept(m)).toBe((blocks - Math.round(0.75 * blocks)) * R * C);
      // Every block is all-kept or all-pruned.
      for (let bi = 0; bi < 64 / R; bi++) {
        for (let bj = 0; bj < 128 / C; bj++) {
          let s = 0;
          for (let i = 0; i < R; i++) for (let j = 0; j < C; j++) s += m[(bi * R + i) * 128 + bj * C + j]!;
          expect(s === 0 || s === R * C).toBe(true);
        }
      }
    }
    // Importance order: a block with tiny values goes first.
    const w = { data: new Float32Array([9, 9, 0.1, 0.1, 8, 8, 7, 7]), shape: [2, 4] };
    expect(Array.from(makeMask(w, 'block:1x2', 0.25))).toEqual([1, 1, 0, 0, 1, 1, 1, 1]);
  });
  it('block that does not divide names the weight and shape', () => {
    expect(() => makeMask(randomWeight([10, 32]), 'block:4x4', 0.5, { weightName: 'fc1.w' })).toThrow(/fc1\.w.*10×32/);
  });
  it('row on a MatMul [K,N] weight prunes output features (stored columns)', () => {
    const K = 16, N = 24;
    const w = randomWeight([K, N]);
    for (let k = 0; k < K; k++) w.data[k * N + 5] = 0; // output feature 5 is all zero
    const m = makeMask(w, 'row', 1 / 24, { axisForChannel: 1 });
    for (let k = 0; k < K; k++) expect(m[k * N + 5]).toBe(0);
    expect(kept(m)).toBe(23 * K);
  });
  it('coarse kept counts are multiples of channelMultiple', () => {
    const w = randomWeight([100, 64]);
    for (const r of [0.1, 0.33, 0.5, 0.77]) {
      const m = makeMask(w, 'channel', r, { channelMultiple: 8 });
      const rows = kept(m) / 64;
      expect(rows % 8).toBe(0);
      expect(Math.abs(rows - (1 - r) * 100)).toBeLessThanOrEqual(4);
      const c = makeMask(w, 'col', r, { channelMultiple: 16 });
      expect((kept(c) / 100) % 16).toBe(0);
    }
    expect(coarseKeptCount(768, 0.5, 16)).toBe(384);
    expect(coarseKeptCount(10, 0.99, 8)).toBe(8);
  });
  it('channel on a conv weight removes whole output channels', () => {
    const w = randomWeight([16, 3, 3, 3]);
    const m = makeMask(w, 'channel', 0.5);
    for (let o = 0; o < 16; o++) {
      const s = kept(m.subarray(o * 27, (o + 1) * 27));
      expect(s === 0 || s === 27).toBe(true);
    }
    expect(kept(m)).toBe(8 * 27);
  });
  it('nm keeps N of each M consecutive inputs, the largest ones', () => {
    const w = randomWeight([8, 16]);
    const m = makeMask(w, 'nm:2:4', 0);
    for (let i = 0; i < 8; i++) {
      for (let j0 = 0; j0 < 16; j0 += 4) {
        const idx = [0, 1, 2, 3].map((t) => i * 16 + j0 + t);
        expect(idx.reduce((a, x) => a + m[x]!, 0)).toBe(2);
        const keptMin = Math.min(...idx.filter((x) => m[x]).map((x) => Math.abs(w.data[x]!)));
        const prunedMax = Math.max(...idx.filter((x) => !m[x]).map((x) => Math.abs(w.data[x]!)));
        expect(keptMin).toBeGreaterThanOrEqual(prunedMax);
      }
    }
  });
  it('tile:G has, per tile of G kept output rows, one shared input-feature set; the ratio is close', () => {
    const N = 256, K = 128, G = 32;
    const w = randomWeight([N, K], 'tile');
    const m = makeMask(w, 'tile:32', 0.75);
    expect(Math.abs(maskedFraction(m) - 0.75)).toBeLessThan(G / (N * K) + 1e-9);
    const rows = Array.from({ length: N }, (_, i) => i).filter((i) => kept(m.subarray(i * K, (i + 1) * K)) > 0);
    expect(rows.length).toBeLessThan(N); // some whole output features went
    for (let t = 0; t * G < rows.length; t++) {
      const tile = rows.slice(t * G, (t + 1) * G);
      for (const i of tile) expect(Array.from(m.subarray(i * K, (i + 1) * K))).toEqual(Array.from(m.subarray(tile[0]! * K, (tile[0]! + 1) * K)));
    }
  });
  it('tile:G+fine:δ restores the δ most important pruned elements', () => {
    const w = randomWeight([128, 64], 'tew');
    const tw = makeMask(w, 'tile:32', 0.8);
    const tew = makeMask(w, 'tile:32+fine:0.05', 0.75);
    expect(Math.abs(maskedFraction(tew) - 0.75)).toBeLessThan(0.01);
    const restored = Array.from(tew).filter((v, i) => v === 1 && tw[i] === 0).length;
    expect(restored).toBe(Math.round(0.05 * 128 * 64));
  });
  it('lowestUnits breaks ties by index', () => {
    expect(Array.from(lowestUnits(new Float64Array([1, 1, 1, 0]), 2))).toEqual([1, 0, 0, 1]);
  });
});

describe('makeGroupMasks', () => {
  const group: LayerGroup = {
    id: 'layer0.ffn',
    kind: 'ffn',
    members: [
      { weight: 'up', node: 'mm_up', axis: 1 }, // MatMul [K=16, N=32]: output features
      { weight: 'down', node: 'mm_down', axis: 0 }, // MatMul [K=32, N=16]: input features
    ],
    size: 32,
    unit: 1,
    coarsePrunable: true,
    owned: ['up', 'down'],
  };
  it('coarse: members share one mask along the coupled axis ranked by summed importance', () => {
    const up = randomWeight([16, 32], 'up');
    const down = randomWeight([32, 16], 'down');
    // Channel 7 is tiny in 'up' but huge in 'down': summed, it must survive.
    for (let k = 0; k < 16; k++) up.data[k * 32 + 7] = 1e-6;
    for (let j = 0; j < 16; j++) down.data[7 * 16 + j] = 100;
    const masks = makeGroupMasks(group, new Map([['up', up], ['down', down]]), 'channel', 0.5, { channelMultiple: 8 });
    const mu = masks.get('up')!, md = masks.get('down')!;
    expect(kept(mu)).toBe(16 * 16);
    for (let c = 0; c < 32; c++) {
      expect(mu[c]).toBe(md[c * 16]); // same channel decision in both
    }
    expect(mu[7]).toBe(1);
  });
  it('heads: whole units go together', () => {
    const g2 = { ...group, unit: 8 };
    const masks = makeGroupMasks(g2, new Map([['up', randomWeight([16, 32], 'a')], ['down', randomWeight([32, 16], 'b')]]), 'row', 0.5);
    const mu = masks.get('up')!;
    for (let h = 0; h < 4; h++) {
      const s = [0, 1, 2, 3, 4, 5, 6, 7].reduce((a, c) => a + mu[h * 8 + c]!, 0);
      expect(s === 0 || s === 8).toBe(true);
    }
  });
  it('fine: each owned weight gets its own mask at the group ratio', () => {
    const masks = makeGroupMasks(group, new Map([['up', randomWeight([16, 32], 'a')], ['down', randomWeight([32, 16], 'b')]]), 'fine', 0.75);
    expect(kept(masks.get('up')!)).toBe(128);
    expect(kept(masks.get('down')!)).toBe(128);
  });
});
