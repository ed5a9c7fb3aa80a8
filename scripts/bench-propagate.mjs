#!/usr/bin/env node
// Times propagateMasks (the call the search makes once per candidate) on a zoo model.
// Usage: node scripts/bench-propagate.mjs [model=zoo:bert-base] [init="*=row:0.5"] [runs=5]
// Needs a build (npx tsc -p .). Prints JSON: per-run ms, median, and the sparsity figures.
import { loadModel } from '../dist/src/model/load.js';
import { findLayerGroups } from '../dist/src/tesa/groups.js';
import { makeInitMasks, parseInitSpec } from '../dist/src/tesa/init-masks.js';
import { propagateMasks } from '../dist/src/tesa/masks.js';
import { maskedFraction } from '../dist/src/plan/sparsity.js';

const model = process.argv[2] ?? 'zoo:bert-base';
const init = process.argv[3] ?? '*=row:0.5';
const runs = Number(process.argv[4] ?? 5);
const graph = await loadModel(model);
const groups = findLayerGroups(graph);
const masks = makeInitMasks(graph, init.split(',').map(parseInitSpec), init.includes('channel') ? groups : undefined);
// Peer in the same run (the machine is shared and noisy): one plain pass over every mask byte,
// the least any masks-in/masks-out call must do. Interleaved with the propagation runs.
const times = [];
const peer = [];
let last;
let sink = 0;
for (let k = 0; k < runs; k++) {
  let t0 = performance.now();
  for (const m of masks.values()) sink += maskedFraction(m);
  peer.push(performance.now() - t0);
  t0 = performance.now();
  last = propagateMasks(graph, masks);
  times.push(performance.now() - t0);
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const sorted = [...times].sort((a, b) => a - b);
const elements = [...masks.values()].reduce((a, m) => a + m.length, 0);
console.log(JSON.stringify({
  model,
  init,
  prunableElements: elements,
  nodes: graph.nodes.length,
  runsMs: times.map((t) => Math.round(t)),
  medianMs: Math.round(sorted[Math.floor(sorted.length / 2)]),
  peerMaskPassMs: Math.round(median(peer)),
  ratioToPeer: Number((median(times) / median(peer)).toFixed(2)),
  peerChecksum: Number(sink.toFixed(3)),
  total: last.total,
  folds: last.folds.reduce((a, f) => a + f.channels.length, 0),
}));
