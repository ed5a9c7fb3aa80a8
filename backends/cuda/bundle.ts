/**
 * A kernel benchmark as a self-contained folder ("bundle") that needs only nvcc, the CUDA
 * libraries and python3 on the GPU machine (no Node): the generated kernel sources, the
 * runner's source, the fp16 masked weights, the runner manifest, the PyTorch peers' spec and
 * run.sh, which builds everything for the detected SM (kernels in parallel, once per hash),
 * runs the runner and the PyTorch peers in the same call and prints the joined table.
 * `tesa bench kernel --target cuda` writes a bundle and runs it in place; the same bundle can
 * be carried to a GPU machine and run there with `bash run.sh`.
 */
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { makeMask, } from '../../src/prune/masks.js';
import { maskedFraction } from '../../src/plan/sparsity.js';
import { packageRoot } from '../../src/util/package-root.js';
import type { GemmShape } from './kernels/cuda-prelude.js';
import { toHalfArray } from './half.js';
import { cudaKernelHash, lowerGemm, type GemmTuning } from './lower.js';

export interface KernelCase {
  shape: GemmShape;
  /** 'dense' for the cuBLAS peer, else a pattern the CUDA backend supports. */
  pattern: string;
  /** Fraction pruned (ignored for dense and nm:2:4, which is 0.5). */
  sparsity: number;
  /** Kernel tuning; cases differing only here share the mask and are timed side by side. */
  tuning?: GemmTuning;
  /** Short tag naming the tuning in the op's name ('' for the defaults). */
  variant?: string;
}

export interface BundleOp {
  name: string;
  /** The op's name without its variant: ops of one case share mask, weight and peers. */
  caseKey: string;
  variant: string;
  /** 'cublast': cuBLAS on feature-major activations (Yᵀ = W·Xᵀ), the dense peer of gemm-gather. */
  kind: 'cublas' | 'cublast' | 'lib';
  kernel: string;
  pattern: string;
  sparsity: number;
  /** Fraction of the weight actually zero after masking. */
  achievedSparsity: number;
  computedFraction: number;
  shape: GemmShape;
  hash: string | null;
  /** The masked fp16 weight N×K the kernel and its reference use (made on the device from the two below). */
  weightFile: string;
  denseFile: string;
  /** Mask bits, MSB first (numpy.packbits order); null for dense. */
  maskFile: string | null;
}

export function packBits(mask: Uint8Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(mask.length / 8));
  for (let i = 0; i < mask.length; i++) if (mask[i]) out[i >> 3]! |= 0x80 >> (i & 7);
  return out;
}

export interface BundleOptions {
  seed?: number;
  reps?: number;
  warmup?: number;
  flush?: boolean;
  /** Also time PyTorch's dense and sparse paths (when python3 has torch). */
  torchPeers?: boolean;
  /** Write each op's masked fp16 weight directly (no python3 needed; larger bundle). */
  maskedWeights?: boolean;
  /** Also time cuBLAS on feature-major activations per shape (default: when an op uses gemm-gather). */
  cublasTransposed?: boolean;
}

export interface Bundle {
  dir: string;
  ops: BundleOp[];
}

export function shapeName(s: GemmShape): string {
  return `${s.M}x${s.N}x${s.K}`;
}

/** Gaussian weights N×K from a seeded generator: the same for every pattern of one shape. */
export function randomWeight(shape: GemmShape, seed: number): Float32Array {
  const rng = seedrandom(`w-${seed}-${shapeName(shape)}`);
  const w = new Float32Array(shape.N * shape.K);
  for (let i = 0; i < w.length; i += 2) {
    const u = Math.max(rng(), 1e-12);
    const v = rng();
    const r = Math.sqrt(-2 * Math.log(u)) * 0.05;
    w[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < w.length) w[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return w;
}

function caseKey(c: KernelCase): string {
  const pat = c.pattern.replace(/[^A-Za-z0-9]+/g, '');
  return c.pattern === 'dense' ? `dense-${shapeName(c.shape)}` : `${pat}-s${Math.round(c.sparsity * 100)}-${shapeName(c.shape)}`;
}

function opName(c: KernelCase): string {
  return c.variant ? `${caseKey(c)}-${c.variant}` : caseKey(c);
}

export function runScript(): string {
  return `#!/usr/bin/env bash
# Builds the runner and every kernel library for this GPU's SM, then times them beside
# cuBLAS and PyTorch's sparse paths. Outputs: results.json (runner), torch.json (peers), table.txt.
set -euo pipefail
cd "$(dirname "$0")"
SM=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1 | tr -d ' .')
case "$SM" in 90) GEN="-gencode=arch=compute_90a,code=sm_90a" ;; *) GEN="-gencode=arch=compute_$SM,code=sm_$SM" ;; esac
NVCC_FLAGS="-O3 -std=c++17 $GEN"
mkdir -p lib
CSLT=$(python3 tools/find_cusparselt.py 2>/dev/null || true)
CSLT_LIB=\${CSLT%% *}; CSLT_INC=\${CSLT#* }
build_kernel() {
  local src=$1 out=lib/$(basename "\${1%.cu}").so extra=""
  [ -f "$out" ] && return 0
  if grep -q cusparseLt.h "$src"; then
    if [ -z "$CSLT_LIB" ]; then echo "no cuSPARSELt in python3's environment: skipping $src" >&2; return 0; fi
    extra="-I$CSLT_INC -Xlinker $CSLT_LIB -Xlinker -rpath=$(dirname "$CSLT_LIB")"
  fi
  nvcc $NVCC_FLAGS -Xcompiler -fPIC -shared -o "$out.tmp" "$src" $extra -lcublas 2> "lib/$(basename "\${src%.cu}").log" || { echo "BUILD FAILED: $src" >&2; cat "lib/$(basename "\${src%.cu}").log" >&2; return 1; }
  mv "$out.tmp" "$out"
}
export -f build_kernel; export NVCC_FLAGS CSLT_LIB CSLT_INC
t0=$(date +%s)
if command -v python3 >/dev/null; then python3 tools/apply_masks.py ops.json; fi
[ -f lib/tesa-cuda-runner ] || nvcc $NVCC_FLAGS -o lib/tesa-cuda-runner runner.cu -lcublas -ldl
ls k_*.cu 2>/dev/null | xargs -r -P "$(nproc)" -I{} bash -c 'build_kernel {}' || echo "some kernels failed to build: their ops are left out" >&2
echo "built in $(( $(date +%s) - t0 )) s" >&2
# Ops whose library did not build are left out (and named), so the others still run.
awk '$1 != "op" || $3 != "lib" || system("test -f " $4) == 0 { print; next } { print "left out: " $2 > "/dev/stderr" }' manifest.txt > manifest.run.txt
./lib/tesa-cuda-runner manifest.run.txt > results.json
if [ -f peers.json ] && python3 -c 'import torch' 2>/dev/null; then
  python3 tools/torch_peers.py peers.json > torch.json || echo '{"results":[]}' > torch.json
else
  echo '{"results":[]}' > torch.json
fi
python3 tools/summarize.py results.json torch.json ops.json > table.txt 2>&1 && cat table.txt || true
`;
}

/** Writes the bundle for these cases into `dir` (created). Every shape gets a cuBLAS dense op. */
export function writeBenchBundle(dir: string, cases: KernelCase[], opts: BundleOptions = {}): Bundle {
  const seed = opts.seed ?? 1;
  mkdirSync(join(dir, 'tools'), { recursive: true });
  mkdirSync(join(dir, 'weights'), { recursive: true });
  mkdirSync(join(dir, 'masks'), { recursive: true });
  const root = packageRoot();
  copyFileSync(join(root, 'backends', 'cuda', 'runner', 'runner.cu'), join(dir, 'runner.cu'));
  copyFileSync(join(root, 'backends', 'cuda', 'runner', 'runner-common.h'), join(dir, 'runner-common.h'));
  for (const f of ['torch_peers.py', 'find_cusparselt.py', 'summarize.py', 'apply_masks.py']) copyFileSync(join(root, 'backends', 'cuda', 'tools', f), join(dir, 'tools', f));

  const all: KernelCase[] = [];
  const seen = new Set<string>();
  for (const c of cases) {
    const d: KernelCase = { shape: c.shape, pattern: 'dense', sparsity: 0 };
    if (!seen.has(opName(d))) {
      seen.add(opName(d));
      all.push(d);
    }
  }
  for (const c of cases) if (c.pattern !== 'dense' && !seen.has(opName(c))) {
    seen.add(opName(c));
    all.push(c);
  }

  const ops: BundleOp[] = [];
  const weights = new Map<string, Float32Array>();
  const masks = new Map<string, Uint8Array>();
  for (const c of all) {
    const key = shapeName(c.shape);
    if (!weights.has(key)) weights.set(key, randomWeight(c.shape, seed));
    const w = weights.get(key)!;
    const name = opName(c);
    const ck = caseKey(c);
    let mask: Uint8Array | null = null;
    if (c.pattern !== 'dense') {
      const ratio = c.pattern.startsWith('nm:') ? 0.5 : c.sparsity;
      mask = masks.get(ck) ?? makeMask({ data: w, shape: [c.shape.N, c.shape.K] }, c.pattern, ratio, { channelMultiple: 16, weightName: ck });
      masks.set(ck, mask);
    }
    const lowered = lowerGemm(c.shape, c.pattern, mask, c.tuning);
    // The device gets one dense weight per shape and a 1-bit mask per op (tools/apply_masks.py
    // writes the masked fp16 weights there), so a whole suite stays far under the carry limit.
    const denseFile = join('weights', `dense-${key}.f16`);
    writeFileSync(join(dir, denseFile), toHalfArray(w));
    const weightFile = c.pattern === 'dense' ? denseFile : join('weights', `${ck}.f16`);
    const maskFile = mask ? join('masks', `${ck}.bits`) : null;
    if (mask && maskFile) {
      if (opts.maskedWeights) {
        const masked = new Float32Array(w.length);
        for (let i = 0; i < w.length; i++) masked[i] = mask[i] ? w[i]! : 0;
        writeFileSync(join(dir, weightFile), toHalfArray(masked));
      } else writeFileSync(join(dir, maskFile), packBits(mask));
    }
    let hash: string | null = null;
    if (lowered.code !== null) {
      hash = cudaKernelHash(lowered.code, 'bundle');
      writeFileSync(join(dir, `k_${hash}.cu`), lowered.code);
    }
    ops.push({
      name,
      caseKey: ck,
      variant: c.variant ?? '',
      kind: lowered.code === null ? 'cublas' : 'lib',
      kernel: lowered.kernel,
      pattern: c.pattern,
      sparsity: c.pattern.startsWith('nm:') ? 0.5 : c.sparsity,
      achievedSparsity: mask ? maskedFraction(mask) : 0,
      computedFraction: lowered.computedFraction,
      shape: c.shape,
      hash,
      weightFile,
      denseFile,
      maskFile,
    });
  }

  if (opts.cublasTransposed ?? ops.some((o) => o.kernel === 'gemm-gather')) {
    for (const d of ops.filter((o) => o.kind === 'cublas')) ops.push({ ...d, name: `${d.name}-t`, variant: 't', kind: 'cublast', kernel: 'cublas-dense-t' });
  }
  const reps = opts.reps ?? 50;
  const warmup = opts.warmup ?? 10;
  const flush = opts.flush ?? true;
  const manifest = [`# tesa CUDA kernel bench`, `warmup ${warmup}`, `reps ${reps}`, `flush ${flush ? 1 : 0}`, `seed ${seed}`];
  for (const o of ops) manifest.push(`op ${o.name} ${o.kind} ${o.hash ? `lib/k_${o.hash}.so` : '-'} ${o.weightFile} ${o.shape.M} ${o.shape.N} ${o.shape.K}`);
  writeFileSync(join(dir, 'manifest.txt'), manifest.join('\n') + '\n');
  writeFileSync(join(dir, 'ops.json'), JSON.stringify({ ops }, null, 1));
  if (opts.torchPeers ?? true) {
    writeFileSync(
      join(dir, 'peers.json'),
      JSON.stringify({ reps, warmup, flush, seed, ops: ops.filter((o) => o.variant === '').map((o) => ({ name: o.caseKey, pattern: o.pattern, M: o.shape.M, N: o.shape.N, K: o.shape.K, weightFile: o.weightFile })) }, null, 1),
    );
  }
  writeFileSync(join(dir, 'run.sh'), runScript(), { mode: 0o755 });
  return { dir, ops };
}
