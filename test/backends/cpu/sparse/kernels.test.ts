import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { lowerSparseGemm, planName, type SparsePlan } from '../../../../backends/cpu/kernels/sparse/families.js';
import { benchSparseKernels } from '../../../../backends/cpu/kernels/sparse/harness.js';
import { detectIsa, isaInfo, type VectorIsa } from '../../../../backends/cpu/kernels/sparse/isa.js';
import type { SparseGemmProblem } from '../../../../backends/cpu/kernels/sparse/structure.js';
import { makeMask } from '../../../../src/prune/masks.js';

function problem(m: number, n: number, k: number, pattern: string, ratio: number, seed: string): SparseGemmProblem {
  const rng = seedrandom(seed);
  const weight = new Float32Array(n * k);
  for (let i = 0; i < weight.length; i++) weight[i] = rng() * 2 - 1;
  return { m, n, k, weight, mask: makeMask({ data: weight, shape: [n, k] }, pattern, ratio) };
}

const PLANS: SparsePlan[] = [
  { family: 'dense-xt' },
  { family: 'shrunk' },
  { family: 'csr' },
  { family: 'specialized', embedValues: true },
  { family: 'specialized', embedValues: false },
  { family: 'bsr', r: 1, c: 4 },
  { family: 'bsr', r: 1, c: 16, order: 'row' },
  { family: 'bsr', r: 4, c: 4 },
  { family: 'bsr', r: 8, c: 1 },
  { family: 'bsr', r: 1, c: 8, minFill: 3 },
  { family: 'bsr', r: 2, c: 64 },
  { family: 'tile', g: 16, rb: 4 },
  { family: 'tile', g: 8, rb: 3 },
];

/** Every family on several random masks and odd M (padding, tails), through the real compiler. */
async function checkAll(isa: VectorIsa, m: number, n: number, k: number, pattern: string, ratio: number, seed: string, structure: 'baked' | 'data' = 'baked'): Promise<void> {
  const prob = problem(m, n, k, pattern, ratio, seed);
  const kernels = PLANS.map((p, i) => lowerSparseGemm(isaInfo(isa), prob, p, `k${i}`, { structure }));
  const r = await benchSparseKernels(prob, kernels, { reps: 1, warmup: 1, budgetMs: 50, seed: 3, optLevel: 1 });
  r.contenders.forEach((c, i) => {
    expect({ plan: planName(PLANS[i]!), err: c.maxRelError! < 1e-5 }).toEqual({ plan: planName(PLANS[i]!), err: true });
  });
}

describe('sparse GEMM kernel families vs the naive reference', () => {
  const isa = detectIsa();
  it.each([
    [isa, 37, 64, 128, 'fine', 0.9, 'a'],
    [isa, 16, 32, 128, 'block:1x32', 0.5, 'b'],
    [isa, 128, 64, 64, 'block:4x4', 0.8, 'c'],
    [isa, 20, 48, 64, 'row', 0.5, 'd'],
    ['avx2' as VectorIsa, 23, 64, 128, 'tile:16+fine:0.05', 0.7, 'f'],
    ['avx2' as VectorIsa, 33, 32, 64, 'nm:2:4', 0, 'g'],
  ] as Array<[VectorIsa, number, number, number, string, number, string]>)('%s M=%i N=%i K=%i %s %f', async (i, m, n, k, pattern, ratio, seed) => {
    await checkAll(i, m, n, k, pattern, ratio, seed);
  });

  // The same families with the structure read from the data blob (the size guard's other side).
  it.each([
    [isa, 37, 64, 128, 'fine', 0.9, 'a'],
    ['avx2' as VectorIsa, 20, 48, 64, 'row', 0.5, 'd'],
  ] as Array<[VectorIsa, number, number, number, string, number, string]>)('structure as data: %s M=%i N=%i K=%i %s %f', async (i, m, n, k, pattern, ratio, seed) => {
    await checkAll(i, m, n, k, pattern, ratio, seed, 'data');
  });

  it('structure as data: one code for every mask of a shape and plan', () => {
    const a = lowerSparseGemm(isaInfo('avx512'), problem(16, 64, 64, 'block:1x32', 0.5, 'x'), { family: 'bsr', r: 1, c: 32, minFill: 8 }, 'e', { structure: 'data' });
    const b = lowerSparseGemm(isaInfo('avx512'), problem(16, 64, 64, 'block:1x32', 0.8, 'y'), { family: 'bsr', r: 1, c: 32, minFill: 8 }, 'e', { structure: 'data' });
    expect(a.hash).toBe(b.hash);
    expect(a.code).not.toContain('static const int32_t');
    expect(Array.from(a.values)).not.toEqual(Array.from(b.values));
    // The size guard: large masks go to data by default, small ones stay baked.
    const big = problem(16, 512, 512, 'block:1x32', 0.5, 'z');
    expect(lowerSparseGemm(isaInfo('avx512'), big, { family: 'bsr', r: 1, c: 32 }).code).not.toContain('static const int32_t');
    expect(lowerSparseGemm(isaInfo('avx512'), problem(16, 64, 64, 'block:1x32', 0.5, 'x'), { family: 'bsr', r: 1, c: 32 }).code).toContain('static const int32_t');
  });

  it('a planted wrong kernel is caught', async () => {
    const prob = problem(16, 32, 64, 'fine', 0.8, 'w');
    const k = lowerSparseGemm(isaInfo(isa), prob, { family: 'csr' }, 'bad');
    const wrongValues = Float32Array.from(k.values, (v, i) => (i === 3 ? v + 1 : v));
    const r = await benchSparseKernels(prob, [{ ...k, values: wrongValues }], { reps: 1, warmup: 1, budgetMs: 10, optLevel: 1 });
    expect(r.contenders[0]!.maxRelError!).toBeGreaterThan(1e-3);
  });

  it('the specialised kernel refuses oversized code', () => {
    const prob = problem(16, 1024, 1024, 'fine', 0.1, 's');
    expect(() => lowerSparseGemm(isaInfo(isa), prob, { family: 'specialized', embedValues: true })).toThrow(/specialised kernel.*MB/);
  });

  it('lowering is deterministic and bakes the structure in', () => {
    const prob = problem(16, 32, 64, 'block:1x32', 0.5, 'h');
    const a = lowerSparseGemm(isaInfo('avx512'), prob, { family: 'bsr', r: 1, c: 32 });
    const b = lowerSparseGemm(isaInfo('avx512'), prob, { family: 'bsr', r: 1, c: 32 });
    expect(a.hash).toBe(b.hash);
    expect(a.code).toContain('static const int32_t sgemm_sparse_bsr_ptr');
    expect(a.values.length).toBe(32 * 64 / 2);
  });
});
