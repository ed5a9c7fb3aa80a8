/**
 * `--evaluator fidelity`: how closely the pruned model's outputs follow the dense model's on
 * calibration inputs. Classifier outputs (rank 2: [batch, classes]) score top-1 agreement;
 * other outputs (hidden states) score the mean cosine similarity of their last-axis vectors.
 * The score is the mean over outputs and batches, in [0, 1] for agreement, [-1, 1] for cosine.
 *
 * The candidate runs as compiled by the backend (the loop's runCandidate) so the score judges
 * the kernels that were timed; the dense reference comes from the compiled dense model, once
 * per search. Without a backend (flops cost, unit use) both run in onnxruntime-node, the
 * candidate's int8 weights through QuantizeLinear/DequantizeLinear (src/export/qdq.ts) so that
 * quantization error counts there too; with a backend the gemm-int8 kernels do the rounding.
 */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import { badInput, TesaError } from '../errors.js';
import { numel, type Graph, type TensorData } from '../model/graph.js';
import { randomInputs } from '../model/inputs.js';
import { runOrt, type OrtOptions } from '../model/ort.js';
import { readNpy } from '../util/npy.js';
import type { ModelSparsity } from '../plan/sparsity.js';
import { fakeQuantizedWeights, hasInt8, QDQ_MIN_OPSET, QDQ_ORT_OPTIMIZATION, quantizedGraph } from '../export/qdq.js';
import { registerEvaluator, type EvaluationContext, type EvaluationResult, type Evaluator, type EvaluatorInit, type RunInputs } from './evaluator.js';

/** Enough rows for a top-1 agreement finer than quarters on batch-1 models, few enough to keep a trial quick. */
export const DEFAULT_GENERATED_BATCHES = 8;
export const MAX_FILE_BATCHES = 32;

export type OutputSet = Map<string, Float32Array>;

export interface OutputAgreement {
  output: string;
  metric: 'top1' | 'cosine';
  value: number;
}

function toF32(d: TensorData): Float32Array {
  if (d instanceof Float32Array) return d;
  if (d instanceof BigInt64Array) return Float32Array.from(d, (v) => Number(v));
  return Float32Array.from(d as ArrayLike<number>);
}

function argmax(d: Float32Array, at: number, n: number): number {
  let best = at;
  for (let i = at + 1; i < at + n; i++) if (d[i]! > d[best]!) best = i;
  return best - at;
}

/** Share of rows whose arg-max class agrees. */
export function top1Agreement(ref: Float32Array, got: Float32Array, classes: number): number {
  const rows = Math.floor(ref.length / classes);
  if (rows === 0) return 1;
  let same = 0;
  for (let r = 0; r < rows; r++) if (argmax(ref, r * classes, classes) === argmax(got, r * classes, classes)) same++;
  return same / rows;
}

/** Mean cosine similarity of the vectors along the last axis; two zero vectors agree (1), one zero vector does not (0). */
export function meanCosine(ref: Float32Array, got: Float32Array, width: number): number {
  const rows = Math.floor(ref.length / width);
  if (rows === 0) return 1;
  let sum = 0;
  for (let r = 0; r < rows; r++) {
    let dot = 0;
    let na = 0;
    let nb = 0;
    for (let i = r * width; i < (r + 1) * width; i++) {
      const a = ref[i]!;
      const b = got[i]!;
      dot += a * b;
      na += a * a;
      nb += b * b;
    }
    if (na === 0 && nb === 0) sum += 1;
    else if (na === 0 || nb === 0) sum += 0;
    else sum += dot / Math.sqrt(na * nb);
  }
  return sum / rows;
}

/** Rank-2 outputs are logits ([batch, classes]); anything else is compared by cosine. */
export function metricFor(shape: readonly number[]): 'top1' | 'cosine' {
  return shape.length === 2 && shape[1]! > 1 ? 'top1' : 'cosine';
}

export function compareOutputs(graph: Graph, ref: OutputSet, got: OutputSet): OutputAgreement[] {
  const out: OutputAgreement[] = [];
  for (const name of graph.outputs) {
    const r = ref.get(name);
    const g = got.get(name);
    if (!r) continue;
    if (!g) throw new TesaError('RUN_FAILED', `the candidate produced no output '${name}'`, 'the compiled model and the graph disagree on outputs: report it');
    if (g.length !== r.length) throw new TesaError('RUN_FAILED', `output '${name}' has ${g.length} values, the dense model ${r.length}`, 'the compiled model and the graph disagree on shapes: report it');
    const shape = graph.tensors.get(name)?.shape ?? [r.length];
    const width = shape.length > 0 ? shape[shape.length - 1]! : 1;
    const metric = metricFor(shape);
    out.push({ output: name, metric, value: metric === 'top1' ? top1Agreement(r, g, width) : meanCosine(r, g, width) });
  }
  return out;
}

export interface CalibrationSpec {
  path: string;
  /** Shape of the whole file's contents for raw float32 files. */
  shape?: number[];
}

/** `fidelity`, `fidelity:calib.npy`, `fidelity:calib.bin@64x784` (raw float32 with its shape). */
export function parseFidelityArgument(argument: string): CalibrationSpec | null {
  const a = argument.trim().replace(/^["']|["']$/g, '');
  if (a.length === 0) return null;
  const at = a.lastIndexOf('@');
  if (at > 0 && /^\d+(x\d+)*$/.test(a.slice(at + 1))) return { path: a.slice(0, at), shape: parseShape(a.slice(at + 1)) };
  return { path: a };
}

export function parseShape(text: string, option = '--calibration-shape'): number[] {
  const parts = text.trim().split(/[x,×]/).map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => !/^\d+$/.test(p) || Number(p) < 1)) throw badInput(`${option} ${JSON.stringify(text)} is not a shape`, `for example ${option} 64x784`);
  return parts.map(Number);
}

/** The model's float input, the only one a calibration file can feed. */
function calibrationInput(graph: Graph): { name: string; shape: number[] } {
  if (graph.inputs.length !== 1) throw badInput(`--calibration: model '${graph.name}' has ${graph.inputs.length} inputs (${graph.inputs.join(', ')}); a calibration file feeds a single-input model`, 'leave out --calibration to use seeded inputs generated from the model');
  const t = graph.tensors.get(graph.inputs[0]!)!;
  if (t.dtype !== 'float32') throw badInput(`--calibration: model input '${t.name}' is ${t.dtype}; calibration files hold float32`, 'leave out --calibration to use seeded inputs generated from the model');
  return { name: t.name, shape: [...t.shape] };
}

/** Splits the file's samples into batches of the model's input shape. */
export function loadCalibration(graph: Graph, spec: CalibrationSpec, maxBatches = MAX_FILE_BATCHES): RunInputs[] {
  const input = calibrationInput(graph);
  let data: Float32Array;
  let shape: number[] | undefined = spec.shape;
  if (extname(spec.path).toLowerCase() === '.npy') {
    const a = readNpy(spec.path);
    if (a.data instanceof Float32Array) data = a.data;
    else if (a.data instanceof Float64Array) data = Float32Array.from(a.data);
    else throw badInput(`--calibration ${spec.path}: dtype ${a.dtype}; calibration data must be float`, 'save it with numpy.save(path, x.astype(numpy.float32))');
    shape = a.shape;
  } else {
    if (!shape) throw badInput(`--calibration ${spec.path}: a raw file needs its shape`, 'give --calibration-shape, e.g. 64x784, or save an .npy');
    let buf: Buffer;
    try {
      if (!statSync(spec.path).isFile()) throw new Error('not a file');
      buf = readFileSync(spec.path);
    } catch (e) {
      throw new TesaError('NOT_FOUND', `--calibration ${spec.path}: ${(e as Error).message}`, 'check the path');
    }
    if (buf.length !== numel(shape) * 4) throw badInput(`--calibration ${spec.path}: ${buf.length} bytes, shape ${shape.join('x')} of float32 needs ${numel(shape) * 4}`, 'give the shape of the whole file');
    data = new Float32Array(new Uint8Array(buf).buffer);
  }
  const per = numel(input.shape);
  const sampleDims = input.shape.slice(1);
  const fileDims = shape.length === input.shape.length ? shape.slice(1) : shape.slice(shape.length - sampleDims.length);
  if (data.length % per !== 0 || (shape.length >= input.shape.length && fileDims.join('x') !== sampleDims.join('x')) || data.length === 0) {
    throw badInput(`--calibration ${spec.path}: shape ${shape.join('x')} does not split into batches of the model input '${input.name}' [${input.shape.join('x')}]`, `give N×${sampleDims.join('x')} samples (a multiple of ${input.shape[0]})`);
  }
  const batches: RunInputs[] = [];
  for (let at = 0; at + per <= data.length && batches.length < maxBatches; at += per) batches.push(new Map([[input.name, data.slice(at, at + per)]]));
  return batches;
}

export function generatedBatches(graph: Graph, seed: number, count = DEFAULT_GENERATED_BATCHES): RunInputs[] {
  const out: RunInputs[] = [];
  for (let k = 0; k < count; k++) {
    const r = randomInputs(graph, seed * 1000 + k);
    out.push(new Map(Object.entries(r) as Array<[string, Float32Array | BigInt64Array | Int32Array]>));
  }
  return out;
}

async function ortOutputs(graph: Graph, inputs: RunInputs, optimization?: OrtOptions['optimization']): Promise<OutputSet> {
  const res = await runOrt(graph, Object.fromEntries(inputs), optimization ? { optimization } : {});
  const out: OutputSet = new Map();
  for (const [k, v] of res) out.set(k, toF32(v.data));
  return out;
}

/** The graph onnxruntime runs for a candidate: QDQ where int8 (weights only, folded, below opset 13). */
export function quantizedForOrt(masked: Graph, sparsity: ModelSparsity): { graph: Graph; quantized: string | null } {
  if (!hasInt8(sparsity)) return { graph: masked, quantized: null };
  if (masked.opsetVersion >= QDQ_MIN_OPSET) return { graph: quantizedGraph(masked, sparsity).graph, quantized: 'int8 weights and activations (QDQ)' };
  return { graph: fakeQuantizedWeights(masked, sparsity), quantized: 'int8 weights only (opset below 13)' };
}

export class FidelityEvaluator implements Evaluator {
  readonly name = 'fidelity';
  readonly needsRun = true;
  private dense: Promise<OutputSet[]> | null = null;
  private denseSource: 'compiled' | 'onnxruntime' | null = null;

  constructor(
    private readonly graph: Graph,
    readonly batches: RunInputs[],
    readonly source: string,
  ) {}

  /** The dense model's outputs on every batch, computed on first use and kept for the search. */
  private denseOutputs(ctx: EvaluationContext): Promise<OutputSet[]> {
    if (!this.dense) {
      const runDense = ctx.runDense;
      this.denseSource = runDense ? 'compiled' : 'onnxruntime';
      this.dense = (async () => {
        const outs: OutputSet[] = [];
        for (const b of this.batches) outs.push(runDense ? ((await runDense(b)).outputs ?? new Map()) : await ortOutputs(this.graph, b));
        return outs;
      })();
      // A failed reference must not poison every later trial: try again next time.
      this.dense.catch(() => {
        this.dense = null;
      });
    }
    return this.dense;
  }

  async evaluate(ctx: EvaluationContext): Promise<EvaluationResult> {
    const dense = await this.denseOutputs(ctx);
    // Without a backend the candidate runs in onnxruntime: int8 weights go through the quantized
    // ONNX (QDQ, the kernels' rounding of weights and activations) so the score sees the int8 error.
    const simulated = ctx.runCandidate ? null : quantizedForOrt(ctx.maskedGraph, ctx.sparsity);
    const per: OutputAgreement[][] = [];
    for (let i = 0; i < this.batches.length; i++) {
      const b = this.batches[i]!;
      const got = ctx.runCandidate ? ((await ctx.runCandidate(b)).outputs ?? new Map<string, Float32Array>()) : await ortOutputs(simulated!.graph, b, simulated!.quantized ? QDQ_ORT_OPTIMIZATION : undefined);
      per.push(compareOutputs(this.graph, dense[i]!, got));
    }
    const all = per.flat();
    if (all.length === 0) throw new TesaError('RUN_FAILED', 'fidelity: the dense model produced no outputs to compare', 'report it with the model');
    const score = all.reduce((a, o) => a + o.value, 0) / all.length;
    const byOutput: Record<string, { metric: string; mean: number; min: number }> = {};
    for (const o of all) {
      const e = (byOutput[o.output] ??= { metric: o.metric, mean: 0, min: Infinity });
      e.mean += o.value / per.length;
      e.min = Math.min(e.min, o.value);
    }
    return { score, details: { batches: this.batches.length, inputs: this.source, candidate: ctx.runCandidate ? 'compiled' : 'onnxruntime', ...(simulated?.quantized ? { quantized: simulated.quantized } : {}), dense: this.denseSource, outputs: byOutput } };
  }
}

export function createFidelityEvaluator(init: EvaluatorInit): FidelityEvaluator {
  const spec: CalibrationSpec | null = init.calibration ? { path: init.calibration, shape: init.calibrationShape } : parseFidelityArgument(init.argument);
  if (spec) return new FidelityEvaluator(init.graph, loadCalibration(init.graph, spec), spec.path);
  return new FidelityEvaluator(init.graph, generatedBatches(init.graph, init.seed), `generated (seed ${init.seed})`);
}

registerEvaluator('fidelity', createFidelityEvaluator);
