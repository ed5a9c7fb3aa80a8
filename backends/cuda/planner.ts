/**
 * Plans a graph for the CUDA backend: every node must be a linear layer (MatMul with a
 * constant [K,N] weight, or Gemm with a constant weight, transB=1 for [N,K]); each becomes
 * one GEMM op Y[M,N] = X[M,K]·Wᵀ in the math view, with its weight's pattern and mask.
 * Other ops (element-wise, LayerNorm, Softmax, attention) have no CUDA kernels yet, so a
 * graph holding them is refused with a clear error rather than run partly.
 */
import { TesaError } from '../../src/errors.js';
import { attrInt, type Graph, type Tensor } from '../../src/model/graph.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';

export interface GemmOpPlan {
  node: string;
  weight: string;
  M: number;
  N: number;
  K: number;
  pattern: string;
  /** Weight in the math view N×K (row-major), unmasked. */
  w: Float32Array;
  /** Mask in the math view N×K, or null when dense. */
  mask: Uint8Array | null;
}

function toMath(data: Float32Array, stored: 'KN' | 'NK', N: number, K: number, out: Float32Array | Uint8Array): void {
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[n * K + k] = stored === 'NK' ? data[n * K + k]! : data[k * N + n]!;
}

export function planGemms(graph: Graph, sparsity?: ModelSparsity): GemmOpPlan[] {
  const tensor = (name: string): Tensor => {
    const t = graph.tensors.get(name);
    if (!t) throw new TesaError('BAD_INPUT', `graph references unknown tensor '${name}'`, 'the model file is inconsistent');
    return t;
  };
  const plans: GemmOpPlan[] = [];
  for (const node of graph.nodes) {
    if (node.opType !== 'MatMul' && node.opType !== 'Gemm') {
      throw new TesaError('UNSUPPORTED', `the CUDA backend has GEMM kernels only; node '${node.name}' is ${node.opType}`, 'time linear layers with `tesa bench kernel --target cuda`, or use --target cpu for whole models');
    }
    const x = tensor(node.inputs[0]!);
    const w = tensor(node.inputs[1]!);
    if (!(w.data instanceof Float32Array) || w.shape.length !== 2) {
      throw new TesaError('UNSUPPORTED', `node '${node.name}': the CUDA backend needs a constant 2-D float weight`, 'export the model with initializers for linear weights');
    }
    if (node.opType === 'Gemm' && (attrInt(node, 'transA', 0) !== 0 || node.inputs.length > 2)) {
      throw new TesaError('UNSUPPORTED', `node '${node.name}': Gemm with transA or a bias has no CUDA kernel yet`, 'fold the bias into a separate Add (unsupported too) or use --target cpu');
    }
    const stored: 'KN' | 'NK' = node.opType === 'Gemm' && attrInt(node, 'transB', 0) === 1 ? 'NK' : 'KN';
    const [a, b] = w.shape as [number, number];
    const N = stored === 'NK' ? a : b;
    const K = stored === 'NK' ? b : a;
    const M = x.shape.slice(0, -1).reduce((p, d) => p * d, 1);
    if (x.shape[x.shape.length - 1] !== K) throw new TesaError('BAD_INPUT', `node '${node.name}': input has ${x.shape[x.shape.length - 1]} features, weight expects ${K}`, 'check the model shapes');
    const wm = new Float32Array(N * K);
    toMath(w.data, stored, N, K, wm);
    const ws = sparsity?.get(w.name);
    let mask: Uint8Array | null = null;
    if (ws && ws.pattern !== 'dense') {
      mask = new Uint8Array(N * K);
      toMath(Float32Array.from(ws.mask), stored, N, K, mask);
    }
    plans.push({ node: node.name, weight: w.name, M, N, K, pattern: ws?.pattern ?? 'dense', w: wm, mask });
  }
  return plans;
}
