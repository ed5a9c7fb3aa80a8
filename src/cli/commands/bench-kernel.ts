/**
 * `tesa bench kernel --op matmul --shape MxNxK`: our dense GEMM (Y[M,N] = X[M,K]·Wᵀ with the
 * weight W[N,K] a constant, as a Linear layer) beside onnxruntime-node's MatMul and OpenBLAS
 * `cblas_sgemm` (only when libopenblas links; tesa never needs it), timed round-robin in one
 * run. `benchDenseGemm` returns the numbers for other benches (sparse) to reuse.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import seedrandom from 'seedrandom';
import { TesaError } from '../../errors.js';
import type { Graph, Tensor } from '../../model/graph.js';
import { createOrtSession } from '../../model/ort.js';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { findCompiler } from '../../../backends/cpu/fingerprint.js';
import { summarize, type LatencyStats } from '../../evaluate/stats.js';
import { converged, type Sampler } from '../../evaluate/measure.js';
import { cacheDir as defaultCacheDir } from '../../util/state-dir.js';
import { addJsonOption, parseCount, parseDims, printJson } from '../options.js';
import { table } from '../format.js';
import { relError } from '../../evaluate/rel-error.js';
import { ortSampler, side, type BenchSide } from './bench.js';
import { printCudaKernelBench } from '../../../backends/cuda/bench-cli.js';
import { runSparseKernelBench } from './bench-sparse.js';
import { runInt8KernelBench } from '../../../backends/cpu/kernels/int8/bench.js';
import { parsePattern, parseRatio } from '../../prune/pattern.js';

export interface GemmShape {
  M: number;
  N: number;
  K: number;
}

export interface DenseGemmBench {
  shape: GemmShape;
  threads: number;
  isa: string;
  ours: BenchSide;
  onnxruntime: BenchSide;
  openblas: BenchSide | null;
  /** Why OpenBLAS is missing, when it is. */
  openblasNote: string | null;
  /** GFLOP/s of each at its median. */
  gflops: { ours: number; onnxruntime: number; openblas: number | null };
  /** ours / peer, by median time (< 1 means we are faster). */
  ratio: { vsOnnxruntime: number; vsOpenblas: number | null };
  maxRelError: number;
}

export function parseGemmShape(text: string): GemmShape {
  const d = parseDims(text, '--shape');
  if (d.length !== 3) throw new TesaError('BAD_INPUT', `--shape '${text}': expected MxNxK`, 'for example --shape 128x768x768');
  // X, W and Y in fp32, several copies (ours, onnxruntime, OpenBLAS): past a quarter of the
  // memory the bench would swap or be killed instead of answering.
  const bytes = 4 * (d[0] * d[2] + d[1] * d[2] + d[0] * d[1]);
  const limit = Math.min(4 * 2 ** 30, totalmem() / 4);
  if (bytes > limit) throw new TesaError('BAD_INPUT', `--shape '${text}': its matrices need ${(bytes / 2 ** 30).toFixed(1)} GiB, more than bench kernel allows here (${(limit / 2 ** 30).toFixed(1)} GiB)`, 'for example --shape 128x768x768');
  return { M: d[0], N: d[1], K: d[2] };
}

/** A one-MatMul graph: input X[M,K] times the constant Wᵀ ([K,N], from a seeded N×K weight). */
export function gemmGraph(shape: GemmShape, seed = 7): Graph {
  const rng = seedrandom(String(seed));
  const w = new Float32Array(shape.K * shape.N);
  for (let i = 0; i < w.length; i++) w[i] = rng() * 2 - 1;
  const tensors = new Map<string, Tensor>([
    ['X', { name: 'X', dtype: 'float32', shape: [shape.M, shape.K] }],
    ['W', { name: 'W', dtype: 'float32', shape: [shape.K, shape.N], data: w }],
    ['Y', { name: 'Y', dtype: 'float32', shape: [shape.M, shape.N] }],
  ]);
  return { name: `gemm_${shape.M}x${shape.N}x${shape.K}`, inputs: ['X'], outputs: ['Y'], tensors, nodes: [{ name: 'MatMul_0', opType: 'MatMul', domain: '', inputs: ['X', 'W'], outputs: ['Y'], attrs: {} }], opsetVersion: 17 };
}

const OPENBLAS_BENCH_C = `/* tesa: times cblas_sgemm C[M,N] = A[M,K]·B[K,N]; prints {"samplesMs":[...]} */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }
int main(int argc, char **argv) {
  if (argc < 6) return 2;
  int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), warm = atoi(argv[4]), reps = atoi(argv[5]);
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N), *c = malloc(sizeof(float) * M * N);
  for (long i = 0; i < (long)M * K; i++) a[i] = (float)((i * 7919) % 1000) / 1000.0f - 0.5f;
  for (long i = 0; i < (long)K * N; i++) b[i] = (float)((i * 104729) % 1000) / 1000.0f - 0.5f;
  for (int r = 0; r < warm; r++) cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
  printf("{\\"samplesMs\\":[");
  for (int r = 0; r < reps; r++) {
    double t0 = now_ms();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, a, K, b, N, 0.0f, c, N);
    printf(r ? ",%.6f" : "%.6f", now_ms() - t0);
  }
  printf("]}\\n");
  return 0;
}
`;

/** Builds the OpenBLAS timing program if libopenblas links; null (with why) otherwise. */
export async function openblasBench(cacheDir: string): Promise<{ path: string | null; note: string | null }> {
  const dir = join(cacheDir, 'openblas-bench');
  const exe = join(dir, 'sgemm-bench');
  if (existsSync(exe)) return { path: exe, note: null };
  mkdirSync(dir, { recursive: true });
  const src = join(dir, 'sgemm-bench.c');
  writeFileSync(src, OPENBLAS_BENCH_C);
  let cc: string;
  try {
    cc = findCompiler().path;
  } catch (e) {
    return { path: null, note: (e as Error).message };
  }
  return new Promise((resolve) => {
    execFile(cc, ['-O2', '-I/usr/include/x86_64-linux-gnu', '-I/usr/include/openblas', '-o', exe, src, '-lopenblas'], { timeout: 60_000 }, (err) => {
      if (err) resolve({ path: null, note: 'OpenBLAS not installed (apt-get install libopenblas-dev to compare with it)' });
      else resolve({ path: exe, note: null });
    });
  });
}

function openblasSampler(exe: string, shape: GemmShape, threads: number): Sampler {
  return (n) =>
    new Promise((resolve, reject) => {
      execFile(exe, [String(shape.M), String(shape.N), String(shape.K), '2', String(n)], { env: { ...process.env, OPENBLAS_NUM_THREADS: String(threads) }, timeout: 120_000 }, (err, stdout) => {
        if (err) reject(new TesaError('RUN_FAILED', `OpenBLAS bench failed: ${err.message}`, 'reinstall libopenblas-dev'));
        else resolve((JSON.parse(stdout) as { samplesMs: number[] }).samplesMs);
      });
    });
}

export interface BenchGemmOptions {
  threads?: number;
  isa?: string;
  cacheDir?: string;
  /** Round-robin rounds (each times every side perRound times). */
  rounds?: number;
  perRound?: number;
}

/** Round-robin over samplers (A B C A B C …) until each median is known to ±2% or `rounds`. */
export async function roundRobin(samplers: Sampler[], rounds: number, perRound: number): Promise<LatencyStats[]> {
  const samples = samplers.map(() => [] as number[]);
  for (const s of samplers) await s(2);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < samplers.length; i++) samples[i].push(...(await samplers[i](perRound)));
    if (r >= 2 && samples.every((s) => converged(s, 0.02))) break;
  }
  return samples.map((s) => summarize(s));
}

export async function benchDenseGemm(shape: GemmShape, opts: BenchGemmOptions = {}): Promise<DenseGemmBench> {
  const threads = opts.threads ?? 1;
  const cacheDir = opts.cacheDir ?? defaultCacheDir();
  const graph = gemmGraph(shape);
  const backend = new CpuBackend({ threads, isa: opts.isa, cacheDir });
  const ort = await createOrtSession(graph, { threads });
  const blas = await openblasBench(cacheDir);
  try {
    const model = await backend.compile(graph);
    const rng = seedrandom('x');
    const x = new Float32Array(shape.M * shape.K);
    for (let i = 0; i < x.length; i++) x[i] = rng() * 2 - 1;
    const session = await backend.openSession(model, { X: x });
    try {
      await session.time(1);
      const ours = (await session.outputs()).get('Y')!;
      const theirs = (await ort.run({ X: x })).get('Y')!;
      const maxRelError = relError(ours, theirs.data as unknown as ArrayLike<number>);
      const samplers: Sampler[] = [(n) => session.time(n), ortSampler(() => ort.run({ X: x }))];
      if (blas.path) samplers.push(openblasSampler(blas.path, shape, threads));
      const perRound = opts.perRound ?? 10;
      const stats = await roundRobin(samplers, opts.rounds ?? 10, perRound);
      const flop = 2 * shape.M * shape.N * shape.K;
      const gf = (s: LatencyStats): number => flop / (s.medianMs * 1e6);
      const ob = blas.path ? stats[2] : null;
      return {
        shape,
        threads,
        isa: (await backend.fingerprint()).isa,
        ours: side(stats[0]),
        onnxruntime: side(stats[1]),
        openblas: ob ? side(ob) : null,
        openblasNote: blas.note,
        gflops: { ours: gf(stats[0]), onnxruntime: gf(stats[1]), openblas: ob ? gf(ob) : null },
        ratio: { vsOnnxruntime: stats[0].medianMs / stats[1].medianMs, vsOpenblas: ob ? stats[0].medianMs / ob.medianMs : null },
        maxRelError,
      };
    } finally {
      await session.close();
    }
  } finally {
    await ort.release();
    await backend.close();
  }
}

const ms = (x: number): string => x.toFixed(4);

/**
 * Every `bench kernel` option checked before any work, on every path (dense, sparse, int8,
 * cuda): an option the chosen path would ignore (--sparsity without --pattern, --outliers
 * without int8) is an error too, since the user believes it took effect.
 */
export function checkKernelBenchOptions(o: { op: string; shape: string; pattern?: string; sparsity?: string; precision?: string; outliers?: string; isa?: string; target: string }): void {
  if (o.target !== 'cpu' && o.target !== 'cuda') throw new TesaError('BAD_INPUT', `--target '${o.target}' is not supported by bench kernel`, 'use --target cpu or --target cuda');
  if (o.op.toLowerCase() !== 'matmul') throw new TesaError('BAD_INPUT', `--op '${o.op}' is not supported`, 'use --op matmul');
  parseGemmShape(o.shape);
  if (o.pattern !== undefined) parsePattern(o.pattern, '--pattern');
  if (o.sparsity !== undefined) {
    if (o.pattern === undefined) throw new TesaError('BAD_INPUT', '--sparsity needs --pattern (it is the pruned fraction of that pattern)', 'for example --pattern block:1x32 --sparsity 0.8, or drop --sparsity for the dense GEMM');
    if (o.target === 'cpu') parseRatio(o.sparsity, '--sparsity');
  }
  const precisions = o.target === 'cuda' ? ['fp16'] : ['fp32', 'int8'];
  if (o.precision !== undefined && !precisions.includes(o.precision)) {
    throw new TesaError('BAD_INPUT', `--precision '${o.precision}' is not a precision bench kernel times on ${o.target}`, `use --precision ${precisions.join(' or ')}`);
  }
  if (o.outliers !== undefined) {
    if (o.precision !== 'int8') throw new TesaError('BAD_INPUT', '--outliers needs --precision int8', 'for example --precision int8 --outliers 0.01');
    parseRatio(o.outliers, '--outliers');
  }
  if (o.isa !== undefined) {
    const isas = o.target === 'cuda' ? [] : o.precision === 'int8' ? ['avx512', 'vnni', 'avx2'] : o.pattern !== undefined ? ['avx512', 'avx2'] : ['avx512', 'avx2', 'generic'];
    if (!isas.includes(o.isa)) throw new TesaError('BAD_INPUT', `--isa '${o.isa}' is not an ISA of this ${o.target === 'cuda' ? 'cuda' : o.precision === 'int8' ? 'int8' : o.pattern !== undefined ? 'sparse' : 'dense'} kernel bench`, isas.length ? `use --isa ${isas.join(', ')}` : 'drop --isa with --target cuda');
  }
}

export function register(bench: Command): void {
  addJsonOption(
    bench
      .command('kernel')
      .description('one dense GEMM: ours vs onnxruntime-node MatMul vs OpenBLAS cblas_sgemm (when installed)')
      .option('--op <op>', 'the op to time (matmul)', 'matmul')
      .requiredOption('--shape <MxNxK>', 'M tokens, N output features, K input features (weight N×K)')
      .option('--threads <n>', 'threads for every side (default 1)', (v) => parseCount(v, '--threads', 1))
      .option('--isa <isa>', 'force the micro-kernel ISA: avx512, avx2 or generic')
      .option('--pattern <pattern>', 'time our sparse kernel for a weight pruned with this pattern (bench-sparse.ts)')
      .option('--sparsity <ratio>', 'pruned fraction for --pattern, e.g. 0.8 or 80%')
      .option('--precision <p>', 'precision for --pattern (fp32), or int8 (dense, or --pattern block:RxC)')
      .option('--outliers <fraction>', 'with --precision int8: fraction of kept weights left in fp32 (mixed decomposition), e.g. 0.01')
      .option('--target <target>', 'cpu (default) or cuda (fp16 on the GPU, beside cuBLAS and PyTorch)', 'cpu'),
  ).action(async (o: { op: string; shape: string; threads?: number; isa?: string; json?: boolean; pattern?: string; sparsity?: string; precision?: string; target: string; outliers?: string }) => {
    checkKernelBenchOptions(o);
    if (o.target === 'cuda') return printCudaKernelBench(parseGemmShape(o.shape), o.pattern, o.sparsity, o.json === true);
    if (o.precision === 'int8') return runInt8KernelBench(o);
    if (o.pattern !== undefined) return runSparseKernelBench({ ...o, pattern: o.pattern });
    const shape = parseGemmShape(o.shape);
    const r = await benchDenseGemm(shape, { threads: o.threads, isa: o.isa });
    if (o.json) {
      printJson(r);
      return;
    }
    const row = (name: string, s: BenchSide | null, g: number | null): string[] => (s ? [name, ms(s.medianMs), ms(s.ciLowMs), ms(s.ciHighMs), (g ?? 0).toFixed(1)] : [name, '-', '-', '-', '-']);
    process.stdout.write(
      `matmul ${shape.M}x${shape.N}x${shape.K}, ${r.threads} thread(s), ${r.isa}\n` +
        table(['', 'median ms', 'CI low', 'CI high', 'GFLOP/s'], [row('ours', r.ours, r.gflops.ours), row('onnxruntime', r.onnxruntime, r.gflops.onnxruntime), row('openblas', r.openblas, r.gflops.openblas)]) +
        `\n${r.openblasNote ? `note: ${r.openblasNote}\n` : ''}ours/onnxruntime ${r.ratio.vsOnnxruntime.toFixed(3)}${r.ratio.vsOpenblas !== null ? `, ours/openblas ${r.ratio.vsOpenblas.toFixed(3)}` : ''}; max relative error vs onnxruntime ${r.maxRelError.toExponential(2)}\n`,
    );
  });
}
