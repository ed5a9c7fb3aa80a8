/**
 * Benchmark (not a test): a channel-pruned model before and after physical channel removal, in
 * onnxruntime-node itself (1 thread), interleaved A B A B so drift hits both alike.
 *   npx vite-node test/export/shrink-benchmark.ts [zoo:mobilenet-v2] [ratio 0.5] [rounds 10]
 */
import { getBackend } from '../../backends/registry.js';
import { parameterCount, shrinkChannels } from '../../src/export/shrink.js';
import { loadModel } from '../../src/model/load.js';
import { randomInputs } from '../../src/model/inputs.js';
import { createOrtSession } from '../../src/model/ort.js';
import { materialize } from '../../src/search/materialize.js';
import { buildSearchSpace } from '../../src/space/build.js';
import { findLayerGroups } from '../../src/tesa/groups.js';

const [model = 'zoo:mobilenet-v2', ratioText = '0.5', roundsText = '10'] = process.argv.slice(2);
const graph = await loadModel(model);
const groups = findLayerGroups(graph);
const caps = getBackend('cpu').capabilities();
const space = buildSearchSpace(graph, groups, { ...caps, patterns: ['dense', 'channel'] }, { patterns: ['channel'], precisions: ['fp32'], groups: 'on' });
const ratio = Number(ratioText);
const m = materialize({ graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: caps.channelMultiple }, { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio, pattern: 'channel', precision: 'fp32' as const }])) });
const s = shrinkChannels(m.maskedGraph, groups);
const feeds = randomInputs(graph, 1);
const a = await createOrtSession(m.maskedGraph, { threads: 1 });
const b = await createOrtSession(s.graph, { threads: 1 });
const time = async (sess: typeof a, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await sess.run(feeds);
    out.push(performance.now() - t0);
  }
  return out;
};
await time(a, 3);
await time(b, 3);
const ta: number[] = [];
const tb: number[] = [];
for (let r = 0; r < Number(roundsText); r++) {
  ta.push(...(await time(a, 5)));
  tb.push(...(await time(b, 5)));
}
const median = (v: number[]) => [...v].sort((x, y) => x - y)[Math.floor(v.length / 2)]!;
console.log(JSON.stringify({ model, ratio, parameters: { dense: parameterCount(graph), masked: parameterCount(m.maskedGraph), shrunk: parameterCount(s.graph) }, ortMs: { masked: median(ta), shrunk: median(tb), ratio: median(tb) / median(ta) }, reps: ta.length, channelsRemoved: s.groups.reduce((x, g) => x + g.removed, 0) }));
await a.release();
await b.release();
