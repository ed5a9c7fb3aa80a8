/**
 * The `proxy` evaluator: importance retained, no data. For every prunable weight the share of
 * its L1 magnitude that survives the final (propagated) mask; the score is the mean over
 * weights, so losing most of a small layer counts as much as losing most of a large one (a
 * network is as weak as its most damaged layer). Propagation matters: weights killed only
 * by propagation are lost too, which is what makes group-aware pruning score better.
 */
import type { Graph } from '../model/graph.js';
import { prunableWeights } from '../tesa/weights.js';
import { modelQuantError } from '../quant/model-error.js';
import { registerEvaluator, type EvaluationContext, type EvaluationResult, type Evaluator } from './evaluator.js';

export function retainedImportance(graph: Graph, masks: ReadonlyMap<string, Uint8Array>): { score: number; perWeight: Record<string, number> } {
  const perWeight: Record<string, number> = {};
  let sum = 0;
  let count = 0;
  for (const p of prunableWeights(graph)) {
    const t = graph.tensors.get(p.weight);
    const d = t?.data;
    if (!(d instanceof Float32Array || d instanceof Float64Array)) continue;
    const mask = masks.get(p.weight);
    let total = 0;
    let kept = 0;
    for (let i = 0; i < d.length; i++) {
      const a = Math.abs(d[i]!);
      total += a;
      if (!mask || mask[i] !== 0) kept += a;
    }
    const r = total > 0 ? kept / total : 1;
    perWeight[p.weight] = r;
    sum += r;
    count += 1;
  }
  return { score: count > 0 ? sum / count : 1, perWeight };
}

export class ProxyEvaluator implements Evaluator {
  readonly name = 'proxy';
  readonly needsRun = false;

  async evaluate(ctx: EvaluationContext): Promise<EvaluationResult> {
    const masks = new Map<string, Uint8Array>();
    for (const [w, s] of ctx.sparsity) masks.set(w, s.mask);
    const r = retainedImportance(ctx.graph, masks);
    // int8 weights keep their importance but lose the expected relative error of their layer.
    const q = modelQuantError(ctx.graph, ctx.sparsity);
    for (const [w, e] of Object.entries(q.perWeight)) if (w in r.perWeight) r.perWeight[w] = r.perWeight[w]! * Math.max(0, 1 - e);
    const vals = Object.values(r.perWeight);
    const score = q.max > 0 && vals.length > 0 ? vals.reduce((a, b) => a + b, 0) / vals.length : r.score;
    let minLayer = 1;
    for (const v of vals) minLayer = Math.min(minLayer, v);
    return { score, details: q.max > 0 ? { minLayerRetained: minLayer, maxQuantError: q.max, meanQuantError: q.mean } : { minLayerRetained: minLayer } };
  }
}

registerEvaluator('proxy', () => new ProxyEvaluator());
