// Shrunk dense for coarse pruning (issue 5): a model with one coarse pattern on every layer group,
// compiled three ways in one run and timed interleaved, round by round:
//   shrunk  — our backend, dead channels physically removed across their groups (the default compile)
//   masked  — our backend, the masked model compiled dense (zeroed channels still computed)
//   ort     — onnxruntime-node (1 thread) on the masked model
//   node scripts/bench-shrunk-model.mjs zoo:mobilenet-v2 channel 0.5      (after npm run build)
import { loadModel } from '../dist/src/model/load.js';
import { CpuBackend } from '../dist/backends/cpu/cpu-backend.js';
import { getBackend } from '../dist/backends/registry.js';
import { createOrtSession } from '../dist/src/model/ort.js';
import { randomInputs } from '../dist/src/model/inputs.js';
import { relError } from '../dist/src/cli/commands/bench.js';
import { materialize } from '../dist/src/search/materialize.js';
import { buildSearchSpace } from '../dist/src/space/build.js';
import { findLayerGroups } from '../dist/src/tesa/groups.js';
const spec = process.argv[2] || 'zoo:mobilenet-v2';
const pattern = process.argv[3] || 'channel';
const ratio = Number(process.argv[4] || 0.5);
const rounds = Number(process.env.ROUNDS || 8);
const graph = await loadModel(spec);
const groups = findLayerGroups(graph);
const caps = getBackend('cpu').capabilities();
const space = buildSearchSpace(graph, groups, { ...caps, patterns: ['dense', pattern] }, { patterns: [pattern], precisions: ['fp32'], groups: 'on' });
const candidate = { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio, pattern, precision: 'fp32' }])) };
const m = materialize({ graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: caps.channelMultiple }, candidate);
console.log(`${spec}: ${pattern} ${ratio} on ${space.groups.length} groups; pruned ${(100 * m.total.before).toFixed(1)}% → ${(100 * m.total.after).toFixed(1)}% after propagation`);
const backend = new CpuBackend({ threads: 1 });
let t0 = Date.now();
const shrunk = await backend.compile(m.maskedGraph, { sparsity: m.sparsity });
const s = backend.lastShrink;
console.log(`shrunk compile ${Date.now() - t0} ms: ${s ? `${s.removed} channels removed in ${s.groups.filter((g) => g.removed > 0).length} of ${s.groups.length} groups, parameters ${s.parametersBefore} → ${s.parametersAfter}` : 'nothing removed'}; plans: ${backend.lastPlanChoices.map((c) => c.choice.plan.family).join(',') || 'none sparse'}`);
t0 = Date.now();
const masked = await backend.compile(m.maskedGraph);
console.log(`masked dense compile ${Date.now() - t0} ms`);
const inputs = randomInputs(m.maskedGraph, 1);
const feeds = new Map(Object.entries(inputs));
const ort = await createOrtSession(m.maskedGraph, { threads: 1 });
const theirs = await ort.run(inputs);
const ss = await backend.openSession(shrunk, feeds);
await ss.time(1);
const outS = await ss.outputs();
const chk = await ss.check();
await ss.close();
let err = 0;
for (const [name, v] of outS) err = Math.max(err, relError(v, theirs.get(name).data));
console.log(`check mode max rel error ${chk.maxRelError.toExponential(2)}; shrunk vs onnxruntime on the masked model: max rel error ${err.toExponential(2)}`);
const S = [], D = [], O = [];
for (let r = 0; r < rounds; r++) {
  for (const [model, arr] of [[shrunk, S], [masked, D]]) {
    const sess = await backend.openSession(model, feeds);
    await sess.time(1);
    arr.push(...(await sess.time(3)));
    await sess.close();
  }
  await ort.run(inputs);
  for (let i = 0; i < 3; i++) {
    const a = performance.now();
    await ort.run(inputs);
    O.push(performance.now() - a);
  }
}
await ort.release();
const med = (a) => { const x = [...a].sort((p, q) => p - q); return x[Math.floor(x.length / 2)]; };
console.log(`median ms over ${rounds} interleaved rounds: shrunk ${med(S).toFixed(3)}, masked dense ${med(D).toFixed(3)}, onnxruntime (masked) ${med(O).toFixed(3)}`);
console.log(`shrunk is ${(med(D) / med(S)).toFixed(2)}x our masked dense, ${(med(O) / med(S)).toFixed(2)}x onnxruntime`);
await backend.close();
