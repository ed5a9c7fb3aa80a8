/**
 * Precision as a searched attribute, end to end: `--precisions fp32,int8` puts int8 in every
 * group's choices, a candidate's int8 groups reach the backend as WeightSparsity precision
 * 'int8' and are served by the gemm-int8 family (counted in the compiled plan),
 * `--int8-outliers` sets the mixed decomposition's fraction, and `--propagate-precision`
 * applies the bit-width rule to the candidate so that more layers compile to int8.
 */
import { afterAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { CpuBackend } from '../../backends/cpu/cpu-backend.js';
import { readCpuInfo } from '../../backends/cpu/fingerprint.js';
import type { Capabilities } from '../../backends/backend.js';
import type { Graph, Node, Tensor } from '../../src/model/graph.js';
import { materialize } from '../../src/search/materialize.js';
import { configFromStored, resolveSearchConfig, storedOptions } from '../../src/search/config.js';
import { buildSearchSpace } from '../../src/space/build.js';
import type { Candidate } from '../../src/space/space.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import { propagatedInt8 } from '../../src/tesa/precision.js';
import { tempCache } from '../backends/cpu/helpers.js';
import { int8Shape } from '../../backends/cpu/kernels/int8/family.js';
import { cachedInt8Decision, int8DecisionKey } from '../../backends/cpu/kernels/int8/decisions.js';
import { planContext } from '../../backends/cpu/planner.js';

/** X[8,64] → A 64×64 → Relu → B 64×64 → Relu → C 64×64 → Relu → D 64×16. */
function chain(): Graph {
  const rng = seedrandom('chain');
  const tensors = new Map<string, Tensor>();
  const nodes: Node[] = [];
  const dims: Array<[string, number, number]> = [['A', 64, 64], ['B', 64, 64], ['C', 64, 64], ['D', 64, 16]];
  tensors.set('X', { name: 'X', dtype: 'float32', shape: [8, 64] });
  let x = 'X';
  dims.forEach(([w, k, n], i) => {
    tensors.set(w, { name: w, dtype: 'float32', shape: [k, n], data: Float32Array.from({ length: k * n }, () => rng() * 2 - 1) });
    const h = `${w}_out`;
    tensors.set(h, { name: h, dtype: 'float32', shape: [8, n] });
    nodes.push({ name: `mm_${w}`, opType: 'MatMul', domain: '', inputs: [x, w], outputs: [h], attrs: {} });
    x = h;
    if (i < dims.length - 1) {
      const r = `${w}_relu`;
      tensors.set(r, { name: r, dtype: 'float32', shape: [8, n] });
      nodes.push({ name: `relu_${w}`, opType: 'Relu', domain: '', inputs: [h], outputs: [r], attrs: {} });
      x = r;
    }
  });
  return { name: 'chain', inputs: ['X'], outputs: [x], tensors, nodes, opsetVersion: 17 };
}

const caps: Capabilities = { patterns: ['fine', 'block', 'row'], blockShapes: [[1, 32]], precisions: ['fp32', 'int8'], channelMultiple: 8 };

function setup(extra: { propagatePrecision?: boolean; int8Outliers?: number } = {}) {
  const graph = chain();
  const layerGroups = findLayerGroups(graph);
  const space = buildSearchSpace(graph, layerGroups, caps, { patterns: ['fine'], precisions: ['fp32', 'int8'], groups: 'off', ...extra });
  return { graph, space, ctx: { graph, space, layerGroups: new Map(layerGroups.map((g) => [g.id, g])), channelMultiple: 8 } };
}

/** B in int8 at 50% fine; A and C pruned a little in fp32; D dense fp32. */
const candidate: Candidate = {
  groups: {
    A: { ratio: 0.1, pattern: 'fine', precision: 'fp32' },
    B: { ratio: 0.5, pattern: 'fine', precision: 'int8' },
    C: { ratio: 0.1, pattern: 'fine', precision: 'fp32' },
  },
};

describe('precision in the search space', () => {
  it('offers every searched precision the backend has, per group', () => {
    const { space } = setup();
    expect(space.groups.map((g) => g.id)).toEqual(['A', 'B', 'C', 'D']);
    for (const g of space.groups) expect(g.precisions).toEqual(['fp32', 'int8']);
    const fp32Only = buildSearchSpace(chain(), findLayerGroups(chain()), { ...caps, precisions: ['fp32'] }, { patterns: ['fine'], precisions: ['fp32', 'int8'], groups: 'off' });
    expect(fp32Only.groups[0]!.precisions).toEqual(['fp32']);
    // The precision rules exist only where int8 can be chosen.
    expect(buildSearchSpace(chain(), findLayerGroups(chain()), caps, { patterns: ['fine'], precisions: ['fp32'], groups: 'off', propagatePrecision: true, int8Outliers: 0.01 })).toEqual({ groups: fp32Only.groups.map((g) => ({ ...g, precisions: ['fp32'] })) });
    expect(() => setup({ int8Outliers: 0.9 })).toThrow(/--int8-outliers/);
  });

  it('materializes int8 groups as WeightSparsity precision int8, with the outlier fraction when asked', () => {
    const plain = materialize(setup().ctx, candidate);
    expect(plain.sparsity.get('B')).toMatchObject({ precision: 'int8', pattern: 'fine' });
    expect(plain.sparsity.get('B')!.outliers).toBeUndefined();
    expect(plain.sparsity.get('A')!.precision).toBe('fp32');
    expect(plain.sparsity.has('D')).toBe(false);
    // A dense (ratio 0) int8 group is still int8.
    const dense = materialize(setup().ctx, { groups: { D: { ratio: 0, pattern: 'fine', precision: 'int8' } } });
    expect(dense.sparsity.get('D')).toMatchObject({ precision: 'int8', pattern: 'dense' });
    const mixed = materialize(setup({ int8Outliers: 0.01 }).ctx, candidate);
    expect(mixed.sparsity.get('B')!.outliers).toBe(0.01);
    expect(mixed.sparsity.get('A')!.outliers).toBeUndefined();
  });

  it('--propagate-precision spreads int8 by the bit-width rule (similar-sized neighbours only)', () => {
    const g = chain();
    // B (4096 elements) int8: A and C (4096) get 8·4096/4096 = 8 bits; D (1024) would need 32 and stays fp32.
    expect([...propagatedInt8(g, new Map([['B', 'int8']])).keys()].sort()).toEqual(['A', 'C']);
    // D int8 alone: its neighbour C gets 8·1024/4096 = 2 → 8 bits, then B and A from C.
    expect([...propagatedInt8(g, new Map([['D', 'int8']])).keys()].sort()).toEqual(['A', 'B', 'C']);
    expect(propagatedInt8(g, new Map()).size).toBe(0);

    const on = materialize(setup({ propagatePrecision: true }).ctx, candidate);
    expect(['A', 'B', 'C', 'D'].map((w) => on.sparsity.get(w)?.precision ?? 'fp32')).toEqual(['int8', 'int8', 'int8', 'fp32']);
    // The masks are the candidate's: only the precision changed.
    expect(on.sparsity.get('A')!.pattern).toBe('fine');
    expect(on.sparsity.get('A')!.mask).toEqual(materialize(setup().ctx, candidate).sparsity.get('A')!.mask);
  });

  it('the options reach the search config and survive storing (resume, export)', () => {
    const c = resolveSearchConfig({ precisions: 'fp32,int8', propagatePrecision: true, int8Outliers: '0.01' }, 1);
    expect(c.precisions).toEqual(['fp32', 'int8']);
    expect(c.propagatePrecision).toBe(true);
    expect(c.int8Outliers).toBe(0.01);
    const back = configFromStored(c.model, c.target, c.strategy, c.budget, JSON.parse(JSON.stringify(storedOptions(c))) as Record<string, unknown>);
    expect(back.propagatePrecision).toBe(true);
    expect(back.int8Outliers).toBe(0.01);
    expect(resolveSearchConfig({}, 1).propagatePrecision).toBeUndefined();
    expect(() => resolveSearchConfig({ precisions: 'int8', int8Outliers: 'lots' }, 1)).toThrow(/--int8-outliers/);
    // Without int8 to act on, the rules are refused rather than ignored.
    expect(() => resolveSearchConfig({ propagatePrecision: true }, 1)).toThrow(/--propagate-precision needs int8/);
    expect(() => resolveSearchConfig({ precisions: 'fp32', int8Outliers: '0.01' }, 1)).toThrow(/--int8-outliers needs int8/);
  });
});

describe.skipIf(!readCpuInfo().flags.includes('avx2'))('what the trial compiles', () => {
  const cache = tempCache('tesa-prec-search-');
  afterAll(() => cache.cleanup());

  it('int8 groups run on gemm-int8, and --propagate-precision puts more layers there', async () => {
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      const families = async (propagatePrecision: boolean): Promise<Record<string, string>> => {
        // As the search loop compiles a trial: the masked graph with the candidate's sparsity.
        const m = materialize(setup({ propagatePrecision }).ctx, candidate);
        const compiled = await backend.compile(m.maskedGraph, { sparsity: m.sparsity });
        return Object.fromEntries(compiled.plan.filter((p) => p.opType === 'MatMul').map((p) => [p.node, p.kernel]));
      };
      const off = await families(false);
      expect(off.mm_B).toBe('gemm-int8');
      expect(Object.values(off).filter((k) => k === 'gemm-int8')).toHaveLength(1);
      const on = await families(true);
      expect(Object.entries(on).filter(([, k]) => k === 'gemm-int8').map(([n]) => n).sort()).toEqual(['mm_A', 'mm_B', 'mm_C']);
      expect(on.mm_D).not.toBe('gemm-int8');
    } finally {
      await backend.close();
    }
  }, 300_000);

  it('--int8-outliers: the backend times decomposed against assimilated when it compiles, and follows its decision', async () => {
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      const m = materialize(setup({ int8Outliers: 0.02 }).ctx, candidate);
      const compiled = await backend.compile(m.maskedGraph, { sparsity: m.sparsity });
      const fp = await backend.fingerprint();
      const node = m.maskedGraph.nodes.find((n) => n.name === 'mm_B')!;
      const s = int8Shape({ anchor: node, absorbed: [], epilogue: [], outputs: node.outputs }, planContext(m.maskedGraph, fp, m.sparsity, new Map()))!;
      expect(s.outliers).toBe(0.02);
      const decision = cachedInt8Decision(int8DecisionKey(s.prob, s.pattern, s.outliers, fp.id, s.isa));
      expect(decision).toBeDefined();
      const family = compiled.plan.find((p) => p.node === 'mm_B')!.kernel;
      expect(family === 'gemm-int8').toBe(decision!.plan === 'decomposed');
    } finally {
      await backend.close();
    }
  }, 300_000);
});
