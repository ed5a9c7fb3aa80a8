/**
 * The whole-model CUDA runner (backends/cuda/runner/model-runner.cu).
 *
 * Without a GPU (needs nvcc and cuBLAS headers): the runner, a hand-written glue library and two
 * kernel libraries compile, and the runner refuses bad manifests and inputs with exit 2 before
 * it touches the GPU.
 * With a GPU: the runner (built through ensureCudaModelRunner) executes a tiny model — the glue
 * computes T = 2·X + bias[feature] into buffer 1, then linear 0 (the runner's cuBLASLt) and
 * linear 1 (a naive feature-major kernel library) both map T to buffers 2 and 3 — graph-captured
 * and not, with T at a 256-byte aligned address and at a 16-byte aligned one (the runner's
 * any-alignment cuBLASLt algorithm), check mode on; the downloaded outputs match a JS fp16
 * reference. A token-major library is refused with exit 4.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cudaCompileUnavailableReason, ensureCudaModelRunner, modelRunnerSourcePath } from '../../../backends/cuda/build.js';
import { cudaFingerprint, cudaUnavailableReason } from '../../../backends/cuda/fingerprint.js';
import { toHalfBits } from '../../../backends/cuda/half.js';

const FILE = 'test/backends/cuda/model-runner.test.ts';

const compileReason = cudaCompileUnavailableReason();
const gpuReason = cudaUnavailableReason() ?? compileReason;
if (compileReason) process.stdout.write(`${FILE}: compile tests skipped: ${compileReason}\n`);
if (gpuReason) process.stdout.write(`${FILE}: GPU tests skipped: ${gpuReason}\n`);

// Tokens odd on purpose (tails, ld not a multiple of 8); features multiples of 16.
const M = 203;
const N = 96;
const K = 160;

/**
 * Glue: T[k][m] = 2·X[k][m] + bias[k] (fp32 math, fp16 store), then Y0 = lin0(T), Y1 = lin1(T).
 * T starts `tOffset` halves into buffer 1: at 8 (16 bytes) the linears get an x that is not
 * 256-byte aligned, the case the runner's cuBLASLt serves with its any-alignment algorithm.
 */
const T_SLACK = 8;
function glueSource(tOffset: 0 | typeof T_SLACK): string {
  return `#include <cuda_fp16.h>
#include <cuda_runtime.h>
struct TesaLinear { void *state; int (*run)(void *, const __half *, __half *, cudaStream_t); };
struct Ctx { const __half *x, *bias; __half *t, *y0, *y1; };
static const int M = ${M}, K = ${K};
__global__ void affine(const __half *x, const __half *bias, __half *t) {
  int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i < K * M) t[i] = __float2half(__half2float(x[i]) * 2.f + __half2float(bias[i / M]));
}
extern "C" int tesa_model_init(void *const *bufs, int nbufs, void **ctx) {
  if (nbufs != 5) return 1;
  *ctx = new Ctx{(const __half *)bufs[0], (const __half *)bufs[4], (__half *)bufs[1] + ${tOffset}, (__half *)bufs[2], (__half *)bufs[3]};
  return 0;
}
extern "C" int tesa_model_run(void *ctx, const TesaLinear *lins, cudaStream_t s) {
  Ctx *c = (Ctx *)ctx;
  affine<<<(K * M + 255) / 256, 256, 0, s>>>(c->x, c->bias, c->t);
  if (cudaPeekAtLastError() != cudaSuccess) return 2;
  if (lins[0].run(lins[0].state, c->t, c->y0, s) != 0) return 3;
  return lins[1].run(lins[1].state, c->t, c->y1, s);
}
extern "C" void tesa_model_free(void *ctx) { delete (Ctx *)ctx; }
`;
}

/** A kernel library in the model ABI: Yt[N,M] = W[N,K]·Xt[K,M], one thread per output, fp32 accumulation. */
function naiveLibrary(layout: 0 | 1): string {
  return `#include <cuda_fp16.h>
#include <cuda_runtime.h>
static const int M = ${M}, N = ${N}, K = ${K};
__global__ void gemm(const __half *w, const __half *xt, __half *yt) {
  int m = blockIdx.x * blockDim.x + threadIdx.x, n = blockIdx.y;
  if (m >= M) return;
  float acc = 0.f;
  for (int k = 0; k < K; k++) acc += __half2float(w[n * K + k]) * __half2float(xt[k * M + m]);
  yt[n * M + m] = __float2half(acc);
}
extern "C" int tesa_layout(void) { return ${layout}; }
extern "C" int tesa_init(const __half *w_host, void **state) {
  __half *w = nullptr;
  if (cudaMalloc(&w, sizeof(__half) * N * K) != cudaSuccess) return 1;
  if (cudaMemcpy(w, w_host, sizeof(__half) * N * K, cudaMemcpyHostToDevice) != cudaSuccess) return 2;
  *state = w;
  return 0;
}
extern "C" int tesa_run(void *state, const __half *x, __half *y, cudaStream_t s) {
  gemm<<<dim3((M + 127) / 128, N), 128, 0, s>>>((const __half *)state, x, y);
  return cudaPeekAtLastError() == cudaSuccess ? 0 : 1;
}
extern "C" void tesa_free(void *state) { cudaFree(state); }
`;
}

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function roundHalf(v: number): number {
  return halfToFloat(toHalfBits(v));
}

function halfFile(values: number[]): Buffer {
  const h = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) h[i] = toHalfBits(values[i]!);
  return Buffer.from(h.buffer);
}

function readHalves(path: string): number[] {
  const b = readFileSync(path);
  // A copy: a Buffer's byteOffset need not be even.
  const h = new Uint16Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  return Array.from(h, halfToFloat);
}

/** Seeded model data, the files the runner reads and the reference outputs (T computed as the GPU does: fp32, rounded to fp16). */
function makeModel(dir: string): { dataPath: string; inputPath: string; weightOffset: number; biasOffset: number; reference: number[] } {
  const rng = seedrandom('tesa-model-runner');
  const x = Array.from({ length: K * M }, () => roundHalf(rng() * 2 - 1));
  const w = Array.from({ length: N * K }, () => roundHalf((rng() * 2 - 1) * 0.1));
  const bias = Array.from({ length: K }, () => roundHalf(rng() - 0.5));
  // Bias first, so the weight sits at an offset that is even but not 256-aligned.
  const biasOffset = 0;
  const weightOffset = K * 2 + 6;
  const data = Buffer.concat([halfFile(bias), Buffer.alloc(6), halfFile(w)]);
  const dataPath = join(dir, 'model.data');
  const inputPath = join(dir, 'x.bin');
  writeFileSync(dataPath, data);
  writeFileSync(inputPath, halfFile(x));
  const t = x.map((v, i) => roundHalf(Math.fround(Math.fround(v * 2) + bias[Math.floor(i / M)]!)));
  const reference = new Array<number>(N * M).fill(0);
  for (let n = 0; n < N; n++)
    for (let m = 0; m < M; m++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += w[n * K + k]! * t[k * M + m]!;
      reference[n * M + m] = acc;
    }
  return { dataPath, inputPath, weightOffset, biasOffset, reference };
}

/** max |a-b| / max(max |b|, 1e-3): the runner's own error measure. */
function maxRelError(got: number[], ref: number[]): number {
  let diff = 0;
  let top = 0;
  for (let i = 0; i < ref.length; i++) {
    diff = Math.max(diff, Number.isNaN(got[i]!) ? Infinity : Math.abs(got[i]! - ref[i]!));
    top = Math.max(top, Math.abs(ref[i]!));
  }
  return diff / Math.max(top, 1e-3);
}

function nvccBuild(args: string[]): void {
  execFileSync('nvcc', args, { stdio: ['ignore', 'ignore', 'pipe'], timeout: 300_000 });
}

const dir = mkdtempSync(join(tmpdir(), 'tesa-model-runner-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
// The GPU's own SM when there is one; the H100's otherwise (compile only).
const arch = gpuReason === null ? [cudaFingerprint().gencode] : ['-arch=sm_90a'];
const built = { runner: join(dir, 'mr'), glue: join(dir, 'glue.so'), glueOffset: join(dir, 'glue-offset.so'), featureMajor: join(dir, 'fm.so'), tokenMajor: join(dir, 'tm.so') };

function buildSharedLibrary(name: string, code: string, out: string): void {
  const src = join(dir, `${name}.cu`);
  writeFileSync(src, code);
  nvccBuild([...arch, '-O2', '-Xcompiler', '-fPIC', '-shared', '-o', out, src]);
}

let librariesBuilt = false;
/** The glue and kernel libraries both suites use, built once. */
function buildLibraries(): void {
  if (librariesBuilt) return;
  buildSharedLibrary('glue', glueSource(0), built.glue);
  buildSharedLibrary('glue-offset', glueSource(T_SLACK), built.glueOffset);
  buildSharedLibrary('fm', naiveLibrary(1), built.featureMajor);
  buildSharedLibrary('tm', naiveLibrary(0), built.tokenMajor);
  librariesBuilt = true;
}

interface Manifest {
  glue: string;
  graph: 0 | 1;
  check: 0 | 1;
  lib: string;
  out0: string;
  out1: string;
}

function manifestText(model: ReturnType<typeof makeModel>, o: Manifest): string {
  return [
    '# tiny model: T = 2X + bias; Y0 = cublas(T); Y1 = lib(T)',
    'warmup 2',
    'reps 3',
    'flush 1',
    `graph ${o.graph}`,
    `check ${o.check}`,
    `glue ${o.glue}`,
    `data ${model.dataPath}`,
    `buffer 0 ${K * M * 2}`,
    `buffer 1 ${(K * M + T_SLACK) * 2}`,
    `buffer 2 ${N * M * 2}`,
    `buffer 3 ${N * M * 2}`,
    `buffer 4 ${K * 2} const ${model.biasOffset}`,
    `input 0 ${model.inputPath}`,
    `output 2 ${o.out0}`,
    `output 3 ${o.out1}`,
    `linear 0 cublas - ${M} ${N} ${K} ${model.weightOffset}`,
    `linear 1 lib ${o.lib} ${M} ${N} ${K} ${model.weightOffset}`,
    '',
  ].join('\n');
}

function runRunner(runner: string, manifest: string, name: string): { status: number | null; stdout: string; stderr: string } {
  const path = join(dir, `${name}.manifest`);
  writeFileSync(path, manifest);
  const r = spawnSync(runner, [path], { encoding: 'utf8', timeout: 300_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe.skipIf(compileReason !== null)('model runner: builds and refuses bad input (no GPU needed)', () => {
  it('nvcc compiles model-runner.cu, a glue library and kernel libraries', () => {
    nvccBuild([...arch, '-O2', '-o', built.runner, modelRunnerSourcePath(), '-lcublas', '-lcublasLt', '-ldl']);
    buildLibraries();
  });

  it('refuses an input file whose size differs from its buffer (exit 2)', () => {
    const model = makeModel(dir);
    writeFileSync(model.inputPath, Buffer.alloc(K * M * 2 - 2));
    const r = runRunner(built.runner, manifestText(model, { glue: built.glue, graph: 1, check: 0, lib: built.featureMajor, out0: join(dir, 'a'), out1: join(dir, 'b') }), 'short-input');
    expect(r.stderr).toContain(`tesa-cuda-model-runner: input ${model.inputPath} holds ${K * M * 2 - 2} bytes, buffer 0 is ${K * M * 2}`);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
  });

  it('refuses malformed and inconsistent manifests (exit 2, one line each)', () => {
    const model = makeModel(dir);
    const good = manifestText(model, { glue: built.glue, graph: 1, check: 0, lib: built.featureMajor, out0: join(dir, 'a'), out1: join(dir, 'b') });
    const cases: Array<[string, string]> = [
      [good.replace(`linear 0 cublas - ${M}`, `linear 0 cublas /x.so ${M}`), 'bad linear line'],
      [good.replace('buffer 3 ', 'buffer 7 '), 'buffer ids must be dense: buffer 3 is missing'],
      [good.replace(`const ${model.biasOffset}`, `const ${1 << 30}`), 'buffer 4: const range'],
      [good.replace(`${K} ${model.weightOffset}\nlinear 1`, `${K} ${1 << 30}\nlinear 1`), 'linear 0: weight'],
      [good.replace('graph 1', 'graph 2'), 'expected 0 or 1'],
      [good.replace(/glue .*\n/, ''), 'names no glue library'],
      [`${good}frobnicate 1\n`, "unknown manifest directive 'frobnicate'"],
      [good.replace(built.featureMajor, join(dir, 'absent.so')), 'linear 1: cannot read kernel library'],
    ];
    for (const [i, [text, message]] of cases.entries()) {
      const r = runRunner(built.runner, text, `bad-${i}`);
      expect(r.stderr).toContain(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.status).toBe(2);
    }
  });
});

describe.skipIf(gpuReason !== null)('model runner on the GPU', () => {
  const cacheDir = join(dir, 'cache');
  let runner = '';
  beforeAll(async () => {
    buildLibraries();
    runner = await ensureCudaModelRunner(cacheDir, cudaFingerprint());
  });

  it('ensureCudaModelRunner builds the runner once per source and fingerprint', async () => {
    expect(runner).toMatch(/cuda-model-runner-[0-9a-f]{16}[/\\]tesa-cuda-model-runner$/);
    expect(await ensureCudaModelRunner(cacheDir, cudaFingerprint())).toBe(runner);
  });

  const runs: Array<{ graph: 0 | 1; unaligned: boolean }> = [
    { graph: 1, unaligned: false },
    { graph: 0, unaligned: true },
    { graph: 1, unaligned: true },
  ];
  for (const { graph, unaligned } of runs) {
    it(`runs the model ${graph ? 'as a CUDA graph' : 'without a graph'}, linears fed ${unaligned ? 'a 16-byte' : 'a 256-byte'} aligned x; outputs match the fp16 reference`, () => {
      const model = makeModel(dir);
      const name = `${graph}-${unaligned ? 'u' : 'a'}`;
      const out0 = join(dir, `y0-${name}.bin`);
      const out1 = join(dir, `y1-${name}.bin`);
      const glue = unaligned ? built.glueOffset : built.glue;
      const r = runRunner(runner, manifestText(model, { glue, graph, check: 1, lib: built.featureMajor, out0, out1 }), `model-${name}`);
      expect(r.status, r.stderr).toBe(0);
      const res = JSON.parse(r.stdout) as {
        device: string;
        sm: string;
        graph: boolean;
        flush: boolean;
        samplesMs: number[];
        initMs: number;
        linears: Array<{ j: number; kind: string; algoUs: number | null; usedUnaligned?: boolean; maxRelError: number | null; unwritten: number }>;
      };
      expect(res.graph).toBe(graph === 1);
      expect(res.flush).toBe(true);
      expect(res.sm).toMatch(/^\d+$/);
      expect(res.samplesMs).toHaveLength(3);
      expect(res.samplesMs.every((s) => s > 0)).toBe(true);
      expect(res.initMs).toBeGreaterThan(0);
      expect(res.linears.map((l) => [l.j, l.kind])).toEqual([
        [0, 'cublas'],
        [1, 'lib'],
      ]);
      expect(res.linears[0]!.algoUs).toBeGreaterThan(0);
      expect(res.linears[0]!.usedUnaligned).toBe(unaligned);
      expect(res.linears[1]!.algoUs).toBeNull();
      for (const l of res.linears) {
        expect(l.unwritten).toBe(0);
        expect(l.maxRelError).not.toBeNull();
        expect(l.maxRelError!).toBeLessThan(5e-3);
      }
      const y0 = readHalves(out0);
      const y1 = readHalves(out1);
      expect(y0).toHaveLength(N * M);
      expect(y1).toHaveLength(N * M);
      // fp16 output of an fp32-accumulated K=160 dot product
      expect(maxRelError(y0, model.reference)).toBeLessThan(5e-3);
      expect(maxRelError(y1, model.reference)).toBeLessThan(5e-3);
    });
  }

  it('refuses a token-major kernel library (exit 4)', () => {
    const model = makeModel(dir);
    const r = runRunner(runner, manifestText(model, { glue: built.glue, graph: 1, check: 0, lib: built.tokenMajor, out0: join(dir, 'a'), out1: join(dir, 'b') }), 'token-major');
    expect(r.stderr).toContain('linear 1:');
    expect(r.stderr).toContain('token-major kernel');
    expect(r.status).toBe(4);
  });
});
