/** Prints `tesa bench model --target cuda` (table or JSON). */
import { printJson } from '../../src/cli/options.js';
import { table } from '../../src/cli/format.js';
import type { LatencyStats } from '../../src/evaluate/stats.js';
import { benchCudaModel, type CudaModelBenchOptions } from './bench-model.js';

const ms = (x: number): string => x.toFixed(3);
const kernels = (k: Record<string, number>): string =>
  Object.entries(k)
    .map(([name, n]) => `${n} ${name}`)
    .join(', ');

export async function printCudaModelBench(spec: string, opts: CudaModelBenchOptions, json: boolean): Promise<void> {
  const r = await benchCudaModel(spec, opts);
  if (json) {
    printJson(r);
    return;
  }
  const row = (name: string, s: LatencyStats): string[] => [name, ms(s.medianMs), ms(s.ciLowMs), ms(s.ciHighMs), ms(s.madMs), String(s.n)];
  const rows = [row(`dense (${kernels(r.dense.kernels)})`, r.dense.stats)];
  if (r.sparse) rows.push(row(`${r.sparse.pattern} ${(r.sparse.sparsity * 100).toFixed(0)}% (${kernels(r.sparse.kernels)})`, r.sparse.stats));
  for (const t of r.torch) rows.push('stats' in t ? row(t.name, t.stats) : [t.name, '-', '-', '-', '-', t.error.slice(0, 60)]);
  process.stdout.write(
    `${spec} fp16 on ${r.device}: whole model as one CUDA graph, L2 flushed before each run\n` +
      table(['', 'median ms', 'CI low', 'CI high', 'MAD', 'n'], rows) +
      '\n' +
      (r.sparse
        ? `speed-up over dense ${r.speedup!.toFixed(3)}×; outputs vs the masked dense model: max rel. diff ${r.sparse.maxRelError.toExponential(2)}; ` +
          `worst sparse linear vs cuBLAS ${r.sparse.checkMaxRelError.toExponential(2)}\n`
        : '') +
      (r.torchMaxRelError === null ? '' : `our dense vs PyTorch's output: max rel. diff ${r.torchMaxRelError.toExponential(2)}\n`) +
      `compile: dense ${(r.compileMs.dense / 1000).toFixed(1)} s${r.compileMs.sparse === null ? '' : `, sparse ${(r.compileMs.sparse / 1000).toFixed(1)} s`}\n`,
  );
}
