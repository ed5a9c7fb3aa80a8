/**
 * Whole-model lowering for the CUDA backend, checked without a GPU: the lowered program run by
 * the reference interpreter (fp16 storage, like the GPU) must agree with onnxruntime on the
 * same graph, and the program must have the shape the GPU path relies on (linears on
 * feature-major activations, element-wise chains fused into their consumers).
 */
import { describe, expect, it } from 'vitest';
import { randomInputs } from '../../../../src/model/inputs.js';
import { loadModel } from '../../../../src/model/load.js';
import { runOrt } from '../../../../src/model/ort.js';
import { linearMathWeight, lowerGraph, type LinearSource } from '../../../../backends/cuda/model/lower-graph.js';
import { runReference } from '../../../../backends/cuda/model/reference.js';

async function compareWithOrt(spec: string): Promise<{ maxAbs: number; scale: number; program: ReturnType<typeof lowerGraph> }> {
  const g = await loadModel(spec);
  const program = lowerGraph(g);
  const inputs = randomInputs(g, 7);
  const ours = runReference(program, { inputs: new Map(Object.entries(inputs)) as Map<string, Float32Array | BigInt64Array>, weight: (d) => linearMathWeight(g, d as LinearSource).w });
  const ort = await runOrt(g, inputs);
  let maxAbs = 0;
  let scale = 0;
  for (const [name, v] of ours) {
    const o = ort.get(name)!.data as Float32Array;
    expect(v.length).toBe(o.length);
    for (let i = 0; i < v.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(v[i]! - o[i]!));
      scale = Math.max(scale, Math.abs(o[i]!));
    }
  }
  return { maxAbs, scale, program };
}

describe('CUDA whole-model lowering', () => {
  it('bert-mini: the fp16 program agrees with onnxruntime, linears read feature-major activations', async () => {
    const { maxAbs, scale, program } = await compareWithOrt('zoo:bert-mini');
    // fp16 storage of every activation: a few units in the 3rd decimal on values of magnitude ~4.
    expect(maxAbs).toBeLessThan(2e-3 * scale + 2e-3);
    expect(program.linears).toHaveLength(24);
    const kinds = program.steps.reduce<Record<string, number>>((m, s) => ((m[s.kind] = (m[s.kind] ?? 0) + 1), m), {});
    // 4 layers: Q·Kᵀ and P·V each; Softmax fused with scale and mask; 2 LayerNorms per layer + embeddings.
    expect(kinds).toMatchObject({ linear: 24, bmm: 8, softmax: 4, layernorm: 9, gather: 3 });
    // Per layer: Q, K, V bias copies and bias+GELU; plus the output copy. The context (P·V) is
    // written by cuBLAS straight into the feature-major layout its Transpose+Reshape needs.
    expect(kinds.ew).toBe(4 * 4 + 1);
    for (const s of program.steps) {
      if (s.kind !== 'linear') continue;
      const d = program.linears[s.index]!;
      const r = s.x.shape.length;
      expect(s.x.strides[r - 1]).toBe(d.M);
      expect(s.y.strides[r - 1]).toBe(d.M);
    }
    // GELU (Div, Erf, Add, Mul, Mul) and the bias Add fuse into one step reading the linear's output.
    const gelu = program.steps.find((s) => s.kind === 'ew' && JSON.stringify(s.src.expr).includes('"erf"'));
    expect(gelu && gelu.kind === 'ew' && gelu.src.leaves.length).toBe(2);
  }, 120_000);

  it('mlp: Gemm/MatMul chains agree with onnxruntime', async () => {
    const { maxAbs, scale } = await compareWithOrt('zoo:mlp');
    expect(maxAbs).toBeLessThan(2e-3 * scale + 2e-3);
  }, 60_000);

  it('refuses a graph with an op it has no kernel for, naming the node', async () => {
    const g = await loadModel('zoo:resnet18');
    expect(() => lowerGraph(g)).toThrow(/node '.*' \(Conv\).*--target cpu|no CUDA kernel/);
  });
});
