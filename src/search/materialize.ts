/**
 * Candidate → the sparse model it stands for: importance-ranked masks per group (aligned on
 * the coupled axis when groups are on), TeSA propagation to a fixpoint, the final mask of every
 * prunable weight as ModelSparsity, a per-weight before/after summary, and the masked graph
 * (pruned weights zeroed, propagated constants folded into biases so it computes exactly what
 * the pruned model computes).
 */
import { cloneGraph, type Graph } from '../model/graph.js';
import { makeGroupMasks, makeMask, type WeightView } from '../prune/masks.js';
import { applyAttributes } from '../tesa/apply.js';
import { propagateMasks } from '../tesa/masks.js';
import { propagatedInt8 } from '../tesa/precision.js';
import { prunableWeights, type PrunableWeight } from '../tesa/weights.js';
import type { LayerGroup } from '../tesa/layer-group.js';
import type { ModelSparsity, Pattern, Precision } from '../plan/sparsity.js';
import type { Candidate, SearchSpace } from '../space/space.js';
import type { SparsitySummary } from '../../db/store.js';
import { TesaError } from '../errors.js';

export interface Materialized {
  sparsity: ModelSparsity;
  maskedGraph: Graph;
  summary: SparsitySummary;
  /** Per layer group: the parameter-weighted sparsity of its weights before and after propagation. */
  groupSummary: SparsitySummary;
  /** Pruned fraction of all prunable weights' elements, before and after propagation. */
  total: { before: number; after: number };
}

export interface MaterializeContext {
  graph: Graph;
  space: SearchSpace;
  /** Layer groups by id (groups on); independent weights need none. */
  layerGroups: ReadonlyMap<string, LayerGroup>;
  channelMultiple: number;
}

export function weightViews(graph: Graph): { prunable: Map<string, PrunableWeight>; views: Map<string, WeightView> } {
  const prunable = new Map<string, PrunableWeight>();
  const views = new Map<string, WeightView>();
  for (const p of prunableWeights(graph)) {
    const t = graph.tensors.get(p.weight);
    if (!(t?.data instanceof Float32Array)) continue;
    prunable.set(p.weight, p);
    views.set(p.weight, { data: t.data, shape: t.shape });
  }
  return { prunable, views };
}

function andInto(target: Map<string, Uint8Array>, name: string, mask: Uint8Array): void {
  const cur = target.get(name);
  if (!cur) {
    target.set(name, mask);
    return;
  }
  const out = new Uint8Array(cur.length);
  for (let i = 0; i < cur.length; i++) out[i] = cur[i]! & mask[i]!;
  target.set(name, out);
}

export function materialize(ctx: MaterializeContext, candidate: Candidate): Materialized {
  const { graph, space } = ctx;
  const { prunable, views } = weightViews(graph);
  const initial = new Map<string, Uint8Array>();
  const choiceOf = new Map<string, { pattern: Pattern; precision: Precision }>();
  for (const g of space.groups) {
    const choice = candidate.groups[g.id];
    if (!choice || choice.ratio <= 0) {
      if (choice) for (const w of g.weights) choiceOf.set(w, { pattern: 'dense', precision: choice.precision });
      continue;
    }
    const lg = g.coupled ? ctx.layerGroups.get(g.id) : undefined;
    if (g.coupled && !lg) throw new TesaError('INTERNAL', `search space names layer group '${g.id}' that the model does not have`, 'the model changed since the search started; start a new search');
    const masks = lg
      ? makeGroupMasks(lg, views, choice.pattern, choice.ratio, { channelMultiple: ctx.channelMultiple, axisForChannelOf: (w) => prunable.get(w)?.outAxis ?? 0 })
      : new Map(
          g.weights.map((w) => {
            const v = views.get(w);
            if (!v) throw new TesaError('INTERNAL', `weight '${w}' is not a prunable float32 weight`, 'start a new search');
            return [w, makeMask(v, choice.pattern, choice.ratio, { channelMultiple: ctx.channelMultiple, axisForChannel: prunable.get(w)?.outAxis ?? 0, weightName: w })] as const;
          }),
        );
    for (const [w, m] of masks) {
      andInto(initial, w, m);
      if (!choiceOf.has(w) || g.weights.includes(w)) choiceOf.set(w, { pattern: choice.pattern, precision: choice.precision });
    }
  }

  // --propagate-precision: the bit-width rule may lower neighbours of int8 layers to int8 too.
  if (space.propagatePrecision) {
    const widths = new Map([...prunable.keys()].map((w) => [w, choiceOf.get(w)?.precision ?? 'fp32'] as const));
    for (const [w, precision] of propagatedInt8(graph, widths)) choiceOf.set(w, { pattern: choiceOf.get(w)?.pattern ?? 'dense', precision });
  }

  const prop = propagateMasks(graph, initial);
  const sparsity: ModelSparsity = new Map();
  const summary: SparsitySummary = {};
  for (const l of prop.layers) summary[l.name] = { before: l.before, after: l.after };
  for (const [w, v] of views) {
    const mask = prop.weightMasks.get(w) ?? initial.get(w);
    if (!mask) continue;
    let pruned = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i] === 0) pruned++;
    const choice = choiceOf.get(w);
    if (pruned > 0 || (choice && choice.precision !== 'fp32')) {
      sparsity.set(w, {
        weight: w,
        // Sparsity that arrived only by propagation is element-wise as far as anyone knows.
        pattern: choice && choice.pattern !== 'dense' ? choice.pattern : pruned > 0 ? 'fine' : 'dense',
        precision: choice?.precision ?? 'fp32',
        shape: [...v.shape],
        mask,
        ...(choice?.precision === 'int8' && (space.int8Outliers ?? 0) > 0 ? { outliers: space.int8Outliers } : {}),
      });
    }
  }
  // Exact: pruned constants zeroed and propagated constants folded into the readers' biases.
  const maskedGraph = applyAttributes(graph, { attributes: prop.attributes, folds: prop.folds });
  const groupSummary: SparsitySummary = {};
  for (const g of space.groups) {
    let n = 0;
    let before = 0;
    let after = 0;
    for (const w of g.weights) {
      const size = views.get(w)?.data.length ?? 0;
      const l = summary[w];
      if (!l || size === 0) continue;
      n += size;
      before += l.before * size;
      after += l.after * size;
    }
    if (n > 0) groupSummary[g.id] = { before: before / n, after: after / n };
  }
  return { sparsity, maskedGraph, summary, groupSummary, total: prop.total };
}

/** A copy of the graph whose pruned weight elements are zero (weights themselves are not mutated). */
export function zeroMasked(graph: Graph, sparsity: ModelSparsity): Graph {
  const g = cloneGraph(graph);
  for (const [w, s] of sparsity) {
    const t = g.tensors.get(w);
    if (!(t?.data instanceof Float32Array)) continue;
    const data = new Float32Array(t.data);
    for (let i = 0; i < data.length; i++) if (s.mask[i] === 0) data[i] = 0;
    g.tensors.set(w, { ...t, data });
  }
  return g;
}
