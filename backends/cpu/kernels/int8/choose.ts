/**
 * Decomposed or assimilated (paper §3.3, Figure 7): a weight that is int8 except a few fp32
 * outliers either runs decomposed — the int8 body plus the fp32 sparse outlier kernel — or is
 * assimilated into fp32 as a whole (our fp32 dense GEMM). Both are built and timed in one
 * process, interleaved (int8/harness.ts); the faster verified one is kept. Decisions are
 * cached in memory by (shape, weight, mask, outliers, fingerprint); the gemm-int8 family
 * reads them synchronously when it plans, and without a decision it decomposes.
 */
import type { Graph } from '../../../../src/model/graph.js';
import type { ModelSparsity } from '../../../../src/plan/sparsity.js';
import { summarize } from '../../../../src/evaluate/stats.js';
import type { CpuFingerprint } from '../../fingerprint.js';
import { planContext } from '../../planner.js';
import { lowerInt8Gemm, type Int8GemmProblem, type Int8Isa } from './emit.js';
import { benchInt8Kernels } from './harness.js';
import { chooseInt8Body, int8Shape } from './family.js';
import { int8DecisionKey, recordInt8Decision, cachedInt8Decision, type Int8Decision } from './decisions.js';

export type { Int8Decision };

export async function pickInt8Decomposition(prob: Int8GemmProblem, pattern: string, outliers: number, opts: { isa: Int8Isa; fingerprintId: string; reps?: number; budgetMs?: number }): Promise<Int8Decision> {
  const key = int8DecisionKey(prob, pattern, outliers, opts.fingerprintId, opts.isa);
  const known = cachedInt8Decision(key);
  if (known) return known;
  const kernel = lowerInt8Gemm(opts.isa, prob, { body: chooseInt8Body(prob, pattern), outlierFraction: outliers, bias: false }, 'decomposed');
  const r = await benchInt8Kernels(prob, [kernel], { reps: opts.reps ?? 15, budgetMs: opts.budgetMs ?? 1500, fp32Isa: opts.isa === 'vnni' ? 'avx512' : 'avx2' });
  const c = r.contenders[0]!;
  const d = decideInt8Plan(key, summarize(c.samplesMs).medianMs, summarize(r.fp32Dense.samplesMs).medianMs, c.intError);
  recordInt8Decision(d);
  return d;
}

/**
 * The rule on the recorded timings: decomposed only when it was verified exact against the
 * integer reference and its median was strictly below the assimilated plan's (a tie keeps fp32,
 * which needs no int8 constants).
 */
export function decideInt8Plan(key: string, decomposedMs: number, assimilatedMs: number, intError: number | null): Int8Decision {
  const wrong = intError === null || !(intError <= 1e-5);
  return {
    key,
    plan: !wrong && decomposedMs < assimilatedMs ? 'decomposed' : 'assimilated',
    decomposedMs,
    assimilatedMs,
    ...(wrong ? { rejected: `int8 result differs from the integer reference by ${intError}` } : {}),
  };
}

/** Times every mixed-precision (int8 + fp32 outliers) MatMul/Gemm of the model once. */
export async function chooseInt8Plans(graph: Graph, sparsity: ModelSparsity, fingerprint: CpuFingerprint, opts: { reps?: number; budgetMs?: number } = {}): Promise<Array<{ node: string; decision: Int8Decision }>> {
  const ctx = planContext(graph, fingerprint, sparsity, new Map());
  const out: Array<{ node: string; decision: Int8Decision }> = [];
  for (const n of graph.nodes) {
    if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
    const s = int8Shape({ anchor: n, absorbed: [], epilogue: [], outputs: n.outputs }, ctx);
    if (!s || s.outliers <= 0) continue;
    const decision = await pickInt8Decomposition(s.prob, s.pattern, s.outliers, { isa: s.isa, fingerprintId: fingerprint.id, ...opts });
    out.push({ node: n.name, decision });
  }
  return out;
}
