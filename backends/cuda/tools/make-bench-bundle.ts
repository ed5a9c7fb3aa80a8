/**
 * Writes the issue-9 benchmark bundle (BERT-base GEMMs at 4096 tokens, fp16: block:32x32 and
 * tile:128 at 75% and 90%, nm:2:4, each beside cuBLAS dense and PyTorch's sparse paths) for
 * a GPU machine without Node: `node dist/backends/cuda/tools/make-bench-bundle.js <dir>`,
 * then on the GPU machine `bash <dir>/run.sh`.
 */
import { writeBenchBundle, type KernelCase } from '../bundle.js';
import type { BlockKernelOptions } from '../kernels/gemm-block.js';

const dir = process.argv[2] ?? '.cuda-bench';
/** Tuning variants timed beside the defaults (bm128 w4 s3 b1). */
const BLOCK_VARIANTS: Array<[string, Partial<BlockKernelOptions>]> = [
  ['bm256w8', { bm: 256, warpsM: 8, stages: 3, blocksPerStage: 1 }],
  ['rb4', { bm: 128, warpsM: 4, stages: 4, blocksPerStage: 1, rowsPerCta: 4 }],
  ['rb8', { bm: 128, warpsM: 4, stages: 4, blocksPerStage: 1, rowsPerCta: 8 }],
  ['bm64rb4', { bm: 64, warpsM: 2, stages: 4, blocksPerStage: 1, rowsPerCta: 4 }],
  ['bm256rb4', { bm: 256, warpsM: 8, stages: 3, blocksPerStage: 1, rowsPerCta: 4 }],
];
const shapes = [
  { M: 4096, N: 768, K: 768 },
  { M: 4096, N: 3072, K: 768 },
  { M: 4096, N: 768, K: 3072 },
];
const cases: KernelCase[] = [];
for (const shape of shapes) {
  for (const sparsity of [0.75, 0.9]) {
    cases.push({ shape, pattern: 'block:32x32', sparsity });
    for (const [variant, block] of BLOCK_VARIANTS) cases.push({ shape, pattern: 'block:32x32', sparsity, variant, tuning: { block } });
    cases.push({ shape, pattern: 'tile:128', sparsity });
    cases.push({ shape, pattern: 'tile:128', sparsity, variant: 'xt', tuning: { tile: { xLayout: 'transposed' } } });
  }
  cases.push({ shape, pattern: 'nm:2:4', sparsity: 0.5 });
}
const b = writeBenchBundle(dir, cases, { reps: Number(process.env.TESA_REPS ?? 50) });
for (const o of b.ops) process.stdout.write(`${o.name}\t${o.kernel}\tachieved ${(o.achievedSparsity * 100).toFixed(1)}%\tcomputed ${(o.computedFraction * 100).toFixed(1)}%\n`);
