/**
 * The result of a search as `tesa optimize --json` / `tesa resume --json` print it, built from
 * the store alone (so it is the same whether the search just ran or finished long ago).
 */
import type { Store } from '../../db/store.js';
import type { Candidate } from '../space/space.js';

export interface SearchSummaryJson {
  searchId: number;
  status: string;
  baseline: { latencyMs: number | null };
  best: {
    trialId: number;
    latencyMs: number | null;
    latencyCiHighMs: number | null;
    latencyRatio: number | null;
    quality: number | null;
    groups: Candidate['groups'];
  } | null;
  trials: number;
  feasibleTrials: number;
}

export interface SearchSummary {
  json: SearchSummaryJson;
  /** The interleaved final re-measurement, when there is one. */
  final: { bestMs: number; bestCiHighMs: number; denseMs: number; ratio: number; ciHighRatio: number } | null;
  /** The search's own budget as a ratio of the dense model (after conversion from ms). */
  budgetRatio: number | null;
  cost: 'latency' | 'flops';
  bestSeq: number | null;
  bestPredictedRatio: number | null;
}

export function summarizeSearch(store: Store, searchId: number): SearchSummary {
  const s = store.requireSearch(searchId);
  const counts = store.trialCounts(searchId);
  const bestTrial = s.bestTrialId !== null ? store.getTrial(s.bestTrialId) : undefined;
  const finalBest = bestTrial ? store.listMeasurements(searchId, { kind: 'final', trialId: bestTrial.id }).at(-1) : undefined;
  const finalDense = store.listMeasurements(searchId, { kind: 'final-baseline' }).at(-1);
  const final = finalBest && finalDense ? { bestMs: finalBest.medianMs, bestCiHighMs: finalBest.ciHighMs, denseMs: finalDense.medianMs, ratio: finalBest.medianMs / finalDense.medianMs, ciHighRatio: finalBest.ciHighMs / finalDense.medianMs } : null;
  const cost = (s.options as { cost?: 'latency' | 'flops' }).cost ?? 'latency';
  const baselineMs = s.baseline?.medianMs ?? null;
  const budgetRatio = 'ratio' in s.budget ? s.budget.ratio : baselineMs ? s.budget.ms / baselineMs : null;
  let best: SearchSummaryJson['best'] = null;
  if (bestTrial) {
    best = {
      trialId: bestTrial.id,
      latencyMs: final ? final.bestMs : bestTrial.latencyMs,
      latencyCiHighMs: final ? final.bestCiHighMs : bestTrial.ciHighMs,
      latencyRatio: final ? final.ratio : cost === 'flops' ? null : bestTrial.latencyMs !== null && baselineMs ? bestTrial.latencyMs / baselineMs : null,
      quality: bestTrial.quality,
      groups: bestTrial.candidate.groups,
    };
  }
  return {
    json: { searchId, status: s.status, baseline: { latencyMs: final ? final.denseMs : baselineMs }, best, trials: counts.total, feasibleTrials: counts.feasible },
    final,
    budgetRatio,
    cost,
    bestSeq: bestTrial?.seq ?? null,
    bestPredictedRatio: bestTrial?.latencyRatio ?? null,
  };
}

/** The human lines printed at the end of optimize/resume. */
export function summaryLines(sum: SearchSummary): string[] {
  const j = sum.json;
  const lines: string[] = [];
  const b = j.best;
  if (!b) {
    lines.push(`search ${j.searchId} ${j.status}: no candidate met the budget in ${j.trials} trials`);
    return lines;
  }
  lines.push(`search ${j.searchId} ${j.status}: best is trial ${sum.bestSeq !== null ? sum.bestSeq + 1 : b.trialId} of ${j.trials} (${j.feasibleTrials} feasible), quality ${b.quality?.toFixed(4) ?? '-'}`);
  if (sum.final) {
    const f = sum.final;
    const limit = sum.budgetRatio;
    const verdict = limit === null ? '' : f.ciHighRatio <= limit ? `  ≤ budget ${limit.toFixed(2)}×` : `  MISSES budget ${limit.toFixed(2)}× by ${((f.ciHighRatio / limit - 1) * 100).toFixed(1)}%`;
    lines.push(`re-measured interleaved with dense: ${f.bestMs.toFixed(3)} ms (95% CI upper ${f.bestCiHighMs.toFixed(3)} ms) vs dense ${f.denseMs.toFixed(3)} ms = ${f.ratio.toFixed(3)}× (CI upper ${f.ciHighRatio.toFixed(3)}×)${verdict}`);
    if (sum.cost === 'flops' && sum.bestPredictedRatio !== null) lines.push(`FLOPs predicted ${sum.bestPredictedRatio.toFixed(3)}× dense; measured ${f.ratio.toFixed(3)}×`);
  }
  for (const [id, g] of Object.entries(b.groups)) lines.push(`  ${id}: ${g.pattern} ${(g.ratio * 100).toFixed(0)}% ${g.precision}`);
  return lines;
}
