#!/usr/bin/env node
// Times propagateMasks (the call the search makes once per candidate) on a zoo model.
// Usage: node scripts/bench-propagate.mjs [model=zoo:bert-base] [init="*=row:0.5"] [runs=5]
// Needs a build (npx tsc -p .). Prints JSON: per-run ms, median, and the sparsity figures.
import { loadModel } from '../dist/src/model/load.js';
import { findLayerGroups } from '../dist/src/tesa/groups.js';
import { makeInitMasks, parseInitSpec } from '../dist/src/tesa/init-masks.js';
import { propagateMasks } from '../dist/src/tesa/masks.js';

const model = process.argv[2] ?? 'zoo:bert-base';
const init = process.argv[3] ?? '*=row:0.5';
const runs = Number(process.argv[4] ?? 5);
const graph = await loadModel(model);
const groups = findLayerGroups(graph);
const masks = makeInitMasks(graph, init.split(',').map(parseInitSpec), init.includes('channel') ? groups : undefined);
const times = [];
let last;
for (let k = 0; k < runs; k++) {
  const t0 = performance.now();
  last = propagateMasks(graph, masks);
  times.push(performance.now() - t0);
}
const sorted = [...times].sort((a, b) => a - b);
const elements = [...masks.values()].reduce((a, m) => a + m.length, 0);
console.log(JSON.stringify({
  model,
  init,
  prunableElements: elements,
  nodes: graph.nodes.length,
  runsMs: times.map((t) => Math.round(t)),
  medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]),
  total: last.total,
  folds: last.folds.reduce((a, f) => a + f.channels.length, 0),
}));
