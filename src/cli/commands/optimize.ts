/**
 * `tesa optimize`: searches per-layer-group sparsity that meets a latency budget, judged by
 * kernels compiled for each candidate and timed on this machine. Every option is validated
 * (and the model loaded) before anything is written to the store.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { badInput } from '../../errors.js';
import { assertStoreWritable, openStore } from '../../../db/store.js';
import { DEFAULT_MAX_TRIALS, DEFAULT_MODEL, resolveSearchConfig, storedOptions, type RawOptimizeOptions } from '../../search/config.js';
import { executeSearch } from '../../search/execute.js';
import { tapeFromEnv } from '../../search/replay.js';
import { prepareRuntime } from '../../search/runtime.js';
import { ttyWatchObserver } from '../../tui/lazy.js';
import { detachedLines, optimizeDetached } from '../../daemon/detach.js';

interface OptimizeFlags extends RawOptimizeOptions {
  db?: string;
  json?: boolean;
  detach?: boolean;
}

const collect = (v: string, prev: string[] = []) => [...prev, v];

/** One thread: the stable choice on a shared machine (issue 4); more only when asked with --threads. */
export function defaultThreads(): number {
  return 1;
}

export function register(program: Command): void {
  program
    .command('optimize')
    .description('search per-layer sparsity that meets a latency budget, measured on this machine')
    .option('--model <model>', `an .onnx file or zoo:NAME (default ${DEFAULT_MODEL})`)
    .option('--target <target>', 'backend to compile and time on (cpu)')
    .option('--latency-budget <budget>', 'a ratio of the dense latency (0.7) or an absolute time (12ms); default 0.7')
    .option('--strategy <name>', 'sa, autocompress or random (default sa)')
    .option('--strategy-option <key=value>', 'a strategy setting, e.g. coolingRate=0.95 (repeatable)', collect)
    .option('--max-trials <n>', `stop after this many trials (default ${DEFAULT_MAX_TRIALS})`)
    .option('--time-limit <duration>', 'start no trial that would not end within this, e.g. 90s, 30m, 2h (default 3m30s)')
    .option('--seed <n>', 'seed of every random choice (default 1)')
    .option('--patterns <list>', 'sparsity patterns to search, comma-separated (default: what the backend accelerates)')
    .option('--precisions <list>', 'precisions to search, comma-separated (default fp32; fp16 with --target cuda)')
    .option('--propagate-precision', 'apply the bit-width propagation rule to every candidate (int8 spreads to similar-sized neighbours)')
    .option('--int8-outliers <fraction>', 'int8 weights keep this fraction (largest |w|) in fp32 where the backend finds the mixed plan faster (default 0)')
    .option('--groups <on|off>', 'decide one value per layer group (on) or per layer (off); default on')
    .option('--evaluator <name>', 'quality: proxy (default), fidelity or cmd:"<command>"')
    .option('--evaluator-timeout <duration>', 'time allowed to a cmd: evaluator per trial (default 10m)')
    .option('--calibration <file>', 'fidelity: calibration inputs, .npy or raw float32 (with --calibration-shape)')
    .option('--calibration-shape <dims>', 'fidelity: shape of a raw --calibration file, e.g. 64x784')
    .option('--cost <latency|flops>', 'judge candidates by measured latency (default) or by FLOPs')
    .option('--threads <n>', 'threads for kernels (default 1: the stable choice on a shared machine)')
    .option('--finetune-cmd <command>', 'autocompress: a command run after each round (JSON on stdin and stdout)')
    .option('--finetune-timeout <duration>', 'time allowed to --finetune-cmd per round (default 10m)')
    .option('--final-rounds <n>', 'A-B pairs of the final interleaved re-measurement, at least (default 6; 0 skips it)')
    .option('--plan-picking <on|off>', 'time each sparse op\'s plans against dense while compiling (on, default) or use cached decisions and thresholds (off)')
    .option('--final-attempts <n>', 'candidates the final re-measurement tries, best first, until one holds the budget (default 3)')
    .option('--db <path>', 'the tesa database (default $TESA_DB or the state folder)')
    .option('--json', 'print the result as JSON')
    .option('--detach', 'queue the search for the background daemon (started if needed) and return at once')
    .action(async (flags: OptimizeFlags) => {
      process.exitCode = await optimize(flags);
    });
}

/**
 * Checks resolveSearchConfig leaves to later (or never makes): an empty item in a list is a
 * typo, not a request for the rest; a calibration file must exist whichever evaluator is
 * chosen, since the user believes it is read.
 */
export function checkOptimizeInputs(flags: RawOptimizeOptions): void {
  for (const [option, value] of [['--patterns', flags.patterns], ['--precisions', flags.precisions]] as const) {
    if (value !== undefined && value.trim() !== '' && value.split(',').some((item) => item.trim() === '')) {
      throw badInput(`${option} '${value}' has an empty item`, `separate items by single commas, e.g. ${option === '--patterns' ? '--patterns block:1x32,fine' : '--precisions fp32,int8'}`);
    }
  }
  if (flags.calibration !== undefined && flags.calibration.trim() !== '') {
    const file = resolve(flags.calibration);
    let isFile = false;
    try {
      isFile = statSync(file).isFile();
    } catch {
      throw badInput(`--calibration ${file}: no such file`, 'give a .npy file, or a raw float32 file with --calibration-shape');
    }
    if (!isFile) throw badInput(`--calibration ${file} is not a file`, 'give a .npy file, or a raw float32 file with --calibration-shape');
    if (!(flags.evaluator ?? 'proxy').trim().startsWith('fidelity')) throw badInput('--calibration is read only by the fidelity evaluator', 'add --evaluator fidelity, or leave out --calibration');
  }
  if (flags.calibrationShape !== undefined && flags.calibration === undefined) {
    throw badInput('--calibration-shape needs --calibration (it is the shape of that raw file)', 'for example --calibration calib.bin --calibration-shape 64x784');
  }
}

export async function optimize(flags: OptimizeFlags): Promise<number> {
  checkOptimizeInputs(flags);
  const config = resolveSearchConfig(flags, defaultThreads());
  assertStoreWritable(flags.db);
  if (flags.detach === true) {
    const d = await optimizeDetached(config, flags.db);
    process.stdout.write(flags.json === true ? `${JSON.stringify({ searchId: d.searchId, status: 'queued', daemonPid: d.daemonPid })}\n` : `${detachedLines(d).join('\n')}\n`);
    return 0;
  }
  const tape = tapeFromEnv();
  const runtime = await prepareRuntime(config, { dbPath: flags.db });
  let store;
  try {
    store = openStore(flags.db);
  } catch (e) {
    await runtime.backend.close().catch(() => {});
    throw e;
  }
  try {
    const search = store.createSearch({
      model: config.model,
      target: config.target,
      strategy: config.strategy,
      budget: config.budget,
      options: storedOptions(config),
      status: 'running',
      fingerprint: runtime.fingerprint,
    });
    // On a terminal the live watch screen replaces the line per trial.
    const screen = await ttyWatchObserver(store.path, search.id, flags.json === true);
    try {
      return await executeSearch({ store, searchId: search.id, runtime, tape, json: flags.json === true, dbPath: flags.db, ...(screen ? { observer: screen } : {}) });
    } finally {
      screen?.close();
    }
  } finally {
    store.close();
  }
}
