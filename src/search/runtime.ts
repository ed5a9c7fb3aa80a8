/**
 * Everything a search needs before its first trial, resolved from its config: the model,
 * the backend and its fingerprint, layer groups, the search space and the evaluator. Done
 * before the search is written to the store, so a bad model or pattern writes nothing.
 */
import type { Backend, Capabilities, Fingerprint } from '../../backends/backend.js';
import { getBackend } from '../../backends/registry.js';
import { loadModel } from '../model/load.js';
import type { Graph } from '../model/graph.js';
import { findLayerGroups } from '../tesa/groups.js';
import type { LayerGroup } from '../tesa/layer-group.js';
import { buildSearchSpace } from '../space/build.js';
import { defaultPatterns } from '../space/patterns.js';
import type { SearchSpace } from '../space/space.js';
import { createEvaluator, type Evaluator } from '../evaluate/evaluator.js';
import '../evaluate/proxy.js';
import '../evaluate/fidelity.js';
import '../evaluate/cmd.js';
import { badInput, TesaError } from '../errors.js';
import { cacheDir } from '../util/state-dir.js';
import { createStrategy } from '../../strategies/registry.js';
import type { SearchConfig } from './config.js';

export interface SearchRuntime {
  config: SearchConfig;
  graph: Graph;
  backend: Backend;
  fingerprint: Fingerprint;
  capabilities: Capabilities;
  layerGroups: LayerGroup[];
  layerGroupById: Map<string, LayerGroup>;
  space: SearchSpace;
  evaluator: Evaluator;
}

export async function prepareRuntime(config: SearchConfig, opts: { dbPath?: string } = {}): Promise<SearchRuntime> {
  const graph = await loadModel(config.model);
  const layerGroups = findLayerGroups(graph);
  // Kernels live beside the database, so `--db /tmp/x/t.db` keeps a run's kernels under /tmp/x.
  const backend = getBackend(config.target, { threads: config.threads, cacheDir: cacheDir(opts.dbPath) });
  try {
    backend.validate?.(graph);
    const capabilities = backend.capabilities();
    const patterns = config.patterns ?? defaultPatterns(capabilities);
    if (patterns.length === 0) {
      throw new TesaError('UNSUPPORTED', `the ${config.target} backend offers no sparse kernels (it supports ${capabilities.patterns.join(', ')})`, 'there is nothing to search on this backend; try another --target');
    }
    const space = buildSearchSpace(graph, layerGroups, capabilities, { patterns, precisions: config.precisions, groups: config.groups, propagatePrecision: config.propagatePrecision, int8Outliers: config.int8Outliers });
    if (space.groups.length === 0) {
      throw badInput(`${config.model}: no layer has weights that can be pruned with ${patterns.join(', ')}`, 'try other --patterns, or a model with MatMul/Gemm/Conv weights');
    }
    // Strategy options are checked now, before anything is written (the real instance comes after the baseline).
    createStrategy(config.strategy, { space, seed: config.seed, budgetRatio: 'ratio' in config.budget ? config.budget.ratio : 0.5, maxTrials: config.maxTrials, options: config.strategyOptions });
    const evaluator = createEvaluator(config.evaluator, { graph, seed: config.seed, modelSpec: config.model, timeoutMs: config.evaluatorTimeoutMs, calibration: config.calibration, calibrationShape: config.calibrationShape });
    const fingerprint = await backend.fingerprint();
    return { config, graph, backend, fingerprint, capabilities, layerGroups, layerGroupById: new Map(layerGroups.map((g) => [g.id, g])), space, evaluator };
  } catch (e) {
    await backend.close();
    throw e;
  }
}
