/**
 * The quantized ONNX of a candidate: every MatMul/Gemm weight whose precision is int8 becomes
 * an int8 initializer read through DequantizeLinear (per output channel, symmetric: zero
 * point 0), quantized exactly as the int8 kernels quantize it (src/quant/weights.ts: the mask
 * and the fp32 outlier split decide which elements set each channel's scale). fp32 outliers of
 * the mixed decomposition stay an fp32 initializer added to the dequantized body.
 *
 * With `activations: 'dynamic'` each int8 layer's input also goes through a per-tensor
 * QuantizeLinear/DequantizeLinear pair whose scale is computed in the graph (|x|max / 127), the
 * same dynamic symmetric rounding as the kernels, so onnxruntime computes what our int8 model
 * computes (up to accumulation order). An input read by several int8 layers is quantized once.
 * The fidelity evaluator runs this graph when no backend runs the candidate.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Backend, CompiledModel, OpPlan, RunOptions } from '../../backends/backend.js';
import { int8IsaFor } from '../../backends/cpu/kernels/int8/emit.js';
import { TesaError } from '../errors.js';
import { cloneGraph, type Graph, type Node, type Tensor, type TensorData } from '../model/graph.js';
import { randomInputs } from '../model/inputs.js';
import { exportOnnx } from '../model/onnx/export.js';
import { runOrt } from '../model/ort.js';
import type { ModelSparsity, WeightSparsity } from '../plan/sparsity.js';
import { measuredRelativeError } from '../quant/error.js';
import { splitOutliers } from '../quant/outliers.js';
import { quantizeWeightPerChannel } from '../quant/weights.js';
import { prunableOf, type PrunableWeight } from '../tesa/weights.js';

/** What `quantizedGraph` did to one weight (also what config.json records). */
export interface QdqWeight {
  weight: string;
  node: string;
  /** Axis of the stored weight the scales run along (the output channels). */
  axis: number;
  qmax: number;
  /** Per output channel: W ≈ q · scale. */
  scales: number[];
  /** fp32 outlier elements kept beside the int8 body. */
  outliers: number;
}

export interface QdqOptions {
  /** 'dynamic': per-tensor activation QDQ computed in the graph; 'none': weights only. Default 'dynamic'. */
  activations?: 'dynamic' | 'none';
  /** 127 (VNNI) or 63 (the AVX2 kernels); default 127. */
  qmax?: number;
}

export interface QdqResult {
  graph: Graph;
  weights: QdqWeight[];
}

/**
 * onnxruntime's level for QDQ graphs: at 'all' it fuses QuantizeLinear/DequantizeLinear with
 * MatMul into its own integer kernels, which quantize activations differently from ours.
 */
export const QDQ_ORT_OPTIMIZATION = 'basic' as const;

/** Per-axis DequantizeLinear needs opset 13. */
export const QDQ_MIN_OPSET = 13;

/** The weights' qmax of the int8 kernels on an int8 ISA: 127 with VNNI, 63 on AVX2 (see src/quant/weights.ts). */
export function qmaxForIsa(isa: 'vnni' | 'avx2' | null): number {
  return isa === 'avx2' ? 63 : 127;
}

/** True when some weight of the sparsity map runs in int8. */
export function hasInt8(sparsity: ModelSparsity): boolean {
  for (const s of sparsity.values()) if (s.precision === 'int8') return true;
  return false;
}

interface Emit {
  nodes: Node[];
  tensors: Map<string, Tensor>;
  names: Set<string>;
}

function fresh(e: Emit, base: string): string {
  let name = base;
  for (let k = 2; e.names.has(name) || e.tensors.has(name); k++) name = `${base}_${k}`;
  e.names.add(name);
  return name;
}

function constant(e: Emit, base: string, t: Omit<Tensor, 'name'>): string {
  const name = fresh(e, base);
  e.tensors.set(name, { name, ...t });
  return name;
}

function node(e: Emit, opType: string, inputs: string[], outputs: string[], attrs: Node['attrs'] = {}): void {
  e.nodes.push({ name: fresh(e, `${outputs[0]}_${opType}`), opType, domain: '', inputs, outputs, attrs });
}

/**
 * X → QuantizeLinear(X · (127/|x|max), scale 1) → DequantizeLinear(scale |x|max/127): the
 * kernels' dynamic rounding of X. The multiply by the reciprocal is written out because that is
 * what the kernels compute (`x * inv`): dividing by the scale instead rounds a few values on a
 * .5 boundary the other way, and each such flip moves a whole output row.
 */
function activationQdq(e: Emit, x: string, shared: { c127: string; one: string; tiny: string }): string {
  const x0 = e.tensors.get(x)!;
  const t = (base: string, dtype: Tensor['dtype'], shape: number[]): string => {
    const name = fresh(e, base);
    e.tensors.set(name, { name, dtype, shape });
    return name;
  };
  const abs = t(`${x}_abs`, 'float32', [...x0.shape]);
  const amax = t(`${x}_absmax`, 'float32', []);
  const safe = t(`${x}_absmax_safe`, 'float32', []);
  const inv = t(`${x}_inv_scale`, 'float32', []);
  const scale = t(`${x}_scale`, 'float32', []);
  const scaled = t(`${x}_scaled`, 'float32', [...x0.shape]);
  const zp = constant(e, `${x}_zero_point`, { dtype: 'int8', shape: [], data: new Int8Array(1) });
  const q = t(`${x}_quantized`, 'int8', [...x0.shape]);
  const dq = t(`${x}_dequantized`, 'float32', [...x0.shape]);
  node(e, 'Abs', [x], [abs]);
  node(e, 'ReduceMax', [abs], [amax], { keepdims: { type: 'int', value: 0 } });
  // An all-zero input quantizes to zeros with any positive scale (the kernels use 1).
  node(e, 'Max', [amax, shared.tiny], [safe]);
  node(e, 'Div', [shared.c127, safe], [inv]);
  node(e, 'Div', [safe, shared.c127], [scale]);
  node(e, 'Mul', [x, inv], [scaled]);
  node(e, 'QuantizeLinear', [scaled, shared.one, zp], [q]);
  node(e, 'DequantizeLinear', [q, scale, zp], [dq]);
  return dq;
}

/** One weight quantized as the int8 kernels do it, back in its stored layout. */
function quantizeStored(g: Graph, p: PrunableWeight, ws: WeightSparsity, qmax: number): { q: Int8Array; scale: Float32Array; outl: Float32Array | null; outliers: number } {
  const t = g.tensors.get(p.weight)!;
  const data = t.data as Float32Array;
  const [N, K] = [p.shape[p.outAxis]!, p.shape[p.inAxis]!];
  const at = (o: number, i: number): number => (p.outAxis === 0 ? o * K + i : i * N + o);
  // The candidate's mask while the shapes still match; after channel removal, the surviving non-zeros.
  const sameShape = ws.mask.length === data.length && ws.shape.every((d, i) => d === t.shape[i]);
  const w = new Float32Array(N * K);
  const mask = new Uint8Array(N * K);
  for (let o = 0; o < N; o++) {
    for (let i = 0; i < K; i++) {
      const s = at(o, i);
      const kept = sameShape ? ws.mask[s] === 1 : data[s] !== 0;
      mask[o * K + i] = kept ? 1 : 0;
      w[o * K + i] = kept ? data[s]! : 0;
    }
  }
  const split = splitOutliers(w, ws.outliers ?? 0, mask);
  const qw = quantizeWeightPerChannel(w, N, K, { qmax, mask: split.bodyMask });
  const q = new Int8Array(data.length);
  const outl = split.outliers > 0 ? new Float32Array(data.length) : null;
  for (let o = 0; o < N; o++) {
    for (let i = 0; i < K; i++) {
      q[at(o, i)] = qw.q[o * K + i]!;
      if (outl && split.outlierMask[o * K + i]) outl[at(o, i)] = w[o * K + i]!;
    }
  }
  return { q, scale: Float32Array.from(qw.scale), outl, outliers: split.outliers };
}

/**
 * The graph with every int8 linear weight replaced by its dequantized value (q·scale plus the
 * fp32 outliers): weight rounding only, in plain float ops, for models below opset 13 where
 * per-channel QDQ cannot be written.
 */
export function fakeQuantizedWeights(graph: Graph, sparsity: ModelSparsity, qmax = 127): Graph {
  const g = cloneGraph(graph);
  for (const n of graph.nodes) {
    const p = n.opType === 'MatMul' || n.opType === 'Gemm' ? prunableOf(g, n) : undefined;
    const ws = p ? sparsity.get(p.weight) : undefined;
    if (!p || !ws || ws.precision !== 'int8' || p.shape.length !== 2) continue;
    const t = g.tensors.get(p.weight)!;
    const { q, scale, outl } = quantizeStored(g, p, ws, qmax);
    const N = scale.length;
    const K = q.length / N;
    const data = new Float32Array(q.length);
    for (let o = 0; o < N; o++) {
      for (let i = 0; i < K; i++) {
        const s = p.outAxis === 0 ? o * K + i : i * N + o;
        data[s] = q[s]! * scale[o]! + (outl ? outl[s]! : 0);
      }
    }
    g.tensors.set(p.weight, { ...t, data });
  }
  return g;
}

/**
 * The graph with QDQ on every int8 MatMul/Gemm weight (and, by default, its input). Weights
 * are quantized from the graph's own (masked) data; `sparsity` says which are int8, their
 * masks (used when the shapes still match: pruned elements do not set a scale) and outliers.
 */
export function quantizedGraph(graph: Graph, sparsity: ModelSparsity, opts: QdqOptions = {}): QdqResult {
  if (graph.opsetVersion < QDQ_MIN_OPSET) {
    throw new TesaError('BAD_INPUT', `model '${graph.name}' is opset ${graph.opsetVersion}; per-channel QuantizeLinear/DequantizeLinear needs opset ${QDQ_MIN_OPSET}`, 're-export the model at opset 13 or later to get a quantized ONNX');
  }
  const qmax = opts.qmax ?? 127;
  const g = cloneGraph(graph);
  const e: Emit = { nodes: [], tensors: g.tensors, names: new Set(graph.nodes.map((n) => n.name)) };
  const weights: QdqWeight[] = [];
  const dequantized = new Map<string, string>();
  const activations = new Map<string, string>();
  const outliersOf = new Map<string, string>();
  let shared: { c127: string; one: string; tiny: string } | null = null;
  for (const n of g.nodes) {
    const p = n.opType === 'MatMul' || n.opType === 'Gemm' ? prunableOf(g, n) : undefined;
    const ws = p ? sparsity.get(p.weight) : undefined;
    if (!p || !ws || ws.precision !== 'int8' || p.shape.length !== 2) {
      e.nodes.push(n);
      continue;
    }
    let wq = dequantized.get(p.weight);
    if (wq === undefined) {
      const t = g.tensors.get(p.weight)!;
      const { q, scale, outl, outliers } = quantizeStored(g, p, ws, qmax);
      const N = scale.length;
      const qName = constant(e, `${p.weight}_quantized`, { dtype: 'int8', shape: [...t.shape], data: q });
      const sName = constant(e, `${p.weight}_scale`, { dtype: 'float32', shape: [N], data: scale });
      const zName = constant(e, `${p.weight}_zero_point`, { dtype: 'int8', shape: [N], data: new Int8Array(N) });
      const body = fresh(e, `${p.weight}_dequantized`);
      e.tensors.set(body, { name: body, dtype: 'float32', shape: [...t.shape] });
      node(e, 'DequantizeLinear', [qName, sName, zName], [body], { axis: { type: 'int', value: p.outAxis } });
      wq = body;
      if (outl) outliersOf.set(p.weight, constant(e, `${p.weight}_outliers`, { dtype: 'float32', shape: [...t.shape], data: outl }));
      dequantized.set(p.weight, wq);
      weights.push({ weight: p.weight, node: n.name, axis: p.outAxis, qmax, scales: Array.from(scale), outliers });
    }
    const inputs = [...n.inputs];
    inputs[p.slot] = wq;
    const x = n.inputs[0]!;
    if ((opts.activations ?? 'dynamic') === 'dynamic' && g.tensors.get(x)?.dtype === 'float32') {
      shared ??= {
        c127: constant(e, 'qdq_127', { dtype: 'float32', shape: [], data: Float32Array.of(127) }),
        one: constant(e, 'qdq_unit_scale', { dtype: 'float32', shape: [], data: Float32Array.of(1) }),
        tiny: constant(e, 'qdq_min_scale', { dtype: 'float32', shape: [], data: Float32Array.of(1e-30) }),
      };
      let xq = activations.get(x);
      if (xq === undefined) activations.set(x, (xq = activationQdq(e, x, shared)));
      inputs[0] = xq;
    }
    const outl = outliersOf.get(p.weight);
    if (!outl) {
      e.nodes.push({ ...n, inputs });
      continue;
    }
    // The mixed decomposition: the fp32 outliers multiply the unquantized X (as the kernels'
    // outlier part does), summed with the int8 body's product.
    const y = n.outputs[0]!;
    const yt = g.tensors.get(y)!;
    const part = (suffix: string): string => {
      const name = fresh(e, `${y}_${suffix}`);
      e.tensors.set(name, { name, dtype: yt.dtype, shape: [...yt.shape] });
      return name;
    };
    const int8Part = part('int8_part');
    const fp32Part = part('outlier_part');
    e.nodes.push({ ...n, inputs, outputs: [int8Part] });
    const outlierInputs = [...n.inputs.slice(0, 2)];
    outlierInputs[p.slot] = outl;
    // Gemm: alpha scales both parts, the bias (C, beta) belongs to one.
    e.nodes.push({ ...n, name: fresh(e, `${n.name}_outliers`), inputs: outlierInputs, outputs: [fp32Part] });
    node(e, 'Add', [int8Part, fp32Part], [y]);
  }
  // Float weights now read only through their int8 copy are dropped from the file.
  const read = new Set(e.nodes.flatMap((n) => n.inputs));
  for (const w of dequantized.keys()) if (!read.has(w) && !g.outputs.includes(w)) g.tensors.delete(w);
  return { graph: { ...g, nodes: e.nodes, tensors: e.tensors }, weights };
}

/** The weights' qmax the int8 kernels of a CPU fingerprint use (details.cpuFlags and details.isa as the CPU backend records them). */
export function qmaxForFingerprint(details: Readonly<Record<string, string>>): number {
  const flags = (details.cpuFlags ?? '').split(' ');
  const isa = details.isa === 'avx512' ? 'avx512' : details.isa === 'avx2' ? 'avx2' : 'generic';
  return qmaxForIsa(int8IsaFor(flags, isa));
}

/**
 * The part of the sparsity the backend really ran in int8: weights read by ops whose plan is
 * gemm-int8 (an int8 weight the family did not take, or a mixed one it assimilated into fp32,
 * runs in fp32, and the quantized ONNX must say so to match the compiled model).
 */
export function int8Served(graph: Graph, sparsity: ModelSparsity, plan: readonly OpPlan[]): ModelSparsity {
  const served = new Set(plan.filter((p) => p.kernel === 'gemm-int8').map((p) => p.node));
  const out: ModelSparsity = new Map();
  for (const n of graph.nodes) {
    if (!served.has(n.name)) continue;
    const w = n.inputs[1];
    const s = w ? sparsity.get(w) : undefined;
    if (w && s && s.precision === 'int8') out.set(w, s);
  }
  return out;
}

export interface QdqVerification {
  inputs: number;
  /** max over outputs of ‖qdq − int8‖/‖int8‖: what is left once rounding is modelled (accumulation order). */
  qdqVsInt8: number;
  /** max over outputs of ‖fp32 − int8‖/‖int8‖: the quantization error itself. */
  fp32VsInt8: number;
}

/** Runs the quantized ONNX and the float (masked) model in onnxruntime beside our compiled int8 model on seeded inputs. */
export async function verifyQdq(qdq: Graph, float: Graph, runInt8: (feeds: Record<string, TensorData>) => Promise<Map<string, Float32Array>>, seeds: number[]): Promise<QdqVerification> {
  let qdqVsInt8 = 0;
  let fp32VsInt8 = 0;
  for (const seed of seeds) {
    const feeds = randomInputs(float, seed);
    const ours = await runInt8(feeds);
    const viaQdq = await runOrt(qdq, feeds, { optimization: QDQ_ORT_OPTIMIZATION });
    const viaFloat = await runOrt(float, feeds);
    for (const name of float.outputs) {
      const o = ours.get(name);
      const q = viaQdq.get(name)?.data;
      const f = viaFloat.get(name)?.data;
      if (!o || !(q instanceof Float32Array) || !(f instanceof Float32Array) || q.length !== o.length) {
        throw new TesaError('WRONG_RESULT', `quantized ONNX: output '${name}' is missing or has another shape than the compiled model's`, 'report it with the search');
      }
      qdqVsInt8 = Math.max(qdqVsInt8, measuredRelativeError(o, q));
      fp32VsInt8 = Math.max(fp32VsInt8, measuredRelativeError(o, f));
    }
  }
  return { inputs: seeds.length, qdqVsInt8, fp32VsInt8 };
}

/** What config.json and report.md say about the quantized export. */
export interface QuantizationConfig {
  format: 'onnx-qdq';
  file: string;
  weights: 'int8, symmetric per output channel (zero point 0)';
  activations: 'int8, symmetric per tensor, scale |x|max/127 computed at run time';
  layers: QdqWeight[];
  verification: QdqVerification | null;
}

export function quantizationConfig(file: string, weights: QdqWeight[], verification: QdqVerification | null): QuantizationConfig {
  return {
    format: 'onnx-qdq',
    file,
    weights: 'int8, symmetric per output channel (zero point 0)',
    activations: 'int8, symmetric per tensor, scale |x|max/127 computed at run time',
    layers: weights,
    verification,
  };
}

/** report.md lines for the quantized export. */
export function quantizationReport(q: QuantizationConfig, bytes: number): string[] {
  const L: string[] = ['## Quantization (int8)', ''];
  L.push(`\`${q.file}\` (${bytes} bytes): ${q.layers.length} weight${q.layers.length === 1 ? '' : 's'} as int8 initializers behind DequantizeLinear (${q.weights}); their inputs through QuantizeLinear/DequantizeLinear (${q.activations}). Scales are in \`config.json\` (\`quantization.layers\`).`, '');
  if (q.verification) {
    const v = q.verification;
    L.push(`Against the compiled int8 model on ${v.inputs} seeded inputs: the quantized ONNX in onnxruntime differs by ${v.qdqVsInt8.toExponential(2)} (relative), the float model by ${v.fp32VsInt8.toExponential(2)} (the quantization error).`, '');
  }
  L.push('| weight | node | axis | qmax | channels | scale min–max | fp32 outliers |', '|---|---|---|---|---|---|---|');
  for (const w of q.layers) {
    const lo = Math.min(...w.scales);
    const hi = Math.max(...w.scales);
    L.push(`| ${w.weight.replace(/\|/g, '\\|')} | ${w.node.replace(/\|/g, '\\|')} | ${w.axis} | ${w.qmax} | ${w.scales.length} | ${lo.toExponential(2)}–${hi.toExponential(2)} | ${w.outliers} |`);
  }
  L.push('');
  return L;
}

/**
 * `tesa export`'s quantized artifact: when the compiled trial runs some weights on gemm-int8,
 * model.qdq.onnx (from the shrunk model, so it matches model.onnx but for the QDQ), verified
 * against our compiled int8 model, with the scales added to config.json. Fails loudly when the
 * quantized ONNX does not follow our int8 model much closer than the float model does.
 */
export async function writeQuantized(a: {
  outDir: string;
  config: object;
  shrunk: Graph;
  masked: Graph;
  sparsity: ModelSparsity;
  compiled: CompiledModel;
  backend: Backend;
  details: Readonly<Record<string, string>>;
  seed: number;
}): Promise<{ config: QuantizationConfig; bytes: number } | null> {
  const served = int8Served(a.masked, a.sparsity, a.compiled.plan);
  if (served.size === 0 || a.shrunk.opsetVersion < QDQ_MIN_OPSET) return null;
  const q = quantizedGraph(a.shrunk, served, { qmax: qmaxForFingerprint(a.details) });
  const once = { warmup: 0, minReps: 1, maxReps: 1, ciTarget: 1, timeoutMs: 120_000 };
  const runInt8 = async (feeds: Record<string, TensorData>): Promise<Map<string, Float32Array>> =>
    (await a.backend.run(a.compiled, { protocol: once, inputs: new Map(Object.entries(feeds)) as RunOptions['inputs'], wantOutputs: true, seed: a.seed })).outputs ?? new Map();
  const verification = await verifyQdq(q.graph, a.masked, runInt8, [a.seed, a.seed + 1]);
  // Layer by layer the QDQ graph computes what the kernels compute (to ~1e-6, test/export/qdq.test.ts);
  // through a deep model the rare activations that round the other way cascade, so the whole
  // model is held to "within the quantization error", the float model's distance from ours.
  if (!(verification.qdqVsInt8 <= 1.5 * verification.fp32VsInt8 + 1e-5)) {
    throw new TesaError('WRONG_RESULT', `model.qdq.onnx differs from the compiled int8 model by ${verification.qdqVsInt8.toExponential(2)}, more than the quantization error (the float model differs by ${verification.fp32VsInt8.toExponential(2)})`, 'the quantized ONNX does not model the int8 kernels: report it with the search');
  }
  const file = 'model.qdq.onnx';
  const bytes = exportOnnx(q.graph);
  writeFileSync(join(a.outDir, file), bytes);
  const config = quantizationConfig(file, q.weights, verification);
  writeFileSync(join(a.outDir, 'config.json'), JSON.stringify({ ...a.config, quantization: config }, null, 2) + '\n');
  return { config, bytes: bytes.length };
}
