/**
 * `tesa export`: one trial of a search (by default its best) made portable — config.json,
 * masks/, model.onnx (verified against the masked model in onnxruntime, fails loudly if not
 * equal), report.md with two SVG plots, and bundle/ (re-compiled from the kernel cache).
 */
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { openStore, type Store, type TrialRecord } from '../../db/store.js';
import { getBackend } from '../../backends/registry.js';
import type { Capabilities } from '../../backends/backend.js';
import { TesaError } from '../errors.js';
import { loadModel } from '../model/load.js';
import type { Graph } from '../model/graph.js';
import { randomInputs } from '../model/inputs.js';
import { runOrt } from '../model/ort.js';
import { findLayerGroups } from '../tesa/groups.js';
import { buildSearchSpace } from '../space/build.js';
import { defaultPatterns, parsePatternName } from '../space/patterns.js';
import { configFromStored } from '../search/config.js';
import { pickBest } from '../search/loop.js';
import { materialize } from '../search/materialize.js';
import { cacheDir, ensureDir } from '../util/state-dir.js';
import { buildConfig, writeJson, writeMasks, writeOnnx, type SparsityConfig } from './artifacts.js';
import { runBundle, writeBundle, type BundleInfo, type BundleRun } from './bundle.js';
import { renderReport } from './report.js';
import { writeQuantized } from './qdq.js';
import { shrinkChannels, type ShrinkResult } from './shrink.js';
import { scatterSvg, sparsityBarsSvg } from './svg.js';

export interface ExportOptions {
  searchId: number;
  /** The trial's number as `tesa show` prints it (#seq); default the search's best. */
  trialSeq?: number;
  outDir: string;
  dbPath?: string;
  /** Time the bundle once at export (default true). */
  measureBundle?: boolean;
}

export interface ExportResult {
  dir: string;
  searchId: number;
  trialId: number;
  trialSeq: number;
  files: string[];
  parameters: { masked: number; exported: number };
  channelsRemoved: number;
  verification: { maxAbsDiff: number; scale: number; inputs: number };
  latency: SparsityConfig['latency'];
  bundle: BundleInfo & { run: BundleRun | null };
}

function chooseTrial(store: Store, searchId: number, seq: number | undefined): TrialRecord {
  const trials = store.listTrials(searchId);
  if (seq !== undefined) {
    const t = trials.find((x) => x.seq === seq);
    if (!t) throw new TesaError('NOT_FOUND', `search ${searchId} has no trial #${seq}`, `it has trials #0 to #${Math.max(0, trials.length - 1)}; 'tesa show ${searchId}' lists them`);
    if (t.status !== 'ok') throw new TesaError('BAD_INPUT', `trial #${seq} of search ${searchId} ${t.status === 'failed' ? `failed (${t.reason ?? 'no reason'})` : 'is still running'}`, 'export a trial that finished ok');
    return t;
  }
  const s = store.requireSearch(searchId);
  const best = (s.bestTrialId !== null ? store.getTrial(s.bestTrialId) : undefined) ?? pickBest(trials);
  if (!best) throw new TesaError('NOT_FOUND', `search ${searchId} has no feasible trial to export`, `pick one with --trial N ('tesa show ${searchId}' lists them)`);
  return best;
}

/** The backend's capabilities widened by the patterns the trial used, so the space rebuilds as the search saw it. */
function capabilitiesFor(caps: Capabilities, patterns: readonly string[]): Capabilities {
  const families = new Set(caps.patterns);
  const blocks = [...caps.blockShapes];
  for (const p of patterns) {
    const parsed = parsePatternName(p);
    if (!parsed) continue;
    families.add(parsed.family);
    if (parsed.block && !blocks.some(([r, c]) => r === parsed.block![0] && c === parsed.block![1])) blocks.push(parsed.block);
  }
  return { ...caps, patterns: [...families], blockShapes: blocks };
}

async function verifyOutputs(reference: Graph, exported: Graph, seeds: number[]): Promise<{ maxAbsDiff: number; scale: number; inputs: number }> {
  let maxAbsDiff = 0;
  let scale = 0;
  for (const seed of seeds) {
    const feeds = randomInputs(reference, seed);
    const a = await runOrt(reference, feeds);
    const b = await runOrt(exported, feeds);
    for (const [name, va] of a) {
      const vb = b.get(name);
      if (!vb || vb.data.length !== va.data.length) throw new TesaError('WRONG_RESULT', `exported model.onnx output '${name}' has a different shape than the masked model`, 'report it: channel removal broke the graph');
      for (let i = 0; i < va.data.length; i++) {
        const x = Number(va.data[i]);
        const d = Math.abs(x - Number(vb.data[i]));
        scale = Math.max(scale, Math.abs(x));
        if (!(d <= maxAbsDiff)) maxAbsDiff = Number.isNaN(d) ? Infinity : d;
      }
    }
  }
  return { maxAbsDiff, scale, inputs: seeds.length };
}

export async function exportTrial(opts: ExportOptions): Promise<ExportResult> {
  const outDir = resolve(opts.outDir);
  if (existsSync(outDir) && readdirSync(outDir).length > 0) throw new TesaError('BAD_INPUT', `--out ${outDir} exists and is not empty`, 'give a new or empty folder');
  const created = !existsSync(outDir);
  const store = openStore(opts.dbPath);
  try {
    const search = store.requireSearch(opts.searchId);
    const trial = chooseTrial(store, opts.searchId, opts.trialSeq);
    const trials = store.listTrials(opts.searchId);
    const sc = configFromStored(search.model, search.target, search.strategy, search.budget, search.options);
    const graph = await loadModel(sc.model);
    const layerGroups = findLayerGroups(graph);
    const backend = getBackend(sc.target, { threads: sc.threads, cacheDir: cacheDir(opts.dbPath) });
    try {
      const fingerprint = await backend.fingerprint();
      const caps = backend.capabilities();
      const used = Object.values(trial.candidate.groups).map((g) => g.pattern);
      const patterns = sc.patterns ?? [...new Set([...defaultPatterns(caps), ...used])];
      const space = buildSearchSpace(graph, layerGroups, capabilitiesFor(caps, [...patterns, ...used]), { patterns, precisions: sc.precisions, groups: sc.groups, propagatePrecision: sc.propagatePrecision, int8Outliers: sc.int8Outliers });
      const mat = materialize({ graph, space, layerGroups: new Map(layerGroups.map((g) => [g.id, g])), channelMultiple: caps.channelMultiple }, trial.candidate);

      // Not mkdirSync({ recursive: true }): under /proc it spins forever on Node 20 (state-dir.ts).
      try {
        ensureDir(outDir);
      } catch (e) {
        const code = ((e as Error).cause as NodeJS.ErrnoException | undefined)?.code ?? 'error';
        throw new TesaError('BAD_INPUT', `--out ${outDir}: cannot create the folder (${code})`, 'give a new or empty folder in a writable place', { cause: e });
      }
      const files: string[] = [];

      // Latency: the final interleaved re-measurement when this trial had one, else the trial's own.
      const final = store.listMeasurements(opts.searchId, { kind: 'final', trialId: trial.id }).at(-1);
      const denses = store.listMeasurements(opts.searchId, { kind: 'final-baseline' });
      // Each re-measured candidate has its own dense pair (trialId set); older stores have one without.
      const finalDense = denses.filter((m) => m.trialId === trial.id).at(-1) ?? denses.at(-1);
      const b = search.baseline;
      const latency: SparsityConfig['latency'] =
        final && finalDense
          ? { source: 'final', medianMs: final.medianMs, ciLowMs: final.ciLowMs, ciHighMs: final.ciHighMs, ratio: final.medianMs / finalDense.medianMs }
          : trial.latencyMs !== null
            ? { source: 'trial', medianMs: trial.latencyMs, ciLowMs: trial.ciLowMs ?? trial.latencyMs, ciHighMs: trial.ciHighMs ?? trial.latencyMs, ratio: b ? trial.latencyMs / b.medianMs : null }
            : null;
      const config = buildConfig({
        model: search.model,
        target: search.target,
        space,
        candidate: trial.candidate,
        sparsity: mat.sparsity,
        summary: mat.summary,
        graph,
        fingerprint: search.fingerprint ? { id: search.fingerprint.id, details: search.fingerprint.details } : { id: fingerprint.id, details: fingerprint.details },
        search: { id: search.id, strategy: search.strategy, budget: search.budget, evaluator: sc.evaluator },
        trial: { id: trial.id, seq: trial.seq, candidateHash: trial.candidateHash, quality: trial.quality, feasible: trial.feasible },
        baseline: b ? { medianMs: b.medianMs, ciLowMs: b.ciLowMs, ciHighMs: b.ciHighMs, ratio: 1 } : null,
        latency,
      });
      writeJson(join(outDir, 'config.json'), config);
      files.push('config.json');
      writeMasks(join(outDir, 'masks'), mat.sparsity);
      files.push('masks/');

      const shrink: ShrinkResult = shrinkChannels(mat.maskedGraph, layerGroups);
      const verification = await verifyOutputs(mat.maskedGraph, shrink.graph, [sc.seed, sc.seed + 1]);
      const tolerance = 1e-4 * Math.max(1, verification.scale);
      if (!(verification.maxAbsDiff <= tolerance)) {
        throw new TesaError('WRONG_RESULT', `the shrunk model.onnx differs from the masked model by ${verification.maxAbsDiff} (tolerance ${tolerance.toExponential(1)})`, 'this is a bug in channel removal: report it with the search');
      }
      const onnxBytes = writeOnnx(join(outDir, 'model.onnx'), shrink.graph);
      files.push('model.onnx');

      // The bundle: the candidate re-compiled (every kernel from the cache when the search built it here).
      const compiled = await backend.compile(mat.maskedGraph, { sparsity: mat.sparsity, kernelIndex: store, threads: sc.threads });
      const bundle = compiled.target === 'cuda' ? (await import('../../backends/cuda/bundle-model.js')).writeCudaBundle(compiled, join(outDir, 'bundle')) : writeBundle(compiled, join(outDir, 'bundle'));
      files.push('bundle/');
      const bundleRun = opts.measureBundle === false ? null : await runBundle(bundle.dir);
      const quantization = await writeQuantized({ outDir, config, shrunk: shrink.graph, masked: mat.maskedGraph, sparsity: mat.sparsity, compiled, backend, details: fingerprint.details, seed: sc.seed });
      if (quantization) files.push(quantization.config.file);

      const points = trials
        .filter((t) => t.status === 'ok' && t.latencyRatio !== null && t.quality !== null)
        .map((t) => ({ x: t.latencyMs !== null && b ? t.latencyMs / b.medianMs : t.latencyRatio!, y: t.quality!, feasible: t.feasible, label: `trial #${t.seq}: quality ${t.quality!.toFixed(4)}`, highlight: t.id === trial.id }));
      const budgetX = 'ratio' in search.budget ? search.budget.ratio : b ? search.budget.ms / b.medianMs : null;
      const unit = sc.cost === 'flops' ? 'FLOPs' : 'latency';
      writeFileSync(join(outDir, 'scatter.svg'), scatterSvg({ points, budget: budgetX, xLabel: `${unit} / dense ${unit} (median)`, yLabel: `quality (${sc.evaluator.split(':')[0]})`, title: `search ${search.id}: ${unit} vs quality` }));
      writeFileSync(join(outDir, 'sparsity.svg'), sparsityBarsSvg({ rows: config.layers.map((l) => ({ label: l.weight, before: l.sparsityBefore, after: l.sparsityAfter })), title: `trial #${trial.seq}: sparsity per layer` }));
      files.push('scatter.svg', 'sparsity.svg');
      const sameMachine = search.fingerprintId === null || search.fingerprintId === fingerprint.id;
      writeFileSync(join(outDir, 'report.md'), renderReport({ search, trial, trials, config, shrink, verification, bundle, bundleRun, sameMachine, files: { scatter: 'scatter.svg', sparsity: 'sparsity.svg' }, onnxBytes, ...(quantization ? { quantization } : {}) }));
      files.push('report.md');
      return {
        dir: outDir,
        searchId: search.id,
        trialId: trial.id,
        trialSeq: trial.seq,
        files,
        parameters: { masked: shrink.parametersBefore, exported: shrink.parametersAfter },
        channelsRemoved: shrink.groups.reduce((a, g) => a + g.removed, 0),
        verification,
        latency,
        bundle: { ...bundle, run: bundleRun },
      };
    } finally {
      await backend.close();
    }
  } catch (e) {
    // A half-written export must not pass for a whole one.
    if (created) rmSync(outDir, { recursive: true, force: true });
    throw e;
  } finally {
    store.close();
  }
}
