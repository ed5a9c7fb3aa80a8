/**
 * Candidate → masks → propagation → ModelSparsity on the real zoo MLP with the real pruning
 * and propagation modules; the proxy evaluator and FLOPs cost on top.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Capabilities } from '../../backends/backend.js';
import { loadModel } from '../../src/model/load.js';
import type { Graph } from '../../src/model/graph.js';
import { buildSearchSpace } from '../../src/space/build.js';
import type { Candidate, SearchSpace } from '../../src/space/space.js';
import type { LayerGroup } from '../../src/tesa/layer-group.js';
import { materialize } from '../../src/search/materialize.js';
import { modelFlops } from '../../src/evaluate/flops-cost.js';
import { ProxyEvaluator } from '../../src/evaluate/proxy.js';

const caps: Capabilities = { patterns: ['fine', 'block', 'row', 'channel'], blockShapes: [[1, 32]], precisions: ['fp32'], channelMultiple: 8 };

// The MLP's coupled dimensions, written out: hidden k ties layer k's outputs to layer k+1's inputs.
function mlpGroups(): LayerGroup[] {
  const w = ['layers.0.weight', 'layers.2.weight', 'layers.4.weight', 'layers.6.weight'];
  const node = (x: string) => `/${x.replace('.weight', '')}/MatMul`;
  const groups: LayerGroup[] = [];
  for (let k = 0; k < 3; k++) {
    groups.push({ id: `hidden${k}`, kind: 'chain', members: [{ weight: w[k]!, node: node(w[k]!), axis: 1 }, { weight: w[k + 1]!, node: node(w[k + 1]!), axis: 0 }], size: 2048, unit: 1, coarsePrunable: true, owned: [w[k]!] });
  }
  groups.push({ id: 'out', kind: 'single', members: [{ weight: w[3]!, node: node(w[3]!), axis: 1 }], size: 1000, unit: 1, coarsePrunable: false, owned: [w[3]!] });
  return groups;
}

let graph: Graph;
let groups: LayerGroup[];
beforeAll(async () => {
  graph = await loadModel('zoo:mlp');
  groups = mlpGroups();
});

function ctx(space: SearchSpace) {
  return { graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: 8 };
}

describe('materialize', () => {
  it('coarse group pruning removes the coupled rows of the next layer too, and propagation reports it', () => {
    const space = buildSearchSpace(graph, groups, caps, { patterns: ['row', 'fine'], precisions: ['fp32'], groups: 'on' });
    const c: Candidate = { groups: { hidden0: { ratio: 0.5, pattern: 'row', precision: 'fp32' } } };
    const m = materialize(ctx(space), c);
    expect(m.summary['layers.0.weight']!.after).toBeCloseTo(0.5, 2);
    // layers.2 is not owned by hidden0, but its input rows are coupled: they go too.
    expect(m.summary['layers.2.weight']!.after).toBeCloseTo(0.5, 2);
    // The group's own figure (what the watch screen shows): its weights' sparsity, weighted by size.
    expect(m.groupSummary['hidden0']!.after).toBeCloseTo(m.summary['layers.0.weight']!.after, 6);
    expect(m.groupSummary['hidden1']!.after).toBeCloseTo(m.summary['layers.2.weight']!.after, 6);
    expect(m.groupSummary['hidden1']!.before).toBeCloseTo(m.summary['layers.2.weight']!.before, 6);
    expect(m.sparsity.get('layers.2.weight')!.mask.length).toBe(2048 * 2048);
    // the masked graph has the pruned weights at zero
    const w = m.maskedGraph.tensors.get('layers.0.weight')!.data as Float32Array;
    const mask = m.sparsity.get('layers.0.weight')!.mask;
    for (let i = 0; i < mask.length; i += 997) if (mask[i] === 0) expect(w[i]).toBe(0);
  });

  it('the proxy score falls with sparsity, and FLOPs fall with the kept fraction', async () => {
    const space = buildSearchSpace(graph, groups, caps, { patterns: ['block:1x32'], precisions: ['fp32'], groups: 'on' });
    const proxy = new ProxyEvaluator();
    const score = async (r: number) => {
      const c: Candidate = { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio: r, pattern: 'block:1x32', precision: 'fp32' as const }])) };
      const m = materialize(ctx(space), c);
      const q = await proxy.evaluate({ graph, maskedGraph: m.maskedGraph, sparsity: m.sparsity, candidate: c, candidateHash: 'x', space, workDir: '/tmp', seed: 1 });
      return { q: q.score, flops: modelFlops(graph, m.sparsity) };
    };
    const dense = modelFlops(graph);
    const a = await score(0.3);
    const b = await score(0.6);
    expect(a.q).toBeLessThan(1);
    expect(b.q).toBeLessThan(a.q);
    expect(a.flops / dense).toBeGreaterThan(0.6);
    expect(a.flops / dense).toBeLessThan(0.8);
    expect(b.flops).toBeLessThan(a.flops);
  });

  it('block patterns are offered only where they divide the weights (MobileNetV2: depthwise 3x3 convs have K = 9)', async () => {
    const mb = await loadModel('zoo:mobilenet-v2');
    const { findLayerGroups } = await import('../../src/tesa/groups.js');
    const lgs = findLayerGroups(mb);
    const space = buildSearchSpace(mb, lgs, caps, { patterns: ['block:1x32', 'fine'], precisions: ['fp32'], groups: 'on' });
    expect(space.groups.some((g) => !g.patterns.includes('block:1x32'))).toBe(true);
    const c: Candidate = { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio: 0.5, pattern: g.patterns[0]!, precision: 'fp32' as const }])) };
    const m = materialize({ graph: mb, space, layerGroups: new Map(lgs.map((g) => [g.id, g])), channelMultiple: 8 }, c);
    expect(m.total.after).toBeGreaterThan(0.3);
  });
});
