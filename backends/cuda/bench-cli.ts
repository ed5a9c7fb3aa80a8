/** Prints `tesa bench kernel --target cuda` (table or JSON). */
import { TesaError } from '../../src/errors.js';
import { printJson } from '../../src/cli/options.js';
import { table } from '../../src/cli/format.js';
import { benchCudaKernel, type CudaBenchSide } from './bench.js';
import type { GemmShape } from './kernels/cuda-prelude.js';

const us = (ms: number): string => (ms * 1000).toFixed(1);

/** '0.75' or '75%' → 0.75; undefined stays undefined. */
export function parseSparsity(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const t = text.trim();
  const v = t.endsWith('%') ? Number(t.slice(0, -1)) / 100 : Number(t);
  if (!Number.isFinite(v)) throw new TesaError('BAD_INPUT', `--sparsity '${text}' is not a number`, 'for example --sparsity 0.75 or 75%');
  return v;
}

export async function printCudaKernelBench(shape: GemmShape, pattern: string | undefined, sparsityText: string | undefined, json: boolean): Promise<void> {
  const sparsity = parseSparsity(sparsityText);
  if (!pattern) throw new TesaError('BAD_INPUT', '--target cuda needs --pattern', 'for example --pattern block:32x32 --sparsity 0.75');
  const isNm = pattern.startsWith('nm:');
  if (!isNm && (sparsity === undefined || !(sparsity > 0 && sparsity < 1))) throw new TesaError('BAD_INPUT', `--sparsity must be a fraction in (0, 1) for ${pattern}`, 'for example --sparsity 0.75');
  const r = await benchCudaKernel(shape, pattern, isNm ? 0.5 : sparsity!);
  if (json) {
    printJson(r);
    return;
  }
  const row = (s: CudaBenchSide): string[] => [s.name, us(s.stats.medianMs), us(s.stats.ciLowMs), us(s.stats.ciHighMs), us(s.stats.madMs), s.maxRelError === null ? '-' : s.maxRelError.toExponential(1)];
  const rows = [row({ ...r.ours, name: `tesa ${r.kernel}` }), row({ ...r.cublas, name: 'cuBLAS dense' })];
  for (const t of r.torch) rows.push('stats' in t ? row(t) : [t.name, '-', '-', '-', '-', t.error.slice(0, 60)]);
  process.stdout.write(
    `matmul ${shape.M}x${shape.N}x${shape.K} fp16 on ${r.device}, ${pattern} at ${(r.achievedSparsity * 100).toFixed(1)}% (L2 flushed before each repetition)\n` +
      table(['', 'median µs', 'CI low', 'CI high', 'MAD', 'max rel err'], rows) +
      `\nspeed-up over cuBLAS dense ${r.speedupVsCublas.toFixed(2)}×` +
      (r.speedupVsTorchSparse === null ? ' (no PyTorch here)\n' : `, over PyTorch's sparse path ${r.speedupVsTorchSparse.toFixed(2)}×\n`),
  );
}
