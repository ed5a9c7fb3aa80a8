/**
 * `tesa propagate <model> --init "<layer>=<pattern>:<ratio>" …`: makes the initial masks, runs
 * TeSA propagation and prints every prunable weight's sparsity before and after, and the model
 * total (pruned fraction of all prunable weights' elements).
 */
import type { Command } from 'commander';
import { TesaError } from '../../errors.js';
import { loadModel } from '../../model/load.js';
import { findLayerGroups } from '../../tesa/groups.js';
import { makeInitMasks, parseInitSpec, type InitSpec } from '../../tesa/init-masks.js';
import { propagateMasks, type MaskPropagation } from '../../tesa/masks.js';
import { prepareScrambleRules } from '../../tesa/scramble.js';
import { table } from '../format.js';
import { parseCount, printJson } from '../options.js';

export interface PropagateCliOptions {
  init: string[];
  groups: string;
  seed?: string;
  json?: boolean;
  precision?: boolean;
  scramble?: boolean;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const pct = (v: number): string => `${(v * 100).toFixed(1)}%`;

export function renderPropagation(model: string, r: MaskPropagation): string {
  const rows = r.layers.map((l) => [l.name, pct(l.before), pct(l.after), l.after > l.before ? `+${((l.after - l.before) * 100).toFixed(1)}` : '']);
  const lines = [
    `model  ${model}`,
    '',
    table(['weight', 'before', 'after', 'gained'], rows),
    '',
    `total  ${pct(r.total.before)} → ${pct(r.total.after)}${r.folds.length > 0 ? `   (${r.folds.reduce((a, f) => a + f.channels.length, 0)} constant channels folded into biases)` : ''}`,
  ];
  if (r.unhandled.length > 0) lines.push(`no rule (propagation stops there): ${r.unhandled.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export function register(program: Command): void {
  program
    .command('propagate')
    .description('prune weights by the given patterns, propagate sparsity through the model (TeSA) and show every layer before and after')
    .argument('<model>', 'an .onnx file or zoo:NAME')
    .requiredOption('--init <layer=pattern:ratio>', 'initial sparsity: a weight/node name or glob, a pattern (fine, block:RxC, row, col, channel) and the pruned ratio, e.g. "*=channel:0.6" (repeatable)', collect, [])
    .option('--groups <on|off>', 'make coarse masks per layer group (shared along the coupled axis)', 'off')
    .option('--seed <n>', 'seed for ops whose rule is made by tensor scrambling', '0')
    .option('--precision', 'also run the paper\'s bit-width propagation rule')
    .option('--no-scramble', 'do not derive rules for ops without one by tensor scrambling')
    .option('--json', 'print {"layers":[{name,before,after}],"total":{before,after}} as JSON')
    .action(async (model: string, opts: PropagateCliOptions) => {
      if (opts.groups !== 'on' && opts.groups !== 'off') throw new TesaError('BAD_INPUT', `--groups '${opts.groups}': expected on or off`, 'give --groups on or --groups off');
      // parseCount, not Number(): Number('') is 0 and Number('0x10') is 16.
      const seed = parseCount(opts.seed ?? '0', '--seed');
      if (opts.init.length === 0) throw new TesaError('BAD_INPUT', 'give at least one --init', 'e.g. --init "*=channel:0.6"');
      const specs: InitSpec[] = opts.init.map(parseInitSpec);
      const graph = await loadModel(model);
      const groups = opts.groups === 'on' ? findLayerGroups(graph) : undefined;
      const masks = makeInitMasks(graph, specs, groups);
      const extraRules = opts.scramble === false ? undefined : await prepareScrambleRules(graph, { seed });
      const result = propagateMasks(graph, masks, { propagatePrecision: opts.precision === true, extraRules });
      if (opts.json) {
        printJson({ layers: result.layers, total: result.total });
        return;
      }
      process.stdout.write(renderPropagation(model, result));
    });
}
