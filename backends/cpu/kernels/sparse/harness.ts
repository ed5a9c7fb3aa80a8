/**
 * A standalone microbenchmark for sparse GEMM kernels: links several lowered kernels, a naive
 * reference and (when installed) OpenBLAS `cblas_sgemm` into one C program built with
 * -O3 -march=native, checks every kernel against the reference on seeded random inputs,
 * then times all contenders interleaved (A B C A B C …) on one thread so drift hits each alike.
 * Used by the plan picker, `tesa bench kernel --pattern` and `tesa bench sweep`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TesaError } from '../../../../src/errors.js';
import type { LoweredSparseGemm } from './families.js';
import type { SparseGemmProblem } from './structure.js';
import type { VectorIsa } from './isa.js';
import type { OpPlan } from '../../../backend.js';
import { lowerGemm, type GemmParams } from '../gemm-dense.js';
import { checkErrorsC, NOW_MS_C, timingLoopC } from '../bench-timing.js';

/** The backend's own dense GEMM for Y = X·W with W stored [K,N] (what a MatMul lowers to). */
export function backendDenseGemm(prob: SparseGemmProblem, isa: VectorIsa): { code: string; stateBytes: number; hasInit: boolean } {
  const { m: M, n: N, k: K } = prob;
  const params: GemmParams = { batch: 1, M, N, K, aOff: [0], sam: K, sak: 1, bOff: [0], sbk: N, sbn: 1, im2col: null, bConst: true, cOff: [0], epilogue: [], operands: [] };
  const plan: OpPlan = {
    node: 'dense', opType: 'MatMul', kernel: 'gemm-dense',
    params: { ...params, inputRefs: [{ name: 'X', dtype: 'float32', shape: [M, K] }, { name: 'W', dtype: 'float32', shape: [K, N] }], outputRefs: [{ name: 'Y', dtype: 'float32', shape: [M, N] }] },
  };
  const l = lowerGemm(plan, { isa, threads: 1 });
  return { code: l.code, stateBytes: l.stateBytes, hasInit: l.hasInit };
}

const run = promisify(execFile);

export interface HarnessOptions {
  /** timed calls per contender (after warm-up) */
  reps?: number;
  warmup?: number;
  /** add OpenBLAS's dense sgemm as a contender when the library is installed */
  openblas?: boolean;
  /** seed of the random X */
  seed?: number;
  /** stop timing after this many ms in all */
  budgetMs?: number;
  /** keep the build folder (for reading the generated code) */
  keepDir?: boolean;
  /** add the backend's dense GEMM (gemm-dense, weight as MatMul [K,N]) as contender 'dense' */
  backendDense?: boolean;
  /** ISA for the backend's dense GEMM */
  isa?: VectorIsa;
  /** optimisation level (default 3; tests of correctness may build faster with 1) */
  optLevel?: 1 | 2 | 3;
}

export interface ContenderResult {
  name: string;
  samplesMs: number[];
  /** max |y - ref| / max |ref| over the output; null for peers checked elsewhere */
  maxRelError: number | null;
}

export interface HarnessResult {
  contenders: ContenderResult[];
  /** the backend's dense GEMM, when asked for */
  dense: ContenderResult | null;
  /** null when OpenBLAS was asked for and is not installed */
  openblas: ContenderResult | null;
  openblasNote?: string;
  dir?: string;
}

const OPENBLAS_HEADER = ['/usr/include/x86_64-linux-gnu/cblas.h', '/usr/include/cblas.h', '/usr/include/openblas/cblas.h'];

export function openblasAvailable(): boolean {
  return OPENBLAS_HEADER.some((h) => existsSync(h)) && ['/usr/lib/x86_64-linux-gnu/libopenblas.so', '/usr/lib/libopenblas.so', '/usr/lib64/libopenblas.so'].some((l) => existsSync(l));
}

function mainSource(prob: SparseGemmProblem, kernels: LoweredSparseGemm[], withBlas: boolean, o: Required<Pick<HarnessOptions, 'reps' | 'warmup' | 'seed' | 'budgetMs'>>, dense: { stateBytes: number; hasInit: boolean } | null): string {
  const decls = kernels.map((k) => `void ${k.entry}(const float *x, const float *w, float *y);`).join('\n') +
    (dense ? `\nvoid tesa_kernel(const void *const *in, void *const *out, void *state);\n${dense.hasInit ? 'void tesa_kernel_init(const void *const *in, void *state);\n' : ''}static void *dstate;` : '');
  const names = [...kernels.map((k) => k.entry), ...(dense ? ['dense'] : []), ...(withBlas ? ['openblas'] : [])];
  const nc = names.length;
  const calls = kernels
    .map((k, i) => `    case ${i}: ${k.entry}(x, wv[${i}], y); break;`)
    .join('\n') + (dense ? `\n    case ${kernels.length}: { const void *in[2] = { x, wkn }; void *out[1] = { y }; tesa_kernel(in, out, dstate); break; }` : '');
  return `#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <stdint.h>
${withBlas ? '#include <cblas.h>\nvoid openblas_set_num_threads(int);' : ''}
${decls}
#define M ${prob.m}
#define N ${prob.n}
#define K ${prob.k}
#define NC ${nc}
static const char *names[NC] = { ${names.map((n) => `"${n}"`).join(', ')} };

static float *load(const char *path, size_t count) {
  float *p = aligned_alloc(64, ((count * sizeof(float)) + 63) / 64 * 64 + 64);
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\\n", path); exit(3); }
  if (count && fread(p, sizeof(float), count, f) != count) { fprintf(stderr, "short read %s\\n", path); exit(3); }
  fclose(f);
  return p;
}
${NOW_MS_C}

static float *wv[NC];
static float *wkn; /* masked W stored [K][N] for the BLAS peer */
static void call(int c, const float *x, float *y) {
  switch (c) {
${calls}
${withBlas ? `    default: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, wkn, N, 0.0f, y, N); break;` : '    default: break;'}
  }
}

int main(int argc, char **argv) {
  (void)argc;
  ${withBlas ? 'openblas_set_num_threads(1);' : ''}
  const char *dir = argv[1];
  char path[4096];
  static const size_t counts[${Math.max(1, kernels.length)}] = { ${kernels.map((k) => k.values.length).join(', ') || '0'} };
  for (int c = 0; c < ${kernels.length}; c++) { snprintf(path, sizeof path, "%s/w%d.bin", dir, c); wv[c] = load(path, counts[c]); }
  snprintf(path, sizeof path, "%s/wmasked.bin", dir);
  float *wm = load(path, (size_t)N * K); /* masked W[N][K] */
  wkn = aligned_alloc(64, (size_t)N * K * sizeof(float));
  for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) wkn[(size_t)k * N + n] = wm[(size_t)n * K + k];
${dense ? `  dstate = aligned_alloc(64, ${Math.ceil(Math.max(64, dense.stateBytes) / 64) * 64});\n${dense.hasInit ? '  { const void *in[2] = { NULL, wkn }; tesa_kernel_init(in, dstate); }\n' : ''}` : ''}  float *x = aligned_alloc(64, ((size_t)M * K * sizeof(float) + 63) / 64 * 64);
  float *y = aligned_alloc(64, ((size_t)M * N * sizeof(float) + 63) / 64 * 64);
  double *ref = malloc((size_t)M * N * sizeof(double));
  uint64_t s = ${o.seed >>> 0}ull * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < (size_t)M * K; i++) { s = s * 6364136223846793005ull + 1442695040888963407ull; x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0); }
  double refmax = 0;
  for (int m = 0; m < M; m++) for (int n = 0; n < N; n++) {
    double a = 0;
    for (int k = 0; k < K; k++) a += (double)x[(size_t)m * K + k] * wm[(size_t)n * K + k];
    ref[(size_t)m * N + n] = a;
    if (fabs(a) > refmax) refmax = fabs(a);
  }
  if (refmax == 0) refmax = 1;
${checkErrorsC()}${timingLoopC({ ...o, call: 'call(c, x, y)' })}  printf("}\\n");
  return 0;
}
`;
}

/** Builds the kernels with the harness, checks them, times them. Throws BUILD_FAILED / RUN_FAILED. */
export async function benchSparseKernels(prob: SparseGemmProblem, kernels: LoweredSparseGemm[], opts: HarnessOptions = {}): Promise<HarnessResult> {
  const o = { reps: opts.reps ?? 40, warmup: opts.warmup ?? 3, seed: opts.seed ?? 1, budgetMs: opts.budgetMs ?? 4000 };
  const withBlas = (opts.openblas ?? false) && openblasAvailable();
  const dense = opts.backendDense ? backendDenseGemm(prob, opts.isa ?? 'avx2') : null;
  const dir = mkdtempSync(join(tmpdir(), 'tesa-sparse-'));
  try {
    const files: string[] = [];
    kernels.forEach((k, i) => {
      const f = join(dir, `${k.entry}.c`);
      writeFileSync(f, k.code);
      files.push(f);
      writeFileSync(join(dir, `w${i}.bin`), Buffer.from(k.values.buffer, k.values.byteOffset, k.values.byteLength));
    });
    const wm = new Float32Array(prob.n * prob.k);
    for (let i = 0; i < wm.length; i++) wm[i] = prob.mask[i] ? prob.weight[i]! : 0;
    writeFileSync(join(dir, 'wmasked.bin'), Buffer.from(wm.buffer));
    const mainC = join(dir, 'main.c');
    writeFileSync(mainC, mainSource(prob, kernels, withBlas, o, dense));
    if (dense) {
      writeFileSync(join(dir, 'dense.c'), dense.code);
      files.push(join(dir, 'dense.c'));
    }
    const exe = join(dir, 'bench');
    const args = [`-O${opts.optLevel ?? 3}`, '-march=native', '-std=gnu11', '-fopenmp-simd', '-o', exe, mainC, ...files, '-lm', ...(withBlas ? ['-lopenblas'] : [])];
    try {
      await run(process.env.CC ?? 'cc', args, { maxBuffer: 64 << 20, timeout: 600_000 });
    } catch (e) {
      const err = e as { stderr?: string };
      throw new TesaError('BUILD_FAILED', `sparse kernel harness did not compile: ${(err.stderr ?? String(e)).split('\n').slice(0, 5).join(' ')}`, `the generated code is in ${dir}`);
    }
    let stdout: string;
    try {
      ({ stdout } = await run(exe, [dir], { maxBuffer: 64 << 20, timeout: Math.max(60_000, o.budgetMs * 4), env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } }));
    } catch (e) {
      throw new TesaError('RUN_FAILED', `sparse kernel harness failed: ${String((e as Error).message).split('\n')[0]}`, `the generated code is in ${dir}`);
    }
    const parsed = JSON.parse(stdout) as { errors: number[]; samples: Record<string, number[]> };
    const contenders = kernels.map((k, i) => ({ name: k.entry, samplesMs: parsed.samples[k.entry] ?? [], maxRelError: parsed.errors[i] ?? null }));
    const nk = kernels.length;
    const denseRes = dense ? { name: 'dense', samplesMs: parsed.samples.dense ?? [], maxRelError: parsed.errors[nk] ?? null } : null;
    const blas = withBlas ? { name: 'openblas', samplesMs: parsed.samples.openblas ?? [], maxRelError: parsed.errors[nk + (dense ? 1 : 0)] ?? null } : null;
    return {
      contenders,
      dense: denseRes,
      openblas: blas,
      openblasNote: opts.openblas && !withBlas ? 'OpenBLAS not installed (apt-get install libopenblas-dev)' : undefined,
      dir: opts.keepDir ? dir : undefined,
    };
  } finally {
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}
