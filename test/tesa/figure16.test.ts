/**
 * The paper's Figure 16 on zoo:mlp (4 layers, every layer pruned at the same ratio): coarse row
 * pruning spreads forward and raises the later layers (16c); random 32×32 blocks raise the
 * middle layers most, which get it from both sides (16a); fine-grained barely moves (16b).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../src/model/graph.js';
import { loadModel } from '../../src/model/load.js';
import { makeInitMasks, parseInitSpec, randomMasks } from '../../src/tesa/init-masks.js';
import { propagateMasks, type MaskPropagation } from '../../src/tesa/masks.js';
import { prunableWeights } from '../../src/tesa/weights.js';

let graph: Graph;
let names: string[];
beforeAll(async () => {
  graph = await loadModel('zoo:mlp');
  names = prunableWeights(graph).map((w) => w.weight);
});

const gain = (r: MaskPropagation, i: number): number => r.layers[i].after - r.layers[i].before;
const show = (label: string, r: MaskPropagation): void => {
  console.log(label, r.layers.map((l) => `${(l.before * 100).toFixed(1)}→${(l.after * 100).toFixed(1)}`).join('  '), `total ${(r.total.before * 100).toFixed(1)}→${(r.total.after * 100).toFixed(1)}`);
};

describe('Figure 16 on zoo:mlp', () => {
  it('(c) row pruning at 50%: the later three layers gain, the first does not', () => {
    const r = propagateMasks(graph, makeInitMasks(graph, [parseInitSpec('*=row:0.5')]));
    show('row 50%', r);
    expect(gain(r, 0)).toBe(0);
    for (const i of [1, 2, 3]) expect(r.layers[i].after).toBeCloseTo(0.75, 6);
    expect(r.total.after).toBeGreaterThan(0.7);
    // Final masks: one per prunable weight, the propagated attribute unpacked (1 = kept).
    expect(r.weightMasks.size).toBe(4);
    const m = r.weightMasks.get('layers.4.weight')!;
    expect(m.length).toBe(2048 * 2048);
    expect(m.reduce((a, v) => a + (v === 0 ? 1 : 0), 0) / m.length).toBeCloseTo(0.75, 6);
    for (const [name, mask] of r.weightMasks) expect(Array.from(mask.subarray(0, 64))).toEqual(Array.from(r.attributes.get(name)!.toMask().subarray(0, 64)));
  });

  it('(a) random 32×32 blocks at 95%: the middle layers gain more than the outer ones', () => {
    const r = propagateMasks(graph, randomMasks(graph, names, 0.95, 16, { block: [32, 32] }));
    show('block 95%', r);
    for (const i of [1, 2]) {
      expect(gain(r, i)).toBeGreaterThan(0.005);
      expect(gain(r, i)).toBeGreaterThan(gain(r, 0));
      expect(gain(r, i)).toBeGreaterThan(gain(r, 3));
    }
  });

  it('(b) fine-grained at 50% and 95%: barely moves', () => {
    for (const ratio of [0.5, 0.95]) {
      const r = propagateMasks(graph, randomMasks(graph, names, ratio, 16, 'fine'));
      show(`fine ${ratio * 100}%`, r);
      for (let i = 0; i < 4; i++) expect(gain(r, i)).toBeLessThan(0.01);
    }
    const mag = propagateMasks(graph, makeInitMasks(graph, [parseInitSpec('*=fine:0.5')]));
    show('fine 50% (magnitude)', mag);
    expect(mag.total.after - mag.total.before).toBeLessThan(0.01);
  });
});
