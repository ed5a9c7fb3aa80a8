/**
 * Writes the issue-9 benchmark bundle (BERT-base GEMMs at 4096 tokens, fp16: block:32x32 and
 * tile:128 at 75% and 90%, nm:2:4, each beside cuBLAS dense, row-major and feature-major, and
 * optionally PyTorch's sparse paths) for a GPU machine without Node:
 * `node dist/backends/cuda/tools/make-bench-bundle.js <dir>`, then on the GPU machine
 * `bash <dir>/run.sh`. TESA_TORCH=0 leaves the PyTorch peers out; TESA_CHECK_SHAPES=1 adds
 * the device tests' odd shapes (checked against cuBLAS like every op).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeBenchBundle, type KernelCase } from '../bundle.js';
import type { GatherKernelOptions } from '../kernels/gemm-gather.js';

const dir = process.argv[2] ?? '.cuda-bench';
/** gemm-gather (wgmma) variants timed beside the wmma kernels' defaults. */
const ALL_VARIANTS: Array<[string, Partial<GatherKernelOptions>]> = [
  ['g128', { wr: 128, bn: 128, kc: 32, stages: 6 }],
  ['g128n256', { wr: 128, bn: 256, kc: 32, stages: 4 }],
  ['g64', { wr: 64, bn: 128, kc: 32, stages: 6 }],
  ['g64n64', { wr: 64, bn: 64, kc: 32, stages: 6 }],
  ['g128k64', { wr: 128, bn: 128, kc: 64, stages: 4 }],
  ['g128p', { wr: 128, bn: 128, kc: 32, stages: 6, persistent: true }],
  ['g128k64p', { wr: 128, bn: 128, kc: 64, stages: 4, persistent: true }],
  ['g128n256p', { wr: 128, bn: 256, kc: 32, stages: 4, persistent: true }],
  ['g64p', { wr: 64, bn: 128, kc: 32, stages: 6, persistent: true }],
  ['g64k64p', { wr: 64, bn: 128, kc: 64, stages: 4, persistent: true }],
  ['g64n256', { wr: 64, bn: 256, kc: 32, stages: 5 }],
  ['g64s4', { wr: 64, bn: 128, kc: 32, stages: 4 }],
  ['g128n64', { wr: 128, bn: 64, kc: 32, stages: 6 }],
  ['g64n64s4', { wr: 64, bn: 64, kc: 32, stages: 4 }],
  ['g128q', { wr: 128, bn: 128, kc: 32, stages: 6, epilogue: 'quad' }],
  ['g128pq', { wr: 128, bn: 128, kc: 32, stages: 6, persistent: true }],
  ['g128pq4', { wr: 128, bn: 128, kc: 32, stages: 4, persistent: true }],
  ['g64s4q', { wr: 64, bn: 128, kc: 32, stages: 4, epilogue: 'quad' }],
  ['g64pq', { wr: 64, bn: 128, kc: 32, stages: 4, persistent: true }],
  ['g128n256q', { wr: 128, bn: 256, kc: 32, stages: 4, epilogue: 'quad' }],
  ['g128ws', { wr: 128, bn: 128, kc: 32, stages: 6, warpSpecialized: true }],
  ['g128ws8', { wr: 128, bn: 128, kc: 32, stages: 8, warpSpecialized: true }],
  ['g128n256ws', { wr: 128, bn: 256, kc: 32, stages: 4, warpSpecialized: true }],
  ['g64ws', { wr: 64, bn: 128, kc: 32, stages: 6, warpSpecialized: true }],
  ['g128f', { wr: 128, bn: 128, kc: 32, stages: 6, proxyFence: true }],
  ['g128pf', { wr: 128, bn: 128, kc: 32, stages: 6, persistent: true, proxyFence: true }],
  ['g128s4', { wr: 128, bn: 128, kc: 32, stages: 4 }],
  ['g128s8', { wr: 128, bn: 128, kc: 32, stages: 8 }],
  ['g128s8p', { wr: 128, bn: 128, kc: 32, stages: 8, persistent: true }],
];
/** TESA_VARIANTS=a,b,… picks gemm-gather variants by name; TESA_WMMA=0 leaves the wmma kernels out; TESA_NM=0 leaves nm:2:4 out. */
const wanted = (process.env.TESA_VARIANTS ?? 'g128,g128n256,g64,g64n256,g128k64').split(',');
const GATHER_VARIANTS = ALL_VARIANTS.filter(([n]) => wanted.includes(n));
const shapes = [
  { M: 4096, N: 768, K: 768 },
  { M: 4096, N: 3072, K: 768 },
  { M: 4096, N: 768, K: 3072 },
];
const cases: KernelCase[] = [];
for (const shape of shapes) {
  for (const sparsity of [0.75, 0.9]) {
    for (const pattern of ['block:32x32', 'tile:128']) {
      // The default: what the backend picks on Hopper (gemm-gather); 'wmma' the pre-Hopper kernels.
      cases.push({ shape, pattern, sparsity, tuning: { engine: 'wgmma' } });
      if (process.env.TESA_WMMA !== '0') cases.push({ shape, pattern, sparsity, variant: 'wmma' });
      for (const [variant, gather] of GATHER_VARIANTS) cases.push({ shape, pattern, sparsity, variant, tuning: { engine: 'wgmma', gather } });
    }
  }
  if (process.env.TESA_NM !== '0') {
    cases.push({ shape, pattern: 'nm:2:4', sparsity: 0.5 });
    cases.push({ shape, pattern: 'nm:2:4', sparsity: 0.5, variant: 'fm', tuning: { nmLayout: 'feature-major' } });
  }
}
if (process.env.TESA_CHECK_SHAPES === '1') {
  // The device tests' shapes: tails in M, N not a multiple of the CTA, short K lists.
  const odd: Array<[string, number, number, number, number]> = [
    ['block:32x32', 0.75, 200, 128, 256],
    ['block:16x32', 0.9, 256, 96, 160],
    ['tile:64', 0.75, 200, 192, 256],
    ['tile:128', 0.9, 256, 384, 256],
  ];
  for (const [pattern, sparsity, M, N, K] of odd) {
    cases.push({ shape: { M, N, K }, pattern, sparsity, tuning: { engine: 'wgmma' } });
    for (const [variant, gather] of GATHER_VARIANTS) cases.push({ shape: { M, N, K }, pattern, sparsity, variant, tuning: { engine: 'wgmma', gather } });
  }
}
const b = writeBenchBundle(dir, cases, { reps: Number(process.env.TESA_REPS ?? 50), torchPeers: process.env.TESA_TORCH !== '0' });
for (const o of b.ops) process.stdout.write(`${o.name}\t${o.kernel}\tachieved ${(o.achievedSparsity * 100).toFixed(1)}%\tcomputed ${(o.computedFraction * 100).toFixed(1)}%\n`);
// The PyTorch peers only for the shapes (the odd shapes are there to check correctness).
const peersPath = join(dir, 'peers.json');
if (existsSync(peersPath)) {
  const peers = JSON.parse(readFileSync(peersPath, 'utf8')) as { ops: Array<{ M: number }> };
  peers.ops = peers.ops.filter((o) => o.M === 4096);
  writeFileSync(peersPath, JSON.stringify(peers, null, 1));
}
