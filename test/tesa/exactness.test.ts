/**
 * Exactness (issue item 3): the masked dense model and the model with every propagated
 * attribute applied (pruned weights zeroed, constant channels folded into biases) compute the
 * same outputs in onnxruntime-node.
 */
import { describe, expect, it } from 'vitest';
import type { Graph, TensorData } from '../../src/model/graph.js';
import { randomInputs } from '../../src/model/inputs.js';
import { loadModel } from '../../src/model/load.js';
import { runOrt } from '../../src/model/ort.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { applyAttributes } from '../../src/tesa/apply.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import { makeInitMasks, parseInitSpec, randomMasks } from '../../src/tesa/init-masks.js';
import { propagate } from '../../src/tesa/propagate.js';
import { prunableWeights } from '../../src/tesa/weights.js';

function masked(graph: Graph, masks: Map<string, Uint8Array>): Graph {
  const attrs = new Map<string, SparsityAttr>();
  for (const [k, m] of masks) attrs.set(k, SparsityAttr.fromMask(graph.tensors.get(k)!.shape, m));
  return applyAttributes(graph, { attributes: attrs });
}

function relError(a: TensorData, b: TensorData): number {
  const x = a as Float32Array;
  const y = b as Float32Array;
  let maxRef = 0;
  let maxDiff = 0;
  for (let i = 0; i < x.length; i++) {
    maxRef = Math.max(maxRef, Math.abs(x[i]));
    maxDiff = Math.max(maxDiff, Math.abs(x[i] - y[i]));
  }
  return maxDiff / Math.max(maxRef, 1e-12);
}

interface Case {
  model: string;
  /** Group-aware importance masks instead of random ones: `--init` specs. */
  init?: string[];
  /** Weights whose output channels are randomly pruned, and weights whose input channels are. */
  outChannels: (names: string[]) => string[];
  inChannels: (names: string[]) => string[];
  ratio: number;
}

async function check(c: Case): Promise<{ err: number; before: number; after: number; folds: number }> {
  const graph = await loadModel(c.model);
  const names = prunableWeights(graph).map((w) => w.weight);
  const masks = c.init ? makeInitMasks(graph, c.init.map(parseInitSpec), findLayerGroups(graph)) : randomMasks(graph, c.outChannels(names), c.ratio, 7, 'channel');
  for (const [k, m] of randomMasks(graph, c.inChannels(names), c.ratio, 11, 'input-channel')) {
    const cur = masks.get(k);
    if (cur) for (let i = 0; i < m.length; i++) cur[i] &= m[i];
    else masks.set(k, m);
  }
  const initial = new Map<string, SparsityAttr>();
  for (const [k, m] of masks) initial.set(k, SparsityAttr.fromMask(graph.tensors.get(k)!.shape, m));
  const result = propagate(graph, initial);
  const applied = applyAttributes(graph, result);
  const feeds = randomInputs(graph, 3);
  const ref = await runOrt(masked(graph, masks), feeds);
  const got = await runOrt(applied, feeds);
  let err = 0;
  for (const [name, out] of ref) err = Math.max(err, relError(out.data, got.get(name)!.data));
  let before = 0;
  let after = 0;
  for (const n of names) {
    const a = result.attributes.get(n)!;
    before += initial.get(n)?.count() ?? 0;
    after += a.count();
  }
  const figures = { model: c.model, err, before, after, folds: result.folds.reduce((s, f) => s + f.channels.length, 0) };
  console.log(JSON.stringify(figures));
  return figures;
}

const every = (k: number) => (names: string[]) => names.filter((_, i) => i % k === 0);
const none = () => [] as string[];

describe('exactness: masked model ≡ propagated model in onnxruntime', () => {
  it('zoo:mlp, random output channels on every layer', async () => {
    const r = await check({ model: 'zoo:mlp', outChannels: (n) => n, inChannels: none, ratio: 0.3 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.folds).toBeGreaterThan(0);
    expect(r.err).toBeLessThan(1e-4);
  }, 120_000);

  it('zoo:bert-mini, output and input channels on several layers', async () => {
    const r = await check({ model: 'zoo:bert-mini', outChannels: every(2), inChannels: every(3), ratio: 0.25 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('zoo:mobilenet-v2, output and input channels on several convs', async () => {
    const r = await check({ model: 'zoo:mobilenet-v2', outChannels: every(3), inChannels: every(4), ratio: 0.2 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('zoo:resnet18, output and input channels on several convs', async () => {
    const r = await check({ model: 'zoo:resnet18', outChannels: every(3), inChannels: every(4), ratio: 0.2 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('zoo:mobilenet-v2, group-aware 60% channel pruning of every conv (folds constant channels)', async () => {
    const r = await check({ model: 'zoo:mobilenet-v2', init: ['*=channel:0.6'], outChannels: none, inChannels: none, ratio: 0 });
    expect(r.folds).toBeGreaterThan(0);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('zoo:resnet18, group-aware 50% channel pruning of every conv', async () => {
    const r = await check({ model: 'zoo:resnet18', init: ['*=channel:0.5'], outChannels: none, inChannels: none, ratio: 0 });
    expect(r.folds).toBeGreaterThan(0);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('zoo:bert-mini, group-aware 50% row pruning of every layer', async () => {
    const r = await check({ model: 'zoo:bert-mini', init: ['*=row:0.5'], outChannels: none, inChannels: none, ratio: 0 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.err).toBeLessThan(1e-4);
  }, 180_000);

  it('control: pruning one more live channel does change the outputs (the comparison can fail)', async () => {
    const graph = await loadModel('zoo:mlp');
    const masks = randomMasks(graph, ['layers.2.weight'], 0.3, 7, 'channel');
    const result = propagate(graph, new Map([...masks].map(([k, m]) => [k, SparsityAttr.fromMask(graph.tensors.get(k)!.shape, m)])));
    const w = result.attributes.get('layers.4.weight')!;
    const live = w.toMask().indexOf(1);
    w.prune(live);
    const feeds = randomInputs(graph, 3);
    const ref = await runOrt(masked(graph, masks), feeds);
    const got = await runOrt(applyAttributes(graph, result), feeds);
    expect(relError(ref.get('logits')!.data, got.get('logits')!.data)).toBeGreaterThan(1e-6);
  }, 120_000);

  it('zoo:bert-base, two layers masked', async () => {
    const pick = (names: string[]) => names.filter((n) => /layer\.(3|7)\./.test(n));
    const r = await check({ model: 'zoo:bert-base', outChannels: pick, inChannels: (n) => pick(n).filter((x) => /output\.dense/.test(x)), ratio: 0.25 });
    expect(r.after).toBeGreaterThan(r.before);
    expect(r.err).toBeLessThan(1e-4);
  }, 300_000);
});
