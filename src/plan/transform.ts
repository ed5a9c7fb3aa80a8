/**
 * Execution-plan transformation for a whole model: every MatMul/Gemm whose weight is sparse
 * gets its plan picked by real timing (picker.ts) before the backend compiles, so the
 * gemm-sparse family lowers each op with the fastest verified plan (or leaves it to the dense
 * family). Ops with the same signature and mask are timed once (the decision cache).
 */
import type { Graph } from '../model/graph.js';
import type { ModelSparsity } from './sparsity.js';
import { pickPlan, type PlanChoice, type PlanDecisionStore } from './picker.js';
import type { CpuFingerprint } from '../../backends/cpu/fingerprint.js';
import { planContext } from '../../backends/cpu/planner.js';
import { sparseShape } from '../../backends/cpu/kernels/gemm-sparse.js';

export interface OpPlanChoice {
  node: string;
  weight: string;
  choice: PlanChoice;
}

export interface ChooseOptions {
  store?: PlanDecisionStore;
  reps?: number;
  budgetMs?: number;
  onOp?: (c: OpPlanChoice, index: number, total: number) => void;
}

export async function chooseSparsePlans(graph: Graph, sparsity: ModelSparsity, fingerprint: CpuFingerprint, opts: ChooseOptions = {}): Promise<OpPlanChoice[]> {
  if (fingerprint.isa !== 'avx512' && fingerprint.isa !== 'avx2') return [];
  const ctx = planContext(graph, fingerprint, sparsity, new Map());
  const todo = graph.nodes
    .filter((n) => (n.opType === 'MatMul' || n.opType === 'Gemm') && sparsity.has(n.inputs[1] ?? ''))
    .map((n) => ({ n, s: sparseShape({ anchor: n, absorbed: [], epilogue: [], outputs: n.outputs }, ctx) }))
    .filter((x): x is { n: typeof x.n; s: NonNullable<typeof x.s> } => x.s !== null);
  const out: OpPlanChoice[] = [];
  for (const [i, { n, s }] of todo.entries()) {
    const choice = await pickPlan(s.prob, s.pattern, { isa: fingerprint.isa, fingerprintId: fingerprint.id, store: opts.store, reps: opts.reps ?? 9, budgetMs: opts.budgetMs ?? 1500 });
    const c = { node: n.name, weight: n.inputs[1]!, choice };
    out.push(c);
    opts.onOp?.(c, i, todo.length);
  }
  return out;
}
