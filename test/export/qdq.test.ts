/**
 * The quantized ONNX (src/export/qdq.ts): int8 initializers behind per-axis
 * DequantizeLinear with zero point 0 and the kernels' scales; it loads and runs in
 * onnxruntime-node, and its outputs follow the compiled int8 model (gemm-int8 kernels) far
 * closer than the fp32 model does: the difference left is accumulation order, not rounding.
 */
import { afterAll, describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { CpuBackend } from '../../backends/cpu/cpu-backend.js';
import { readCpuInfo } from '../../backends/cpu/fingerprint.js';
import type { Graph, Tensor } from '../../src/model/graph.js';
import { runOrt } from '../../src/model/ort.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';
import { measuredRelativeError } from '../../src/quant/error.js';
import { quantizeWeightPerChannel, weightNK } from '../../src/quant/weights.js';
import { hasInt8, qmaxForIsa, QDQ_ORT_OPTIMIZATION, quantizedGraph } from '../../src/export/qdq.js';
import { tempCache } from '../backends/cpu/helpers.js';
import { int8IsaFor } from '../../backends/cpu/kernels/int8/emit.js';

const [M, K, N1, N2] = [16, 64, 32, 48];

/** X feeds two MatMuls (so its activation QDQ is shared); H1 feeds a third through Relu. */
function twoBranchGraph(): Graph {
  const rng = seedrandom('qdq');
  const rand = (n: number) => Float32Array.from({ length: n }, () => rng() * 2 - 1);
  const t = (name: string, shape: number[], data?: Float32Array): [string, Tensor] => [name, { name, dtype: 'float32', shape, ...(data ? { data } : {}) }];
  return {
    name: 'two-branch', inputs: ['X'], outputs: ['Y1', 'Y2'], opsetVersion: 17,
    tensors: new Map([
      t('X', [M, K]), t('W1', [K, N1], rand(K * N1)), t('W2', [K, N2], rand(K * N2)), t('W3', [N1, N1], rand(N1 * N1)),
      t('H1', [M, N1]), t('R1', [M, N1]), t('Y1', [M, N1]), t('Y2', [M, N2]),
    ]),
    nodes: [
      { name: 'mm1', opType: 'MatMul', domain: '', inputs: ['X', 'W1'], outputs: ['H1'], attrs: {} },
      { name: 'mm2', opType: 'MatMul', domain: '', inputs: ['X', 'W2'], outputs: ['Y2'], attrs: {} },
      { name: 'relu', opType: 'Relu', domain: '', inputs: ['H1'], outputs: ['R1'], attrs: {} },
      { name: 'mm3', opType: 'MatMul', domain: '', inputs: ['R1', 'W3'], outputs: ['Y1'], attrs: {} },
    ],
  };
}

/** W1 int8 with half its elements pruned, W2 int8 dense with 2% fp32 outliers, W3 fp32. */
function int8Sparsity(g: Graph): ModelSparsity {
  const w1 = g.tensors.get('W1')!;
  const mask1 = Uint8Array.from({ length: K * N1 }, (_, i) => (i % 2 === 0 ? 1 : 0));
  const d1 = new Float32Array(w1.data as Float32Array);
  for (let i = 0; i < d1.length; i++) if (!mask1[i]) d1[i] = 0;
  g.tensors.set('W1', { ...w1, data: d1 });
  return new Map([
    ['W1', { weight: 'W1', pattern: 'fine', precision: 'int8', shape: [K, N1], mask: mask1 }],
    ['W2', { weight: 'W2', pattern: 'dense', precision: 'int8', shape: [K, N2], mask: new Uint8Array(K * N2).fill(1), outliers: 0.02 }],
  ]);
}

describe('quantizedGraph', () => {
  it('writes int8 initializers, per-axis scales equal to the kernels\', zero points 0, and one activation QDQ per shared input', async () => {
    const g = twoBranchGraph();
    const sparsity = int8Sparsity(g);
    expect(hasInt8(sparsity)).toBe(true);
    const { graph: q, weights } = quantizedGraph(g, sparsity);
    expect(weights.map((w) => w.weight)).toEqual(['W1', 'W2']);
    expect(weights[1]!.outliers).toBe(Math.round(0.02 * K * N2));
    // The float weights are gone; their int8 copies are there with the stored layout.
    expect(q.tensors.has('W1')).toBe(false);
    const q1 = q.tensors.get('W1_quantized')!;
    expect(q1.dtype).toBe('int8');
    expect(q1.shape).toEqual([K, N1]);
    const { w, n, k } = weightNK(g.tensors.get('W1')!.data as Float32Array, [K, N1], false);
    const maskNK = Uint8Array.from(w, (_, i) => ((Math.floor(i % k) * N1 + Math.floor(i / k)) % 2 === 0 ? 1 : 0));
    const expected = quantizeWeightPerChannel(w, n, k, { qmax: 127, mask: maskNK });
    expect(Array.from(q.tensors.get('W1_scale')!.data as Float32Array)).toEqual(Array.from(expected.scale));
    expect(Array.from(q.tensors.get('W1_zero_point')!.data as Int8Array).every((z) => z === 0)).toBe(true);
    const dq = q.nodes.filter((x) => x.opType === 'DequantizeLinear');
    const ql = q.nodes.filter((x) => x.opType === 'QuantizeLinear');
    // X is quantized once for mm1 and mm2; R1 feeds the fp32 mm3 and is left alone.
    expect(ql).toHaveLength(1);
    // X · (127/|x|max) rounded with scale 1, as the kernels compute it (x * inv).
    const mul = q.nodes.find((x) => x.outputs[0] === ql[0]!.inputs[0])!;
    expect(mul.opType).toBe('Mul');
    expect(mul.inputs[0]).toBe('X');
    expect(dq).toHaveLength(3); // W1, W2 and X
    expect(dq.find((x) => x.inputs[0] === 'W1_quantized')!.attrs.axis).toEqual({ type: 'int', value: 1 });
    expect(q.nodes.find((x) => x.name === 'mm3')!.inputs).toEqual(['R1', 'W3']);

    // Y2 = (X̂·Ŵ2 body) + (X·W2 outliers): the outliers multiply the unquantized X, as in the kernels.
    const adds = q.nodes.filter((x) => x.opType === 'Add');
    expect(adds.map((x) => x.outputs[0])).toEqual(['Y2']);
    expect(q.nodes.find((x) => x.inputs.includes('W2_outliers'))!.inputs[0]).toBe('X');
  });

  it('refuses an opset below 13 with a hint', () => {
    const g = { ...twoBranchGraph(), opsetVersion: 11 };
    expect(() => quantizedGraph(g, int8Sparsity(g))).toThrow(/opset 13/);
  });
});

describe.skipIf(!readCpuInfo().flags.includes('avx2'))('quantized ONNX against the compiled int8 model', () => {
  const cache = tempCache('tesa-qdq-');
  afterAll(() => cache.cleanup());

  it('runs in onnxruntime and matches the gemm-int8 kernels within accumulation error', async () => {
    const g = twoBranchGraph();
    const sparsity = int8Sparsity(g);
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      const fp = await backend.fingerprint();
      const qmax = qmaxForIsa(int8IsaFor(fp.details.cpuFlags!.split(' '), fp.details.isa as 'avx512' | 'avx2'));
      const compiled = await backend.compile(g, { sparsity });
      // Which family served each MatMul: the two int8 weights on gemm-int8, W3 not.
      const families = new Map(compiled.plan.map((p) => [p.node, p.kernel]));
      expect(families.get('mm1')).toBe('gemm-int8');
      expect(families.get('mm2')).toBe('gemm-int8');
      expect(families.get('mm3')).not.toBe('gemm-int8');

      const x = Float32Array.from({ length: M * K }, (_, i) => Math.sin(i * 0.37) * 2);
      const s = await backend.openSession(compiled, { X: x });
      let ours: Map<string, Float32Array>;
      try {
        await s.time(1);
        ours = await s.outputs();
      } finally {
        await s.close();
      }
      const qdq = quantizedGraph(g, sparsity, { qmax }).graph;
      const viaOrt = await runOrt(qdq, { X: x }, { optimization: QDQ_ORT_OPTIMIZATION });
      const fp32 = await runOrt(g, { X: x });
      for (const y of ['Y1', 'Y2']) {
        const quantError = measuredRelativeError(fp32.get(y)!.data as Float32Array, ours.get(y)!);
        const qdqError = measuredRelativeError(viaOrt.get(y)!.data as Float32Array, ours.get(y)!);
        expect(quantError).toBeGreaterThan(1e-4); // the kernels really quantize
        // Layer by layer the rounding is the kernels' own: what is left is float summation order.
        expect(qdqError).toBeLessThan(quantError / 100);
      }
    } finally {
      await backend.close();
    }
  }, 240_000);
});
