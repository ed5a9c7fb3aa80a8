/**
 * PyTorch-exported fixtures (test/fixtures/onnx/make_fixtures.py, TorchScript exporter at
 * opset 13 and 17): each imports with its dims bound, and our import → export runs in
 * onnxruntime-node with the same outputs as the original file and as torch itself.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import type { TensorData } from '../../src/model/graph.js';
import { loadModel } from '../../src/model/load.js';
import { runOrt } from '../../src/model/ort.js';
import { summarize } from '../../src/model/summary.js';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'onnx');

interface JsonTensor {
  dtype: string;
  shape: number[];
  data: number[];
}
interface Case {
  model: string;
  opset: number;
  dims: Record<string, number>;
  inputs: Record<string, JsonTensor>;
  outputs: Record<string, JsonTensor>;
}

function toData(t: JsonTensor): TensorData {
  if (t.dtype === 'int64') return BigInt64Array.from(t.data.map((v) => BigInt(v)));
  if (t.dtype === 'float32') return Float32Array.from(t.data);
  throw new Error(`fixture dtype ${t.dtype}`);
}

function relErr(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 1e-6;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]));
  let err = 0;
  for (let i = 0; i < want.length; i++) err = Math.max(err, Math.abs(got[i] - want[i]) / scale);
  return err;
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Case);

describe('PyTorch-exported fixtures', () => {
  it('are all there', () => {
    expect(cases.map((c) => c.model)).toEqual([
      'bert_op13.onnx',
      'bert_op17.onnx',
      'hf_bert_op17.onnx',
      'mlp_op13.onnx',
      'mlp_op17.onnx',
      'mobilenet_v2_op13.onnx',
      'resnet_bn_op13.onnx',
    ]);
  });

  for (const c of cases) {
    it(`${c.model}: import → export runs in onnxruntime like the original and like torch`, async () => {
      const path = join(DIR, c.model);
      // The MLP's batch dim is named 'batch' (it would default to 1); bind it to the fixture's 2.
      const dims = c.model.startsWith('mlp') ? { ...c.dims, batch: 2 } : c.dims;
      const graph = await loadModel(path, { dims });
      expect(graph.opsetVersion).toBe(c.opset);
      // Folding left no shape plumbing or Identity behind.
      const ops = summarize(graph).ops;
      for (const op of ['Shape', 'Identity', 'Constant', 'ConstantOfShape', 'Range', 'Concat']) expect(ops[op], op).toBeUndefined();

      const feeds = Object.fromEntries(Object.entries(c.inputs).map(([k, t]) => [k, toData(t)]));
      const ours = await runOrt(graph, feeds);

      const session = await ort.InferenceSession.create(readFileSync(path), { intraOpNumThreads: 1 });
      const origFeeds = Object.fromEntries(Object.entries(c.inputs).map(([k, t]) => [k, new ort.Tensor(t.dtype as 'float32', toData(t) as Float32Array, t.shape)]));
      const original = await session.run(origFeeds);
      await session.release();

      for (const [name, want] of Object.entries(c.outputs)) {
        const got = ours.get(name)!;
        expect(got.shape).toEqual(want.shape);
        expect(relErr(got.data as Float32Array, original[name].data as Float32Array)).toBeLessThanOrEqual(1e-5);
        expect(relErr(got.data as Float32Array, want.data)).toBeLessThanOrEqual(1e-4);
      }
    });
  }

  it('bert_op17 keeps its structure: 16 MatMul + 1 Gemm, 5 LayerNormalization, embedding Gathers', async () => {
    const graph = await loadModel(join(DIR, 'bert_op17.onnx'), { dims: { sequence: 16 } });
    const s = summarize(graph);
    expect(s.ops.MatMul).toBe(16);
    expect(s.ops.Gemm).toBe(1);
    expect(s.ops.LayerNormalization).toBe(5);
    expect(s.ops.Softmax).toBe(2);
    expect(s.inputs).toEqual([
      { name: 'input_ids', shape: [1, 16], dtype: 'int64' },
      { name: 'attention_mask', shape: [1, 16], dtype: 'int64' },
    ]);
    // q, k, v, o, ffn1, ffn2 per layer + pooler
    expect(s.weights.length).toBe(2 * 6 + 1);
  });

  it('resnet_bn_op13 keeps its BatchNormalization nodes; mobilenet_v2_op13 has 52 Conv', async () => {
    const r = summarize(await loadModel(join(DIR, 'resnet_bn_op13.onnx')));
    expect(r.ops.BatchNormalization).toBe(9);
    expect(r.ops.Conv).toBe(9);
    const m = summarize(await loadModel(join(DIR, 'mobilenet_v2_op13.onnx')));
    expect(m.ops.Conv).toBe(52);
    expect(m.ops.Clip).toBe(35);
  });
});
