/**
 * Execution-plan transformation for a whole model: every MatMul/Gemm whose weight is sparse
 * gets its plan picked by real timing (picker.ts) before the backend compiles, so the
 * gemm-sparse family lowers each op with the fastest verified plan (or leaves it to the dense
 * family). Ops with the same signature and mask are timed once (the decision cache), and
 * decisions in the store are re-used across trials, searches and resumes.
 */
import type { Graph } from '../model/graph.js';
import type { ModelSparsity, Pattern } from './sparsity.js';
import { cachedPlan, decisionKey, pickPlan, type PlanChoice, type PlanDecisionStore } from './picker.js';
import { compileCandidates, enumeratePlans } from './candidates.js';
import { parsePattern } from '../prune/pattern.js';
import type { CpuFingerprint } from '../../backends/cpu/fingerprint.js';
import { planContext } from '../../backends/cpu/planner.js';
import { sparseShape } from '../../backends/cpu/kernels/gemm-sparse.js';
import type { SparsePlan } from '../../backends/cpu/kernels/sparse/families.js';
import { countKept, type SparseGemmProblem } from '../../backends/cpu/kernels/sparse/structure.js';

export interface OpPlanChoice {
  node: string;
  weight: string;
  choice: PlanChoice;
}

export interface ChooseOptions {
  store?: PlanDecisionStore;
  reps?: number;
  /** timing budget per op, ms (the build of the candidates comes on top) */
  budgetMs?: number;
  /**
   * The compile path: ops where no sparse plan applies are decided dense without a build, and
   * the pattern's native kernel is timed even where enumeration would leave it out, so that
   * a dense decision for a moderately sparse op rests on a measurement, not on a threshold.
   */
  forCompile?: boolean;
  /** Time with the cached plan timer under this folder (see PickOptions.timerCacheDir). */
  timerCacheDir?: string;
  onOp?: (c: OpPlanChoice, index: number, total: number) => void;
}

/**
 * Below this kept fraction the pattern's native kernel is always timed in the compile path;
 * above it (mostly weights with a little sparsity that arrived by propagation) only the
 * enumerated plans are, and with none the op is dense without timing.
 */
export const NATIVE_TIMING_MAX_DENSITY = 0.75;

/** The native plan of a pattern worth timing for this problem that enumeration did not offer. */
export function nativeExtraPlans(prob: SparseGemmProblem, pattern: Pattern, enumerated: readonly SparsePlan[]): SparsePlan[] {
  const density = countKept(prob.mask) / (prob.n * prob.k);
  if (density > NATIVE_TIMING_MAX_DENSITY || density === 0) return [];
  const p = parsePattern(pattern, 'pattern');
  const has = (f: SparsePlan['family']): boolean => enumerated.some((x) => x.family === f);
  switch (p.kind) {
    case 'block':
    case 'row':
    case 'col':
    case 'channel':
    case 'tile':
      return [];
    default:
      return has('csr') ? [] : [{ family: 'csr' }];
  }
}

export async function chooseSparsePlans(graph: Graph, sparsity: ModelSparsity, fingerprint: CpuFingerprint, opts: ChooseOptions = {}): Promise<OpPlanChoice[]> {
  if (fingerprint.isa !== 'avx512' && fingerprint.isa !== 'avx2') return [];
  const isa = fingerprint.isa;
  const ctx = planContext(graph, fingerprint, sparsity, new Map());
  const todo = graph.nodes
    .filter((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && sparsity.has(n.inputs[1] ?? ''))
    .map((n) => ({ n, s: sparseShape({ anchor: n, absorbed: [], epilogue: [], outputs: n.outputs }, ctx) }))
    .filter((x): x is { n: typeof x.n; s: NonNullable<typeof x.s> } => x.s !== null);
  const out: OpPlanChoice[] = [];
  // Plans chosen so far per shape and pattern (kernel sharing, see PickOptions.prefer).
  const chosen = new Map<string, SparsePlan[]>();
  for (const [i, { n, s }] of todo.entries()) {
    const shapeKey = `${s.prob.m}x${s.prob.n}x${s.prob.k}|${s.pattern}`;
    // A cached decision first: enumerating covers of a large mask is not free.
    const hit = cachedPlan(decisionKey(s.prob, s.pattern, fingerprint.id, isa), opts.store);
    let plans: SparsePlan[] | undefined;
    if (!hit && opts.forCompile) {
      const enumerated = enumeratePlans(s.prob, s.pattern);
      plans = compileCandidates(s.prob, s.pattern, [...enumerated, ...nativeExtraPlans(s.prob, s.pattern, enumerated)]);
    }
    const choice = hit ?? await pickPlan(s.prob, s.pattern, {
      isa, fingerprintId: fingerprint.id, store: opts.store, reps: opts.reps ?? 9, budgetMs: opts.budgetMs ?? 1500,
      plans, skipWhenDenseOnly: opts.forCompile ?? false, timerCacheDir: opts.timerCacheDir, prefer: chosen.get(shapeKey),
    });
    if (choice.plan.family !== 'dense') chosen.set(shapeKey, [...(chosen.get(shapeKey) ?? []), choice.plan]);
    const c = { node: n.name, weight: n.inputs[1]!, choice };
    out.push(c);
    opts.onOp?.(c, i, todo.length);
  }
  return out;
}
