/** The store's LatencyStats of a set of samples (median, MAD, 95% CI of the median; see evaluate/stats.ts). */
import type { LatencyStats } from '../../db/store.js';
import { summarize } from '../evaluate/stats.js';

export function latencyStats(samples: readonly number[]): LatencyStats {
  const s = summarize(samples);
  return { medianMs: s.medianMs, madMs: s.madMs, ciLowMs: s.ciLowMs, ciHighMs: s.ciHighMs, n: s.n };
}
