/**
 * What `tesa inspect` reports about a graph (after folding and Identity removal): ops by type,
 * parameters, FLOPs, inputs/outputs, and the weight matrices.
 *
 * Rules: `parameters` counts every element of every float constant the graph uses (weights,
 * biases, norm scales, embedding tables). `weights` lists the prunable weights: float
 * constants of rank ≥ 2 read as the weight operand of a MatMul (either operand, when constant),
 * Gemm (A or B) or Conv (W) — the layers whose sparsity tesa searches. Embedding tables read by
 * Gather are parameters but not weights.
 */
import { numel, type DType, type Graph } from './graph.js';
import { graphFlops } from './flops.js';

export interface TensorSummary {
  name: string;
  shape: number[];
  dtype: DType;
}

export interface WeightSummary {
  name: string;
  shape: number[];
  /** The node that reads it and that node's op. */
  node: string;
  op: string;
}

export interface GraphSummary {
  name: string;
  ops: Record<string, number>;
  parameters: number;
  flops: number;
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  weights: WeightSummary[];
}

const WEIGHT_OPERANDS: Record<string, number[]> = { MatMul: [0, 1], Gemm: [0, 1], Conv: [1] };

function isFloat(d: DType): boolean {
  return d === 'float32' || d === 'float16' || d === 'float64';
}

export function summarize(graph: Graph): GraphSummary {
  const ops: Record<string, number> = {};
  for (const n of graph.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
  const used = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) used.add(i);
  let parameters = 0;
  for (const name of used) {
    const t = graph.tensors.get(name);
    if (t?.data !== undefined && isFloat(t.dtype)) parameters += numel(t.shape);
  }
  const weights: WeightSummary[] = [];
  const seen = new Set<string>();
  for (const n of graph.nodes) {
    for (const idx of WEIGHT_OPERANDS[n.opType] ?? []) {
      const t = graph.tensors.get(n.inputs[idx] ?? '');
      if (!t || t.data === undefined || !isFloat(t.dtype) || t.shape.length < 2 || seen.has(t.name)) continue;
      seen.add(t.name);
      weights.push({ name: t.name, shape: [...t.shape], node: n.name, op: n.opType });
    }
  }
  const describe = (name: string): TensorSummary => {
    const t = graph.tensors.get(name);
    return { name, shape: t ? [...t.shape] : [], dtype: t?.dtype ?? 'float32' };
  };
  return {
    name: graph.name,
    ops: Object.fromEntries(Object.entries(ops).sort(([a], [b]) => (a < b ? -1 : 1))),
    parameters,
    flops: graphFlops(graph).total,
    inputs: graph.inputs.map(describe),
    outputs: graph.outputs.map(describe),
    weights,
  };
}
