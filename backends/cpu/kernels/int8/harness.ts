/**
 * Standalone microbenchmark for int8 GEMM kernels: links the lowered int8 kernels, the CPU
 * backend's own fp32 dense GEMM (gemm-dense lowered standalone, weight packed at init) and,
 * when installed, OpenBLAS `cblas_sgemm` into one C program (-O3 -march=native, one thread).
 *
 * Checks, per int8 kernel, on seeded inputs:
 *  - intError: against an integer reference that quantizes X the same way and accumulates
 *    Σ xq·q exactly in int64 (the int8 arithmetic must be exact; only the float epilogue rounds);
 *  - quantError: ‖y − y_fp64‖/‖y_fp64‖ against the fp32 weight (the quantization error).
 * Then times every contender interleaved (A B C A B C …) so drift hits each alike, on the
 * thread's CPU clock by default (bench-timing.ts says why: wall-clock medians on a loaded
 * machine can be off by several times for one contender of a run).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TesaError } from '../../../../src/errors.js';
import { lowerGemm, type GemmParams } from '../gemm-dense.js';
import { openblasAvailable } from '../sparse/harness.js';
import { NOW_MS_C, THREAD_CPU_MS_C, timingLoopC, type SampleClock } from '../bench-timing.js';
import type { Isa } from '../../fingerprint.js';
import type { Int8GemmProblem, LoweredInt8Gemm } from './emit.js';

const run = promisify(execFile);

export interface Int8HarnessOptions {
  reps?: number;
  warmup?: number;
  seed?: number;
  budgetMs?: number;
  /** time the CPU backend's fp32 dense GEMM for this ISA (default avx512 when available) */
  fp32Isa?: Isa;
  openblas?: boolean;
  /** a bias vector of N (same for every contender's check; int8 kernels built with bias read it) */
  bias?: Float32Array;
  keepDir?: boolean;
  /** what a sample measures (default 'thread-cpu'; every contender runs on one thread) */
  clock?: SampleClock;
}

export interface Int8ContenderResult {
  name: string;
  samplesMs: number[];
  /** max |y − y_int| / max |y_fp64| (int8 kernels only; ~1e-7 when exact) */
  intError: number | null;
  /** ‖y − y_fp64‖₂ / ‖y_fp64‖₂ */
  quantError: number;
}

export interface Int8HarnessResult {
  contenders: Int8ContenderResult[];
  fp32Dense: Int8ContenderResult;
  openblas: Int8ContenderResult | null;
  openblasNote?: string;
  dir?: string;
}

function fp32DenseSource(prob: Int8GemmProblem, isa: Isa): { code: string; stateBytes: number } {
  const params: GemmParams = {
    batch: 1, M: prob.m, N: prob.n, K: prob.k, aOff: [0], sam: prob.k, sak: 1, bOff: [0], sbk: prob.n, sbn: 1,
    im2col: null, bConst: true, cOff: [0], epilogue: [], operands: [],
  };
  const ref = (name: string, shape: number[]) => ({ name, dtype: 'float32' as const, shape });
  const lowered = lowerGemm(
    { node: 'bench', opType: 'MatMul', kernel: 'gemm-dense', params: { ...params, inputRefs: [ref('X', [prob.m, prob.k]), ref('W', [prob.k, prob.n])], outputRefs: [ref('Y', [prob.m, prob.n])] } },
    { isa, threads: 1 },
  );
  return { code: lowered.code, stateBytes: lowered.stateBytes };
}

function mainSource(prob: Int8GemmProblem, kernels: LoweredInt8Gemm[], withBlas: boolean, stateBytes: number, o: { reps: number; warmup: number; seed: number; budgetMs: number; clock: SampleClock }): string {
  const { m: M, n: N, k: K } = prob;
  const sig = '(const float *x, const int8_t *wq, const int32_t *comp, const float *wscale, const float *wout, const float *bias, float *y)';
  const names = [...kernels.map((k) => k.entry), 'fp32_dense', ...(withBlas ? ['openblas'] : [])];
  const nk = kernels.length;
  return `#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>
#include <math.h>
#include <time.h>
${withBlas ? '#include <cblas.h>\nvoid openblas_set_num_threads(int);' : ''}
${kernels.map((k) => `void ${k.entry}${sig};`).join('\n')}
void tesa_kernel_init(const void *const *in, void *state);
void tesa_kernel(const void *const *in, void *const *out, void *state);
#define M ${M}
#define N ${N}
#define K ${K}
#define NC ${names.length}
#define NK ${nk}
static const char *names[NC] = { ${names.map((n) => `"${n}"`).join(', ')} };
static void *load(const char *dir, const char *name, size_t bytes) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  void *p = aligned_alloc(64, (bytes + 127) / 64 * 64);
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\\n", path); exit(3); }
  if (bytes && fread(p, 1, bytes, f) != bytes) { fprintf(stderr, "short read %s\\n", path); exit(3); }
  fclose(f);
  return p;
}
${NOW_MS_C}
${o.clock === 'thread-cpu' ? `${THREAD_CPU_MS_C}\n` : ''}static const size_t wq_bytes[NK + 1] = { ${kernels.map((k) => k.wq.length).join(', ')}${nk ? ', ' : ''}0 };
static const size_t comp_len[NK + 1] = { ${kernels.map((k) => k.comp.length).join(', ')}${nk ? ', ' : ''}0 };
static const int has_oref[NK + 1] = { ${kernels.map((k) => (k.outliers > 0 ? 1 : 0)).join(', ')}${nk ? ', ' : ''}0 };
static const size_t wout_len[NK + 1] = { ${kernels.map((k) => k.wout.length).join(', ')}${nk ? ', ' : ''}0 };
static int8_t *wq[NK + 1], *qref[NK + 1];
static int32_t *comp[NK + 1];
static float *wscale[NK + 1], *wout[NK + 1], *oref[NK + 1];
static float *x, *y, *bias, *wkn, *state;
static void call(int c) {
  switch (c) {
${kernels.map((k, i) => `    case ${i}: ${k.entry}(x, wq[${i}], comp[${i}], wscale[${i}], wout[${i}], bias, y); break;`).join('\n')}
    case NK: { const void *in[2] = { x, wkn }; void *out[1] = { y }; tesa_kernel(in, out, state); break; }
${withBlas ? `    default: cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.0f, x, K, wkn, N, 0.0f, y, N); for (long i = 0; i < (long)M * N; i++) y[i] += bias[i % N]; break;` : '    default: break;'}
  }
  if (c == NK) for (long i = 0; i < (long)M * N; i++) y[i] += bias[i % N];
}
int main(int argc, char **argv) {
  (void)argc;
  ${withBlas ? 'openblas_set_num_threads(1);' : ''}
  const char *dir = argv[1];
  char name[256];
  float *wm = load(dir, "wmasked.bin", sizeof(float) * N * K); /* W[N][K], masked */
  bias = load(dir, "bias.bin", sizeof(float) * N);
  for (int c = 0; c < NK; c++) {
    snprintf(name, sizeof name, "wq%d.bin", c); wq[c] = load(dir, name, wq_bytes[c]);
    snprintf(name, sizeof name, "comp%d.bin", c); comp[c] = load(dir, name, 4 * comp_len[c]);
    snprintf(name, sizeof name, "wscale%d.bin", c); wscale[c] = load(dir, name, 4 * comp_len[c]);
    snprintf(name, sizeof name, "wout%d.bin", c); wout[c] = load(dir, name, 4 * wout_len[c]);
    snprintf(name, sizeof name, "qref%d.bin", c); qref[c] = load(dir, name, (size_t)N * K);
    if (has_oref[c]) { snprintf(name, sizeof name, "oref%d.bin", c); oref[c] = load(dir, name, sizeof(float) * N * K); }
    else oref[c] = calloc((size_t)N * K, sizeof(float));
  }
  wkn = aligned_alloc(64, (size_t)N * K * sizeof(float));
  for (int n = 0; n < N; n++) for (int k = 0; k < K; k++) wkn[(size_t)k * N + n] = wm[(size_t)n * K + k];
  state = aligned_alloc(64, ${Math.ceil(stateBytes / 64) * 64 + 64});
  { const void *in[2] = { NULL, wkn }; tesa_kernel_init(in, state); }
  x = aligned_alloc(64, ((size_t)M * K * sizeof(float) + 63) / 64 * 64);
  y = aligned_alloc(64, ((size_t)M * N * sizeof(float) + 63) / 64 * 64);
  double *ref = malloc((size_t)M * N * sizeof(double));
  uint64_t s = ${o.seed >>> 0}ull * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < (size_t)M * K; i++) { s = s * 6364136223846793005ull + 1442695040888963407ull; x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0); }
  double refmax = 0, refss = 0;
  for (int m = 0; m < M; m++) for (int n = 0; n < N; n++) {
    double a = bias[n];
    for (int k = 0; k < K; k++) a += (double)x[(size_t)m * K + k] * wm[(size_t)n * K + k];
    ref[(size_t)m * N + n] = a;
    refss += a * a;
    if (fabs(a) > refmax) refmax = fabs(a);
  }
  if (refmax == 0) refmax = 1;
  if (refss == 0) refss = 1;
  /* integer reference: the same per-tensor quantization of X, exact int64 accumulation */
  float amax = 0;
  for (size_t i = 0; i < (size_t)M * K; i++) amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
  const float inv = amax > 0 ? 127.0f / amax : 1.0f, sx = amax > 0 ? amax / 127.0f : 1.0f;
  int16_t *xq = malloc((size_t)M * K * sizeof(int16_t));
  for (size_t i = 0; i < (size_t)M * K; i++) { int q = (int)nearbyintf(x[i] * inv); xq[i] = (int16_t)((q < -127 ? -127 : q > 127 ? 127 : q) + 128); }
  printf("{\\"errors\\": [");
  for (int c = 0; c < NC; c++) {
    for (size_t i = 0; i < (size_t)M * N; i++) y[i] = NAN;
    call(c);
    double qe = 0, ie = 0;
    for (int m = 0; m < M; m++) for (int n = 0; n < N; n++) {
      const double v = y[(size_t)m * N + n];
      const double d = v - ref[(size_t)m * N + n];
      qe += isnan(d) ? INFINITY : d * d;
      if (c < NK) {
        int64_t acc = 0;
        double outl = 0;
        for (int k = 0; k < K; k++) {
          acc += (int64_t)xq[(size_t)m * K + k] * qref[c][(size_t)n * K + k];
          outl += (double)x[(size_t)m * K + k] * oref[c][(size_t)n * K + k];
        }
        const double yi = (double)((float)(acc - comp[c][n]) * (wscale[c][n] * sx)) + bias[n] + outl;
        const double e = fabs(v - yi) / refmax;
        if (!(e <= ie)) ie = isnan(e) ? INFINITY : e;
      }
    }
    printf("%s[%.9g, %.9g]", c ? ", " : "", c < NK ? (isinf(ie) ? 1e30 : ie) : -1.0, isinf(qe) ? 1e30 : sqrt(qe / refss));
  }
  printf("],\\n");
${timingLoopC({ ...o, call: 'call(c)' })}  printf("}\\n");
  return 0;
}
`;
}

const bytes = (a: Int8Array | Int32Array | Float32Array | Uint8Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

/** Writes the harness (sources, weights, main.c) into `dir`; returns the compiler arguments (after `cc`). */
export function writeInt8Harness(dir: string, prob: Int8GemmProblem, kernels: LoweredInt8Gemm[], opts: Int8HarnessOptions & { withBlas: boolean }): string[] {
  const o = { reps: opts.reps ?? 40, warmup: opts.warmup ?? 3, seed: opts.seed ?? 1, budgetMs: opts.budgetMs ?? 4000, clock: opts.clock ?? ('thread-cpu' as const) };
  const fp32Isa: Isa = opts.fp32Isa ?? (kernels[0]?.isa === 'avx2' ? 'avx2' : 'avx512');
  const files: string[] = [];
  const { n, k } = prob;
  kernels.forEach((kl, i) => {
    if (kl.plan.bias !== (opts.bias !== undefined)) throw new TesaError('INTERNAL', `kernel ${kl.entry} was lowered ${kl.plan.bias ? 'with' : 'without'} bias but the harness has ${opts.bias ? 'one' : 'none'}`);
    writeFileSync(join(dir, `${kl.entry}.c`), kl.code);
    files.push(`${kl.entry}.c`);
    writeFileSync(join(dir, `wq${i}.bin`), bytes(kl.wq));
    writeFileSync(join(dir, `comp${i}.bin`), bytes(kl.comp));
    writeFileSync(join(dir, `wscale${i}.bin`), bytes(kl.wscale));
    writeFileSync(join(dir, `wout${i}.bin`), bytes(kl.wout));
    writeFileSync(join(dir, `qref${i}.bin`), bytes(kl.quant.q));
    if (kl.outliers > 0) {
      const oref = new Float32Array(n * k);
      for (let j = 0; j < oref.length; j++) if (kl.outlierMask[j]) oref[j] = prob.weight[j]!;
      writeFileSync(join(dir, `oref${i}.bin`), bytes(oref));
    }
  });
  const wm = new Float32Array(n * k);
  for (let j = 0; j < wm.length; j++) wm[j] = !prob.mask || prob.mask[j] ? prob.weight[j]! : 0;
  writeFileSync(join(dir, 'wmasked.bin'), bytes(wm));
  writeFileSync(join(dir, 'bias.bin'), bytes(opts.bias ?? new Float32Array(n)));
  const dense = fp32DenseSource(prob, fp32Isa);
  writeFileSync(join(dir, 'fp32_dense.c'), dense.code);
  writeFileSync(join(dir, 'main.c'), mainSource(prob, kernels, opts.withBlas, dense.stateBytes, o));
  return ['-O3', '-march=native', '-std=gnu11', '-fopenmp-simd', '-o', 'bench', 'main.c', 'fp32_dense.c', ...files, '-lm', ...(opts.withBlas ? ['-lopenblas'] : [])];
}

/** Builds, checks and times the int8 kernels beside our fp32 dense GEMM (and OpenBLAS). */
export async function benchInt8Kernels(prob: Int8GemmProblem, kernels: LoweredInt8Gemm[], opts: Int8HarnessOptions = {}): Promise<Int8HarnessResult> {
  const o = { reps: opts.reps ?? 40, budgetMs: opts.budgetMs ?? 4000 };
  const withBlas = (opts.openblas ?? false) && openblasAvailable();
  const dir = mkdtempSync(join(tmpdir(), 'tesa-int8-'));
  try {
    const args = writeInt8Harness(dir, prob, kernels, { ...opts, withBlas });
    const exe = join(dir, 'bench');
    const cc = process.env.CC ?? 'cc';
    try {
      await run(cc, args, { cwd: dir, maxBuffer: 64 << 20, timeout: 600_000 });
    } catch (e) {
      const err = e as { stderr?: string };
      throw new TesaError('BUILD_FAILED', `int8 kernel harness did not compile: ${(err.stderr ?? String(e)).split('\n').slice(0, 6).join(' ')}`, `the generated code is in ${dir}`);
    }
    let stdout: string;
    try {
      ({ stdout } = await run(exe, [dir], { maxBuffer: 64 << 20, timeout: Math.max(120_000, o.budgetMs * 6), env: { ...process.env, OPENBLAS_NUM_THREADS: '1' } }));
    } catch (e) {
      throw new TesaError('RUN_FAILED', `int8 kernel harness failed: ${String((e as Error).message).split('\n')[0]}`, `the generated code is in ${dir}`);
    }
    return parseInt8HarnessOutput(stdout, kernels, withBlas, opts.openblas && !withBlas ? 'OpenBLAS not installed (apt-get install libopenblas-dev)' : undefined, opts.keepDir ? dir : undefined);
  } finally {
    if (!opts.keepDir) rmSync(dir, { recursive: true, force: true });
  }
}

export function parseInt8HarnessOutput(stdout: string, kernels: { entry: string }[], withBlas: boolean, openblasNote?: string, dir?: string): Int8HarnessResult {
  const parsed = JSON.parse(stdout) as { errors: [number, number][]; samples: Record<string, number[]> };
  const result = (name: string, i: number): Int8ContenderResult => ({
    name,
    samplesMs: parsed.samples[name] ?? [],
    intError: parsed.errors[i]![0] < 0 ? null : parsed.errors[i]![0],
    quantError: parsed.errors[i]![1],
  });
  return {
    contenders: kernels.map((kl, i) => result(kl.entry, i)),
    fp32Dense: result('fp32_dense', kernels.length),
    openblas: withBlas ? result('openblas', kernels.length + 1) : null,
    openblasNote,
    dir,
  };
}
