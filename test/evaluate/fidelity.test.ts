/**
 * The fidelity evaluator: the agreement metrics; calibration from .npy (written by numpy) and
 * raw float32 files; the dense reference computed once; and the real search loop scoring
 * compiled candidates, the score matching an onnxruntime re-computation of the same candidate.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../db/store.js';
import type { EvaluationContext, RunInputs } from '../../src/evaluate/evaluator.js';
import { createFidelityEvaluator, loadCalibration, meanCosine, metricFor, parseFidelityArgument, top1Agreement } from '../../src/evaluate/fidelity.js';
import { loadModel } from '../../src/model/load.js';
import type { Graph } from '../../src/model/graph.js';
import { runOrt } from '../../src/model/ort.js';
import { materialize, zeroMasked } from '../../src/search/materialize.js';
import { buildSearchSpace } from '../../src/space/build.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';
import { configFromStored, resolveSearchConfig, storedOptions } from '../../src/search/config.js';
import { runRealSearch } from '../export/real-search.js';

const MODEL = join(packageRoot(), 'test', 'fixtures', 'onnx', 'mlp_op13.onnx');
let dir: string;
let graph: Graph;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-fid-'));
  graph = await loadModel(MODEL);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Every weight with all but every k-th element pruned: a heavily damaged model. */
function damaged(g: Graph, keepEvery: number): { masked: Graph; sparsity: ModelSparsity } {
  const sparsity: ModelSparsity = new Map();
  for (const [name, t] of g.tensors) {
    if (!(t.data instanceof Float32Array) || t.shape.length !== 2) continue;
    const mask = new Uint8Array(t.data.length);
    for (let i = 0; i < mask.length; i += keepEvery) mask[i] = 1;
    sparsity.set(name, { weight: name, pattern: 'fine', precision: 'fp32', shape: t.shape, mask });
  }
  return { masked: zeroMasked(g, sparsity), sparsity };
}

function ctxFor(g: Graph, masked: Graph, sparsity: ModelSparsity, extra: Partial<EvaluationContext> = {}): EvaluationContext {
  return { graph: g, maskedGraph: masked, sparsity, candidate: { groups: {} }, candidateHash: 'x', space: { groups: [] }, workDir: dir, seed: 1, ...extra };
}

describe('metrics', () => {
  it('top-1 agreement counts rows whose arg-max agrees', () => {
    const ref = Float32Array.from([1, 2, 3, 9, 1, 1]);
    expect(top1Agreement(ref, Float32Array.from([0, 0, 5, 0, 7, 0]), 3)).toBe(0.5);
    expect(top1Agreement(ref, ref, 3)).toBe(1);
  });

  it('cosine is 1 for scaled copies, -1 for negated, 0 for orthogonal', () => {
    expect(meanCosine(Float32Array.from([1, 2]), Float32Array.from([2, 4]), 2)).toBeCloseTo(1, 6);
    expect(meanCosine(Float32Array.from([1, 2]), Float32Array.from([-1, -2]), 2)).toBeCloseTo(-1, 6);
    expect(meanCosine(Float32Array.from([1, 0, 0, 0]), Float32Array.from([0, 1, 0, 0]), 2)).toBeCloseTo(0.5, 6);
  });

  it('picks top-1 for [batch, classes] and cosine for hidden states', () => {
    expect(metricFor([2, 10])).toBe('top1');
    expect(metricFor([1, 128, 256])).toBe('cosine');
    expect(metricFor([4, 1])).toBe('cosine');
  });
});

describe('calibration', () => {
  it('reads a numpy-written .npy into batches of the model input', () => {
    const npy = join(dir, 'calib.npy');
    execFileSync('python3', ['-c', `import numpy as np; np.save(${JSON.stringify(npy)}, np.arange(6*32, dtype=np.float64).reshape(6, 32))`]);
    const batches = loadCalibration(graph, { path: npy });
    expect(graph.tensors.get('x')!.shape).toEqual([1, 32]);
    expect(batches).toHaveLength(6);
    const x = batches[1]!.get('x') as Float32Array;
    expect(x).toHaveLength(32);
    expect(x[0]).toBe(32);
  });

  it('reads raw float32 with a shape, and names the mismatch otherwise', () => {
    const raw = join(dir, 'calib.bin');
    writeFileSync(raw, Buffer.from(new Float32Array(4 * 32).map((_, i) => i).buffer));
    expect(loadCalibration(graph, { path: raw, shape: [4, 32] })).toHaveLength(4);
    expect(() => loadCalibration(graph, { path: raw, shape: [8, 16] })).toThrow(/does not split into batches/);
    expect(() => loadCalibration(graph, { path: raw })).toThrow(/needs its shape/);
    expect(() => loadCalibration(graph, { path: raw, shape: [5, 32] })).toThrow(/bytes/);
    expect(parseFidelityArgument('calib.bin@4x32')).toEqual({ path: 'calib.bin', shape: [4, 32] });
    expect(parseFidelityArgument('')).toBeNull();
  });
});

describe('options', () => {
  it('--calibration, --calibration-shape and --evaluator-timeout reach the stored config and back', () => {
    const c = resolveSearchConfig({ evaluator: 'fidelity', calibration: 'calib.bin', calibrationShape: '4x32', evaluatorTimeout: '90s' }, 1);
    expect(c.calibration).toBe(join(process.cwd(), 'calib.bin'));
    expect(c.calibrationShape).toEqual([4, 32]);
    expect(c.evaluatorTimeoutMs).toBe(90_000);
    const back = configFromStored(c.model, c.target, c.strategy, c.budget, JSON.parse(JSON.stringify(storedOptions(c))) as Record<string, unknown>);
    expect(back).toEqual(c);
    expect(resolveSearchConfig({ evaluator: 'fidelity:calib.npy' }, 1).evaluator).toBe('fidelity:calib.npy');
    expect(() => resolveSearchConfig({ calibrationShape: '4xq' }, 1)).toThrow(/--calibration-shape/);
  });
});

describe('evaluator', () => {
  it('scores the dense model 1 and a damaged one lower (onnxruntime path)', async () => {
    const ev = createFidelityEvaluator({ argument: '', graph, seed: 5 });
    const same = await ev.evaluate(ctxFor(graph, graph, new Map()));
    expect(same.score).toBe(1);
    const d = damaged(graph, 50);
    const worse = await ev.evaluate(ctxFor(graph, d.masked, d.sparsity));
    expect(worse.score).toBeLessThan(1);
    expect(worse.details?.candidate).toBe('onnxruntime');
  });

  it('computes the dense reference once per search', async () => {
    const ev = createFidelityEvaluator({ argument: '', graph, seed: 5 });
    let denseRuns = 0;
    const runDense = async (inputs: RunInputs) => {
      denseRuns++;
      const r = await runOrt(graph, Object.fromEntries(inputs));
      return { samplesMs: [0], outputs: new Map([...r].map(([k, v]) => [k, v.data as Float32Array])) };
    };
    const d = damaged(graph, 3);
    const runCandidate = async (inputs: RunInputs) => {
      const r = await runOrt(d.masked, Object.fromEntries(inputs));
      return { samplesMs: [0], outputs: new Map([...r].map(([k, v]) => [k, v.data as Float32Array])) };
    };
    const a = await ev.evaluate(ctxFor(graph, d.masked, d.sparsity, { runDense, runCandidate }));
    const b = await ev.evaluate(ctxFor(graph, d.masked, d.sparsity, { runDense, runCandidate }));
    expect(denseRuns).toBe(ev.batches.length);
    expect(b.score).toBe(a.score);
    expect(a.details?.candidate).toBe('compiled');
  });

  it('in the real loop, scores compiled candidates as onnxruntime scores the same candidates', async () => {
    const db = join(dir, 'loop.db');
    const r = await runRealSearch(db, { model: MODEL, patterns: 'fine', evaluator: 'fidelity', maxTrials: 3, budget: '1000ms', seed: 4 });
    expect(r.status).toBe('done');
    const store = openStore(db, { readonly: true });
    const trials = store.listTrials(1);
    store.close();
    expect(trials.filter((t) => t.status === 'ok')).toHaveLength(3);
    const groups = findLayerGroups(graph);
    const space = buildSearchSpace(graph, groups, { patterns: ['fine'], blockShapes: [], precisions: ['fp32'], channelMultiple: 8 }, { patterns: ['fine'], precisions: ['fp32'], groups: 'on' });
    const ev = createFidelityEvaluator({ argument: '', graph, seed: 4 });
    for (const t of trials) {
      expect(t.quality).toBeGreaterThanOrEqual(0);
      expect(t.quality).toBeLessThanOrEqual(1);
      const m = materialize({ graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: 8 }, t.candidate);
      const again = await ev.evaluate(ctxFor(graph, m.maskedGraph, m.sparsity));
      expect(again.score).toBeCloseTo(t.quality!, 6);
    }
  });
});
