/** Layer groups derived from the graph (no name matching): BERT, MobileNetV2, ResNet, MLP. */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/model/load.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import type { LayerGroup } from '../../src/tesa/layer-group.js';
import { makeInitMasks, parseInitSpec } from '../../src/tesa/init-masks.js';
import { propagateMasks } from '../../src/tesa/masks.js';
import { prunableWeights } from '../../src/tesa/weights.js';

function ownedExactlyOnce(groups: LayerGroup[], weights: string[]): void {
  const owners = new Map<string, number>();
  for (const g of groups) for (const w of g.owned) owners.set(w, (owners.get(w) ?? 0) + 1);
  for (const w of weights) expect(owners.get(w), w).toBe(1);
  for (const g of groups) for (const m of g.members) expect(m.axis === 0 || m.axis === 1).toBe(true);
}

function bertShape(groups: LayerGroup[], layers: number, hidden: number, ffn: number, heads: number): void {
  const kinds = (k: string) => groups.filter((g) => g.kind === k);
  expect(kinds('ffn')).toHaveLength(layers);
  expect(kinds('attention-qk')).toHaveLength(layers);
  expect(kinds('attention-vo')).toHaveLength(layers);
  for (const g of kinds('ffn')) {
    expect(g.size).toBe(ffn);
    expect(g.members.map((m) => m.axis)).toEqual([1, 0]); // W_up out ↔ W_down in
  }
  for (const g of [...kinds('attention-qk'), ...kinds('attention-vo')]) {
    expect(g.size).toBe(hidden);
    expect(g.unit).toBe(hidden / heads);
    expect(g.members).toHaveLength(2);
  }
  const hiddenGroup = groups.find((g) => g.id === 'hidden')!;
  expect(hiddenGroup.kind).toBe('residual');
  expect(hiddenGroup.coarsePrunable).toBe(false);
  expect(hiddenGroup.size).toBe(hidden);
  expect(hiddenGroup.members).toHaveLength(6 * layers); // q,k,v,up in; o, down out
  expect(hiddenGroup.owned).toEqual([]);
  expect(groups).toHaveLength(3 * layers + 1);
}

describe('layer groups', () => {
  it('zoo:bert-mini: per layer an FFN group, head-aligned Q/K and V/O groups, and one hidden group', async () => {
    const g = await loadModel('zoo:bert-mini');
    const groups = findLayerGroups(g);
    bertShape(groups, 4, 256, 1024, 4);
    ownedExactlyOnce(groups, prunableWeights(g).map((w) => w.weight));
    const qk = groups.find((x) => x.kind === 'attention-qk')!;
    expect(qk.members.map((m) => m.weight)).toEqual(['encoder.layer.0.attention.self.query.weight', 'encoder.layer.0.attention.self.key.weight']);
    const vo = groups.find((x) => x.kind === 'attention-vo')!;
    expect(vo.members.map((m) => `${m.weight}@${m.axis}`)).toEqual(['encoder.layer.0.attention.self.value.weight@1', 'encoder.layer.0.attention.output.dense.weight@0']);
  });

  it('zoo:bert-base: 12 layers of the same structure', async () => {
    const g = await loadModel('zoo:bert-base');
    const groups = findLayerGroups(g);
    bertShape(groups, 12, 768, 3072, 12);
    ownedExactlyOnce(groups, prunableWeights(g).map((w) => w.weight));
  }, 120_000);

  it('zoo:mobilenet-v2: expansion chains (expand ↔ depthwise ↔ project) and residual stages', async () => {
    const g = await loadModel('zoo:mobilenet-v2');
    const groups = findLayerGroups(g);
    ownedExactlyOnce(groups, prunableWeights(g).map((w) => w.weight));
    const chain = groups.find((x) => x.members.some((m) => m.weight === 'features.4.conv.1.0.weight'))!;
    expect(chain.members.map((m) => `${m.weight}@${m.axis}`)).toEqual(['features.4.conv.0.0.weight@0', 'features.4.conv.1.0.weight@0', 'features.4.conv.2.weight@1']);
    const residual = groups.filter((x) => x.kind === 'residual');
    expect(residual).toHaveLength(5); // stages with repeated blocks: 24, 32, 64, 96, 160 channels
    expect(residual.map((x) => x.size)).toEqual([24, 32, 64, 96, 160]);
    expect(residual.every((x) => x.coarsePrunable)).toBe(true);
  });

  it('zoo:resnet18: block-internal chains and residual stage groups', async () => {
    const g = await loadModel('zoo:resnet18');
    const groups = findLayerGroups(g);
    ownedExactlyOnce(groups, prunableWeights(g).map((w) => w.weight));
    expect(groups.filter((x) => x.kind === 'chain')).toHaveLength(8);
    expect(groups.filter((x) => x.kind === 'residual').map((x) => x.size)).toEqual([64, 128, 256, 512]);
  });

  it('zoo:mlp: one group per hidden layer boundary', async () => {
    const g = await loadModel('zoo:mlp');
    const groups = findLayerGroups(g);
    ownedExactlyOnce(groups, prunableWeights(g).map((w) => w.weight));
    expect(groups.filter((x) => x.kind === 'chain').map((x) => x.members.map((m) => `${m.weight}@${m.axis}`))).toEqual([
      ['layers.0.weight@1', 'layers.2.weight@0'],
      ['layers.2.weight@1', 'layers.4.weight@0'],
      ['layers.4.weight@1', 'layers.6.weight@0'],
    ]);
  });

  it('zoo:bert-mini at 50% row pruning: V/O and FFN sparsity reaches W_o and W_down through the bias folds', async () => {
    const g = await loadModel('zoo:bert-mini');
    const r = propagateMasks(g, makeInitMasks(g, [parseInitSpec('*=row:0.5')]));
    const after = new Map(r.layers.map((l) => [l.name, l.after]));
    for (let l = 0; l < 4; l++) {
      expect(after.get(`encoder.layer.${l}.attention.output.dense.weight`)).toBeCloseTo(0.75, 6);
      expect(after.get(`encoder.layer.${l}.output.dense.weight`)).toBeCloseTo(0.75, 6);
      // Q and K keep their bias on the pruned rows: Q·Kᵀ does not make them constant, so no gain.
      expect(after.get(`encoder.layer.${l}.attention.self.key.weight`)).toBeCloseTo(0.5, 6);
    }
    console.log('bert-mini row 50%:', r.total);
  });

  it('zoo:mobilenet-v2 at 60% channel pruning of every conv, group-aware: the model ends well above 60%', async () => {
    const g = await loadModel('zoo:mobilenet-v2');
    const r = propagateMasks(g, makeInitMasks(g, [parseInitSpec('*=channel:0.6')], findLayerGroups(g)));
    console.log('mobilenet-v2 channel 60% group-aware:', r.total);
    expect(r.total.before).toBeCloseTo(0.6, 1);
    expect(r.total.after).toBeGreaterThan(0.8);
    // The same channels across each group: every layer's own mask is still 60%.
    for (const l of r.layers) expect(l.before).toBeLessThan(0.65);
  });
});
