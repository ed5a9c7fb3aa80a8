/**
 * Precision as an ordinal search variable. Bit widths are ordered the same way in quality and,
 * reversed, in speed (fp32 is the most faithful and the slowest, int8 the least faithful and the
 * fastest), so strategies move a group's precision one step along that order, in the direction
 * the latency budget asks for, instead of re-drawing it at random:
 *
 * - over budget: one step faster (cheaper in quality than pruning more, which is tried only
 *   once every group is at its fastest precision);
 * - slack under the budget: steps toward higher precision are allowed;
 * - otherwise: a random step either way.
 *
 * The expected speed of each precision relative to fp32 dense is a prior (a backend may supply
 * measured factors through `StrategyInit.precisionSpeed`); it orders precisions and sizes the
 * first candidate's sparsity, the measured outcomes do the rest.
 */
import type { Precision } from '../src/plan/sparsity.js';
import type { GroupSpace, SearchSpace } from '../src/space/space.js';
import type { Rng } from './rng.js';

export type PrecisionSpeed = Partial<Record<Precision, number>>;

/** Dense latency of a precision as a fraction of fp32 dense: the textbook 2× for 16-bit float and int8 over fp32 where VNNI/AVX2 widening applies, a little less for 16-bit float on CPU. */
export const DEFAULT_PRECISION_SPEED: Readonly<Record<Precision, number>> = { fp32: 1, bf16: 0.7, fp16: 0.7, int8: 0.5 };

/** Where the budget sends precision next: 'faster' after an over-budget trial, 'higher' when there is slack, 'either' otherwise. */
export type PrecisionDrift = 'faster' | 'higher' | 'either';

/** Slack means the measured ratio is at least this fraction of the budget below it. */
export const SLACK_MARGIN = 0.05;

export function speedOf(p: Precision, speed?: PrecisionSpeed): number {
  const v = speed?.[p];
  return typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : DEFAULT_PRECISION_SPEED[p];
}

/** A group's offered precisions from most faithful (slowest) to fastest; ties keep the offered order. */
export function byQuality(g: GroupSpace, speed?: PrecisionSpeed): Precision[] {
  return g.precisions
    .map((p, i) => ({ p, i }))
    .sort((a, b) => speedOf(b.p, speed) - speedOf(a.p, speed) || a.i - b.i)
    .map((x) => x.p);
}

export function fastestPrecision(g: GroupSpace, speed?: PrecisionSpeed): Precision {
  const order = byQuality(g, speed);
  return order[order.length - 1]!;
}

/** Parameter-weighted dense latency factor of the point where every group takes its fastest precision. */
export function fastestSpeed(space: SearchSpace, speed?: PrecisionSpeed): number {
  let num = 0;
  let den = 0;
  for (const g of space.groups) {
    num += g.parameters * speedOf(fastestPrecision(g, speed), speed);
    den += g.parameters;
  }
  return den > 0 ? num / den : 1;
}

/**
 * The overall sparsity the first candidate should have: after the precision's own speed-up
 * (`speed`, 1 for fp32) the sparse kernels must bring latency to budget/speed of the dense
 * kernels of that precision, which needs roughly 1 − budget/speed of the work gone plus an
 * allowance for sparse indexing overhead (never below `floor`, so some pruning is explored).
 * No pruning at all when a faster precision alone fits the budget.
 */
export function initialLevelGuess(budgetRatio: number, speed: number, maxRatio: number, floor = 0.1): number {
  const share = budgetRatio / speed;
  if (speed < 1 && share >= 1) return 0;
  return Math.min(maxRatio, Math.max(floor, 1 - share + 0.2));
}

/** True when some group of `precisions` could still take a faster precision. */
export function hasFasterPrecision(space: SearchSpace, precisions: readonly Precision[], speed?: PrecisionSpeed): boolean {
  return space.groups.some((g, i) => {
    const order = byQuality(g, speed);
    const at = order.indexOf(precisions[i]!);
    return at >= 0 && at < order.length - 1;
  });
}

export function driftAfter(feasible: boolean, latencyRatio: number | undefined, budgetRatio: number | undefined): PrecisionDrift {
  if (!feasible) return 'faster';
  if (typeof latencyRatio === 'number' && typeof budgetRatio === 'number' && latencyRatio <= budgetRatio * (1 - SLACK_MARGIN)) return 'higher';
  return 'either';
}

/**
 * The next precisions from `current`: each group with a choice moves one step with probability
 * `probability`, in the drift's direction ('either': up or down at random, turned back at the
 * ends). Under 'faster' the least important group that can still go faster moves for sure, so an
 * over-budget trial is always answered by a faster precision when one is left.
 */
export function stepPrecisions(
  space: SearchSpace,
  current: readonly Precision[],
  drift: PrecisionDrift,
  probability: number,
  rng: Rng,
  leastImportantFirst: readonly number[],
  speed?: PrecisionSpeed,
): Precision[] {
  const orders = space.groups.map((g) => byQuality(g, speed));
  const index = space.groups.map((g, i) => Math.max(0, orders[i]!.indexOf(current[i]!)));
  const moved = space.groups.map(() => false);
  space.groups.forEach((g, i) => {
    const order = orders[i]!;
    if (order.length < 2 || !(rng.next() < probability)) return;
    let dir = drift === 'faster' ? 1 : drift === 'higher' ? -1 : rng.next() < 0.5 ? -1 : 1;
    if (drift === 'either' && (index[i]! + dir < 0 || index[i]! + dir >= order.length)) dir = -dir;
    const to = Math.min(order.length - 1, Math.max(0, index[i]! + dir));
    if (to !== index[i]) moved[i] = true;
    index[i] = to;
  });
  if (drift === 'faster' && !moved.some((m, i) => m && orders[i]!.length > 1)) {
    const pick = leastImportantFirst.find((i) => index[i]! < orders[i]!.length - 1);
    if (pick !== undefined) index[pick] = index[pick]! + 1;
  }
  return index.map((k, i) => orders[i]![k]!);
}

/**
 * Precisions for a random candidate: a mix over the precisions on offer is drawn first
 * (uniform on the simplex), then every group draws from that mix. Independent uniform draws
 * would almost never produce the all-fastest or all-fp32 corners (1 in 2^groups); this way
 * every mix, corners included, is about equally likely.
 */
export function drawPrecisionMix(space: SearchSpace, rng: Rng): Precision[] {
  if (space.groups.every((g) => g.precisions.length === 1)) return space.groups.map((g) => g.precisions[0]!);
  const offered = [...new Set(space.groups.flatMap((g) => g.precisions))];
  const w = new Map<Precision, number>(offered.map((p) => [p, -Math.log(1 - rng.next())]));
  return space.groups.map((g) => {
    if (g.precisions.length === 1) return g.precisions[0]!;
    const total = g.precisions.reduce((a, p) => a + (w.get(p) ?? 0), 0);
    let u = rng.next() * total;
    for (const p of g.precisions) {
      u -= w.get(p) ?? 0;
      if (u < 0) return p;
    }
    return g.precisions[g.precisions.length - 1]!;
  });
}
