/**
 * The CUDA target. Lowers each linear layer to a kernel specialised to its weight's sparsity
 * (cuBLAS for dense, generated tensor-core kernels for block:RxC and tile:G, cuSPARSELt for
 * nm:2:4), builds them with nvcc for the detected SM, and times them in the CUDA runner
 * (CUDA events, L2 flushed before each repetition), after checking each against cuBLAS on
 * the same masked weight. Scope today: graphs of linear layers only; each op is timed on
 * its own seeded input and a repetition's latency is the sum over ops (no element-wise
 * kernels, no CUDA graph of a whole model yet).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TesaError } from '../../src/errors.js';
import type { Graph } from '../../src/model/graph.js';
import { cacheDir as defaultCacheDir } from '../../src/util/state-dir.js';
import type { Backend, Capabilities, CompileOptions, CompiledModel, KernelArtifact, OpPlan, RunOptions, RunResult } from '../backend.js';
import { buildKernelLibrary, ensureCudaRunner } from './build.js';
import { cudaFingerprint, type CudaFingerprint } from './fingerprint.js';
import { toHalfArray } from './half.js';
import { cudaKernelHash, engineForSm, lowerGemm } from './lower.js';
import { planGemms } from './planner.js';

export interface CudaBackendOptions {
  cacheDir?: string;
}

/** One op's line of the runner's JSON answer. */
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

export function cudaCapabilities(): Capabilities {
  return {
    patterns: ['block', 'tile', 'nm'],
    blockShapes: [
      [16, 16],
      [16, 32],
      [32, 16],
      [32, 32],
      [64, 64],
    ],
    // fp16 tensor-core kernels only today; fp32/tf32/bf16 would go through cuBLAS once the runner carries them.
    precisions: ['fp16'],
    channelMultiple: 16,
  };
}

/** Runs the runner on a manifest; rejects with the runner's stderr tail on failure. */
export function runRunner(runner: string, manifest: string, cwd: string, timeoutMs: number): Promise<RunnerResult> {
  return new Promise((resolve, reject) => {
    execFile(runner, [manifest], { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const tail = String(stderr).trim().split('\n').slice(-3).join(' | ');
        reject(new TesaError('RUN_FAILED', `the CUDA runner failed: ${tail || err.message}`, `manifest ${join(cwd, manifest)}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as RunnerResult);
      } catch {
        reject(new TesaError('RUN_FAILED', 'the CUDA runner printed no JSON', `manifest ${join(cwd, manifest)}`));
      }
    });
  });
}

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  private readonly cacheDir: string;

  constructor(opts: CudaBackendOptions = {}) {
    this.cacheDir = join(opts.cacheDir ?? defaultCacheDir(), 'cuda');
  }

  async fingerprint(): Promise<CudaFingerprint> {
    return cudaFingerprint();
  }

  capabilities(): Capabilities {
    return cudaCapabilities();
  }

  async compile(graph: Graph, options: CompileOptions = {}): Promise<CompiledModel> {
    const fp = cudaFingerprint();
    const gemms = planGemms(graph, options.sparsity);
    const kernelsDir = join(this.cacheDir, fp.id);
    mkdirSync(kernelsDir, { recursive: true });
    const runner = await ensureCudaRunner(this.cacheDir, fp);
    const model = join(this.cacheDir, 'models', `${graph.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${Date.now().toString(36)}-${process.pid}`);
    mkdirSync(model, { recursive: true });
    const kernels: KernelArtifact[] = [];
    const plan: OpPlan[] = [];
    const lines = ['# tesa CUDA model (linear layers)'];
    let built = 0;
    let cached = 0;
    let buildMs = 0;
    for (let i = 0; i < gemms.length; i++) {
      const g = gemms[i]!;
      // wgmma kernels (gemm-gather) on Hopper, wmma elsewhere.
      const lowered = lowerGemm({ M: g.M, N: g.N, K: g.K }, g.pattern, g.mask, { engine: engineForSm(fp.details.sm) });
      const masked = new Float32Array(g.w.length);
      for (let j = 0; j < masked.length; j++) masked[j] = g.mask && !g.mask[j] ? 0 : g.w[j]!;
      const weightFile = join(model, `w${i}.f16`);
      writeFileSync(weightFile, toHalfArray(masked));
      let lib = '-';
      let hash: string | null = null;
      if (lowered.code !== null) {
        hash = cudaKernelHash(lowered.code, fp.id);
        const art = await buildKernelLibrary(kernelsDir, fp, { hash, code: lowered.code, entry: 'tesa_run', needsCusparseLt: lowered.needsCusparseLt }, options.kernelIndex);
        kernels.push(art);
        lib = art.libraryPath;
        if (art.cached) cached++;
        else built++;
        buildMs += art.buildMs;
        options.onProgress?.({ built: built + cached, total: gemms.length, cached });
      }
      lines.push(`op op${i} ${lowered.code === null ? 'cublas' : 'lib'} ${lib} ${weightFile} ${g.M} ${g.N} ${g.K}`);
      plan.push({ node: g.node, opType: 'MatMul', kernel: lowered.kernel, params: { M: g.M, N: g.N, K: g.K, pattern: g.pattern, hash, computedFraction: lowered.computedFraction, runner } });
    }
    writeFileSync(join(model, 'ops.txt'), lines.join('\n') + '\n');
    return { target: 'cuda', fingerprintId: fp.id, dir: model, kernels, plan, stats: { kernelsBuilt: built, kernelsCached: cached, buildMs } };
  }

  async run(model: CompiledModel, options: RunOptions): Promise<RunResult> {
    if (options.wantOutputs) throw new TesaError('UNSUPPORTED', 'the CUDA backend does not return model outputs yet (each op runs on its own input)', 'use check mode to compare every kernel with cuBLAS');
    const runner = model.plan[0]?.params.runner;
    if (typeof runner !== 'string') throw new TesaError('BAD_INPUT', 'this compiled model has no ops', 'compile a graph with linear layers');
    const { readFileSync } = await import('node:fs');
    const ops = readFileSync(join(model.dir, 'ops.txt'), 'utf8');
    const p = options.protocol;
    const reps = Math.max(1, p.maxReps);
    const manifest = `warmup ${p.warmup}\nreps ${reps}\nflush 1\nseed ${options.seed ?? 1}\n${ops}`;
    writeFileSync(join(model.dir, 'manifest.txt'), manifest);
    const res = await runRunner(runner, 'manifest.txt', model.dir, p.timeoutMs);
    const samplesMs: number[] = [];
    for (let r = 0; r < reps; r++) samplesMs.push(res.ops.reduce((s, o) => s + (o.samplesMs[r] ?? 0), 0));
    const out: RunResult = { samplesMs };
    if (options.check) {
      const perKernel = res.ops.map((o, i) => ({ node: model.plan[i]?.node ?? o.name, maxRelError: o.maxRelError ?? Infinity }));
      out.check = { maxRelError: Math.max(0, ...perKernel.map((k) => k.maxRelError)), perKernel };
    }
    return out;
  }

  async close(): Promise<void> {
    // nothing pooled: builds run one nvcc at a time and the runner exits after each run
  }
}
