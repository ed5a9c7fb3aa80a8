/**
 * Symmetric per-output-channel int8 quantization of a linear weight.
 *
 * Convention (as in src/prune/pattern.ts): the weight is the math matrix W of shape N×K
 * (output features × input features) whatever its stored layout; MatMul stores it [K,N].
 * Channel n gets scale s[n] = max_k |W[n,k]| / qmax and q[n,k] = round(W[n,k] / s[n]).
 * qmax is 127 for the VNNI path; the AVX2 path (vpmaddubsw) uses 63 so that a u8×s8 pair
 * sum (255·63·2 = 32130) never saturates int16, which is what oneDNN does without VNNI.
 * Elements whose mask is 0 are quantized to 0 and do not count toward the scale.
 */
import { TesaError } from '../errors.js';

export interface QuantizedWeight {
  n: number;
  k: number;
  /** N×K row-major. */
  q: Int8Array;
  /** Per output channel: W[n,k] ≈ q[n,k] · scale[n]. */
  scale: Float32Array;
  /** Σ_k q[n,k]: with u8 activations of zero point zp, Σ (xq−zp)·q = Σ xq·q − zp·rowSum[n]. */
  rowSum: Int32Array;
  qmax: number;
}

/** W as N×K row-major from a stored [K,N] (MatMul, Gemm transB=0) or [N,K] (Gemm transB=1) weight. */
export function weightNK(data: Float32Array, storedShape: readonly number[], transposedStorage: boolean): { n: number; k: number; w: Float32Array } {
  if (storedShape.length !== 2) throw new TesaError('BAD_INPUT', `linear weight of shape [${storedShape}] is not 2-D`, 'int8 quantization applies to MatMul/Gemm weights');
  const [a, b] = storedShape as [number, number];
  if (transposedStorage) return { n: a, k: b, w: data.slice(0, a * b) };
  const w = new Float32Array(a * b);
  for (let k = 0; k < a; k++) for (let n = 0; n < b; n++) w[n * a + k] = data[k * b + n]!;
  return { n: b, k: a, w };
}

export function quantizeWeightPerChannel(w: Float32Array, n: number, k: number, opts: { qmax?: number; mask?: Uint8Array } = {}): QuantizedWeight {
  const qmax = opts.qmax ?? 127;
  if (!(qmax >= 1 && qmax <= 127)) throw new TesaError('BAD_INPUT', `qmax ${qmax} is outside 1..127`, 'use 127 (VNNI) or 63 (AVX2)');
  if (w.length !== n * k) throw new TesaError('INTERNAL', `weight has ${w.length} elements, expected ${n}×${k}`);
  const mask = opts.mask;
  const q = new Int8Array(n * k);
  const scale = new Float32Array(n);
  const rowSum = new Int32Array(n);
  for (let r = 0; r < n; r++) {
    let amax = 0;
    for (let c = 0; c < k; c++) {
      const i = r * k + c;
      if (mask && mask[i] === 0) continue;
      const a = Math.abs(w[i]!);
      if (a > amax) amax = a;
    }
    // An all-zero channel keeps scale 1 so dequantization never divides by zero.
    const s = amax > 0 ? amax / qmax : 1;
    scale[r] = s;
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const i = r * k + c;
      if (mask && mask[i] === 0) continue;
      const v = Math.max(-qmax, Math.min(qmax, Math.round(w[i]! / s)));
      q[i] = v;
      sum += v;
    }
    rowSum[r] = sum;
  }
  return { n, k, q, scale, rowSum, qmax };
}

/** The fp32 weight the int8 one stands for (N×K). */
export function dequantizeWeight(qw: QuantizedWeight): Float32Array {
  const out = new Float32Array(qw.n * qw.k);
  for (let r = 0; r < qw.n; r++) {
    const s = qw.scale[r]!;
    for (let c = 0; c < qw.k; c++) out[r * qw.k + c] = qw.q[r * qw.k + c]! * s;
  }
  return out;
}
