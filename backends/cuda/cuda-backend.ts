/**
 * The CUDA target. A graph is lowered whole (model/lower-graph.ts) to a GPU program: a
 * generated glue library holding every element-wise, LayerNorm, Softmax and embedding
 * kernel (fused, shapes baked in) and the launch order, plus one kernel per linear layer
 * specialised to its weight's sparsity (cuBLASLt for dense, the sm_90a gather kernels for
 * block:RxC and tile:G, cuSPARSELt for nm:2:4), all built by nvcc for the detected SM.
 * The model runner (runner/model-runner.cu) checks each sparse linear against cuBLAS on the
 * same masked weight, captures the whole model in a CUDA graph and times graph launches
 * with CUDA events, L2 flushed before each repetition.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { TesaError } from '../../src/errors.js';
import type { Graph } from '../../src/model/graph.js';
import { randomInputs } from '../../src/model/inputs.js';
import { applyKernelCacheCap } from '../../src/util/kernel-cache-gc.js';
import { cacheDir as defaultCacheDir } from '../../src/util/state-dir.js';
import type { Backend, Capabilities, CompileOptions, CompiledModel, OpPlan, RunOptions, RunResult } from '../backend.js';
import { buildKernelLibrary, ensureCudaModelRunner } from './build.js';
import { cudaFingerprint, type CudaFingerprint } from './fingerprint.js';
import { fromHalfArray } from './half.js';
import { cudaKernelHash, engineForSm, lowerGemm } from './lower.js';
import { emitGlue } from './model/glue.js';
import { linearMathWeight, lowerGraph, type LinearSource } from './model/lower-graph.js';
import { bufferBytes, DataFileWriter, deviceBytes, readModelInfo, type CudaModelInfo } from './model/model-files.js';

export interface CudaBackendOptions {
  cacheDir?: string;
}

export function cudaCapabilities(): Capabilities {
  return {
    patterns: ['block', 'tile', 'nm', 'row', 'col'],
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
    // The kernels that beat cuBLAS on the H100 (notes/BENCHMARKS.md): tile-wise first.
    defaultPatterns: ['tile:128', 'block:32x32', 'row'],
  };
}

/** Runs `f` over `items` with at most `limit` at a time, results in order. */
async function mapLimit<T, R>(items: readonly T[], limit: number, f: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await f(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return out;
}

/** A linear layer's weight in the math view N×K and its mask there (null when dense). */
function linearWeight(graph: Graph, d: LinearSource, sparsity: CompileOptions['sparsity']): { w: Float32Array; mask: Uint8Array | null; pattern: string } {
  const ws = sparsity?.get(d.weight);
  const dense = !ws || ws.pattern === 'dense';
  return { ...linearMathWeight(graph, d, dense ? undefined : ws.mask), pattern: ws?.pattern ?? 'dense' };
}

export class CudaBackend implements Backend {
  readonly name = 'cuda';
  private readonly cacheDir: string;
  private readonly buildJobs: number;
  /** Kernel hashes of every model compiled and not yet released, by folder: the cache cap spares them. */
  private readonly live = new Map<string, Set<string>>();

  constructor(opts: CudaBackendOptions = {}) {
    this.cacheDir = join(opts.cacheDir ?? defaultCacheDir(), 'cuda');
    this.buildJobs = Math.max(1, Math.min(16, cpus().length));
  }

  async fingerprint(): Promise<CudaFingerprint> {
    return cudaFingerprint();
  }

  capabilities(): Capabilities {
    return cudaCapabilities();
  }

  validate(graph: Graph): void {
    lowerGraph(graph);
  }

  async compile(graph: Graph, options: CompileOptions = {}): Promise<CompiledModel> {
    const fp = cudaFingerprint();
    const program = lowerGraph(graph);
    const kernelsDir = join(this.cacheDir, fp.id);
    mkdirSync(kernelsDir, { recursive: true });
    const runner = await ensureCudaModelRunner(this.cacheDir, fp);
    const model = join(this.cacheDir, 'models', `${graph.name.replace(/[^A-Za-z0-9_.-]+/g, '_')}-${Date.now().toString(36)}-${process.pid}`);
    mkdirSync(model, { recursive: true });
    const data = new DataFileWriter(join(model, 'data.bin'));
    const lines: string[] = [`# tesa CUDA model ${graph.name}: ${program.steps.length} steps, ${program.linears.length} linear layers`, `data ${join(model, 'data.bin')}`];
    const inputs: CudaModelInfo['inputs'] = [];
    const defaults = randomInputs(graph, 1);
    try {
      for (const b of program.buffers) {
        const bytes = bufferBytes(b);
        if (b.data) lines.push(`buffer ${b.id} ${bytes} const ${data.append(deviceBytes(b.dtype, b.data))}`);
        else lines.push(`buffer ${b.id} ${bytes}`);
      }
      for (const inp of program.inputs) {
        const file = join(model, `input-${inp.buf}.bin`);
        writeFileSync(file, deviceBytes(inp.dtype, defaults[inp.name]!));
        inputs.push({ ...inp, defaultFile: file });
      }
      const engine = engineForSm(fp.details.sm ?? '');
      const lowered = program.linears.map((d) => {
        const { w, mask, pattern } = linearWeight(graph, d, options.sparsity);
        let l = lowerGemm({ M: d.M, N: d.N, K: d.K }, pattern, mask, { engine, nmLayout: 'feature-major' });
        // The model path keeps activations feature-major; the wmma kernels (pre-Hopper) take
        // token-major ones, so there the layer runs dense on its masked weight.
        const fallback = l.kernel === 'gemm-block' || l.kernel === 'gemm-tile';
        if (fallback) l = { kernel: 'cublas-dense', code: null, needsCusparseLt: false, computedFraction: 1 };
        const masked = mask ? w.map((x, i) => (mask[i] ? x : 0)) : w;
        const offset = data.append(deviceBytes('f16', masked));
        return { d, l, pattern, offset, fallback, hash: l.code === null ? null : cudaKernelHash(l.code, fp.id) };
      });
      const glue = emitGlue(program, graph.name);
      const jobs: Array<{ hash: string; code: string; needsCusparseLt: boolean; entry: string }> = [{ hash: cudaKernelHash(glue.code, fp.id), code: glue.code, needsCusparseLt: false, entry: 'tesa_model_run' }];
      for (const x of lowered) if (x.hash !== null && x.l.code !== null) jobs.push({ hash: x.hash, code: x.l.code, needsCusparseLt: x.l.needsCusparseLt, entry: 'tesa_run' });
      const unique = [...new Map(jobs.map((j) => [j.hash, j])).values()];
      let done = 0;
      let fromCache = 0;
      // nvcc runs are independent processes: as many at once as there are cores (16 on the H100 host).
      const arts = await mapLimit(unique, this.buildJobs, async (j) => {
        const art = await buildKernelLibrary(kernelsDir, fp, j, options.kernelIndex);
        done++;
        if (art.cached) fromCache++;
        options.onProgress?.({ built: done, total: unique.length, cached: fromCache });
        return art;
      });
      const byHash = new Map(arts.map((a) => [a.hash, a]));
      const plan: OpPlan[] = [];
      for (const x of lowered) {
        const lib = x.hash ? byHash.get(x.hash)!.libraryPath : '-';
        lines.push(`linear ${x.d.index} ${x.hash ? 'lib' : 'cublas'} ${lib} ${x.d.M} ${x.d.N} ${x.d.K} ${x.offset}`);
        plan.push({ node: x.d.node, opType: 'MatMul', kernel: x.l.kernel, params: { M: x.d.M, N: x.d.N, K: x.d.K, pattern: x.pattern, hash: x.hash, computedFraction: x.l.computedFraction, ...(x.fallback ? { fallback: 'no feature-major sparse kernel on this SM: dense on the masked weight' } : {}) } });
      }
      const glueArt = byHash.get(jobs[0]!.hash)!;
      lines.push(`glue ${glueArt.libraryPath}`);
      plan.push({ node: '(glue)', opType: 'Model', kernel: 'glue', params: { steps: program.steps.length, kernels: glue.kernels, hash: glueArt.hash } });
      writeFileSync(join(model, 'model.txt'), lines.join('\n') + '\n');
      const info: CudaModelInfo = { runner, inputs, outputs: program.outputs, linearNodes: program.linears.map((d) => d.node) };
      writeFileSync(join(model, 'model.json'), JSON.stringify(info, null, 1));
      const built = arts.filter((a) => !a.cached).length;
      this.live.set(model, new Set(arts.map((a) => a.hash)));
      applyKernelCacheCap(options.kernelIndex, new Set([...this.live.values()].flatMap((h) => [...h])));
      return { target: 'cuda', fingerprintId: fp.id, dir: model, kernels: arts, plan, stats: { kernelsBuilt: built, kernelsCached: arts.length - built, buildMs: arts.reduce((s, a) => s + a.buildMs, 0) } };
    } finally {
      data.close();
    }
  }

  async run(model: CompiledModel, options: RunOptions): Promise<RunResult> {
    const info = readModelInfo(model.dir);
    const p = options.protocol;
    const reps = Math.max(1, p.maxReps);
    const tag = `${process.pid}-${Date.now().toString(36)}`;
    const lines = [`warmup ${p.warmup}`, `reps ${reps}`, 'flush 1', 'graph 1', `check ${options.check ? 1 : 0}`, readFileSync(join(model.dir, 'model.txt'), 'utf8').trimEnd()];
    const temp: string[] = [];
    for (const inp of info.inputs) {
      const given = options.inputs?.get(inp.name);
      if (given) {
        const file = join(model.dir, `input-${inp.buf}-${tag}.bin`);
        writeFileSync(file, deviceBytes(inp.dtype, given));
        temp.push(file);
        lines.push(`input ${inp.buf} ${file}`);
      } else lines.push(`input ${inp.buf} ${inp.defaultFile}`);
    }
    const outFiles = new Map<string, string>();
    if (options.wantOutputs) {
      for (const o of info.outputs) {
        const file = join(model.dir, `output-${o.buf}-${tag}.bin`);
        outFiles.set(o.name, file);
        temp.push(file);
        lines.push(`output ${o.buf} ${file}`);
      }
    }
    const manifest = `manifest-${tag}.txt`;
    writeFileSync(join(model.dir, manifest), lines.join('\n') + '\n');
    temp.push(join(model.dir, manifest));
    try {
      const res = await runModelRunner(info.runner, manifest, model.dir, p.timeoutMs);
      const out: RunResult = { samplesMs: res.samplesMs };
      if (options.wantOutputs) {
        out.outputs = new Map();
        for (const [name, file] of outFiles) {
          const raw = readFileSync(file);
          out.outputs.set(name, fromHalfArray(new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2)));
        }
      }
      if (options.check) {
        const perKernel = res.linears.filter((l) => l.kind !== 'cublas').map((l) => ({ node: info.linearNodes[l.j] ?? `linear ${l.j}`, maxRelError: l.maxRelError ?? Infinity }));
        out.check = { maxRelError: Math.max(0, ...perKernel.map((k) => k.maxRelError)), perKernel };
      }
      return out;
    } finally {
      for (const f of temp) rmSync(f, { force: true });
    }
  }

  async release(model: CompiledModel): Promise<void> {
    this.live.delete(model.dir);
    rmSync(model.dir, { recursive: true, force: true });
  }

  async close(): Promise<void> {
    // nothing pooled: builds are child processes and the runner exits after each run
  }
}

/** The model runner's JSON answer. */
export interface ModelRunnerResult {
  device: string;
  sm: string;
  flush: boolean;
  graph: boolean;
  samplesMs: number[];
  linears: Array<{ j: number; kind: string; algoUs?: number; maxRelError: number | null; unwritten: number }>;
  initMs: number;
}

function runModelRunner(runner: string, manifest: string, cwd: string, timeoutMs: number): Promise<ModelRunnerResult> {
  return new Promise((resolve, reject) => {
    execFile(runner, [manifest], { cwd, timeout: timeoutMs, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const tail = String(stderr).trim().split('\n').slice(-3).join(' | ');
        reject(new TesaError('RUN_FAILED', `the CUDA model runner failed: ${tail || err.message}`, `manifest ${join(cwd, manifest)}`));
        return;
      }
      try {
        resolve(JSON.parse(stdout) as ModelRunnerResult);
      } catch {
        reject(new TesaError('RUN_FAILED', 'the CUDA model runner printed no JSON', `manifest ${join(cwd, manifest)}`));
      }
    });
  });
}
