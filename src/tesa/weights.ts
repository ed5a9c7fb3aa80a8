/**
 * Prunable weights: constant operands of MatMul, Gemm and Conv. Each is described by the axes
 * the coarse patterns and layer groups talk about: `outAxis` (output features/channels) and
 * `inAxis` (input features/channels) of the weight as stored.
 */
import { attrInt, type Graph, type Node } from '../model/graph.js';

export interface PrunableWeight {
  weight: string;
  node: string;
  opType: string;
  /** Input slot of the node that reads the weight. */
  slot: number;
  shape: number[];
  outAxis: number;
  inAxis: number;
}

function isConstFloat(graph: Graph, name: string): boolean {
  const t = graph.tensors.get(name);
  return t?.data !== undefined && (t.dtype === 'float32' || t.dtype === 'float16' || t.dtype === 'float64');
}

/** The weight a node multiplies by, if it is a prunable constant. */
export function prunableOf(graph: Graph, node: Node): PrunableWeight | undefined {
  const mk = (slot: number, outAxis: number, inAxis: number): PrunableWeight | undefined => {
    const w = node.inputs[slot];
    if (!w || !isConstFloat(graph, w)) return undefined;
    const shape = graph.tensors.get(w)!.shape;
    return { weight: w, node: node.name, opType: node.opType, slot, shape: [...shape], outAxis, inAxis };
  };
  if (node.domain !== '' && node.domain !== 'ai.onnx') return undefined;
  switch (node.opType) {
    case 'MatMul': {
      const s = graph.tensors.get(node.inputs[1])?.shape;
      if (!s || s.length !== 2 || isConstFloat(graph, node.inputs[0])) return undefined;
      return mk(1, 1, 0);
    }
    case 'Gemm': {
      const t = attrInt(node, 'transB', 0) !== 0;
      if (attrInt(node, 'transA', 0) !== 0) return undefined;
      return t ? mk(1, 0, 1) : mk(1, 1, 0);
    }
    case 'Conv': {
      const s = graph.tensors.get(node.inputs[1])?.shape;
      if (!s || s.length < 3) return undefined;
      return mk(1, 0, 1);
    }
    default:
      return undefined;
  }
}

/** Every prunable weight, in graph order (a weight read by two nodes is listed once). */
export function prunableWeights(graph: Graph): PrunableWeight[] {
  const out: PrunableWeight[] = [];
  const seen = new Set<string>();
  for (const n of graph.nodes) {
    const p = prunableOf(graph, n);
    if (p && !seen.has(p.weight)) {
      seen.add(p.weight);
      out.push(p);
    }
  }
  return out;
}
