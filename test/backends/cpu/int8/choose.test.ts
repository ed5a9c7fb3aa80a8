/**
 * Decomposed or assimilated (paper Figure 7 left): the planner times the int8 body + fp32
 * outlier kernel against our fp32 dense GEMM and keeps the faster. The rule is checked on
 * recorded timings both ways; the real chooser is run on a weight with few outliers and one
 * with many, and each decision must be the faster plan by its own recorded timings (which
 * plan wins is the machine's answer, not asserted: speed belongs to the benchmarks).
 */
import { describe, expect, it } from 'vitest';
import { readCpuInfo } from '../../../../backends/cpu/fingerprint.js';
import { decideInt8Plan, pickInt8Decomposition } from '../../../../backends/cpu/kernels/int8/choose.js';
import { cachedInt8Decision } from '../../../../backends/cpu/kernels/int8/decisions.js';
import { int8Problem } from '../../../../backends/cpu/kernels/int8/bench.js';
import { lowerInt8Gemm, type Int8Isa } from '../../../../backends/cpu/kernels/int8/emit.js';

const flags = readCpuInfo().flags;
const isas: Int8Isa[] = [
  ...(flags.includes('avx512_vnni') && flags.includes('avx512bw') ? (['vnni'] as const) : []),
  ...(flags.includes('avx2') ? (['avx2'] as const) : []),
];

describe('decideInt8Plan: the rule on recorded timings', () => {
  it('keeps the decomposed plan when its recorded time is lower', () => {
    const d = decideInt8Plan('k', 0.4, 1.0, 0);
    expect(d).toEqual({ key: 'k', plan: 'decomposed', decomposedMs: 0.4, assimilatedMs: 1.0 });
  });

  it('keeps the assimilated plan when fp32 dense was faster, or on a tie', () => {
    expect(decideInt8Plan('k', 2.5, 1.0, 0).plan).toBe('assimilated');
    expect(decideInt8Plan('k', 1.0, 1.0, 0).plan).toBe('assimilated');
  });

  it('never keeps a decomposed plan that failed the integer check, however fast', () => {
    const d = decideInt8Plan('k', 0.1, 1.0, 0.5);
    expect(d.plan).toBe('assimilated');
    expect(d.rejected).toMatch(/differs from the integer reference by 0.5/);
    expect(decideInt8Plan('k', 0.1, 1.0, null).plan).toBe('assimilated');
  });
});

describe.skipIf(isas.length === 0)('pickInt8Decomposition: both plans built, timed, the faster kept', () => {
  for (const isa of isas) {
    it(`${isa}: few outliers and many outliers, each decided by its own recorded timings`, async () => {
      const shape = { M: 64, N: 256, K: 256 };
      const cases = [
        { name: 'few', outliers: 0.005 },
        { name: 'many', outliers: 0.9 },
      ];
      const seen: string[] = [];
      for (const c of cases) {
        const prob = int8Problem(shape, 'dense', 0, 11);
        // The decomposed kernel really carries the outliers in fp32 (0.5% vs 90% of the weight).
        expect(lowerInt8Gemm(isa, prob, { body: { kind: 'dense' }, outlierFraction: c.outliers, bias: false }).outliers).toBe(Math.round(c.outliers * shape.N * shape.K));
        const d = await pickInt8Decomposition(prob, 'dense', c.outliers, { isa, fingerprintId: `choose-test-${isa}`, reps: 9, budgetMs: 600 });
        expect(d.rejected, c.name).toBeUndefined();
        expect(d.decomposedMs, c.name).toBeGreaterThan(0);
        expect(d.assimilatedMs, c.name).toBeGreaterThan(0);
        expect(d.plan, `${c.name}: decomposed ${d.decomposedMs} ms, assimilated ${d.assimilatedMs} ms`).toBe(d.decomposedMs < d.assimilatedMs ? 'decomposed' : 'assimilated');
        // Recorded: the family reads this decision; asking again does not re-time.
        expect(cachedInt8Decision(d.key)).toBe(d);
        expect(await pickInt8Decomposition(prob, 'dense', c.outliers, { isa, fingerprintId: `choose-test-${isa}` })).toBe(d);
        seen.push(`${c.name}: ${d.plan} (decomposed ${d.decomposedMs.toFixed(4)} ms, assimilated ${d.assimilatedMs.toFixed(4)} ms)`);
      }
      process.stdout.write(`[int8 choose ${isa}] ${seen.join('; ')}\n`);
    }, 180_000);
  }
});
