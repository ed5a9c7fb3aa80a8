/**
 * `tesa bench model --target cuda`: the whole model on the GPU, dense (cuBLASLt linears)
 * beside the same model with every linear layer pruned to one pattern (our specialised
 * kernels), timed in alternating rounds in one process tree, each run a CUDA graph of the
 * whole model timed with CUDA events. The sparse model's outputs are compared with the
 * masked dense model's (the same masks, cuBLAS), which is what "the same model" means.
 */
import { TesaError } from '../../src/errors.js';
import { interleaved } from '../../src/evaluate/measure.js';
import { relError } from '../../src/evaluate/rel-error.js';
import { summarize, type LatencyStats } from '../../src/evaluate/stats.js';
import { cloneGraph, type Graph } from '../../src/model/graph.js';
import { randomInputs } from '../../src/model/inputs.js';
import { loadModel } from '../../src/model/load.js';
import { makeMask } from '../../src/prune/masks.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';
import type { CompiledModel, MeasureProtocol } from '../backend.js';
import { CudaBackend } from './cuda-backend.js';
import { lowerGraph } from './model/lower-graph.js';
import { torchBertPeers, type TorchModelPeer } from './torch-model-peer.js';

export interface CudaModelBenchOptions {
  pattern?: string;
  sparsity?: number;
  rounds?: number;
  /** Timed graph launches per run of the runner. */
  perRound?: number;
  cacheDir?: string;
  seed?: number;
}

export interface CudaModelBench {
  model: string;
  device: string;
  dense: { stats: LatencyStats; kernels: Record<string, number> };
  sparse: { pattern: string; sparsity: number; stats: LatencyStats; kernels: Record<string, number>; maxRelError: number; checkMaxRelError: number } | null;
  /** dense median / sparse median (> 1: the sparse model is faster). */
  speedup: number | null;
  compileMs: { dense: number; sparse: number | null };
  roundRatios: number[];
  /** PyTorch running the same model (zoo BERT) with the same protocol, or why not. */
  torch: TorchModelPeer[];
  /** Our dense model's output vs PyTorch's (attention written out), max relative difference. */
  torchMaxRelError: number | null;
}

/** Every linear layer's weight (the ones the CUDA backend lowers to linear steps) pruned to `pattern`. */
export function uniformSparsity(graph: Graph, pattern: string, ratio: number): ModelSparsity {
  const out: ModelSparsity = new Map();
  for (const d of lowerGraph(graph).linears) {
    if (out.has(d.weight)) continue;
    const t = graph.tensors.get(d.weight)!;
    const data = t.data as Float32Array;
    // MatMul weights are [K,N]: output channels on axis 1; Gemm transB weights are [N,K].
    const mask = makeMask({ data, shape: t.shape }, pattern, ratio, { axisForChannel: d.stored === 'KN' ? 1 : 0, channelMultiple: 16, weightName: d.weight });
    out.set(d.weight, { weight: d.weight, pattern: pattern as never, precision: 'fp16', shape: [...t.shape], mask });
  }
  return out;
}

/** The graph with each pruned weight's masked entries set to zero (the dense reference of a sparse model). */
export function maskedGraph(graph: Graph, sparsity: ModelSparsity): Graph {
  const g = cloneGraph(graph);
  for (const [name, ws] of sparsity) {
    const t = g.tensors.get(name)!;
    const data = Float32Array.from(t.data as Float32Array);
    for (let i = 0; i < data.length; i++) if (!ws.mask[i]) data[i] = 0;
    g.tensors.set(name, { ...t, data });
  }
  return g;
}

function kernelCounts(m: CompiledModel): Record<string, number> {
  const c: Record<string, number> = {};
  for (const p of m.plan) if (p.kernel !== 'glue') c[p.kernel] = (c[p.kernel] ?? 0) + 1;
  return c;
}

/** The worst relError over the outputs of `a`, each against its namesake in `b` (Infinity when one is missing). */
function maxRelDiff(a: Map<string, Float32Array>, b: Map<string, Float32Array>): number {
  let worst = 0;
  for (const [name, x] of a) {
    const y = b.get(name);
    worst = Math.max(worst, y ? relError(x, y) : Infinity);
  }
  return worst;
}

export async function benchCudaModel(spec: string, opts: CudaModelBenchOptions = {}): Promise<CudaModelBench> {
  if ((opts.pattern === undefined) !== (opts.sparsity === undefined)) throw new TesaError('BAD_INPUT', 'give --pattern and --sparsity together', 'for example --pattern tile:128 --sparsity 0.9');
  const graph = await loadModel(spec);
  const backend = new CudaBackend({ cacheDir: opts.cacheDir });
  backend.validate(graph);
  const device = (await backend.fingerprint()).details.gpu ?? 'GPU';
  const inputs = new Map(Object.entries(randomInputs(graph, opts.seed ?? 1))) as Map<string, Float32Array | BigInt64Array>;
  const perRound = opts.perRound ?? 20;
  const protocol = (reps: number): MeasureProtocol => ({ warmup: 5, minReps: reps, maxReps: reps, ciTarget: 0.02, timeoutMs: 600_000 });
  const sampler = (m: CompiledModel) => async (n: number) => (await backend.run(m, { protocol: protocol(n), inputs })).samplesMs;
  let t0 = performance.now();
  const dense = await backend.compile(graph);
  const denseMs = performance.now() - t0;
  const torch = await torchBertPeers(graph, inputs, perRound * 3);
  let torchMaxRelError: number | null = null;
  if (torch.output) {
    const ours = await backend.run(dense, { protocol: protocol(1), inputs, wantOutputs: true });
    torchMaxRelError = maxRelDiff(ours.outputs!, new Map([[graph.outputs[0]!, torch.output]]));
  }
  if (opts.pattern === undefined) {
    const samples = await sampler(dense)(perRound * (opts.rounds ?? 3));
    return { model: spec, device, dense: { stats: summarize(samples), kernels: kernelCounts(dense) }, sparse: null, speedup: null, compileMs: { dense: denseMs, sparse: null }, roundRatios: [], torch: torch.peers, torchMaxRelError };
  }
  const sp = uniformSparsity(graph, opts.pattern, opts.sparsity!);
  t0 = performance.now();
  const sparse = await backend.compile(graph, { sparsity: sp });
  const sparseMs = performance.now() - t0;
  const reference = await backend.compile(maskedGraph(graph, sp));
  const once = protocol(1);
  const ours = await backend.run(sparse, { protocol: once, inputs, wantOutputs: true, check: true });
  const ref = await backend.run(reference, { protocol: once, inputs, wantOutputs: true });
  await backend.release(reference);
  const res = await interleaved(sampler(dense), sampler(sparse), { rounds: opts.rounds ?? 6, perRound, warmup: 0 });
  return {
    model: spec,
    device,
    dense: { stats: res.a.stats, kernels: kernelCounts(dense) },
    sparse: { pattern: opts.pattern, sparsity: opts.sparsity!, stats: res.b.stats, kernels: kernelCounts(sparse), maxRelError: maxRelDiff(ours.outputs!, ref.outputs!), checkMaxRelError: ours.check!.maxRelError },
    speedup: res.ratio,
    compileMs: { dense: denseMs, sparse: sparseMs },
    roundRatios: res.roundRatios,
    torch: torch.peers,
    torchMaxRelError,
  };
}
