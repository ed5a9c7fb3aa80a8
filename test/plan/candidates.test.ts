import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { compileCandidates, enumeratePlans, estimatedWork, MAX_COMPILE_CANDIDATES } from '../../src/plan/candidates.js';
import { nativeExtraPlans } from '../../src/plan/transform.js';
import type { SparseGemmProblem } from '../../backends/cpu/kernels/sparse/structure.js';
import { makeMask } from '../../src/prune/masks.js';

function problem(m: number, n: number, k: number, pattern: string, ratio: number): SparseGemmProblem {
  const rng = seedrandom('c');
  const weight = new Float32Array(n * k);
  for (let i = 0; i < weight.length; i++) weight[i] = rng() * 2 - 1;
  return { m, n, k, weight, mask: makeMask({ data: weight, shape: [n, k] }, pattern, ratio) };
}

describe('compile-path candidates', () => {
  it('keeps the pattern\'s own plan first and at most MAX_COMPILE_CANDIDATES, cheapest others next', () => {
    const prob = problem(32, 128, 128, 'block:1x32', 0.6);
    const all = enumeratePlans(prob, 'block:1x32');
    expect(all.length).toBeGreaterThan(MAX_COMPILE_CANDIDATES);
    const picked = compileCandidates(prob, 'block:1x32', all);
    expect(picked.length).toBe(MAX_COMPILE_CANDIDATES);
    expect(picked[0]).toEqual({ family: 'bsr', r: 1, c: 32 });
    // 1×4 blocks cover a 1×32 mask exactly too, but the ranking is by work and then by enumeration order.
    const works = picked.slice(1).map((p) => estimatedWork(prob, p));
    const left = all.filter((p) => !picked.includes(p)).map((p) => estimatedWork(prob, p));
    expect(Math.max(...works)).toBeLessThanOrEqual(Math.min(...left));
  });

  it('estimates covers by stored elements and row lists with a gather penalty', () => {
    const prob = problem(32, 128, 128, 'fine', 0.9);
    const kept = prob.mask.reduce((a, b) => a + b, 0);
    expect(estimatedWork(prob, { family: 'csr' })).toBe(2 * kept);
    expect(estimatedWork(prob, { family: 'bsr', r: 1, c: 4 })).toBeGreaterThanOrEqual(kept);
  });

  it('times the native CSR of a moderately pruned fine mask, not of an almost dense one', () => {
    const p30 = problem(32, 128, 128, 'fine', 0.3);
    expect(nativeExtraPlans(p30, 'fine', enumeratePlans(p30, 'fine'))).toEqual([{ family: 'csr' }]);
    const p10 = problem(32, 128, 128, 'fine', 0.1);
    expect(nativeExtraPlans(p10, 'fine', enumeratePlans(p10, 'fine'))).toEqual([]);
    const p95 = problem(32, 128, 128, 'fine', 0.95);
    expect(nativeExtraPlans(p95, 'fine', enumeratePlans(p95, 'fine'))).toEqual([]);
  });
});
