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

/** Two-sided 95% quantile of Student's t with df degrees of freedom (1.96 beyond the table). */
export function tQuantile975(df: number): number {
  const table = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];
  if (!(df >= 1)) return NaN;
  return df <= table.length ? table[Math.floor(df) - 1]! : 1.959964;
}

export interface RatioStats {
  /** Number of paired ratios. */
  n: number;
  /** Geometric mean of the ratios. */
  ratio: number;
  ciLow: number;
  ciHigh: number;
}

/**
 * 95% CI of a ratio from n paired ratios (one per A-B pair). Ratios are averaged on the log
 * scale, where a ratio and its inverse are symmetric, with a t interval: the pairs, not the
 * samples inside them, are the independent units, since drift is shared within a pair.
 * Needs n ≥ 2; with one pair the interval is undefined (NaN bounds).
 */
export function ratioCI(ratios: readonly number[]): RatioStats {
  const n = ratios.length;
  if (n === 0 || ratios.some((r) => !(r > 0) || !Number.isFinite(r))) return { n, ratio: NaN, ciLow: NaN, ciHigh: NaN };
  const logs = ratios.map((r) => Math.log(r));
  const m = logs.reduce((s, x) => s + x, 0) / n;
  if (n < 2) return { n, ratio: Math.exp(m), ciLow: NaN, ciHigh: NaN };
  const sd = Math.sqrt(logs.reduce((s, x) => s + (x - m) ** 2, 0) / (n - 1));
  const half = (tQuantile975(n - 1) * sd) / Math.sqrt(n);
  return { n, ratio: Math.exp(m), ciLow: Math.exp(m - half), ciHigh: Math.exp(m + half) };
}
