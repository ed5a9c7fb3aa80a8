import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { clearPlanMemory, pickPlan, type PlanDecisionStore } from '../../src/plan/picker.js';
import { enumeratePlans } from '../../src/plan/candidates.js';
import { detectIsa } from '../../backends/cpu/kernels/sparse/isa.js';
import type { SparseGemmProblem } from '../../backends/cpu/kernels/sparse/structure.js';
import { makeMask } from '../../src/prune/masks.js';

function problem(m: number, n: number, k: number, pattern: string, ratio: number): SparseGemmProblem {
  const rng = seedrandom('p');
  const weight = new Float32Array(n * k);
  for (let i = 0; i < weight.length; i++) weight[i] = rng() * 2 - 1;
  return { m, n, k, weight, mask: makeMask({ data: weight, shape: [n, k] }, pattern, ratio) };
}

class MemoryStore implements PlanDecisionStore {
  rows = new Map<string, unknown>();
  getPlanDecision<T>(key: string): T | undefined {
    return this.rows.get(key) as T | undefined;
  }
  putPlanDecision(key: string, _fp: string, choice: unknown): void {
    this.rows.set(key, JSON.parse(JSON.stringify(choice)));
  }
}

describe('plan enumeration', () => {
  it('offers the pattern family and assimilating / decomposed block plans', () => {
    const fine = enumeratePlans(problem(32, 128, 128, 'fine', 0.95), 'fine').map((p) => p.family);
    expect(enumeratePlans(problem(32, 128, 128, 'fine', 0.3), 'fine')).toEqual([]);
    expect(fine).toContain('csr');
    expect(fine).toContain('specialized');
    const blk = enumeratePlans(problem(32, 128, 128, 'block:1x32', 0.8), 'block:1x32');
    expect(blk).toContainEqual({ family: 'bsr', r: 1, c: 32 });
    expect(enumeratePlans(problem(32, 128, 128, 'tile:32', 0.75), 'tile:32').some((p) => p.family === 'tile')).toBe(true);
    expect(enumeratePlans(problem(32, 128, 128, 'row', 0.5), 'row')).toContainEqual({ family: 'shrunk' });
    // A mostly-kept fine mask is covered by no block plan (that would be dense in disguise).
    expect(enumeratePlans(problem(32, 128, 128, 'fine', 0.3), 'fine').some((p) => p.family === 'bsr')).toBe(false);
  });
});

describe('plan picker (real builds and timings; asserts choices only)', () => {
  const isa = detectIsa();
  it('chooses dense at 30% fine, and caches the decision in memory and the store', async () => {
    clearPlanMemory();
    const store = new MemoryStore();
    const prob = problem(64, 256, 256, 'fine', 0.3);
    // CSR is not enumerated past half density; offer it anyway so the timing decides.
    const c = await pickPlan(prob, 'fine', { isa, fingerprintId: 'test-fp', store, reps: 7, budgetMs: 600, extraPlans: [{ family: 'csr' }, { family: 'bsr', r: 1, c: 4 }] });
    expect(c.plan).toEqual({ family: 'dense' });
    expect(c.fromCache).toBe(false);
    expect(c.candidates.map((x) => x.plan)).toEqual(['dense', 'csr', 'bsr:1x4']);
    expect(store.rows.size).toBe(1);
    const again = await pickPlan(prob, 'fine', { isa, fingerprintId: 'test-fp', store });
    expect(again.fromCache).toBe(true);
    expect(again.plan).toEqual(c.plan);
    clearPlanMemory();
    const fromStore = await pickPlan(prob, 'fine', { isa, fingerprintId: 'test-fp', store });
    expect(fromStore.fromCache).toBe(true);
  });
  it('chooses a sparse plan at 95% block:1x32', async () => {
    const prob = problem(64, 256, 256, 'block:1x32', 0.95);
    const c = await pickPlan(prob, 'block:1x32', { isa, fingerprintId: 'test-fp', reps: 7, budgetMs: 600 });
    expect(c.plan.family).not.toBe('dense');
  });
});
