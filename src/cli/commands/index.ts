import type { Command } from 'commander';
import { register as registerBench } from './bench.js';
import { register as registerControl } from './control.js';
import { register as registerDaemon } from './daemon.js';
import { register as registerExport } from './export.js';
import { register as registerInspect } from './inspect.js';
import { register as registerList } from './list.js';
import { register as registerOptimize } from './optimize.js';
import { register as registerPropagate } from './propagate.js';
import { register as registerResume } from './resume.js';
import { register as registerShow } from './show.js';
import { register as registerWatch } from './watch.js';

/**
 * Every command module exports `register(program)`. Add one import and one line below per
 * command; keep the list sorted by command name.
 */
export function registerCommands(program: Command): void {
  registerBench(program);
  registerControl(program);
  registerDaemon(program);
  registerExport(program);
  registerInspect(program);
  registerList(program);
  registerOptimize(program);
  registerPropagate(program);
  registerResume(program);
  registerShow(program);
  registerWatch(program);
}
