/**
 * Every zoo model is a real ONNX graph: it exports, onnxruntime loads and runs it, and the
 * outputs are finite with O(1) spread (weights scaled so activations neither explode nor
 * vanish). Weights are a pure function of the seed.
 */
import { describe, expect, it } from 'vitest';
import { numel, type Graph } from '../../../src/model/graph.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { exportOnnx } from '../../../src/model/onnx/export.js';
import { runOrt } from '../../../src/model/ort.js';
import { buildZooModel, zooModelNames, zooSpec } from '../../../src/model/zoo/index.js';

function stats(data: Float32Array): { mean: number; std: number; finite: boolean } {
  let sum = 0;
  let sq = 0;
  let finite = true;
  for (const v of data) {
    if (!Number.isFinite(v)) finite = false;
    sum += v;
    sq += v * v;
  }
  const mean = sum / data.length;
  return { mean, std: Math.sqrt(sq / data.length - mean * mean), finite };
}

function floatWeights(g: Graph): Array<[string, Float32Array]> {
  return [...g.tensors.values()].filter((t) => t.data instanceof Float32Array && numel(t.shape) > 1).map((t) => [t.name, t.data as Float32Array]);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

describe('zoo models run in onnxruntime', () => {
  // bert-base-4k is bert-base at batch 32 (the GPU workload): 32x the CPU time for nothing new.
  it.each(zooModelNames().filter((n) => n !== 'bert-base-4k'))('%s: finite outputs of the built shape with O(1) std', async (name) => {
    const g = buildZooModel(name);
    const out = await runOrt(g, randomInputs(g, 11), { threads: 1 });
    expect([...out.keys()]).toEqual(g.outputs);
    for (const o of g.outputs) {
      const result = out.get(o)!;
      expect(result.shape).toEqual(g.tensors.get(o)!.shape);
      const s = stats(result.data as Float32Array);
      expect(s.finite).toBe(true);
      expect(s.std).toBeGreaterThan(0.3);
      expect(s.std).toBeLessThan(5);
      expect(Math.abs(s.mean)).toBeLessThan(s.std);
    }
  });

  it('bert-mini: the attention mask changes the outputs of unmasked positions', async () => {
    const g = buildZooModel('bert-mini');
    const feeds = randomInputs(g, 5);
    const masked = new BigInt64Array(feeds.attention_mask as BigInt64Array);
    masked.fill(0n, 64);
    const full = (await runOrt(g, feeds)).get('last_hidden_state')!.data as Float32Array;
    const half = (await runOrt(g, { ...feeds, attention_mask: masked })).get('last_hidden_state')!.data as Float32Array;
    // Position 0 attends to 128 tokens in one run and 64 in the other.
    const hidden = g.tensors.get('last_hidden_state')!.shape[2];
    let diff = 0;
    for (let i = 0; i < hidden; i++) diff = Math.max(diff, Math.abs(full[i] - half[i]));
    expect(diff).toBeGreaterThan(1e-3);
  });
});

describe('zoo weights are a pure function of the seed', () => {
  // bert-base is the same code as bert-mini at 10x the size: left out to keep this file fast.
  const names = zooModelNames().filter((n) => !n.startsWith('bert-base'));

  it.each(names)('%s: same seed, identical ONNX bytes; another seed, every weight differs', (name) => {
    const a = buildZooModel(name);
    const b = buildZooModel(name);
    expect(sameBytes(exportOnnx(a), exportOnnx(b))).toBe(true);
    const other = buildZooModel(name, { seed: zooSpec(name).seed + 1 });
    expect(other.nodes).toEqual(a.nodes);
    const otherWeights = new Map(floatWeights(other));
    for (const [wName, data] of floatWeights(a)) {
      expect(otherWeights.get(wName)?.length).toBe(data.length);
      expect(sameBytes(new Uint8Array(data.buffer), new Uint8Array(otherWeights.get(wName)!.buffer)), wName).toBe(false);
    }
    expect(other.metadata?.seed).toBe(String(zooSpec(name).seed + 1));
  });

  it.each(names)('%s: no two weight tensors start with the same values', (name) => {
    const seen = new Map<string, string>();
    for (const [wName, data] of floatWeights(buildZooModel(name))) {
      const key = Array.from(data.subarray(0, 8)).join(',');
      expect(seen.get(key), `${wName} repeats ${seen.get(key)}`).toBeUndefined();
      seen.set(key, wName);
    }
  });
});
