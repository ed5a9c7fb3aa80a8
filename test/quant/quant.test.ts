import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import {
  ACT_ZERO_POINT, activationScale, calibrationRanges, dequantizeActivations, dequantizeWeight, expectedRelativeError,
  measuredRelativeError, quantizeActivations, quantizeWeightPerChannel, roundHalfEven, splitOutliers, weightNK,
} from '../../src/quant/index.js';

function randomWeight(n: number, k: number, seed = 'w'): Float32Array {
  const rng = seedrandom(seed);
  const w = new Float32Array(n * k);
  for (let i = 0; i < w.length; i++) w[i] = (rng() * 2 - 1) * (1 + (i % k) / k);
  return w;
}

describe('per-channel weight quantization', () => {
  it('uses max|w|/qmax per output channel and reconstructs within half a step', () => {
    const n = 8, k = 40;
    const w = randomWeight(n, k);
    w[3 * k + 5] = -9; // channel 3 has a large element: only its own scale grows
    const q = quantizeWeightPerChannel(w, n, k);
    const back = dequantizeWeight(q);
    for (let r = 0; r < n; r++) {
      let amax = 0;
      for (let c = 0; c < k; c++) amax = Math.max(amax, Math.abs(w[r * k + c]!));
      expect(q.scale[r]).toBeCloseTo(amax / 127, 7);
      let sum = 0;
      for (let c = 0; c < k; c++) {
        expect(Math.abs(back[r * k + c]! - w[r * k + c]!)).toBeLessThanOrEqual(q.scale[r]! / 2 + 1e-7);
        sum += q.q[r * k + c]!;
      }
      expect(q.rowSum[r]).toBe(sum);
    }
    expect(q.q[3 * k + 5]).toBe(-127);
    expect(q.scale[3]!).toBeGreaterThan(q.scale[2]! * 3);
  });

  it('honours qmax (63 for the AVX2 path) and the mask', () => {
    const n = 4, k = 16;
    const w = randomWeight(n, k, 'm');
    const mask = new Uint8Array(n * k).fill(1);
    mask[0] = 0;
    w[0] = 100; // masked out: must not set the scale
    const q = quantizeWeightPerChannel(w, n, k, { qmax: 63, mask });
    expect(q.q[0]).toBe(0);
    expect(Math.max(...Array.from(q.q, Math.abs))).toBe(63);
    expect(q.scale[0]!).toBeLessThan(1);
  });

  it('turns a stored [K,N] MatMul weight into N×K', () => {
    const stored = Float32Array.from([1, 2, 3, 4, 5, 6]); // K=2, N=3
    const { n, k, w } = weightNK(stored, [2, 3], false);
    expect([n, k]).toEqual([3, 2]);
    expect(Array.from(w)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(Array.from(weightNK(stored, [3, 2], true).w)).toEqual([1, 2, 3, 4, 5, 6]);
  });
});

describe('activation quantization', () => {
  it('is u8 with zero point 128 and rounds half to even like the kernels', () => {
    const q = activationScale(2.54);
    expect(q.zeroPoint).toBe(ACT_ZERO_POINT);
    const x = [0, 2.54, -2.54, 0.01, -0.01];
    const xq = quantizeActivations(x, q);
    expect(Array.from(xq)).toEqual([128, 255, 1, 128, 128]);
    const back = dequantizeActivations(xq, q);
    for (let i = 0; i < x.length; i++) expect(Math.abs(back[i]! - x[i]!)).toBeLessThanOrEqual(q.scale / 2 + 1e-6);
    expect(roundHalfEven(2.5)).toBe(2);
    expect(roundHalfEven(3.5)).toBe(4);
    expect(roundHalfEven(-2.5)).toBe(-2);
  });

  it('collects calibration ranges over batches', () => {
    const r = calibrationRanges([new Map([['x', [1, -3]]]), new Map([['x', [2, 0]], ['y', [5]]])]);
    expect(r.get('x')).toMatchObject({ min: -3, max: 2, absMax: 3, count: 4 });
    expect(r.get('x')!.rms).toBeCloseTo(Math.sqrt(14 / 4), 12);
    expect(r.get('y')!.absMax).toBe(5);
  });
});

describe('outliers and error model', () => {
  it('splits the largest |w| into fp32 outliers and tightens the scales', () => {
    const n = 16, k = 64;
    const w = randomWeight(n, k, 'o');
    for (let r = 0; r < n; r++) w[r * k + r] = 20; // one spike per channel
    const split = splitOutliers(w, n / (n * k));
    expect(split.outliers).toBe(n);
    for (let r = 0; r < n; r++) expect(split.outlierMask[r * k + r]).toBe(1);
    const plain = quantizeWeightPerChannel(w, n, k);
    const body = quantizeWeightPerChannel(w, n, k, { mask: split.bodyMask });
    const act = { rms: 0.58, absMax: 1 };
    const e0 = expectedRelativeError({ w, qw: plain, act });
    const e1 = expectedRelativeError({ w, qw: body, int8Mask: split.bodyMask, act });
    expect(e1.weightPart).toBeLessThan(e0.weightPart / 5);
  });

  it('predicts the measured error of a quantized GEMM within a factor of two', () => {
    const m = 64, n = 48, k = 96;
    const w = randomWeight(n, k, 'e');
    const rng = seedrandom('x');
    const x = new Float32Array(m * k);
    for (let i = 0; i < x.length; i++) x[i] = rng() * 2 - 1;
    const qw = quantizeWeightPerChannel(w, n, k);
    const aq = activationScale(Math.max(...Array.from(x, Math.abs)));
    const xq = dequantizeActivations(quantizeActivations(x, aq), aq);
    const wq = dequantizeWeight(qw);
    const ref = new Float64Array(m * n);
    const got = new Float64Array(m * n);
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let a = 0, b = 0;
        for (let c = 0; c < k; c++) {
          a += x[i * k + c]! * w[j * k + c]!;
          b += xq[i * k + c]! * wq[j * k + c]!;
        }
        ref[i * n + j] = a;
        got[i * n + j] = b;
      }
    }
    const measured = measuredRelativeError(ref, got);
    const rms = Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
    const expected = expectedRelativeError({ w, qw, act: { rms, absMax: aq.scale * 127 } }).relative;
    expect(measured).toBeGreaterThan(expected / 2);
    expect(measured).toBeLessThan(expected * 2);
  });
});
