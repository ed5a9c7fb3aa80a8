/**
 * nvcc builds: kernel and glue libraries (one per source hash, kept in `<cacheDir>/<hash>/`
 * beside their source and a record.json, so none is built twice) and the model runner (once
 * per fingerprint; the kernel benchmark's runner is built by its bundle's run.sh). cuSPARSELt comes from python3's environment (the wheel PyTorch uses), found
 * at build time and linked with its rpath; a machine without it cannot build nm:2:4 kernels.
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TesaError } from '../../src/errors.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { KernelArtifact, KernelIndex, KernelRecord } from '../backend.js';
import type { CudaFingerprint } from './fingerprint.js';

export interface CusparseLt {
  library: string;
  includeDir: string;
}

let cusparseLtCache: CusparseLt | null | undefined;

/** The cuSPARSELt that python3's environment holds, or null. */
export function findCusparseLt(): CusparseLt | null {
  if (cusparseLtCache !== undefined) return cusparseLtCache;
  cusparseLtCache = null;
  try {
    const out = execFileSync('python3', [join(packageRoot(), 'backends', 'cuda', 'tools', 'find_cusparselt.py')], { encoding: 'utf8', timeout: 30_000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    const [library, includeDir] = out.split(' ');
    if (library && includeDir) cusparseLtCache = { library, includeDir };
  } catch {
    // no python3 or no wheel: nm kernels are unavailable
  }
  return cusparseLtCache;
}

function nvcc(args: string[], timeoutMs: number): Promise<{ ok: boolean; stderr: string; ms: number }> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    execFile('nvcc', args, { timeout: timeoutMs, maxBuffer: 16 << 20 }, (err, _o, stderr) => resolve({ ok: !err, stderr: String(stderr), ms: performance.now() - t0 }));
  });
}

export interface CudaKernelToBuild {
  hash: string;
  code: string;
  entry: string;
  needsCusparseLt: boolean;
}

export async function buildKernelLibrary(cacheDir: string, fp: CudaFingerprint, k: CudaKernelToBuild, index?: KernelIndex): Promise<KernelArtifact> {
  const dir = join(cacheDir, k.hash);
  const sourcePath = join(dir, 'kernel.cu');
  const libraryPath = join(dir, 'kernel.so');
  const recordPath = join(dir, 'record.json');
  if (existsSync(libraryPath) && existsSync(recordPath)) {
    index?.touchKernel(k.hash);
    return { hash: k.hash, libraryPath, sourcePath, cached: true, buildMs: 0 };
  }
  mkdirSync(dir, { recursive: true });
  writeFileSync(sourcePath, k.code);
  const extra: string[] = [];
  if (k.needsCusparseLt) {
    const cslt = findCusparseLt();
    if (!cslt) throw new TesaError('UNSUPPORTED', 'nm:2:4 on CUDA needs cuSPARSELt, and python3 has no nvidia-cusparselt wheel here', 'install PyTorch (it brings cuSPARSELt) or prune with block:RxC');
    extra.push(`-I${cslt.includeDir}`, '-Xlinker', cslt.library, '-Xlinker', `-rpath=${dirname(cslt.library)}`);
  }
  const tmp = `${libraryPath}.tmp-${process.pid}`;
  const res = await nvcc([...fp.flags, '-Xcompiler', '-fPIC', '-shared', '-o', tmp, sourcePath, ...extra, '-lcublas'], 300_000);
  const record: KernelRecord = {
    hash: k.hash,
    fingerprintId: fp.id,
    language: 'cuda',
    entry: k.entry,
    sourcePath,
    libraryPath,
    buildMs: Math.round(res.ms),
    status: res.ok ? 'ok' : 'build_failed',
    maxRelError: null,
    error: res.ok ? null : res.stderr.slice(0, 4000),
    sizeBytes: res.ok ? statSync(tmp).size : 0,
  };
  if (res.ok) renameSync(tmp, libraryPath);
  else rmSync(tmp, { force: true });
  writeFileSync(recordPath, JSON.stringify(record, null, 2));
  index?.putKernel(record);
  if (!res.ok) throw new TesaError('BUILD_FAILED', `nvcc rejected kernel ${k.hash}: ${res.stderr.split('\n').find((l) => /error/i.test(l)) ?? res.stderr.split('\n')[0]}`, `see ${sourcePath}`);
  return { hash: k.hash, libraryPath, sourcePath, cached: false, buildMs: res.ms };
}

export function modelRunnerSourcePath(): string {
  return join(packageRoot(), 'backends', 'cuda', 'runner', 'model-runner.cu');
}

/** The whole-model runner (model-runner.cu) for this fingerprint, built unless the cache has one for this source. */
export async function ensureCudaModelRunner(cacheDir: string, fp: CudaFingerprint): Promise<string> {
  return ensureRunnerBinary(cacheDir, fp, { source: modelRunnerSourcePath(), dirPrefix: 'cuda-model-runner', exe: 'tesa-cuda-model-runner', libs: ['-lcublas', '-lcublasLt', '-ldl'], what: 'the CUDA model runner' });
}

interface RunnerBinary {
  source: string;
  dirPrefix: string;
  exe: string;
  libs: string[];
  what: string;
}

/** Cached by source hash + fingerprint: `<cacheDir>/<dirPrefix>-<tag>/<exe>`; built into a temp name and renamed so a concurrent build never runs a half-written file. */
async function ensureRunnerBinary(cacheDir: string, fp: CudaFingerprint, b: RunnerBinary): Promise<string> {
  const src = readFileSync(b.source, 'utf8') + readFileSync(join(dirname(b.source), 'runner-common.h'), 'utf8');
  const { createHash } = await import('node:crypto');
  const tag = createHash('sha256').update(src).update(fp.id).digest('hex').slice(0, 16);
  const dir = join(cacheDir, `${b.dirPrefix}-${tag}`);
  const path = join(dir, b.exe);
  if (existsSync(path)) return path;
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  const res = await nvcc([...fp.flags, '-o', tmp, b.source, ...b.libs], 300_000);
  if (!res.ok) {
    rmSync(tmp, { force: true });
    throw new TesaError('BUILD_FAILED', `cannot build ${b.what}: ${res.stderr.split('\n').find((l) => /error/i.test(l)) ?? res.stderr.split('\n')[0]}`, `source ${b.source}`);
  }
  renameSync(tmp, path);
  return path;
}

/** Why nvcc cannot build CUDA code that uses cuBLAS here (no nvcc, or no cuBLAS headers), or null. */
export function cudaCompileUnavailableReason(): string | null {
  try {
    execFileSync('nvcc', ['--version'], { stdio: 'ignore', timeout: 20_000 });
  } catch {
    return 'no CUDA compiler (nvcc not on PATH)';
  }
  const dir = mkdtempSync(join(tmpdir(), 'tesa-nvcc-probe-'));
  try {
    writeFileSync(join(dir, 'probe.cu'), '#include <cublasLt.h>\n#include <cublas_v2.h>\n');
    execFileSync('nvcc', ['-E', '-o', join(dir, 'probe.i'), join(dir, 'probe.cu')], { stdio: 'ignore', timeout: 60_000 });
    return null;
  } catch {
    return 'nvcc finds no cuBLAS headers (cublasLt.h)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
