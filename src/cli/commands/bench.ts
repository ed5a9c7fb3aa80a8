/**
 * `tesa bench model <model>`: our compiled dense model beside onnxruntime-node in one run
 * (same threads, same seeded inputs, timed A B A B so drift hits both), plus the largest
 * relative difference of their outputs. `tesa bench kernel` lives in bench-kernel.ts.
 */
import type { Command } from 'commander';
import { createOrtSession, type OrtFeed } from '../../model/ort.js';
import { loadModel } from '../../model/load.js';
import { randomInputs } from '../../model/inputs.js';
import type { TensorData } from '../../model/graph.js';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { interleaved, type Sampler } from '../../evaluate/measure.js';
import { relError } from '../../evaluate/rel-error.js';
import type { LatencyStats } from '../../evaluate/stats.js';
import { badInput } from '../../errors.js';
import { parsePattern, parseRatio } from '../../prune/pattern.js';
import { addJsonOption, parseCount, parseDimBindings, printJson } from '../options.js';
import { table } from '../format.js';
import { register as registerBenchKernel } from './bench-kernel.js';
import { registerSweep } from './bench-sparse.js';

export interface BenchSide {
  medianMs: number;
  ciLowMs: number;
  ciHighMs: number;
  madMs: number;
  n: number;
}

export interface BenchModelResult {
  model: string;
  threads: number;
  isa: string;
  ours: BenchSide;
  onnxruntime: BenchSide;
  ratio: number;
  maxRelError: number;
  compile: { kernelsBuilt: number; kernelsCached: number; buildMs: number; compilerCalls: number };
  roundRatios: number[];
}

export function side(s: LatencyStats): BenchSide {
  return { medianMs: s.medianMs, ciLowMs: s.ciLowMs, ciHighMs: s.ciHighMs, madMs: s.madMs, n: s.n };
}


/** Times ORT's session.run n times. */
export function ortSampler(run: () => Promise<unknown>): Sampler {
  return async (n) => {
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const t0 = performance.now();
      await run();
      out.push(performance.now() - t0);
    }
    return out;
  };
}

export interface BenchModelOptions {
  threads?: number;
  isa?: string;
  rounds?: number;
  perRound?: number;
  cacheDir?: string;
  seed?: number;
  /** Values for symbolic input dims of an .onnx file. */
  dims?: Record<string, number>;
}

export async function benchModel(spec: string, opts: BenchModelOptions = {}): Promise<BenchModelResult> {
  const threads = opts.threads ?? 1;
  const graph = await loadModel(spec, opts.dims ? { dims: opts.dims } : {});
  const backend = new CpuBackend({ threads, isa: opts.isa, cacheDir: opts.cacheDir });
  const ort = await createOrtSession(graph, { threads });
  try {
    const model = await backend.compile(graph);
    const inputs = randomInputs(graph, opts.seed ?? 1);
    const feeds: Record<string, OrtFeed> = inputs;
    const session = await backend.openSession(model, inputs as Record<string, TensorData>);
    try {
      await session.time(1);
      const ours = await session.outputs();
      const theirs = await ort.run(feeds);
      let maxRelError = 0;
      for (const [name, v] of ours) {
        const o = theirs.get(name);
        maxRelError = Math.max(maxRelError, o ? relError(v, o.data as unknown as ArrayLike<number>) : Infinity);
      }
      const res = await interleaved((n) => session.time(n), ortSampler(() => ort.run(feeds)), {
        rounds: opts.rounds ?? 12,
        perRound: opts.perRound ?? 3,
        warmup: 2,
        ciTarget: 0.02,
        minRounds: 4,
      });
      return {
        model: spec,
        threads,
        isa: (await backend.fingerprint()).isa,
        ours: side(res.a.stats),
        onnxruntime: side(res.b.stats),
        ratio: res.ratio,
        maxRelError,
        compile: { ...model.stats, compilerCalls: backend.compilerCalls },
        roundRatios: res.roundRatios,
      };
    } finally {
      await session.close();
    }
  } finally {
    await ort.release();
    await backend.close();
  }
}

const ms = (x: number): string => x.toFixed(3);

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks against onnxruntime-node (and OpenBLAS for kernels), in one run');
  addJsonOption(
    bench
      .command('model <model>')
      .description('dense latency of our compiled model beside onnxruntime-node (same threads, same inputs), and their largest output difference')
      .option('--threads <n>', 'threads for both (default 1)', (v) => parseCount(v, '--threads', 1))
      .option('--isa <isa>', 'force the micro-kernel ISA: avx512, avx2 or generic (default: best the CPU has)')
      .option('--rounds <n>', 'A-B rounds (default 12)', (v) => parseCount(v, '--rounds', 1))
      .option('--dim <name=value>', 'value of a symbolic input dim of an .onnx model (repeatable)', (v: string, prev: Record<string, number> = {}) => ({ ...prev, ...parseDimBindings(v) }))
      .option('--target <target>', 'cpu (default: beside onnxruntime) or cuda (the whole model on the GPU, dense beside --pattern)', 'cpu')
      .option('--pattern <pattern>', 'cuda: also time the model with every linear layer pruned to this pattern')
      .option('--sparsity <ratio>', 'cuda: pruned fraction for --pattern, e.g. 0.9'),
  ).action(async (spec: string, o: { threads?: number; isa?: string; rounds?: number; json?: boolean; dim?: Record<string, number>; target: string; pattern?: string; sparsity?: string }) => {
    if (o.target !== 'cpu' && o.target !== 'cuda') throw badInput(`--target '${o.target}' is not supported by bench model`, 'use --target cpu or --target cuda');
    if (o.target === 'cuda') {
      if (o.threads !== undefined || o.isa !== undefined || o.dim !== undefined) throw badInput('--threads, --isa and --dim apply to --target cpu only', 'drop them with --target cuda');
      if (o.pattern !== undefined) parsePattern(o.pattern, '--pattern');
      if ((o.pattern === undefined) !== (o.sparsity === undefined)) throw badInput('--pattern and --sparsity go together', 'for example --pattern tile:128 --sparsity 0.9');
      const { printCudaModelBench } = await import('../../../backends/cuda/bench-model-cli.js');
      return printCudaModelBench(spec, { pattern: o.pattern, sparsity: o.sparsity === undefined ? undefined : parseRatio(o.sparsity, '--sparsity'), rounds: o.rounds }, o.json === true);
    }
    if (o.pattern !== undefined || o.sparsity !== undefined) throw badInput('--pattern and --sparsity apply to --target cuda only', 'on the CPU, time sparse kernels with `tesa bench kernel --pattern …` or whole pruned models with `tesa optimize`');
    // An empty --isa would read as "not given" further down.
    if (o.isa !== undefined && !['avx512', 'avx2', 'generic'].includes(o.isa)) throw badInput(`--isa '${o.isa}' is not a micro-kernel ISA`, 'use --isa avx512, avx2 or generic');
    const r = await benchModel(spec, { threads: o.threads, isa: o.isa, rounds: o.rounds, dims: o.dim });
    if (o.json) {
      printJson(r);
      return;
    }
    process.stdout.write(
      `${spec}: ${r.threads} thread(s), ${r.isa}; compiled ${r.compile.kernelsBuilt} kernels (${r.compile.kernelsCached} cached) in ${(r.compile.buildMs / 1000).toFixed(1)} s\n` +
        table(
          ['', 'median ms', 'CI low', 'CI high', 'MAD', 'n'],
          [
            ['ours', ms(r.ours.medianMs), ms(r.ours.ciLowMs), ms(r.ours.ciHighMs), ms(r.ours.madMs), String(r.ours.n)],
            ['onnxruntime', ms(r.onnxruntime.medianMs), ms(r.onnxruntime.ciLowMs), ms(r.onnxruntime.ciHighMs), ms(r.onnxruntime.madMs), String(r.onnxruntime.n)],
          ],
        ) +
        `\nratio ours/onnxruntime: ${r.ratio.toFixed(3)}   max relative output difference: ${r.maxRelError.toExponential(2)}\n`,
    );
  });
  registerBenchKernel(bench);
  registerSweep(bench);
}
