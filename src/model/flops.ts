/**
 * Floating-point operations per node (a multiply-add counts 2), for reports and for `inspect`.
 * Never used to judge candidates: tesa times real kernels for that.
 *
 * MatMul/Gemm: 2·M·N·K (batched MatMul: times the batch). Conv: 2 · output elements ·
 * (C/group) · kernel area. Pools: output elements · window area (global: input elements).
 * Elementwise ops, normalisations, softmax and reductions: one per element they read or
 * write (the larger). Pure data movement (Reshape, Transpose, Gather, Concat, …) and shape
 * ops: 0.
 */
import { attrInts, numel, type Graph, type Node } from './graph.js';

const MOVEMENT = new Set([
  'Reshape', 'Transpose', 'Flatten', 'Squeeze', 'Unsqueeze', 'Concat', 'Split', 'Slice', 'Gather', 'GatherElements',
  'Expand', 'Tile', 'Cast', 'Identity', 'Dropout', 'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Range',
]);

function shapeOf(graph: Graph, name: string): number[] {
  return graph.tensors.get(name)?.shape ?? [];
}

export function nodeFlops(graph: Graph, node: Node): number {
  const out = shapeOf(graph, node.outputs[0]);
  switch (node.opType) {
    case 'MatMul': {
      const a = shapeOf(graph, node.inputs[0]);
      return 2 * numel(out) * a[a.length - 1];
    }
    case 'Gemm': {
      const a = shapeOf(graph, node.inputs[0]);
      const transA = node.attrs.transA?.type === 'int' && node.attrs.transA.value === 1;
      const k = transA ? a[0] : a[1];
      return 2 * numel(out) * k;
    }
    case 'Conv': {
      const w = shapeOf(graph, node.inputs[1]);
      return 2 * numel(out) * numel(w.slice(1));
    }
    case 'MaxPool':
    case 'AveragePool':
      return numel(out) * numel(attrInts(node, 'kernel_shape', []));
    case 'GlobalAveragePool':
    case 'GlobalMaxPool':
      return numel(shapeOf(graph, node.inputs[0]));
    default: {
      if (MOVEMENT.has(node.opType)) return 0;
      const sizes = [...node.inputs.filter(Boolean), ...node.outputs.filter(Boolean)].map((t) => numel(shapeOf(graph, t)));
      return Math.max(0, ...sizes);
    }
  }
}

/** FLOPs of every node by name, and the total. */
export function graphFlops(graph: Graph): { perNode: Map<string, number>; total: number } {
  const perNode = new Map<string, number>();
  let total = 0;
  for (const n of graph.nodes) {
    const f = nodeFlops(graph, n);
    perNode.set(n.name, f);
    total += f;
  }
  return { perNode, total };
}
