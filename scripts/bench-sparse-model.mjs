// Whole-model sparse vs dense on the CPU backend (issue 5's whole-model check):
//   node scripts/bench-sparse-model.mjs zoo:bert-base block:1x32 0.8   (after npm run build)
// Masks every encoder linear layer with the pattern, compiles sparse and dense, checks the sparse
// outputs against onnxruntime on the masked dense model, then times both A-B interleaved.
import { loadModel } from '../dist/src/model/load.js';
import { CpuBackend } from '../dist/backends/cpu/cpu-backend.js';
import { createOrtSession } from '../dist/src/model/ort.js';
import { randomInputs } from '../dist/src/model/inputs.js';
import { interleaved } from '../dist/src/evaluate/measure.js';
import { relError } from '../dist/src/cli/commands/bench.js';
import { makeMask } from '../dist/src/prune/masks.js';
import { chooseSparsePlans } from '../dist/src/plan/transform.js';
const spec = process.argv[2] || 'zoo:bert-mini';
const pattern = process.argv[3] || 'block:1x32';
const ratio = Number(process.argv[4] || 0.8);
const pick = process.env.PICK === '1';
const graph = await loadModel(spec);
const sparsity = new Map();
for (const n of graph.nodes) {
  if (n.opType !== 'MatMul' && n.opType !== 'Gemm') continue;
  const w = graph.tensors.get(n.inputs[1]);
  if (!w?.data || w.shape.length !== 2 || !/layer|encoder/i.test(n.name + n.inputs[1])) continue;
  const axis = n.opType === 'Gemm' && n.attrs.transB?.value === 1 ? 0 : 1;
  const mask = makeMask({ data: w.data, shape: w.shape }, pattern, ratio, { axisForChannel: axis, weightName: n.inputs[1] });
  for (let i = 0; i < mask.length; i++) if (!mask[i]) w.data[i] = 0;
  sparsity.set(n.inputs[1], { weight: n.inputs[1], pattern, precision: 'fp32', shape: w.shape, mask });
}
console.log(`${spec}: ${sparsity.size} sparse weights`);
const backend = new CpuBackend({ threads: 1 });
const fp = await backend.fingerprint();
if (pick) {
  const t0 = Date.now();
  const ch = await chooseSparsePlans(graph, sparsity, fp, { onOp: (c, i, t) => console.log(`  pick ${i + 1}/${t} ${c.node}: ${c.choice.plan.family === 'dense' ? 'dense' : JSON.stringify(c.choice.plan)} ${c.choice.medianMs.toFixed(3)} vs dense ${c.choice.denseMs.toFixed(3)}${c.choice.fromCache ? ' (cached)' : ''}`) });
  console.log(`picked in ${Date.now() - t0} ms`);
}
let t0 = Date.now();
const sparseModel = await backend.compile(graph, { sparsity });
console.log(`sparse compile ${Date.now() - t0} ms (plan picking ${Math.round(backend.lastPlanPickMs)} ms, ${sparseModel.stats.kernelsBuilt} kernels built, ${sparseModel.stats.kernelsCached} cached; plans ${JSON.stringify(backend.lastPlanChoices.reduce((a, c) => (a[c.choice.plan.family === 'bsr' ? `bsr:${c.choice.plan.r}x${c.choice.plan.c}` : c.choice.plan.family] = (a[c.choice.plan.family === 'bsr' ? `bsr:${c.choice.plan.r}x${c.choice.plan.c}` : c.choice.plan.family] || 0) + 1, a), {}))}); kernels: ${JSON.stringify(sparseModel.plan.reduce((a, p) => (a[p.kernel] = (a[p.kernel] || 0) + 1, a), {}))}`);
t0 = Date.now();
const denseModel = await backend.compile(graph);
console.log(`dense compile ${Date.now() - t0} ms`);
const inputs = randomInputs(graph, 1);
const sa = await backend.openSession(sparseModel, inputs);
await sa.time(1);
const outS = await sa.outputs();
const chk = await sa.check();
console.log(`check: ${JSON.stringify(chk).slice(0, 300)}`);
await sa.close();
const ort = await createOrtSession(graph, { threads: 1 });
const theirs = await ort.run(inputs);
let err = 0;
for (const [name, v] of outS) err = Math.max(err, relError(v, theirs.get(name).data));
console.log(`max rel error sparse vs onnxruntime (masked dense model): ${err}`);
await ort.release();
const A = [], B = [];
for (let r = 0; r < Number(process.env.ROUNDS || 6); r++) {
  for (const [m, arr] of [[sparseModel, A], [denseModel, B]]) {
    const s = await backend.openSession(m, inputs);
    await s.time(1);
    arr.push(...(await s.time(3)));
    await s.close();
  }
}
const med = (a) => { const x = [...a].sort((p, q) => p - q); return x[Math.floor(x.length / 2)]; };
console.log(`sparse ${med(A).toFixed(2)} ms, dense ${med(B).toFixed(2)} ms, speedup ${(med(B) / med(A)).toFixed(2)}x`);
await backend.close();
