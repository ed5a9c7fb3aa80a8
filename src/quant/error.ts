/**
 * Quantization error of a linear layer Y = X·Wᵀ, for the proxy and fidelity evaluators.
 *
 * Expected error (no data beyond the activation range): rounding errors are uniform in
 * [−s/2, s/2] (variance s²/12) and independent of the values, so per output channel n
 *   E[Δy²] ≈ Σ_k kept · (E[x²]·s_n²/12 + W[n,k]²·s_x²/12)   and   E[y²] ≈ E[x²]·‖W_n‖²,
 * giving relErr = sqrt(Σ_n E[Δy²] / Σ_n E[y²]). fp32 outliers carry no error (weight or
 * activation) and pruned elements none at all. `measuredRelativeError` is the same quantity on real outputs.
 */
import type { QuantizedWeight } from './weights.js';

export interface LayerErrorInputs {
  /** fp32 weight N×K (already masked: pruned elements are 0). */
  w: Float32Array;
  qw: QuantizedWeight;
  /** 1 where the element runs in int8 (kept and not an fp32 outlier); default: every nonzero. */
  int8Mask?: Uint8Array;
  /** Activation statistics of X: rms (E[x²]^½) and |x|max (sets the activation scale). */
  act: { rms: number; absMax: number };
}

export interface LayerQuantError {
  /** expected ‖ΔY‖/‖Y‖ from weight and activation rounding together */
  relative: number;
  weightPart: number;
  activationPart: number;
}

export function expectedRelativeError(e: LayerErrorInputs): LayerQuantError {
  const { w, qw } = e;
  const ex2 = e.act.rms * e.act.rms;
  const sx = e.act.absMax > 0 ? e.act.absMax / 127 : 0;
  let signal = 0;
  let wNoise = 0;
  let xNoise = 0;
  for (let n = 0; n < qw.n; n++) {
    const s = qw.scale[n]!;
    for (let k = 0; k < qw.k; k++) {
      const i = n * qw.k + k;
      const v = w[i]!;
      signal += v * v;
      const inInt8 = e.int8Mask ? e.int8Mask[i] === 1 : v !== 0;
      // fp32 outliers multiply the unquantized X (the kernels' outlier part reads X in fp32).
      if (inInt8) {
        wNoise += (s * s) / 12;
        xNoise += (v * v * sx * sx) / 12;
      }
    }
  }
  const denom = ex2 * signal;
  if (denom === 0) return { relative: 0, weightPart: 0, activationPart: 0 };
  const weightPart = Math.sqrt((ex2 * wNoise) / denom);
  const activationPart = Math.sqrt(xNoise / denom);
  return { relative: Math.sqrt((ex2 * wNoise + xNoise) / denom), weightPart, activationPart };
}

/** ‖got − ref‖₂ / ‖ref‖₂ (0 when both are zero). */
export function measuredRelativeError(ref: ArrayLike<number>, got: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = got[i]! - ref[i]!;
    num += d * d;
    den += ref[i]! * ref[i]!;
  }
  return den === 0 ? Math.sqrt(num) : Math.sqrt(num / den);
}
