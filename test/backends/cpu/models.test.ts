/**
 * Whole models compiled by the cpu backend give onnxruntime-node's outputs (rel. error ≤ 1e-4):
 * every zoo model and the PyTorch-exported fixtures. Real compiler, real runner process.
 * zoo:bert-base runs only with TESA_TEST_BERT_BASE=1 (it takes about a minute on 2 cores).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { loadModel } from '../../../src/model/load.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { runOrt } from '../../../src/model/ort.js';
import type { Graph, TensorData } from '../../../src/model/graph.js';
import { QUICK, relError, tempCache } from './helpers.js';

const cache = tempCache();
const backend = new CpuBackend({ cacheDir: cache.dir });
afterAll(async () => {
  await backend.close();
  cache.cleanup();
});

async function compareWithOrt(graph: Graph): Promise<{ err: number; kernels: number; ops: number }> {
  const model = await backend.compile(graph);
  const inputs = randomInputs(graph, 5);
  const res = await backend.run(model, { protocol: QUICK, inputs: new Map(Object.entries(inputs)) as Map<string, Float32Array>, wantOutputs: true });
  const ort = await runOrt(graph, inputs as Record<string, TensorData>, { threads: 1 });
  let err = 0;
  for (const name of graph.outputs) {
    const ours = res.outputs!.get(name)!;
    err = Math.max(err, relError(ours, ort.get(name)!.data as unknown as ArrayLike<number>));
  }
  expect(res.samplesMs.length).toBeGreaterThanOrEqual(2);
  return { err, kernels: model.kernels.length, ops: model.plan.length };
}

describe('zoo models match onnxruntime-node', () => {
  for (const name of ['mlp', 'bert-mini', 'mobilenet-v2', 'resnet18']) {
    it(`zoo:${name}`, async () => {
      const { err } = await compareWithOrt(await loadModel(`zoo:${name}`));
      expect(err).toBeLessThanOrEqual(1e-4);
    }, 240_000);
  }
  it.runIf(process.env.TESA_TEST_BERT_BASE === '1')('zoo:bert-base', async () => {
    const { err, kernels, ops } = await compareWithOrt(await loadModel('zoo:bert-base'));
    expect(err).toBeLessThanOrEqual(1e-4);
    // 12 identical layers share their kernels.
    expect(kernels).toBeLessThan(ops / 6);
  }, 600_000);
});

describe('PyTorch-exported fixtures match onnxruntime-node', () => {
  const dir = join(__dirname, '..', '..', 'fixtures', 'onnx');
  const fixtures: Array<[string, Record<string, number>]> = [
    ['mlp_op17.onnx', {}],
    ['bert_op13.onnx', { sequence: 16 }],
    ['hf_bert_op17.onnx', { sequence: 16 }],
    ['mobilenet_v2_op13.onnx', {}],
    ['resnet_bn_op13.onnx', {}],
  ];
  for (const [file, dims] of fixtures) {
    it.runIf(existsSync(join(dir, file)))(file, async () => {
      const { err } = await compareWithOrt(await loadModel(join(dir, file), { dims }));
      expect(err).toBeLessThanOrEqual(1e-4);
    }, 240_000);
  }
});
