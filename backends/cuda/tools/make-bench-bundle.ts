/**
 * Writes the issue-9 benchmark bundle (BERT-base GEMMs at 4096 tokens, fp16: block:32x32 and
 * tile:128 at 75% and 90%, nm:2:4, each beside cuBLAS dense and PyTorch's sparse paths) for
 * a GPU machine without Node: `node dist/backends/cuda/tools/make-bench-bundle.js <dir>`,
 * then on the GPU machine `bash <dir>/run.sh`.
 */
import { writeBenchBundle, type KernelCase } from '../bundle.js';

const dir = process.argv[2] ?? '.cuda-bench';
const shapes = [
  { M: 4096, N: 768, K: 768 },
  { M: 4096, N: 3072, K: 768 },
  { M: 4096, N: 768, K: 3072 },
];
const cases: KernelCase[] = [];
for (const shape of shapes) {
  for (const pattern of ['block:32x32', 'tile:128']) for (const sparsity of [0.75, 0.9]) cases.push({ shape, pattern, sparsity });
  cases.push({ shape, pattern: 'nm:2:4', sparsity: 0.5 });
}
const b = writeBenchBundle(dir, cases, { reps: Number(process.env.TESA_REPS ?? 50) });
for (const o of b.ops) process.stdout.write(`${o.name}\t${o.kernel}\tachieved ${(o.achievedSparsity * 100).toFixed(1)}%\tcomputed ${(o.computedFraction * 100).toFixed(1)}%\n`);
