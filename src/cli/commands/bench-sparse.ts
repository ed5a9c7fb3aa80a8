/**
 * `tesa bench kernel --pattern P --sparsity S --shape MxNxK`: our sparse GEMM (the plan the
 * picker chooses for that mask) beside our dense GEMM, onnxruntime-node's MatMul and OpenBLAS
 * (when installed); and `tesa bench sweep`: the issue's table plus the block-shape sweep
 * (TVM BSR paper, Table 1). Y[M×N] = X[M×K]·Wᵀ, W N×K pruned by an L1-ranked mask.
 *
 * The sparse kernel, the backend's dense GEMM (gemm-dense) and OpenBLAS run in one process,
 * interleaved, so `vsDense` and `vsOpenblas` are same-run ratios; onnxruntime comes from
 * `benchDenseGemm` right after, so `vsOnnxruntime` is an adjacent-run ratio.
 */
import type { Command } from 'commander';
import seedrandom from 'seedrandom';
import { TesaError } from '../../errors.js';
import { summarize, type LatencyStats } from '../../evaluate/stats.js';
import { makeMask } from '../../prune/masks.js';
import { parsePattern, parseRatio } from '../../prune/pattern.js';
import { maskedFraction, type Precision } from '../../plan/sparsity.js';
import { pickPlan, type CandidateTiming } from '../../plan/picker.js';
import { lowerSparseGemm, planName, type SparsePlan } from '../../../backends/cpu/kernels/sparse/families.js';
import { benchSparseKernels } from '../../../backends/cpu/kernels/sparse/harness.js';
import { detectIsa, isaInfo, type VectorIsa } from '../../../backends/cpu/kernels/sparse/isa.js';
import type { SparseGemmProblem } from '../../../backends/cpu/kernels/sparse/structure.js';
import { addJsonOption, printJson } from '../options.js';
import { table } from '../format.js';
import { benchDenseGemm, parseGemmShape, type GemmShape } from './bench-kernel.js';

export interface TimedSide {
  medianMs: number;
  ciLowMs: number;
  ciHighMs: number;
}

export interface SparseKernelBench {
  shape: GemmShape;
  pattern: string;
  sparsity: number;
  achievedSparsity: number;
  precision: Precision;
  isa: VectorIsa;
  /** the plan the picker chose ('dense' when no sparse plan beat dense) */
  plan: string;
  ours: TimedSide;
  dense: TimedSide;
  onnxruntime: TimedSide | null;
  openblas: TimedSide | null;
  openblasNote: string | null;
  speedup: { vsDense: number; vsOnnxruntime: number | null; vsOpenblas: number | null };
  maxRelError: number;
  candidates: CandidateTiming[];
}

function timed(s: LatencyStats): TimedSide {
  return { medianMs: s.medianMs, ciLowMs: s.ciLowMs, ciHighMs: s.ciHighMs };
}

/** A seeded N×K weight pruned with `pattern` at `ratio` (L1 importance). */
export function sparseProblem(shape: GemmShape, pattern: string, ratio: number, seed = 7): SparseGemmProblem {
  const rng = seedrandom(String(seed));
  const weight = new Float32Array(shape.N * shape.K);
  for (let i = 0; i < weight.length; i++) weight[i] = rng() * 2 - 1;
  const mask = makeMask({ data: weight, shape: [shape.N, shape.K] }, pattern, ratio, { weightName: `W ${shape.N}x${shape.K}` });
  return { m: shape.M, n: shape.N, k: shape.K, weight, mask };
}

export interface SparseBenchOptions {
  isa?: VectorIsa;
  /** include our backend's dense GEMM and onnxruntime (default true) */
  peers?: boolean;
  reps?: number;
  budgetMs?: number;
}

export async function benchSparseGemm(shape: GemmShape, pattern: string, ratio: number, opts: SparseBenchOptions = {}): Promise<SparseKernelBench> {
  parsePattern(pattern, '--pattern');
  const isa = opts.isa ?? detectIsa();
  const prob = sparseProblem(shape, pattern, ratio);
  const choice = await pickPlan(prob, pattern, { isa, fingerprintId: `bench-${isa}`, reps: 15, budgetMs: 2500 });
  // When no sparse plan beats dense, our kernel for this op is the dense GEMM itself.
  const sparse = choice.plan.family === 'dense' ? [] : [lowerSparseGemm(isaInfo(isa), prob, choice.plan, 'ours')];
  const r = await benchSparseKernels(prob, sparse, { openblas: true, backendDense: true, isa, reps: opts.reps ?? 40, budgetMs: opts.budgetMs ?? 4000 });
  const mine = r.contenders[0] ?? r.dense!;
  const ours = summarize(mine.samplesMs);
  const blas = r.openblas ? summarize(r.openblas.samplesMs) : null;
  const dense: TimedSide = timed(summarize(r.dense!.samplesMs));
  let ort: TimedSide | null = null;
  if (opts.peers ?? true) {
    const d = await benchDenseGemm(shape, { threads: 1, rounds: 6, perRound: 8 });
    ort = d.onnxruntime;
  }
  return {
    shape,
    pattern,
    sparsity: ratio,
    achievedSparsity: maskedFraction(prob.mask),
    precision: 'fp32',
    isa,
    plan: choice.plan.family === 'dense' ? 'dense' : planName(choice.plan),
    ours: timed(ours),
    dense,
    onnxruntime: ort,
    openblas: blas ? timed(blas) : null,
    openblasNote: r.openblasNote ?? null,
    speedup: {
      vsDense: dense.medianMs / ours.medianMs,
      vsOnnxruntime: ort ? ort.medianMs / ours.medianMs : null,
      vsOpenblas: blas ? blas.medianMs / ours.medianMs : null,
    },
    maxRelError: mine.maxRelError ?? Infinity,
    candidates: choice.candidates,
  };
}

/** The kernel a pattern maps to natively (the sweep times patterns, not the picker). */
export function nativePlan(pattern: string): SparsePlan {
  const p = parsePattern(pattern, '--pattern');
  switch (p.kind) {
    case 'block':
      return { family: 'bsr', r: p.rows, c: p.cols };
    case 'tile':
      return { family: 'tile', g: p.g, rb: 4 };
    case 'row':
    case 'col':
    case 'channel':
      return { family: 'shrunk' };
    case 'dense':
      return { family: 'dense-xt' };
    default:
      return { family: 'csr' };
  }
}

export interface SweepRow {
  shape: string;
  pattern: string;
  sparsity: number;
  plan: string;
  oursMs: number;
  denseMs: number;
  openblasMs: number | null;
  /** the backend's dense GEMM / ours, same run */
  vsDense: number;
  vsOpenblas: number | null;
  maxRelError: number;
}

async function sweepRow(shape: GemmShape, pattern: string, ratio: number, isa: VectorIsa): Promise<SweepRow> {
  const prob = sparseProblem(shape, pattern, ratio);
  const plan = nativePlan(pattern);
  const kernels = [lowerSparseGemm(isaInfo(isa), prob, plan, 'ours')];
  const r = await benchSparseKernels(prob, kernels, { openblas: true, backendDense: true, isa, reps: 30, budgetMs: 3000 });
  const ours = summarize(r.contenders[0]!.samplesMs).medianMs;
  const dense = summarize(r.dense!.samplesMs).medianMs;
  const blas = r.openblas ? summarize(r.openblas.samplesMs).medianMs : null;
  return {
    shape: `${shape.M}x${shape.N}x${shape.K}`,
    pattern,
    sparsity: ratio,
    plan: planName(plan),
    oursMs: ours,
    denseMs: dense,
    openblasMs: blas,
    vsDense: dense / ours,
    vsOpenblas: blas === null ? null : blas / ours,
    maxRelError: r.contenders[0]!.maxRelError ?? Infinity,
  };
}

export const SWEEP_SHAPES: GemmShape[] = [{ M: 128, N: 768, K: 768 }, { M: 128, N: 3072, K: 768 }];
export const SWEEP_CASES: Array<[string, number]> = [['block:1x32', 0.5], ['block:1x32', 0.8], ['block:1x32', 0.9], ['fine', 0.95], ['tile:128', 0.75]];
export const BLOCK_SHAPES = ['1x4', '1x8', '1x16', '1x32', '1x64', '1x128', '1x256', '4x1', '8x1', '16x1', '32x1', '4x4', '8x8', '16x16', '32x32', '64x64'];

export async function benchSweep(isa: VectorIsa = detectIsa(), onRow?: (r: SweepRow) => void): Promise<{ table: SweepRow[]; blockShapes: SweepRow[] }> {
  const rows: SweepRow[] = [];
  for (const shape of SWEEP_SHAPES) {
    for (const [pattern, ratio] of SWEEP_CASES) {
      const r = await sweepRow(shape, pattern, ratio, isa);
      rows.push(r);
      onRow?.(r);
    }
  }
  const blocks: SweepRow[] = [];
  for (const b of BLOCK_SHAPES) {
    const r = await sweepRow(SWEEP_SHAPES[0]!, `block:${b}`, 0.8, isa);
    blocks.push(r);
    onRow?.(r);
  }
  return { table: rows, blockShapes: blocks };
}

const f3 = (x: number | null): string => (x === null ? '-' : x.toFixed(3));
const f2 = (x: number | null): string => (x === null ? '-' : `${x.toFixed(2)}x`);

function sweepTable(rows: SweepRow[]): string {
  return table(
    ['shape', 'pattern', 'sparsity', 'plan', 'ours ms', 'dense ms', 'openblas ms', 'vs dense', 'vs openblas', 'max rel err'],
    rows.map((r) => [r.shape, r.pattern, `${Math.round(r.sparsity * 100)}%`, r.plan, f3(r.oursMs), f3(r.denseMs), f3(r.openblasMs), f2(r.vsDense), f2(r.vsOpenblas), r.maxRelError.toExponential(1)]),
  );
}

function checkPrecision(p: string | undefined): Precision {
  if (p === undefined || p === 'fp32') return 'fp32';
  throw new TesaError('UNSUPPORTED', `--precision ${p}: the cpu sparse kernels are fp32`, 'use --precision fp32');
}

/** Runs `bench kernel` with --pattern (called from bench-kernel.ts). */
export async function runSparseKernelBench(o: { shape: string; pattern: string; sparsity?: string; precision?: string; isa?: string; json?: boolean }): Promise<void> {
  checkPrecision(o.precision);
  const shape = parseGemmShape(o.shape);
  if (o.sparsity === undefined) throw new TesaError('BAD_INPUT', '--pattern needs --sparsity', 'for example --pattern block:1x32 --sparsity 0.8');
  const ratio = parseRatio(o.sparsity, '--sparsity');
  if (o.isa !== undefined && o.isa !== 'avx2' && o.isa !== 'avx512') throw new TesaError('BAD_INPUT', `--isa '${o.isa}' has no sparse kernel`, 'use --isa avx512 or avx2');
  if (o.isa === 'avx512' && detectIsa() !== 'avx512') throw new TesaError('UNSUPPORTED', 'this CPU has no AVX-512 (asked by --isa)', 'use --isa avx2');
  const r = await benchSparseGemm(shape, o.pattern, ratio, o.isa === undefined ? {} : { isa: o.isa });
  if (o.json) {
    printJson(r);
    return;
  }
  const row = (name: string, s: TimedSide | null): string[] => (s ? [name, f3(s.medianMs), f3(s.ciLowMs), f3(s.ciHighMs)] : [name, '-', '-', '-']);
  process.stdout.write(
    `matmul ${shape.M}x${shape.N}x${shape.K}, ${o.pattern} at ${(r.achievedSparsity * 100).toFixed(1)}% (asked ${(ratio * 100).toFixed(1)}%), 1 thread, ${r.isa}; plan ${r.plan}\n` +
      table(['', 'median ms', 'CI low', 'CI high'], [row('ours (sparse)', r.ours), row('dense (ours)', r.dense), row('onnxruntime', r.onnxruntime), row('openblas', r.openblas)]) +
      `\n${r.openblasNote ? `note: ${r.openblasNote}\n` : ''}speedup: ${f2(r.speedup.vsDense)} vs dense, ${f2(r.speedup.vsOnnxruntime)} vs onnxruntime, ${f2(r.speedup.vsOpenblas)} vs openblas; max relative error ${r.maxRelError.toExponential(2)}\n`,
  );
}

/** Registers `bench sweep` under the `bench` command. */
export function registerSweep(bench: Command): void {
  addJsonOption(bench.command('sweep').description('sparse GEMM table (block 1x32 50/80/90%, fine 95%, tile:128 75%) and the block-shape sweep at 80%')).action(async (o: { json?: boolean }) => {
    const isa = detectIsa();
    const r = await benchSweep(isa, o.json ? undefined : (row) => process.stderr.write(`  ${row.shape} ${row.pattern} ${Math.round(row.sparsity * 100)}%: ${f2(row.vsOpenblas)} vs openblas\n`));
    if (o.json) {
      printJson(r);
      return;
    }
    const best = [...r.blockShapes].sort((a, b) => a.oursMs - b.oursMs)[0]!;
    process.stdout.write(`sparse GEMM, 1 thread, ${isa}\n${sweepTable(r.table)}\n\nblock shapes at 80%, 128x768x768 (TVM BSR paper, Table 1)\n${sweepTable(r.blockShapes)}\nfastest block shape here: ${best.pattern} (${f2(best.vsOpenblas)} vs openblas)\n`);
  });
}
