/**
 * The plan picker: builds every candidate kernel for one sparse GEMM together with the dense
 * kernel, verifies each against the naive reference, times them strictly one at a time
 * (interleaved, one process), and keeps the fastest verified plan. A sparse plan is chosen
 * only when its median beats dense, so the picker never makes an op slower than dense.
 * Decisions are cached by (op signature, attribute hash, fingerprint): in memory, and in the
 * store's plan_decisions table when one is given.
 */
import { createHash } from 'node:crypto';
import { summarize } from '../evaluate/stats.js';
import { isTesaError } from '../errors.js';
import type { Pattern } from './sparsity.js';
import { enumeratePlans } from './candidates.js';
import { lowerSparseGemm, planName, type LoweredSparseGemm, type SparsePlan } from '../../backends/cpu/kernels/sparse/families.js';
import { benchSparseKernels } from '../../backends/cpu/kernels/sparse/harness.js';
import { timeSparsePlans } from '../../backends/cpu/kernels/sparse/plan-timer.js';
import { isaInfo, type VectorIsa } from '../../backends/cpu/kernels/sparse/isa.js';
import type { SparseGemmProblem } from '../../backends/cpu/kernels/sparse/structure.js';

/** The part of db/store.ts the picker uses. */
export interface PlanDecisionStore {
  getPlanDecision<T = unknown>(key: string): T | undefined;
  putPlanDecision(key: string, fingerprintId: string, choice: unknown): void;
}

export type ChosenPlan = SparsePlan | { family: 'dense' };

export interface CandidateTiming {
  plan: string;
  medianMs: number | null;
  maxRelError: number | null;
  /** median over timing rounds of (this plan's time / dense's time in the same round) */
  ratioToDense?: number;
  /** fastest sample of this plan / fastest sample of dense */
  minRatioToDense?: number;
  /** why it was not timed or not eligible (build refused, wrong result) */
  rejected?: string;
}

export interface PlanChoice {
  key: string;
  plan: ChosenPlan;
  /** median of the chosen plan and of dense, ms */
  medianMs: number;
  denseMs: number;
  candidates: CandidateTiming[];
  fromCache: boolean;
  /** true when no sparse plan applied, so nothing was built or timed (medianMs = denseMs = 0) */
  denseOnly?: boolean;
}

export interface PickOptions {
  isa: VectorIsa;
  fingerprintId: string;
  store?: PlanDecisionStore;
  /** extra plans to consider besides the enumerated ones */
  extraPlans?: SparsePlan[];
  /** the plans to time instead of the enumerated ones (extraPlans still added) */
  plans?: SparsePlan[];
  reps?: number;
  budgetMs?: number;
  /** results above this max relative error are wrong (never chosen) */
  tolerance?: number;
  /** a sparse plan must be at least this fraction faster than dense (default 0.03) */
  margin?: number;
  /**
   * When no sparse plan applies, record dense without building or timing anything (the
   * compile path: nothing to compare). Off by default so `bench kernel` still times dense.
   */
  skipWhenDenseOnly?: boolean;
  /**
   * Time with the cached plan timer (plan-timer.ts) keeping its programs under this folder:
   * the compile path, where the same shapes come back trial after trial. Without it, the
   * sparse harness builds a fresh program (bench kernel).
   */
  timerCacheDir?: string;
  /**
   * Plans already chosen for other ops of this shape: one of them is kept over a faster
   * candidate when within `preferTolerance` of it (default 5%, about the noise of a loaded
   * machine), so layers of one shape share one kernel instead of each building its own.
   */
  prefer?: SparsePlan[];
  preferTolerance?: number;
}

/** How often the picker timed candidates, answered from its caches, or had nothing to time. */
export interface PickerCounters {
  timed: number;
  fromMemory: number;
  fromStore: number;
  denseOnly: number;
}

const counters: PickerCounters = { timed: 0, fromMemory: 0, fromStore: 0, denseOnly: 0 };

/** A copy of the process-wide counters (tests count re-timings through them). */
export function pickerCounters(): PickerCounters {
  return { ...counters };
}

const memory = new Map<string, PlanChoice>();

export function maskHash(mask: Uint8Array): string {
  return createHash('sha256').update(mask).digest('hex').slice(0, 24);
}

export function decisionKey(prob: SparseGemmProblem, pattern: Pattern, fingerprintId: string, isa: VectorIsa): string {
  const sig = `gemm ${prob.m}x${prob.n}x${prob.k} fp32`;
  const attr = `${pattern}|${maskHash(prob.mask)}`;
  return createHash('sha256').update(`${sig}|${attr}|${fingerprintId}|${isa}`).digest('hex').slice(0, 32);
}

/** Cached decision, if any (memory first, then the store). */
export function cachedPlan(key: string, store?: PlanDecisionStore): PlanChoice | undefined {
  const m = memory.get(key);
  if (m) {
    counters.fromMemory++;
    return { ...m, fromCache: true };
  }
  const s = store?.getPlanDecision<PlanChoice>(key);
  if (s) {
    counters.fromStore++;
    memory.set(key, s);
    return { ...s, fromCache: true };
  }
  return undefined;
}

export function clearPlanMemory(): void {
  memory.clear();
}

/** Median of per-round ratios a[r] / b[r]. */
export function pairedRatio(a: readonly number[], b: readonly number[]): number {
  const n = Math.min(a.length, b.length);
  if (n === 0) return Infinity;
  const r = Array.from({ length: n }, (_, i) => a[i]! / b[i]!).sort((x, y) => x - y);
  return n % 2 ? r[(n - 1) / 2]! : (r[n / 2 - 1]! + r[n / 2]!) / 2;
}

export async function pickPlan(prob: SparseGemmProblem, pattern: Pattern, opts: PickOptions): Promise<PlanChoice> {
  const key = decisionKey(prob, pattern, opts.fingerprintId, opts.isa);
  const hit = cachedPlan(key, opts.store);
  if (hit) return hit;
  const isa = isaInfo(opts.isa);
  const plans: SparsePlan[] = [...(opts.plans ?? enumeratePlans(prob, pattern)), ...(opts.extraPlans ?? [])];
  const lowered: LoweredSparseGemm[] = [];
  const candidates: CandidateTiming[] = [];
  if (plans.length === 0 && opts.skipWhenDenseOnly) {
    counters.denseOnly++;
    const choice: PlanChoice = { key, plan: { family: 'dense' }, medianMs: 0, denseMs: 0, candidates: [{ plan: 'dense', medianMs: null, maxRelError: null }], fromCache: false, denseOnly: true };
    memory.set(key, choice);
    opts.store?.putPlanDecision(key, opts.fingerprintId, choice);
    return choice;
  }
  plans.forEach((plan, i) => {
    try {
      // Named by plan for the cached timer, so one plan's code (structure as data) is one object for every mask.
      lowered.push(lowerSparseGemm(isa, prob, plan, opts.timerCacheDir ? `cand_${planName(plan).replace(/[^A-Za-z0-9]+/g, '_')}` : `cand_${i}`));
    } catch (e) {
      if (!isTesaError(e)) throw e;
      candidates.push({ plan: planName(plan), medianMs: null, maxRelError: null, rejected: e.message });
    }
  });
  // The baseline is the backend's own dense GEMM: what the op runs as when no plan wins.
  counters.timed++;
  const r = opts.timerCacheDir
    ? await timeSparsePlans(prob, lowered, { isa: opts.isa, cacheDir: opts.timerCacheDir, reps: opts.reps ?? 15, budgetMs: opts.budgetMs ?? 3000 })
    : await benchSparseKernels(prob, lowered, { reps: opts.reps ?? 15, budgetMs: opts.budgetMs ?? 3000, openblas: false, backendDense: true, isa: opts.isa });
  const tol = opts.tolerance ?? 1e-4;
  const margin = opts.margin ?? 0.03;
  const dense = r.dense!;
  const denseMs = summarize(dense.samplesMs).medianMs;
  let best: { plan: ChosenPlan; ms: number } = { plan: { family: 'dense' }, ms: denseMs };
  let bestRatio = 1;
  r.contenders.forEach((c, i) => {
    const plan = lowered[i]!.plan;
    const ms = summarize(c.samplesMs).medianMs;
    const ratio = pairedRatio(c.samplesMs, dense.samplesMs);
    const minRatio = Math.min(...c.samplesMs) / Math.min(...dense.samplesMs);
    const wrong = c.maxRelError === null || !(c.maxRelError <= tol);
    candidates.push({ plan: planName(plan), medianMs: ms, maxRelError: c.maxRelError, ratioToDense: ratio, minRatioToDense: minRatio, ...(wrong ? { rejected: `wrong result (max rel. error ${c.maxRelError})` } : {}) });
    // Judged by the median of per-round ratios to dense (rounds are adjacent in time, so load
    // from other processes cancels) and by the ratio of the fastest samples (the cost without
    // contention: on a machine loaded many times over, bursts can still line up against one
    // contender for several rounds), both with a clear margin: noise never picks a plan.
    if (!wrong && ratio < 1 - margin && minRatio < 1 - margin && ratio < bestRatio) {
      best = { plan, ms };
      bestRatio = ratio;
    }
  });
  if (best.plan.family !== 'dense' && opts.prefer && opts.prefer.length > 0) {
    const names = new Set(opts.prefer.map(planName));
    const limit = bestRatio * (1 + (opts.preferTolerance ?? 0.05));
    let shared: { plan: ChosenPlan; ms: number; ratio: number } | null = null;
    r.contenders.forEach((c, i) => {
      const plan = lowered[i]!.plan;
      if (!names.has(planName(plan))) return;
      const t = candidates.find((x) => x.plan === planName(plan));
      if (!t || t.rejected || t.ratioToDense === undefined || t.minRatioToDense === undefined) return;
      if (t.ratioToDense < 1 - margin && t.minRatioToDense < 1 - margin && t.ratioToDense <= limit && (!shared || t.ratioToDense < shared.ratio)) {
        shared = { plan, ms: summarize(c.samplesMs).medianMs, ratio: t.ratioToDense };
      }
    });
    if (shared) best = { plan: (shared as { plan: ChosenPlan }).plan, ms: (shared as { ms: number }).ms };
  }
  candidates.unshift({ plan: 'dense', medianMs: denseMs, maxRelError: dense.maxRelError });
  const choice: PlanChoice = { key, plan: best.plan, medianMs: best.ms, denseMs, candidates, fromCache: false };
  memory.set(key, choice);
  opts.store?.putPlanDecision(key, opts.fingerprintId, choice);
  return choice;
}
