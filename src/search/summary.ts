/**
 * The result of a search as `tesa optimize --json` / `tesa resume --json` print it, built from
 * the store alone (so it is the same whether the search just ran or finished long ago).
 */
import type { Store } from '../../db/store.js';
import type { Candidate } from '../space/space.js';
import type { FinalAttempt } from './loop.js';

/** The final re-measurement as `--json` prints it: every candidate tried and whether one held. */
export interface FinalJson {
  /** True when a re-measured candidate's upper 95% bound met the budget; `best` is that one. */
  meetsBudget: boolean;
  /** The budget as a ratio of the dense model. */
  budgetRatio: number | null;
  attempts: Array<{ trialId: number; seq: number; quality: number | null; latencyMs: number; latencyCiHighMs: number; denseMs: number; latencyRatio: number; ratioCiLow: number; ratioCiHigh: number; pairs: number; meetsBudget: boolean }>;
}

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
  /** null when the search was not re-measured (no feasible trial, stopped, or --final-rounds 0). */
  final: FinalJson | null;
}

export interface SearchSummary {
  json: SearchSummaryJson;
  /** The interleaved final re-measurement, when there is one. */
  final: { bestMs: number; bestCiHighMs: number; denseMs: number; ratio: number; ciLowRatio: number; ciHighRatio: number; pairs: number; meetsBudget: boolean } | null;
  /** Every final attempt, in order. */
  attempts: FinalAttempt[];
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
  const attempts = store.listEvents(searchId).flatMap((e) => (e.kind === 'final-attempt' && e.data && typeof e.data === 'object' ? [e.data as FinalAttempt] : []));
  const mine = bestTrial ? attempts.filter((a) => a.trialId === bestTrial.id).at(-1) : undefined;
  let final: SearchSummary['final'] = null;
  if (mine) final = { bestMs: mine.bestMs, bestCiHighMs: mine.bestCiHighMs, denseMs: mine.denseMs, ratio: mine.ratio, ciLowRatio: mine.ciLowRatio, ciHighRatio: mine.ciHighRatio, pairs: mine.pairs, meetsBudget: mine.meetsBudget };
  else if (bestTrial) {
    // A search finished by an older tesa: one 'final' and one 'final-baseline' measurement.
    const fb = store.listMeasurements(searchId, { kind: 'final', trialId: bestTrial.id }).at(-1);
    const fd = store.listMeasurements(searchId, { kind: 'final-baseline' }).at(-1);
    if (fb && fd) final = { bestMs: fb.medianMs, bestCiHighMs: fb.ciHighMs, denseMs: fd.medianMs, ratio: fb.medianMs / fd.medianMs, ciLowRatio: fb.ciLowMs / fd.medianMs, ciHighRatio: fb.ciHighMs / fd.medianMs, pairs: 1, meetsBudget: false };
  }
  const cost = (s.options as { cost?: 'latency' | 'flops' }).cost ?? 'latency';
  const baselineMs = s.baseline?.medianMs ?? null;
  const budgetRatio = 'ratio' in s.budget ? s.budget.ratio : baselineMs ? s.budget.ms / baselineMs : null;
  if (final && !mine && budgetRatio !== null) final.meetsBudget = final.ciHighRatio <= budgetRatio;
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
    json: {
      searchId,
      status: s.status,
      baseline: { latencyMs: final ? final.denseMs : baselineMs },
      best,
      trials: counts.total,
      feasibleTrials: counts.feasible,
      final: final
        ? {
            meetsBudget: attempts.length > 0 ? attempts.some((a) => a.meetsBudget) : final.meetsBudget,
            budgetRatio,
            attempts: attempts.map((a) => ({ trialId: a.trialId, seq: a.seq, quality: a.quality, latencyMs: a.bestMs, latencyCiHighMs: a.bestCiHighMs, denseMs: a.denseMs, latencyRatio: a.ratio, ratioCiLow: a.ciLowRatio, ratioCiHigh: a.ciHighRatio, pairs: a.pairs, meetsBudget: a.meetsBudget })),
          }
        : null,
    },
    final,
    attempts,
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
  for (const a of sum.attempts.length > 1 ? sum.attempts : []) {
    lines.push(`  final attempt ${a.attempt}: trial ${a.seq + 1} (quality ${a.quality?.toFixed(4) ?? '-'}) ${a.ratio.toFixed(3)}× dense [${a.ciLowRatio.toFixed(3)}–${a.ciHighRatio.toFixed(3)}]${a.meetsBudget ? ' holds' : ' misses'}`);
  }
  if (sum.final) {
    const f = sum.final;
    const limit = sum.budgetRatio;
    const verdict = !f.meetsBudget
      ? `  MISSES budget${limit === null ? '' : ` ${limit.toFixed(2)}× by ${((f.ciHighRatio / limit - 1) * 100).toFixed(1)}%`}`
      : limit === null ? '  ≤ budget' : `  ≤ budget ${limit.toFixed(2)}×`;
    lines.push(`re-measured interleaved with dense (${f.pairs} pairs): ${f.bestMs.toFixed(3)} ms (95% CI upper ${f.bestCiHighMs.toFixed(3)} ms) vs dense ${f.denseMs.toFixed(3)} ms = ${f.ratio.toFixed(3)}× (95% CI ${f.ciLowRatio.toFixed(3)}–${f.ciHighRatio.toFixed(3)}×)${verdict}`);
    if (!f.meetsBudget && sum.attempts.length > 0) lines.push(`NO candidate held the budget when re-measured (${sum.attempts.length} tried); the best by quality is shown as measured`);
    if (sum.cost === 'flops' && sum.bestPredictedRatio !== null) lines.push(`FLOPs predicted ${sum.bestPredictedRatio.toFixed(3)}× dense; measured ${f.ratio.toFixed(3)}×`);
  }
  for (const [id, g] of Object.entries(b.groups)) lines.push(`  ${id}: ${g.pattern} ${(g.ratio * 100).toFixed(0)}% ${g.precision}`);
  return lines;
}
