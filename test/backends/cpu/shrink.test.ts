/**
 * Shrunk dense in the compile path: a model with coarse (channel / row) masks compiles to
 * physically smaller convolutions and GEMMs (dead channels removed across their layer groups)
 * whose outputs equal the masked dense model's, in our backend (check mode and outputs) and
 * in onnxruntime-node.
 */
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { hasCoarsePruning, shrinkForCompile } from '../../../backends/cpu/shrink-pass.js';
import { getBackend } from '../../../backends/registry.js';
import { loadModel } from '../../../src/model/load.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { runOrt } from '../../../src/model/ort.js';
import type { TensorData } from '../../../src/model/graph.js';
import { materialize } from '../../../src/search/materialize.js';
import { buildSearchSpace } from '../../../src/space/build.js';
import type { Candidate } from '../../../src/space/space.js';
import { findLayerGroups } from '../../../src/tesa/groups.js';
import { packageRoot } from '../../../src/util/package-root.js';
import { QUICK, relError, tempCache } from './helpers.js';

const cache = tempCache();
const backend = new CpuBackend({ cacheDir: cache.dir });
afterAll(async () => {
  await backend.close();
  cache.cleanup();
});

async function pruned(model: string, pattern: string, ratio: number) {
  const graph = await loadModel(model);
  const groups = findLayerGroups(graph);
  const caps = getBackend('cpu').capabilities();
  const space = buildSearchSpace(graph, groups, { ...caps, patterns: ['dense', pattern] }, { patterns: [pattern], precisions: ['fp32'], groups: 'on' });
  const candidate: Candidate = { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio, pattern, precision: 'fp32' as const }])) };
  return materialize({ graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: caps.channelMultiple }, candidate);
}

describe('shrunk dense for coarse pruning in compile', () => {
  it('ResNet (BatchNorm, residual Adds), channel 0.5: smaller convolutions, outputs equal the masked dense model', async () => {
    const m = await pruned(join(packageRoot(), 'test', 'fixtures', 'onnx', 'resnet_bn_op13.onnx'), 'channel', 0.5);
    expect(hasCoarsePruning(m.sparsity)).toBe(true);
    const shrunk = await backend.compile(m.maskedGraph, { sparsity: m.sparsity });
    const s = backend.lastShrink!;
    expect(s.removed).toBeGreaterThan(0);
    expect(s.parametersAfter).toBeLessThan(s.parametersBefore);
    const masked = await backend.compile(m.maskedGraph, { sparsity: m.sparsity, shrink: false });
    expect(backend.lastShrink).toBeNull();
    // Output channels of the convolutions as compiled: some are physically fewer.
    const convOut = (p: typeof shrunk.plan) => p.filter((o) => o.opType === 'Conv').map((o) => (o.params.outputRefs as Array<{ shape: number[] }>)[0]!.shape[1]!);
    const a = convOut(shrunk.plan);
    const b = convOut(masked.plan);
    expect(a.length).toBe(b.length);
    expect(a.some((c, i) => c < b[i]!)).toBe(true);
    expect(a.every((c, i) => c <= b[i]!)).toBe(true);

    const inputs = randomInputs(m.maskedGraph, 7);
    const feeds = new Map(Object.entries(inputs)) as Map<string, Float32Array>;
    const rs = await backend.run(shrunk, { protocol: QUICK, check: true, wantOutputs: true, inputs: feeds });
    const rm = await backend.run(masked, { protocol: QUICK, wantOutputs: true, inputs: feeds });
    expect(rs.check!.maxRelError).toBeLessThan(1e-4);
    const ort = await runOrt(m.maskedGraph, inputs as Record<string, TensorData>);
    for (const [name, v] of rs.outputs!) {
      expect(relError(v, rm.outputs!.get(name)!)).toBeLessThan(1e-4);
      expect(relError(v, ort.get(name)!.data as Float32Array)).toBeLessThan(1e-4);
    }
  });

  it('bert-mini, row 0.5: FFN GEMMs shrink, the masks of shrunk weights are re-cut to their new shapes', async () => {
    const m = await pruned('zoo:bert-mini', 'row', 0.5);
    const s = shrinkForCompile(m.maskedGraph, m.sparsity)!;
    expect(s.groups.some((g) => g.group.endsWith('.ffn') && g.removed > 0)).toBe(true);
    for (const [w, e] of s.sparsity) {
      const t = s.graph.tensors.get(w)!;
      expect(e.shape).toEqual(t.shape);
      expect(e.mask.length).toBe(t.shape.reduce((x, y) => x * y, 1));
      const d = t.data as Float32Array;
      for (let i = 0; i < d.length; i++) if (!e.mask[i]) expect(d[i]).toBe(0);
    }
    // Some GEMM weights are physically smaller than in the masked graph.
    const smaller = m.sparsity.size > 0 && [...s.graph.tensors.values()].filter((t) => {
      const before = m.maskedGraph.tensors.get(t.name);
      return t.data !== undefined && before !== undefined && t.shape.length === 2 && t.shape[0]! * t.shape[1]! < before.shape[0]! * before.shape[1]!;
    });
    expect(smaller && smaller.length).toBeGreaterThan(0);
  });

  it('fine masks are left alone', async () => {
    const m = await pruned(join(packageRoot(), 'test', 'fixtures', 'onnx', 'resnet_bn_op13.onnx'), 'fine', 0.5);
    expect(hasCoarsePruning(m.sparsity)).toBe(false);
    expect(shrinkForCompile(m.maskedGraph, m.sparsity)).toBeNull();
  });
});
