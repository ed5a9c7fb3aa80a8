/**
 * The int8 kernel benchmark behind `tesa bench kernel --precision int8`: a seeded N×K weight
 * (optionally pruned with a pattern, L1 importance), the int8 kernel for it (dense or BSR,
 * optionally with a fraction of fp32 outliers) beside the CPU backend's fp32 dense GEMM and
 * OpenBLAS, all in one process, interleaved, one thread. Ratios are same-run.
 */
import seedrandom from 'seedrandom';
import { makeMask } from '../../../../src/prune/masks.js';
import { parsePattern } from '../../../../src/prune/pattern.js';
import { maskedFraction } from '../../../../src/plan/sparsity.js';
import { summarize, type LatencyStats } from '../../../../src/evaluate/stats.js';
import { TesaError } from '../../../../src/errors.js';
import { readCpuInfo } from '../../fingerprint.js';
import { int8PlanName, lowerInt8Gemm, type Int8Body, type Int8GemmProblem, type Int8Isa } from './emit.js';
import { benchInt8Kernels } from './harness.js';

export interface Int8BenchShape {
  M: number;
  N: number;
  K: number;
}

export interface Int8BenchSide {
  name: string;
  stats: LatencyStats;
  /** fp32 dense median / this median (> 1: faster than our fp32 dense) */
  speedupVsFp32Dense: number;
  quantError: number;
  intError: number | null;
}

export interface Int8Bench {
  shape: Int8BenchShape;
  isa: Int8Isa;
  pattern: string;
  sparsity: number;
  achievedSparsity: number;
  outlierFraction: number;
  plan: string;
  int8: Int8BenchSide;
  fp32Dense: Int8BenchSide;
  openblas: Int8BenchSide | null;
  openblasNote: string | null;
}

export function int8Problem(shape: Int8BenchShape, pattern: string, ratio: number, seed = 7): Int8GemmProblem {
  const rng = seedrandom(String(seed));
  const weight = new Float32Array(shape.N * shape.K);
  for (let i = 0; i < weight.length; i++) weight[i] = rng() * 2 - 1;
  if (pattern === 'dense') return { m: shape.M, n: shape.N, k: shape.K, weight };
  const mask = makeMask({ data: weight, shape: [shape.N, shape.K] }, pattern, ratio, { weightName: `W ${shape.N}x${shape.K}` });
  return { m: shape.M, n: shape.N, k: shape.K, weight, mask };
}

export function defaultInt8Isa(): Int8Isa {
  const f = readCpuInfo().flags;
  return f.includes('avx512_vnni') && f.includes('avx512bw') ? 'vnni' : 'avx2';
}

export function bodyFor(pattern: string): Int8Body {
  const p = parsePattern(pattern, '--pattern');
  if (p.kind === 'dense') return { kind: 'dense' };
  if (p.kind === 'block') return { kind: 'bsr', r: p.rows, c: p.cols };
  throw new TesaError('UNSUPPORTED', `int8 kernels serve dense and block:RxC weights, not '${pattern}'`, 'use --pattern block:1x32 (or no --pattern) with --precision int8');
}

export async function benchInt8Gemm(shape: Int8BenchShape, opts: { pattern?: string; sparsity?: number; outliers?: number; isa?: Int8Isa; reps?: number; budgetMs?: number } = {}): Promise<Int8Bench> {
  const pattern = opts.pattern ?? 'dense';
  const ratio = opts.sparsity ?? 0;
  const isa = opts.isa ?? defaultInt8Isa();
  const prob = int8Problem(shape, pattern, ratio);
  const plan = { body: bodyFor(pattern), outlierFraction: opts.outliers ?? 0, bias: false };
  const kernel = lowerInt8Gemm(isa, prob, plan, 'int8_ours');
  const r = await benchInt8Kernels(prob, [kernel], { openblas: true, reps: opts.reps ?? 40, budgetMs: opts.budgetMs ?? 4000, fp32Isa: isa === 'vnni' ? 'avx512' : 'avx2' });
  const dense = summarize(r.fp32Dense.samplesMs);
  const side = (name: string, c: { samplesMs: number[]; quantError: number; intError: number | null }): Int8BenchSide => {
    const stats = summarize(c.samplesMs);
    return { name, stats, speedupVsFp32Dense: dense.medianMs / stats.medianMs, quantError: c.quantError, intError: c.intError };
  };
  return {
    shape, isa, pattern, sparsity: ratio,
    achievedSparsity: prob.mask ? maskedFraction(prob.mask) : 0,
    outlierFraction: plan.outlierFraction,
    plan: int8PlanName(plan),
    int8: side('int8', r.contenders[0]!),
    fp32Dense: side('fp32 dense (ours)', r.fp32Dense),
    openblas: r.openblas ? side('openblas sgemm', r.openblas) : null,
    openblasNote: r.openblasNote ?? null,
  };
}

const f4 = (x: number): string => x.toFixed(4);

/** The `tesa bench kernel --precision int8` command body (src/cli/commands/bench-kernel.ts delegates here). */
export async function runInt8KernelBench(o: { shape: string; pattern?: string; sparsity?: string; outliers?: string; isa?: string; json?: boolean }): Promise<void> {
  const { parseGemmShape } = await import('../../../../src/cli/commands/bench-kernel.js');
  const { parseRatio } = await import('../../../../src/prune/pattern.js');
  const { printJson } = await import('../../../../src/cli/options.js');
  const { table } = await import('../../../../src/cli/format.js');
  const shape = parseGemmShape(o.shape);
  const pattern = o.pattern ?? 'dense';
  if (pattern !== 'dense' && o.sparsity === undefined) throw new TesaError('BAD_INPUT', '--pattern needs --sparsity', 'for example --pattern block:1x32 --sparsity 0.8');
  const sparsity = o.sparsity === undefined ? 0 : parseRatio(o.sparsity, '--sparsity');
  const outliers = o.outliers === undefined ? 0 : parseRatio(o.outliers, '--outliers');
  let isa: Int8Isa | undefined;
  if (o.isa !== undefined) {
    if (o.isa === 'avx512' || o.isa === 'vnni') isa = 'vnni';
    else if (o.isa === 'avx2') isa = 'avx2';
    else throw new TesaError('BAD_INPUT', `--isa '${o.isa}' has no int8 kernel`, 'use avx512 (VNNI) or avx2');
    if (isa === 'vnni' && defaultInt8Isa() !== 'vnni') throw new TesaError('UNSUPPORTED', 'this CPU has no AVX-512 VNNI', 'use --isa avx2');
  }
  const r = await benchInt8Gemm(shape, { pattern, sparsity, outliers, isa });
  if (o.json) {
    printJson(r);
    return;
  }
  const row = (s: Int8BenchSide | null, name: string): string[] =>
    s ? [name, f4(s.stats.medianMs), f4(s.stats.madMs), f4(s.stats.ciLowMs), f4(s.stats.ciHighMs), s.speedupVsFp32Dense.toFixed(2), s.quantError.toExponential(2)] : [name, '-', '-', '-', '-', '-', '-'];
  process.stdout.write(
    `matmul ${shape.M}x${shape.N}x${shape.K}, ${r.plan}${pattern === 'dense' ? '' : ` (${pattern} at ${(r.achievedSparsity * 100).toFixed(1)}%)`}, 1 thread, ${r.isa}\n` +
      table(['', 'median ms', 'MAD', 'CI low', 'CI high', 'x fp32 dense', 'rel error'], [row(r.int8, 'ours (int8)'), row(r.fp32Dense, 'fp32 dense (ours)'), row(r.openblas, 'openblas sgemm')]) +
      `\n${r.openblasNote ? `note: ${r.openblasNote}\n` : ''}int8 exact vs integer reference: max error ${(r.int8.intError ?? NaN).toExponential(2)}; all sides timed interleaved in one process, on the thread's CPU clock\n`,
  );
}
