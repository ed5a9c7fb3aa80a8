/**
 * The search space: one variable set per layer group. A candidate assigns each group a
 * sparsity ratio, a pattern and a precision.
 */
import type { Pattern, Precision } from '../plan/sparsity.js';

export interface GroupChoice {
  ratio: number;
  pattern: Pattern;
  precision: Precision;
}

export interface Candidate {
  /** Layer group id → its choice. Groups absent stay dense fp32. */
  groups: Record<string, GroupChoice>;
}

export interface GroupSpace {
  id: string;
  /** Weights (initializer names) whose masks this group decides together. */
  weights: string[];
  /** Prunable parameter count of the group; strategies rank groups by it and by importance. */
  parameters: number;
  /** Normalised importance of the group (mean |w| per parameter, scaled to mean 1 across groups). */
  importance: number;
  patterns: Pattern[];
  precisions: Precision[];
  /** Ratio range and the step ratios are rounded to, so candidate hashes are stable. */
  minRatio: number;
  maxRatio: number;
  ratioStep: number;
  /** True when the weights' masks are aligned on the group's coupled axis (groups on); false for a single independent weight. */
  coupled?: boolean;
  /** The layer group's kind ('ffn', 'residual', …) or 'single'. */
  kind?: string;
}

export interface SearchSpace {
  groups: GroupSpace[];
  /**
   * Apply the paper's bit-width propagation rule (src/tesa/precision.ts) to every candidate
   * before it is compiled: int8 spreads to neighbouring linear layers of similar size.
   */
  propagatePrecision?: boolean;
  /**
   * Fraction of an int8 weight's kept elements (the largest |w|) left in fp32 as outliers: the
   * mixed decomposition (paper Figure 7). Default 0: precision int8 is pure int8.
   */
  int8Outliers?: number;
}
