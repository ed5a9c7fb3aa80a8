/**
 * The plug-in point for search strategies: ask/tell, like Optuna's samplers and Nevergrad.
 * The loop asks for a candidate, measures it, and tells the result. All randomness comes from
 * a seeded generator whose state is part of `state()`, so the same seed and the same results
 * give the same candidates, and a restored strategy continues exactly where it stopped.
 */
import type { Candidate, SearchSpace } from '../src/space/space.js';
import type { Precision } from '../src/plan/sparsity.js';

export interface TrialOutcome {
  status: 'ok' | 'failed';
  /** Median whole-model latency, ms (or the FLOPs-proxy cost when searching by FLOPs). */
  latencyMs?: number;
  latencyCiHighMs?: number;
  /** latencyCiHigh / dense baseline. */
  latencyRatio?: number;
  /** Higher is better; any scale (strategies normalise differences). */
  quality?: number;
  feasible: boolean;
  reason?: string;
}

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface StrategyInit {
  space: SearchSpace;
  seed: number;
  /** Budget as a ratio of the dense latency (already converted if the user gave ms). */
  budgetRatio: number;
  maxTrials: number;
  /** Strategy-specific settings (e.g. SA temperatures); validated by the strategy. */
  options: Record<string, JsonValue>;
  /**
   * Dense latency of each precision as a fraction of fp32 dense (e.g. { int8: 0.45 }), when the
   * backend knows it; strategies otherwise use the prior in strategies/precision.ts.
   */
  precisionSpeed?: Partial<Record<Precision, number>>;
}

export interface Strategy {
  readonly name: string;
  /** The next candidate, or null when the strategy is done. */
  ask(): Candidate | null;
  tell(candidate: Candidate, outcome: TrialOutcome): void;
  /** Everything needed to continue: RNG state, temperature, current point, history it uses. */
  state(): JsonValue;
  restore(state: JsonValue): void;
  /** Progress facts for the UI, e.g. { temperature: 42.1 } or { round: 2, rounds: 4 }. */
  progress(): Record<string, number | string>;
}

export type StrategyFactory = (init: StrategyInit) => Strategy;
