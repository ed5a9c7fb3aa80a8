/**
 * `tesa bench kernel --target cuda`: one GEMM shape with one pattern, our kernel beside
 * cuBLAS dense and (when python3 has torch) PyTorch's dense and sparse paths for the same
 * pattern, all in one run on the same masked fp16 weight. Writes a bundle (bundle.ts) into
 * the cache and runs its run.sh, then reads the runner's and the peers' JSON.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { TesaError } from '../../src/errors.js';
import { summarize, type LatencyStats } from '../../src/evaluate/stats.js';
import { cacheDir as defaultCacheDir } from '../../src/util/state-dir.js';
import { writeBenchBundle, type BundleOp } from './bundle.js';
import { cudaFingerprint } from './fingerprint.js';
import type { GemmShape } from './kernels/cuda-prelude.js';
import { engineForSm } from './lower.js';

/** One op's line of the kernel runner's (runner.cu) JSON answer. */
export interface RunnerOpResult {
  name: string;
  kind: string;
  M: number;
  N: number;
  K: number;
  unwritten: number;
  maxRelError: number | null;
  samplesMs: number[];
}

export interface RunnerResult {
  device: string;
  sm: string;
  flush: boolean;
  ops: RunnerOpResult[];
}

export interface CudaBenchSide {
  name: string;
  stats: LatencyStats;
  maxRelError: number | null;
}

export interface CudaKernelBench {
  shape: GemmShape;
  pattern: string;
  sparsity: number;
  achievedSparsity: number;
  kernel: string;
  device: string;
  ours: CudaBenchSide;
  cublas: CudaBenchSide;
  /** PyTorch's paths: dense linear and the sparse path(s) for the pattern; errors say why one is missing. */
  torch: Array<CudaBenchSide | { name: string; error: string }>;
  /** cuBLAS median / ours median (> 1: we are faster). */
  speedupVsCublas: number;
  /** Best PyTorch sparse median / ours median, null without torch. */
  speedupVsTorchSparse: number | null;
}

interface TorchRow {
  op: string;
  peer: string;
  samplesMs?: number[];
  maxRelError?: number | null;
  error?: string;
}

export interface CudaBenchOptions {
  reps?: number;
  warmup?: number;
  cacheDir?: string;
  seed?: number;
}

export async function benchCudaKernel(shape: GemmShape, pattern: string, sparsity: number, opts: CudaBenchOptions = {}): Promise<CudaKernelBench> {
  const fp = cudaFingerprint();
  if (pattern === 'dense') throw new TesaError('BAD_INPUT', '--pattern dense is the cuBLAS peer itself', 'give a sparse pattern: block:32x32, tile:128 or nm:2:4');
  const dir = join(opts.cacheDir ?? defaultCacheDir(), 'cuda', 'bench', `${fp.id}-${process.pid}-${Date.now().toString(36)}`);
  mkdirSync(dir, { recursive: true });
  try {
    const bundle = writeBenchBundle(dir, [{ shape, pattern, sparsity, tuning: { engine: engineForSm(fp.details.sm) } }], { reps: opts.reps ?? 50, warmup: opts.warmup ?? 10, seed: opts.seed ?? 1, maskedWeights: true });
    await new Promise<void>((resolve, reject) => {
      execFile('bash', [join(dir, 'run.sh')], { cwd: dir, timeout: 900_000, maxBuffer: 64 << 20 }, (err, _o, stderr) => {
        if (err) reject(new TesaError('RUN_FAILED', `CUDA kernel bench failed: ${String(stderr).trim().split('\n').slice(-3).join(' | ') || err.message}`, `bundle kept in ${dir}`));
        else resolve();
      });
    });
    const ours = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as RunnerResult;
    const torchPath = join(dir, 'torch.json');
    const torch = existsSync(torchPath) ? ((JSON.parse(readFileSync(torchPath, 'utf8')) as { results: TorchRow[] }).results ?? []) : [];
    const sparseOp = bundle.ops.find((o) => o.kind === 'lib') as BundleOp;
    const denseOp = bundle.ops.find((o) => o.kind === 'cublas') as BundleOp;
    const side = (name: string): CudaBenchSide => {
      const r = ours.ops.find((o) => o.name === name);
      if (!r) throw new TesaError('RUN_FAILED', `the runner did not time ${name} (its kernel did not build?)`, `see ${dir}/lib/*.log`);
      return { name, stats: summarize(r.samplesMs), maxRelError: r.maxRelError };
    };
    const o = side(sparseOp.name);
    const c = side(denseOp.name);
    const peers = torch
      .filter((t) => t.op === sparseOp.caseKey || t.op === denseOp.caseKey)
      .map((t) => (t.samplesMs ? { name: t.peer, stats: summarize(t.samplesMs), maxRelError: t.maxRelError ?? null } : { name: t.peer, error: t.error ?? 'unknown error' }));
    const sparsePeers = peers.filter((p): p is CudaBenchSide => 'stats' in p && p.name !== 'torch-linear-dense');
    const bestTorch = sparsePeers.length ? Math.min(...sparsePeers.map((p) => p.stats.medianMs)) : null;
    rmSync(join(dir, 'weights'), { recursive: true, force: true });
    return {
      shape,
      pattern,
      sparsity: sparseOp.sparsity,
      achievedSparsity: sparseOp.achievedSparsity,
      kernel: sparseOp.kernel,
      device: ours.device,
      ours: o,
      cublas: c,
      torch: peers,
      speedupVsCublas: c.stats.medianMs / o.stats.medianMs,
      speedupVsTorchSparse: bestTorch === null ? null : bestTorch / o.stats.medianMs,
    };
  } catch (e) {
    if (e instanceof TesaError) throw e;
    throw new TesaError('RUN_FAILED', `CUDA kernel bench failed: ${(e as Error).message}`, `bundle kept in ${dir}`);
  }
}
