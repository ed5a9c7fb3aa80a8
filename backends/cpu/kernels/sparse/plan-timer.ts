/**
 * The plan picker's timer for the compile path: like the sparse harness (harness.ts) it links
 * the candidate kernels and the backend's dense GEMM into one C program and times them
 * interleaved on one thread, but the program is cached by its source. Kernels whose structure
 * is data (every large mask, see families.ts) have code that depends only on the shape and the
 * plan, so after the first trial of a search each further op of that shape is timed without a
 * compiler call: only its values are written. Candidates are checked against the dense kernel's
 * output (itself verified against the naive reference by the backend's check mode), which
 * spares the O(M·N·K) double-precision reference per op.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TesaError } from '../../../../src/errors.js';
import type { LoweredSparseGemm } from './families.js';
import type { SparseGemmProblem } from './structure.js';
import type { VectorIsa } from './isa.js';
import { backendDenseGemm, type HarnessResult } from './harness.js';
import { checkErrorsC, NOW_MS_C, timingLoopC } from '../bench-timing.js';

const run = promisify(execFile);

export interface PlanTimerOptions {
  isa: VectorIsa;
  /** Where built timer programs are kept (`<cacheDir>/plan-timers/<hash>/`). */
  cacheDir: string;
  reps?: number;
  warmup?: number;
  budgetMs?: number;
  seed?: number;
}

/** Compiler calls made by plan timers in this process (tests count them). */
let timerBuilds = 0;
export function planTimerBuilds(): number {
  return timerBuilds;
}

function programSource(prob: SparseGemmProblem, kernels: LoweredSparseGemm[], dense: { hasInit: boolean; stateBytes: number }): string {
  const nk = kernels.length;
  const decls = kernels.map((k) => `void ${k.entry}(const float *x, const float *w, float *y);`).join('\n');
  const calls = kernels.map((k, i) => `    case ${i}: ${k.entry}(x, wv[${i}], y); break;`).join('\n');
  return `/* tesa plan timer: ${nk} candidate kernels and the backend's dense GEMM, interleaved, one thread. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>
#include <stdint.h>
${decls}
void tesa_kernel(const void *const *in, void *const *out, void *state);
${dense.hasInit ? 'void tesa_kernel_init(const void *const *in, void *state);' : ''}
#define M ${prob.m}
#define N ${prob.n}
#define K ${prob.k}
#define NK ${nk}
#define NC (NK + 1)
static const char *names[NC] = { ${[...kernels.map((_, i) => `"c${i}"`), '"dense"'].join(', ')} };

static float *load(const char *path, size_t *count) {
  FILE *f = fopen(path, "rb");
  if (!f) { fprintf(stderr, "cannot open %s\\n", path); exit(3); }
  fseek(f, 0, SEEK_END);
  long bytes = ftell(f);
  fseek(f, 0, SEEK_SET);
  size_t n = (size_t)bytes / sizeof(float);
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
  if (n && fread(p, sizeof(float), n, f) != n) { fprintf(stderr, "short read %s\\n", path); exit(3); }
  fclose(f);
  if (count) *count = n;
  return p;
}
${NOW_MS_C}

static float *wv[NK > 0 ? NK : 1];
static float *wkn;
static void *dstate;
static void call(int c, const float *x, float *y) {
  switch (c) {
${calls}
    default: { const void *in[2] = { x, wkn }; void *out[1] = { y }; tesa_kernel(in, out, dstate); break; }
  }
}

int main(int argc, char **argv) {
  if (argc < 6) { fprintf(stderr, "usage: timer dir reps warmup budget_ms seed\\n"); return 2; }
  const char *dir = argv[1];
  const int reps = atoi(argv[2]), warmup = atoi(argv[3]);
  const double budget = atof(argv[4]);
  char path[4096];
  for (int c = 0; c < NK; c++) { snprintf(path, sizeof path, "%s/w%d.bin", dir, c); wv[c] = load(path, NULL); }
  snprintf(path, sizeof path, "%s/wkn.bin", dir);
  wkn = load(path, NULL);
  dstate = aligned_alloc(64, ${Math.ceil(Math.max(64, dense.stateBytes) / 64) * 64});
${dense.hasInit ? '  { const void *in[2] = { NULL, wkn }; tesa_kernel_init(in, dstate); }\n' : ''}  float *x = aligned_alloc(64, ((size_t)M * K * sizeof(float) + 63) / 64 * 64);
  float *y = aligned_alloc(64, ((size_t)M * N * sizeof(float) + 63) / 64 * 64);
  float *ref = aligned_alloc(64, ((size_t)M * N * sizeof(float) + 63) / 64 * 64);
  uint64_t s = (uint64_t)strtoull(argv[5], NULL, 10) * 6364136223846793005ull + 1442695040888963407ull;
  for (size_t i = 0; i < (size_t)M * K; i++) { s = s * 6364136223846793005ull + 1442695040888963407ull; x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) * 2.0 - 1.0); }
  call(NK, x, ref);
  double refmax = 0;
  for (size_t i = 0; i < (size_t)M * N; i++) if (fabs(ref[i]) > refmax) refmax = fabs(ref[i]);
  if (refmax == 0) refmax = 1;
${checkErrorsC()}${timingLoopC({ reps: 'reps', warmup: 'warmup', budgetMs: 'budget', call: 'call(c, x, y)' })}  printf("}\\n");
  return 0;
}
`;
}

const FLAGS = ['-O3', '-march=native', '-std=gnu11', '-fopenmp-simd'];

function compiler(): string {
  return process.env.CC ?? 'cc';
}

async function cc(args: string[], what: string, dir: string): Promise<void> {
  timerBuilds++;
  try {
    await run(compiler(), args, { maxBuffer: 16 << 20, timeout: 600_000 });
  } catch (e) {
    const err = e as { stderr?: string };
    throw new TesaError('BUILD_FAILED', `plan timer: ${what} did not compile: ${(err.stderr ?? String(e)).split('\n').slice(0, 5).join(' ')}`, `the generated code is in ${dir}`);
  }
}

function codeHash(code: string): string {
  return createHash('sha256').update(compiler()).update('\0').update(FLAGS.join(' ')).update('\0').update(code).digest('hex').slice(0, 32);
}

/** Marks a re-used file as recently used: the cache cap trims plan timers oldest first (kernel-cache-gc.ts). */
function touched(path: string): string {
  const now = new Date();
  try {
    utimesSync(path, now, now);
  } catch {
    // trimmed meanwhile: the caller's link or run reports it
  }
  return path;
}

/** One translation unit compiled once per source into `<cacheDir>/plan-timers/obj/<hash>.o`. */
async function ensureObject(cacheDir: string, code: string): Promise<string> {
  const dir = join(cacheDir, 'plan-timers', 'obj');
  const h = codeHash(code);
  const obj = join(dir, `${h}.o`);
  if (existsSync(obj)) return touched(obj);
  mkdirSync(dir, { recursive: true });
  const src = join(dir, `${h}.c`);
  writeFileSync(src, code);
  const tmp = `${obj}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await cc([...FLAGS, '-c', '-o', tmp, src], 'a kernel', dir);
    renameSync(tmp, obj);
  } finally {
    rmSync(tmp, { force: true });
  }
  return obj;
}

/** Builds (or finds) the timer program for these kernels; returns the executable's path. */
async function ensureProgram(cacheDir: string, main: string, kernels: LoweredSparseGemm[], denseCode: string): Promise<string> {
  // Two compilers at a time, like the kernel build pool.
  const sources = [main, denseCode, ...kernels.map((k) => k.code)];
  const objs: string[] = new Array<string>(sources.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < sources.length) {
      const i = next++;
      objs[i] = await ensureObject(cacheDir, sources[i]!);
    }
  };
  await Promise.all([worker(), worker()]);
  const h = createHash('sha256');
  for (const o of objs) h.update(o).update('\0');
  const dir = join(cacheDir, 'plan-timers', 'bin');
  const exe = join(dir, h.digest('hex').slice(0, 32));
  if (existsSync(exe)) return touched(exe);
  mkdirSync(dir, { recursive: true });
  const tmp = `${exe}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`;
  try {
    await cc(['-o', tmp, ...objs, '-lm'], 'the timer program', dir);
    renameSync(tmp, exe);
  } finally {
    rmSync(tmp, { force: true });
  }
  return exe;
}

/**
 * Times the candidate kernels against the backend's dense GEMM (same contract as
 * benchSparseKernels with backendDense: true). maxRelError is against dense's output.
 */
export async function timeSparsePlans(prob: SparseGemmProblem, kernels: LoweredSparseGemm[], opts: PlanTimerOptions): Promise<HarnessResult> {
  const dense = backendDenseGemm(prob, opts.isa);
  const main = programSource(prob, kernels, dense);
  const exe = await ensureProgram(opts.cacheDir, main, kernels, dense.code);
  mkdirSync(join(opts.cacheDir, 'plan-timers'), { recursive: true });
  const work = mkdtempSync(join(opts.cacheDir, 'plan-timers', 'run-'));
  try {
    kernels.forEach((k, i) => writeFileSync(join(work, `w${i}.bin`), Buffer.from(k.values.buffer, k.values.byteOffset, k.values.byteLength)));
    const wkn = new Float32Array(prob.n * prob.k);
    for (let n = 0; n < prob.n; n++) {
      for (let k = 0; k < prob.k; k++) if (prob.mask[n * prob.k + k]) wkn[k * prob.n + n] = prob.weight[n * prob.k + k]!;
    }
    writeFileSync(join(work, 'wkn.bin'), Buffer.from(wkn.buffer));
    const budgetMs = opts.budgetMs ?? 1000;
    let stdout: string;
    try {
      ({ stdout } = await run(exe, [work, String(opts.reps ?? 15), String(opts.warmup ?? 2), String(budgetMs), String(opts.seed ?? 1)], { maxBuffer: 16 << 20, timeout: Math.max(60_000, budgetMs * 4) }));
    } catch (e) {
      throw new TesaError('RUN_FAILED', `plan timer failed: ${String((e as Error).message).split('\n')[0]}`, `its program is ${exe}`);
    }
    const parsed = JSON.parse(stdout) as { errors: number[]; samples: Record<string, number[]> };
    return {
      contenders: kernels.map((k, i) => ({ name: k.entry, samplesMs: parsed.samples[`c${i}`] ?? [], maxRelError: parsed.errors[i] ?? null })),
      dense: { name: 'dense', samplesMs: parsed.samples.dense ?? [], maxRelError: 0 },
      openblas: null,
    };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
