/**
 * Per-tensor activation quantization to u8 with zero point 128: the VNNI instruction
 * `vpdpbusd` (and AVX2's `vpmaddubsw`) multiplies unsigned bytes by signed bytes, so the
 * activation side is u8 and the zero-point term is removed afterwards with the weights'
 * per-channel row sums (see QuantizedWeight.rowSum). xq = clamp(round(x/s) + 128, 0, 255)
 * with s = absmax/127 covers [−128s, 127s]. The scale comes either from the tensor itself at
 * run time (dynamic, what the kernels do) or from calibration ranges (static).
 */
export const ACT_ZERO_POINT = 128;

export interface ActivationQuant {
  scale: number;
  zeroPoint: number;
}

export function activationScale(absMax: number): ActivationQuant {
  // Same guard as the C kernels: an all-zero tensor quantizes with scale 1.
  return { scale: absMax > 0 ? absMax / 127 : 1, zeroPoint: ACT_ZERO_POINT };
}

export function absMax(x: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < x.length; i++) {
    const a = Math.abs(x[i]!);
    if (a > m) m = a;
  }
  return m;
}

/** Rounds like the kernels (`_mm512_cvtps_epi32`, round half to even). */
export function roundHalfEven(v: number): number {
  const r = Math.round(v);
  return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export function quantizeActivations(x: ArrayLike<number>, q: ActivationQuant): Uint8Array {
  const out = new Uint8Array(x.length);
  const inv = 1 / q.scale;
  for (let i = 0; i < x.length; i++) out[i] = Math.max(0, Math.min(255, roundHalfEven(Math.fround(x[i]! * inv)) + q.zeroPoint));
  return out;
}

export function dequantizeActivations(xq: Uint8Array, q: ActivationQuant): Float32Array {
  const out = new Float32Array(xq.length);
  for (let i = 0; i < xq.length; i++) out[i] = (xq[i]! - q.zeroPoint) * q.scale;
  return out;
}
