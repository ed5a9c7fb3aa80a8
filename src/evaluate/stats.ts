/**
 * Latency statistics: median, MAD and a distribution-free 95% confidence interval of the
 * median from order statistics (the binomial interval: ranks n/2 ∓ 1.96·√n/2), so no
 * normality is assumed for skewed timing samples.
 */
import { median, medianAbsoluteDeviation, mean, min, max } from 'simple-statistics';

export interface LatencyStats {
  n: number;
  medianMs: number;
  /** Median absolute deviation, ms. */
  madMs: number;
  ciLowMs: number;
  ciHighMs: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
}

/** 95% CI of the median: sorted[j-1], sorted[k-1] with j, k the binomial ranks (1-based). */
export function medianCI(samples: readonly number[], z = 1.959964): [number, number] {
  const n = samples.length;
  if (n === 0) return [NaN, NaN];
  const s = [...samples].sort((a, b) => a - b);
  if (n < 6) return [s[0], s[n - 1]];
  const half = (z * Math.sqrt(n)) / 2;
  const j = Math.max(1, Math.floor(n / 2 - half));
  const k = Math.min(n, Math.ceil(n / 2 + 1 + half));
  return [s[j - 1], s[k - 1]];
}

export function summarize(samples: readonly number[]): LatencyStats {
  if (samples.length === 0) return { n: 0, medianMs: NaN, madMs: NaN, ciLowMs: NaN, ciHighMs: NaN, meanMs: NaN, minMs: NaN, maxMs: NaN };
  const xs = [...samples];
  const [lo, hi] = medianCI(xs);
  return {
    n: xs.length,
    medianMs: median(xs),
    madMs: medianAbsoluteDeviation(xs),
    ciLowMs: lo,
    ciHighMs: hi,
    meanMs: mean(xs),
    minMs: min(xs),
    maxMs: max(xs),
  };
}

/** Half-width of the median's CI relative to the median (0.02 = ±2%). */
export function relativeCIHalfWidth(samples: readonly number[]): number {
  const m = median([...samples]);
  const [lo, hi] = medianCI(samples);
  return Math.max(m - lo, hi - m) / m;
}
