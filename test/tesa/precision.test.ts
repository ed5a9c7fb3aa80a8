/** The paper's bit-width rule (b_n = b·w / w_n; above 16 → 32, else 8), optional. */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { neighbourWidth, layerNeighbours } from '../../src/tesa/precision.js';
import { propagate } from '../../src/tesa/propagate.js';

describe('precision propagation', () => {
  it('computes the neighbour width by the paper\'s formula', () => {
    expect(neighbourWidth(8, 1000, 1000)).toBe(8); // 8
    expect(neighbourWidth(8, 3000, 1000)).toBe(32); // 24 > 16
    expect(neighbourWidth(8, 2000, 1000)).toBe(8); // exactly 16 is not above 16
  });

  it('spreads 8-bit from one MLP layer to its neighbours of similar size, only when enabled', async () => {
    const g = await loadModel('zoo:mlp');
    expect([...layerNeighbours(g).get('layers.2.weight')!].sort()).toEqual(['layers.0.weight', 'layers.4.weight']);
    const init = new SparsityAttr(g.tensors.get('layers.2.weight')!.shape, 8);
    const off = propagate(g, new Map([['layers.2.weight', init]]));
    expect(off.attributes.get('layers.4.weight')!.defaultBits).toBe(32);
    const on = propagate(g, new Map([['layers.2.weight', init]]), { propagatePrecision: true });
    // layers.2 (2048×2048) → layers.0 (1024×2048): 8·2 = 16 → 8; → layers.4 (same size): 8; then → layers.6 (2048×1000): 8·2048/1000 = 16.4 → stays 32.
    expect(on.attributes.get('layers.0.weight')!.defaultBits).toBe(8);
    expect(on.attributes.get('layers.4.weight')!.defaultBits).toBe(8);
    expect(on.attributes.get('layers.6.weight')!.defaultBits).toBe(32);
  });
});
