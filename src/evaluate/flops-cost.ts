/**
 * FLOPs as a latency proxy (`--cost flops`, the paper's Figure 18 baseline): multiply-adds of
 * MatMul/Gemm/Conv scaled by the kept fraction of their (propagated) weight mask, plus one op
 * per output element for everything else. This is what a FLOPs-based pruner believes; the
 * search measures its result for real afterwards to show how far the belief misses.
 */
import { attrInt, numel, type Graph, type Node } from '../model/graph.js';
import type { ModelSparsity } from '../plan/sparsity.js';

function keptFraction(sparsity: ModelSparsity | undefined, weight: string | undefined): number {
  if (!sparsity || !weight) return 1;
  const s = sparsity.get(weight);
  if (!s || s.mask.length === 0) return 1;
  let kept = 0;
  for (let i = 0; i < s.mask.length; i++) kept += s.mask[i]!;
  return kept / s.mask.length;
}

function shapeOf(graph: Graph, name: string | undefined): number[] | undefined {
  if (!name) return undefined;
  const s = graph.tensors.get(name)?.shape;
  return s && s.every((d) => Number.isFinite(d) && d >= 0) ? s : undefined;
}

/** FLOPs of one node: 2 per multiply-add of the dense op times the kept fraction of its weight. */
export function nodeFlops(graph: Graph, node: Node, sparsity?: ModelSparsity): number {
  const out = shapeOf(graph, node.outputs[0]);
  const outElems = out ? numel(out) : 0;
  switch (node.opType) {
    case 'MatMul': {
      const a = shapeOf(graph, node.inputs[0]);
      if (!a || a.length === 0 || !out) return outElems;
      const k = a[a.length - 1]!;
      return 2 * outElems * k * keptFraction(sparsity, node.inputs[1]);
    }
    case 'Gemm': {
      const a = shapeOf(graph, node.inputs[0]);
      if (!a || a.length !== 2 || !out) return outElems;
      const k = attrInt(node, 'transA', 0) ? a[0]! : a[1]!;
      return 2 * outElems * k * keptFraction(sparsity, node.inputs[1]) + (node.inputs[2] ? outElems : 0);
    }
    case 'Conv': {
      const w = shapeOf(graph, node.inputs[1]);
      if (!w || !out) return outElems;
      const perOutput = w.slice(1).reduce((x, y) => x * y, 1);
      return 2 * outElems * perOutput * keptFraction(sparsity, node.inputs[1]) + (node.inputs[2] ? outElems : 0);
    }
    default:
      return outElems;
  }
}

/** Whole-model FLOPs; with `sparsity`, those of the propagated sparse model. */
export function modelFlops(graph: Graph, sparsity?: ModelSparsity): number {
  let total = 0;
  for (const n of graph.nodes) total += nodeFlops(graph, n, sparsity);
  return total;
}
