/**
 * Export of a finished real search (zoo:mlp, fine pruning, the real loop, store and CPU
 * backend): the CLI writes every file; numpy loads the masks with the weights' shapes;
 * onnxruntime-node runs model.onnx and matches the masked model; the bundle runs alone from
 * another folder and reports a latency of the same order as the store's.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../../db/store.js';
import { loadModel } from '../../src/model/load.js';
import { randomInputs } from '../../src/model/inputs.js';
import { runOrt } from '../../src/model/ort.js';
import type { SparsityConfig } from '../../src/export/artifacts.js';
import { zeroMasked } from '../../src/search/materialize.js';
import { readNpy } from '../../src/util/npy.js';
import { runCli } from '../cli/run-cli.js';
import { packageRoot } from '../../src/util/package-root.js';
import { runRealSearch } from './real-search.js';

// A small real model (torch-exported MLP, [2,32] → [2,10]) keeps the search and the export quick.
const MODEL = join(packageRoot(), 'test', 'fixtures', 'onnx', 'mlp_op13.onnx');

let dir: string;
let db: string;
let out: string;
let exportJson: { trialSeq: number; verification: { maxAbsDiff: number; scale: number }; parameters: { masked: number; exported: number } };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-export-'));
  db = join(dir, 't.db');
  out = join(dir, 'out');
  const r = await runRealSearch(db, { model: MODEL, patterns: 'fine', evaluator: 'proxy', maxTrials: 3, budget: '1000ms' });
  expect(r.status).toBe('done');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tesa export', () => {
  it('writes config, masks, model, report, plots and bundle for the best trial', () => {
    const r = runCli(['export', '1', '--out', out, '--db', db, '--json']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const res = (exportJson = JSON.parse(r.stdout) as typeof exportJson);
    for (const f of ['config.json', 'masks/index.json', 'model.onnx', 'report.md', 'scatter.svg', 'sparsity.svg', 'bundle/run', 'bundle/tesa-runner', 'bundle/manifest.txt', 'bundle/weights.bin']) expect(existsSync(join(out, f)), f).toBe(true);
    const store = openStore(db);
    const best = store.getTrial(store.requireSearch(1).bestTrialId!)!;
    store.close();
    expect(res.trialSeq).toBe(best.seq);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as SparsityConfig;
    expect(config.trial?.seq).toBe(best.seq);
    expect(config.fingerprint?.id).toMatch(/\S/);
    expect(config.baseline?.medianMs).toBeGreaterThan(0);
    expect(config.latency?.medianMs).toBeGreaterThan(0);
    expect(config.layers.length).toBeGreaterThan(0);
    expect(config.layers.some((l) => l.sparsityAfter > 0)).toBe(true);
    const report = readFileSync(join(out, 'report.md'), 'utf8');
    expect(report).toContain('![latency vs quality](scatter.svg)');
    expect(readFileSync(join(out, 'scatter.svg'), 'utf8')).toContain('budget');
    expect(readFileSync(join(out, 'sparsity.svg'), 'utf8')).toMatch(/<svg[\s\S]*<rect/);
    // Both plots are well-formed XML with one point per ok trial.
    const pts = execFileSync('python3', ['-c', "import sys, xml.etree.ElementTree as E; r = E.parse(sys.argv[1]).getroot(); E.parse(sys.argv[2]); print(len([c for c in r.iter('{http://www.w3.org/2000/svg}circle') if c.find('{http://www.w3.org/2000/svg}title') is not None]))", join(out, 'scatter.svg'), join(out, 'sparsity.svg')], { encoding: 'utf8' });
    expect(Number(pts)).toBe(3);
  });

  it('masks load in numpy with the weights’ shapes and the recorded sparsity', () => {
    const index = JSON.parse(readFileSync(join(out, 'masks', 'index.json'), 'utf8')) as Array<{ weight: string; file: string; shape: number[]; sparsity: number }>;
    expect(index.length).toBeGreaterThan(0);
    const py = `
import json, numpy as np, sys
idx = json.load(open(sys.argv[1] + '/index.json'))
print(json.dumps([[list(np.load(sys.argv[1] + '/' + e['file']).shape), float(1 - np.load(sys.argv[1] + '/' + e['file']).mean()), str(np.load(sys.argv[1] + '/' + e['file']).dtype)] for e in idx]))`;
    const got = JSON.parse(execFileSync('python3', ['-c', py, join(out, 'masks')], { encoding: 'utf8' })) as Array<[number[], number, string]>;
    got.forEach(([shape, pruned, dtype], i) => {
      expect(shape).toEqual(index[i]!.shape);
      expect(pruned).toBeCloseTo(index[i]!.sparsity, 6);
      expect(dtype).toBe('uint8');
    });
    expect(got.some(([, p]) => p > 0)).toBe(true);
  });

  it('model.onnx runs in onnxruntime-node and matches the masked model', async () => {
    const graph = await loadModel(MODEL);
    const feeds = randomInputs(graph, 11);
    const session = await ort.InferenceSession.create(join(out, 'model.onnx'));
    const name = graph.inputs[0]!;
    const t = graph.tensors.get(name)!;
    const res = await session.run({ [name]: new ort.Tensor('float32', feeds[name] as Float32Array, t.shape) });
    const exported = res[graph.outputs[0]!]!.data as Float32Array;
    // The masked model rebuilt from the exported masks (weights × mask; fine pruning folds nothing) must agree with the file.
    const index = JSON.parse(readFileSync(join(out, 'masks', 'index.json'), 'utf8')) as Array<{ weight: string; file: string; shape: number[]; pattern: string; precision: 'fp32' }>;
    expect(index.length).toBeGreaterThan(0);
    const sparsity = new Map(index.map((e) => [e.weight, { weight: e.weight, pattern: e.pattern, precision: e.precision, shape: e.shape, mask: readNpy(join(out, 'masks', e.file)).data as Uint8Array }]));
    const rebuilt = await runOrt(zeroMasked(graph, sparsity), feeds);
    const want = rebuilt.get(graph.outputs[0]!)!.data as Float32Array;
    expect(exported.length).toBe(want.length);
    for (let i = 0; i < want.length; i++) expect(Math.abs(exported[i]! - want[i]!)).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(want[i]!)));
    const dense = (await runOrt(graph, feeds)).get(graph.outputs[0]!)!.data as Float32Array;
    let diffFromDense = 0;
    for (let i = 0; i < exported.length; i++) diffFromDense = Math.max(diffFromDense, Math.abs(exported[i]! - dense[i]!));
    expect(diffFromDense).toBeGreaterThan(0); // it is pruned, not the dense model
    // Export checked the file against the masked model itself (and fails loudly when they differ).
    expect(exportJson.verification.maxAbsDiff).toBeLessThanOrEqual(1e-4 * Math.max(1, exportJson.verification.scale));
  });

  it('bundle/run --json runs alone and reports a latency of the same order as the store', () => {
    const copy = join(dir, 'moved-bundle');
    execFileSync('cp', ['-r', join(out, 'bundle'), copy]);
    const r = JSON.parse(execFileSync(join(copy, 'run'), ['--json', '--reps', '20'], { cwd: '/', encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } })) as { medianMs: number; samplesMs: number[] };
    expect(r.samplesMs).toHaveLength(20);
    const config = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as SparsityConfig;
    const stored = config.latency!.medianMs;
    // Sanity only (a shared 2-core machine is noisy): within 3× of the store's figure, not a timing assertion.
    expect(r.medianMs).toBeGreaterThan(stored / 3);
    expect(r.medianMs).toBeLessThan(stored * 3);
  });

  it('refuses a non-empty --out, an unknown trial, and a missing search with one line', () => {
    const a = runCli(['export', '1', '--out', out, '--db', db]);
    expect(a.code).toBe(2);
    expect(a.stderr).toMatch(/^tesa: .*not empty/);
    const b = runCli(['export', '1', '--trial', '99', '--out', join(dir, 'x'), '--db', db]);
    expect(b.code).toBe(2);
    expect(b.stderr).toMatch(/no trial #99/);
    const c = runCli(['export', '7', '--out', join(dir, 'y'), '--db', db]);
    expect(c.code).toBe(2);
  });
});
