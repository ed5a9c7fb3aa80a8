/**
 * Mixed-precision decomposition (paper Figure 7): a weight whose attribute is int8 except a
 * few fp32 elements is split into an int8 body and a sparse fp32 outlier set. The outliers
 * are the largest-magnitude kept elements; taking them out of the body shrinks each channel's
 * scale, which is where the accuracy gain comes from.
 */
import { TesaError } from '../errors.js';

export interface OutlierSplit {
  /** 1 = element runs in the int8 body (N×K). */
  bodyMask: Uint8Array;
  /** 1 = element runs in the fp32 outlier kernel. */
  outlierMask: Uint8Array;
  outliers: number;
}

/** The `fraction` of kept elements with the largest |w| become fp32 outliers (ties by index). */
export function splitOutliers(w: Float32Array, fraction: number, mask?: Uint8Array): OutlierSplit {
  if (!(fraction >= 0 && fraction < 1)) throw new TesaError('BAD_INPUT', `outlier fraction ${fraction} is outside [0, 1)`, 'for example 0.01 for 1% fp32 outliers');
  const kept: number[] = [];
  for (let i = 0; i < w.length; i++) if (!mask || mask[i] === 1) kept.push(i);
  const count = Math.round(fraction * kept.length);
  kept.sort((a, b) => Math.abs(w[b]!) - Math.abs(w[a]!) || a - b);
  const bodyMask = new Uint8Array(w.length);
  const outlierMask = new Uint8Array(w.length);
  for (let j = 0; j < kept.length; j++) {
    if (j < count) outlierMask[kept[j]!] = 1;
    else bodyMask[kept[j]!] = 1;
  }
  return { bodyMask, outlierMask, outliers: count };
}
