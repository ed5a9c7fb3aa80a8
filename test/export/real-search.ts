/**
 * A real search for the evaluator and export tests: the real loop (src/search/loop.ts), the real
 * store file, the real CPU backend compiling and timing, the real evaluator. Built in-process so
 * that the tests can name the patterns the search uses even while the CPU backend advertises
 * none (its kernels for masked weights are then dense, which is all these tests need).
 */
import type { Capabilities } from '../../backends/backend.js';
import { getBackend } from '../../backends/registry.js';
import { openStore } from '../../db/store.js';
import { createEvaluator } from '../../src/evaluate/evaluator.js';
import '../../src/evaluate/proxy.js';
import '../../src/evaluate/fidelity.js';
import '../../src/evaluate/cmd.js';
import { loadModel } from '../../src/model/load.js';
import { resolveSearchConfig, storedOptions } from '../../src/search/config.js';
import { Interrupts } from '../../src/search/interrupt.js';
import { runSearch, type SearchOutcome } from '../../src/search/loop.js';
import { silentObserver } from '../../src/search/observer.js';
import type { SearchRuntime } from '../../src/search/runtime.js';
import { buildSearchSpace } from '../../src/space/build.js';
import { parsePatternName } from '../../src/space/patterns.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import { cacheDir } from '../../src/util/state-dir.js';

export interface RealSearch {
  model: string;
  patterns: string;
  evaluator: string;
  maxTrials: number;
  budget?: string;
  seed?: number;
  strategy?: string;
  finalRounds?: number;
  evaluatorTimeoutMs?: number;
}

function widen(caps: Capabilities, patterns: string[]): Capabilities {
  const fam = new Set(caps.patterns);
  const blocks = [...caps.blockShapes];
  for (const p of patterns) {
    const q = parsePatternName(p);
    if (!q) continue;
    fam.add(q.family);
    if (q.block) blocks.push(q.block);
  }
  return { ...caps, patterns: [...fam], blockShapes: blocks };
}

export async function runRealSearch(db: string, s: RealSearch): Promise<SearchOutcome> {
  const config = resolveSearchConfig(
    { model: s.model, patterns: s.patterns, evaluator: s.evaluator, maxTrials: String(s.maxTrials), latencyBudget: s.budget ?? '0.95', seed: String(s.seed ?? 3), strategy: s.strategy ?? 'random', finalRounds: String(s.finalRounds ?? 1), threads: '1' },
    1,
  );
  const graph = await loadModel(config.model);
  const layerGroups = findLayerGroups(graph);
  const backend = getBackend(config.target, { threads: 1, cacheDir: cacheDir(db) });
  const capabilities = widen(backend.capabilities(), config.patterns ?? []);
  const space = buildSearchSpace(graph, layerGroups, capabilities, { patterns: config.patterns ?? [], precisions: config.precisions, groups: config.groups });
  const evaluator = createEvaluator(config.evaluator, { graph, seed: config.seed, timeoutMs: s.evaluatorTimeoutMs, modelSpec: config.model });
  const fingerprint = await backend.fingerprint();
  const runtime: SearchRuntime = { config, graph, backend, fingerprint, capabilities, layerGroups, layerGroupById: new Map(layerGroups.map((g) => [g.id, g])), space, evaluator };
  const store = openStore(db);
  try {
    const search = store.createSearch({ model: config.model, target: config.target, strategy: config.strategy, budget: config.budget, options: storedOptions(config), status: 'running', fingerprint });
    return await runSearch({ store, searchId: search.id, runtime, observer: silentObserver, interrupts: new Interrupts(), tape: null, dbPath: db, pollMs: 100 });
  } finally {
    store.close();
    await evaluator.close?.();
    await backend.close();
  }
}
