/**
 * `tesa export <id> [--trial N] --out DIR`: the search's best trial (or trial #N) as files a
 * user takes home — config.json, masks/*.npy, model.onnx, report.md with plots, bundle/.
 */
import { existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { TesaError, badInput } from '../../errors.js';
import { exportTrial } from '../../export/export.js';
import { dbPath } from '../../util/state-dir.js';
import { addDbOption, addJsonOption, parseCount, parseSearchId, printJson, type DbOption, type JsonOption } from '../options.js';

interface ExportFlags extends DbOption, JsonOption {
  trial?: string;
  out?: string;
  measure?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command('export')
    .description("write a trial (default: the search's best) as config.json, masks/*.npy, model.onnx, report.md and a runnable bundle/")
    .argument('<id>', 'search id (see tesa list)')
    .option('--trial <n>', "the trial's number as 'tesa show' prints it (#N); default the best feasible trial")
    .option('--out <dir>', 'folder to write (new or empty)')
    .option('--no-measure', 'do not time bundle/run once at the end');
  addDbOption(cmd);
  addJsonOption(cmd);
  cmd.action(async (idText: string, flags: ExportFlags) => {
    const searchId = parseSearchId(idText);
    if (!flags.out) throw badInput('--out is required', `for example tesa export ${searchId} --out ./tesa-export-${searchId}`);
    if (existsSync(flags.out) && !statSync(flags.out).isDirectory()) throw badInput(`--out ${flags.out} is a file, not a folder`, 'give a new or empty folder');
    // A folder cannot be made under a file (/dev/null/x): say so before any work.
    for (let up = dirname(resolve(flags.out)); ; up = dirname(up)) {
      if (existsSync(up)) {
        if (!statSync(up).isDirectory()) throw badInput(`--out ${flags.out}: ${up} is a file, not a folder`, 'give a new or empty folder');
        break;
      }
      if (dirname(up) === up) break;
    }
    const path = dbPath(flags.db);
    if (!existsSync(path)) throw new TesaError('NOT_FOUND', `no search ${searchId} in ${path} (no database there yet)`, "run 'tesa optimize' first, or pass another --db");
    const r = await exportTrial({ searchId, trialSeq: flags.trial === undefined ? undefined : parseCount(flags.trial, '--trial'), outDir: flags.out, dbPath: flags.db, measureBundle: flags.measure !== false });
    if (flags.json) {
      printJson(r);
      return;
    }
    const lines = [
      `exported search ${r.searchId}, trial #${r.trialSeq} to ${r.dir}`,
      `  model.onnx: ${r.parameters.exported} parameters (masked model ${r.parameters.masked}; ${r.channelsRemoved} channels removed), matches the masked model within ${r.verification.maxAbsDiff.toExponential(1)}`,
      r.latency ? `  latency (${r.latency.source}): ${r.latency.medianMs.toFixed(3)} ms, CI ${r.latency.ciLowMs.toFixed(3)}–${r.latency.ciHighMs.toFixed(3)} ms` : '  latency: not measured (FLOPs cost)',
      r.bundle.run ? `  bundle/run: ${r.bundle.run.medianMs.toFixed(3)} ms here now` : '  bundle/run: not timed (--no-measure)',
      `  files: ${r.files.join(', ')}`,
    ];
    process.stdout.write(`${lines.join('\n')}\n`);
  });
}
