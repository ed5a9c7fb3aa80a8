/**
 * The arithmetic of simulated annealing over a search space, shared by `sa` and
 * `autocompress`: drawing and rescaling per-group ratios to an overall sparsity level,
 * assigning sorted ratios by importance rank (NNI's SimulatedAnnealingPruner), and acceptance
 * on normalised score differences so that a score on any scale behaves the same.
 *
 * No loop in here samples "until valid": rescaling is a water-filling bisection that always
 * produces a point within [floor, max] (the best effort when the level is unreachable), which
 * is what keeps NNI's endless resampling (issues #3865, #4527) out.
 */
import { roundToStep } from '../src/space/hash.js';
import type { Candidate, SearchSpace } from '../src/space/space.js';
import type { Pattern, Precision } from '../src/plan/sparsity.js';
import type { Rng } from './rng.js';

/** A point in the space as vectors in `space.groups` order (plain JSON for checkpoints). */
export interface Point {
  ratios: number[];
  patterns: Pattern[];
  precisions: Precision[];
}

export function parameterWeightedMean(space: SearchSpace, ratios: readonly number[]): number {
  let num = 0;
  let den = 0;
  space.groups.forEach((g, i) => {
    num += g.parameters * (ratios[i] ?? 0);
    den += g.parameters;
  });
  return den > 0 ? num / den : 0;
}

/**
 * Scales `seeds` by one factor α so that the parameter-weighted mean of clip(α·seed, floor, max)
 * equals `level`. When the level is below the floors' mean the floors come back; above the
 * maxima, the maxima: a valid point in every case, found in a fixed number of steps.
 */
export function rescaleToLevel(space: SearchSpace, seeds: readonly number[], level: number, floors?: readonly number[]): number[] {
  const n = space.groups.length;
  const lo = space.groups.map((g, i) => Math.max(g.minRatio, floors?.[i] ?? 0));
  const hi = space.groups.map((g, i) => Math.max(lo[i]!, g.maxRatio));
  const safeSeeds = seeds.every((s) => !(s > 0)) ? new Array<number>(n).fill(1) : seeds.map((s) => Math.max(0, s));
  const at = (alpha: number): number[] => safeSeeds.map((s, i) => Math.min(hi[i]!, Math.max(lo[i]!, alpha * s)));
  const positive = safeSeeds.filter((s) => s > 0);
  let aHi = Math.max(...hi) / Math.min(...positive);
  if (!Number.isFinite(aHi) || aHi <= 0) aHi = 1;
  let aLo = 0;
  if (parameterWeightedMean(space, at(aHi)) <= level) return at(aHi);
  if (parameterWeightedMean(space, at(aLo)) >= level) return at(aLo);
  for (let k = 0; k < 60; k++) {
    const mid = (aLo + aHi) / 2;
    if (parameterWeightedMean(space, at(mid)) < level) aLo = mid;
    else aHi = mid;
  }
  return at((aLo + aHi) / 2);
}

/** Indices of the groups from most to least important (ties: larger group first, then id). */
export function importanceOrder(space: SearchSpace): number[] {
  return space.groups
    .map((g, i) => i)
    .sort((a, b) => {
      const ga = space.groups[a]!;
      const gb = space.groups[b]!;
      return gb.importance - ga.importance || ga.parameters - gb.parameters || (ga.id < gb.id ? -1 : ga.id > gb.id ? 1 : 0);
    });
}

/** Sorted ascending ratios given to groups by importance: the least important gets the most sparsity. */
export function assignByImportance(space: SearchSpace, ratios: readonly number[]): number[] {
  const sorted = [...ratios].sort((a, b) => a - b);
  const out = new Array<number>(space.groups.length).fill(0);
  importanceOrder(space).forEach((groupIndex, rank) => (out[groupIndex] = sorted[rank]!));
  return out;
}

export function roundRatios(space: SearchSpace, ratios: readonly number[]): number[] {
  return ratios.map((r, i) => {
    const g = space.groups[i]!;
    return Math.min(g.maxRatio, Math.max(g.minRatio, roundToStep(r, g.ratioStep)));
  });
}

export function pointToCandidate(space: SearchSpace, p: Point): Candidate {
  const groups: Candidate['groups'] = {};
  space.groups.forEach((g, i) => {
    groups[g.id] = { ratio: p.ratios[i]!, pattern: p.patterns[i]!, precision: p.precisions[i]! };
  });
  return { groups };
}

/** Re-draws each group's pattern with probability `p` (only where there is a choice); precision moves by `stepPrecisions`. */
export function perturbPatterns(space: SearchSpace, p: Point, probability: number, rng: Rng): Pattern[] {
  return space.groups.map((g, i) => (g.patterns.length > 1 && rng.next() < probability ? rng.pick(g.patterns) : p.patterns[i]!));
}

/**
 * The running scale that makes acceptance independent of the evaluator's units: the spread of
 * the scores seen so far (or a small fraction of their magnitude while they are all equal).
 */
export interface ScoreScale {
  min: number | null;
  max: number | null;
}

export function observeScore(s: ScoreScale, q: number): ScoreScale {
  if (!Number.isFinite(q)) return s;
  return { min: s.min === null ? q : Math.min(s.min, q), max: s.max === null ? q : Math.max(s.max, q) };
}

export function scaleOf(s: ScoreScale): number {
  if (s.min === null || s.max === null) return 1;
  const spread = s.max - s.min;
  if (spread > 0) return spread;
  return Math.max(Math.abs(s.max) * 1e-3, 1e-12);
}

/**
 * Metropolis acceptance on a normalised difference: an improvement is always taken; a loss of
 * one "spread" is taken with probability e^-1 at the start temperature and e^-5 at a fifth of it.
 */
export function acceptProbability(delta: number, scale: number, temperature: number, startTemperature: number): number {
  if (!(delta < 0)) return 1;
  const t = Math.max(temperature / startTemperature, 1e-9);
  return Math.exp(delta / scale / t);
}

export function isPoint(v: unknown): v is Point {
  if (typeof v !== 'object' || v === null) return false;
  const p = v as Record<string, unknown>;
  return Array.isArray(p.ratios) && Array.isArray(p.patterns) && Array.isArray(p.precisions);
}
