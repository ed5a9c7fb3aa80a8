/**
 * The int8 kernels, built and run for real (standalone harness, -O3 -march=native): exact
 * against an integer reference, within the predicted quantization error of the fp32 result.
 */
import { describe, expect, it } from 'vitest';
import { readCpuInfo } from '../../../../backends/cpu/fingerprint.js';
import { lowerInt8Gemm, type Int8Isa, type Int8Plan } from '../../../../backends/cpu/kernels/int8/emit.js';
import { benchInt8Kernels } from '../../../../backends/cpu/kernels/int8/harness.js';
import { int8Problem } from '../../../../backends/cpu/kernels/int8/bench.js';

const flags = readCpuInfo().flags;
const isas: Int8Isa[] = [
  ...(flags.includes('avx512_vnni') && flags.includes('avx512bw') ? (['vnni'] as const) : []),
  ...(flags.includes('avx2') ? (['avx2'] as const) : []),
];

describe.skipIf(isas.length === 0)('int8 GEMM kernels', () => {
  for (const isa of isas) {
    it(`${isa}: dense, BSR and mixed kernels are exact in integers and close to fp32 (odd shapes)`, async () => {
      // M, N, K not multiples of the tile: tails in every direction.
      const dense = int8Problem({ M: 37, N: 70, K: 132 }, 'dense', 0, 3);
      const plans: [string, Int8Plan][] = [
        ['dense', { body: { kind: 'dense' }, outlierFraction: 0, bias: true }],
        ['mixed', { body: { kind: 'dense' }, outlierFraction: 0.02, bias: true }],
      ];
      const bias = Float32Array.from({ length: 70 }, (_, i) => (i % 7) - 3);
      const r = await benchInt8Kernels(dense, plans.map(([e, p]) => lowerInt8Gemm(isa, dense, p, `k_${e}`)), { reps: 3, budgetMs: 50, bias });
      for (const c of r.contenders) {
        expect(c.intError, c.name).not.toBeNull();
        expect(c.intError!, c.name).toBeLessThan(1e-5);
        expect(c.quantError, c.name).toBeGreaterThan(1e-4); // really quantized
        expect(c.quantError, c.name).toBeLessThan(isa === 'vnni' ? 0.02 : 0.04);
      }
      expect(r.fp32Dense.quantError).toBeLessThan(1e-5);

      const sparse = int8Problem({ M: 21, N: 64, K: 128 }, 'block:1x32', 0.75, 5);
      const sp: [string, Int8Plan][] = [
        ['bsr', { body: { kind: 'bsr', r: 1, c: 32 }, outlierFraction: 0, bias: false }],
        ['bsr_mixed', { body: { kind: 'bsr', r: 1, c: 32 }, outlierFraction: 0.05, bias: false }],
        ['bsr_dense_body', { body: { kind: 'dense' }, outlierFraction: 0, bias: false }],
      ];
      const s = await benchInt8Kernels(sparse, sp.map(([e, p]) => lowerInt8Gemm(isa, sparse, p, `s_${e}`)), { reps: 3, budgetMs: 50 });
      for (const c of s.contenders) {
        expect(c.intError!, c.name).toBeLessThan(1e-5);
        expect(c.quantError, c.name).toBeLessThan(isa === 'vnni' ? 0.02 : 0.04);
      }
    }, 180_000);
  }

  it('a mixed decomposition with outliers is more accurate than pure int8 on a weight with spikes', async () => {
    const isa = isas[0]!;
    const prob = int8Problem({ M: 16, N: 32, K: 64 }, 'dense', 0, 9);
    for (let n = 0; n < 32; n++) prob.weight[n * 64 + ((n * 7) % 64)] = 40; // one spike per channel
    const kernels = [
      lowerInt8Gemm(isa, prob, { body: { kind: 'dense' }, outlierFraction: 0, bias: false }, 'pure'),
      lowerInt8Gemm(isa, prob, { body: { kind: 'dense' }, outlierFraction: 32 / (32 * 64), bias: false }, 'mixed'),
    ];
    expect(kernels[1]!.outliers).toBe(32);
    const r = await benchInt8Kernels(prob, kernels, { reps: 3, budgetMs: 50 });
    expect(r.contenders[1]!.quantError).toBeLessThan(r.contenders[0]!.quantError / 3);
  }, 120_000);

  it('refuses a block that breaks the 4-byte groups', () => {
    const prob = int8Problem({ M: 4, N: 8, K: 30 }, 'dense', 0);
    expect(() => lowerInt8Gemm('avx2', prob, { body: { kind: 'bsr', r: 1, c: 6 }, outlierFraction: 0, bias: false })).toThrow(/4-byte groups/);
  });
});
