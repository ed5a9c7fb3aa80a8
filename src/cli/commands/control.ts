/**
 * `tesa pause|continue|stop <id>`: steer a search from any terminal. The request goes into
 * the store's control column; the search's runner acts on it between trials. A search that
 * no live process runs (queued, or paused by a runner that has since gone) changes at once.
 */
import type { Command } from 'commander';
import { assertStoreWritable, openStore, ownerState, type SearchRecord, type Store } from '../../../db/store.js';
import { TesaError } from '../../errors.js';
import { parseSearchId } from './watch.js';

export type ControlVerb = 'pause' | 'continue' | 'stop';

function hasLiveRunner(s: SearchRecord): boolean {
  return ownerState(s) === 'live';
}

/** Applies a control verb; returns the line to print. */
export function applyControl(store: Store, id: number, verb: ControlVerb): string {
  const s = store.requireSearch(id);
  const finished = s.status === 'stopped' || s.status === 'done' || s.status === 'failed';
  if (finished) {
    throw new TesaError('BAD_INPUT', `search ${id} is already ${s.status}`, verb === 'stop' ? 'nothing to stop' : `'tesa resume ${id}' runs a stopped search again`);
  }
  const live = hasLiveRunner(s);
  if (verb === 'pause') {
    if (s.status === 'paused') return `search ${id} is already paused`;
    if (!live) {
      // Nobody runs it: hold it out of the daemon's queue right away.
      store.updateSearch(id, { status: 'paused' });
      return `search ${id} paused (it was ${s.status}; 'tesa continue ${id}' puts it back)`;
    }
    store.setControl(id, 'pause');
    return `search ${id}: pause requested; the runner (pid ${s.ownerPid}) pauses after its current trial`;
  }
  if (verb === 'continue') {
    if (live) {
      if (s.status !== 'paused' && s.control !== 'pause') return `search ${id} is ${s.status}, not paused`;
      store.setControl(id, 'resume');
      return `search ${id}: resume requested from the runner (pid ${s.ownerPid})`;
    }
    if (s.status !== 'paused') return `search ${id} is ${s.status}, not paused`;
    store.setControl(id, 'none');
    store.updateSearch(id, { status: 'queued' });
    return `search ${id} queued again (no process was running it): 'tesa daemon start' runs the queue, or 'tesa resume ${id}' runs it here`;
  }
  if (!live) {
    store.setControl(id, 'none');
    store.updateSearch(id, { status: 'stopped', finishedAt: Date.now() });
    return `search ${id} stopped (no process was running it)`;
  }
  store.setControl(id, 'stop');
  return `search ${id}: stop requested; the runner (pid ${s.ownerPid}) finishes or abandons its current trial and stops`;
}

export function register(program: Command): void {
  const verbs: Array<[ControlVerb, string]> = [
    ['pause', 'pause a search after its current trial (any terminal; the runner waits)'],
    ['continue', 'let a paused search go on'],
    ['stop', 'stop a search gracefully after its current trial (tesa resume <id> continues it later)'],
  ];
  for (const [verb, description] of verbs) {
    program
      .command(verb)
      .argument('<id>', 'search id')
      .description(description)
      .option('--db <path>', 'database file (default: $TESA_DB or ~/.local/state/tesa/tesa.db)')
      .action((id: string, opts: { db?: string }) => {
        assertStoreWritable(opts.db);
        const store = openStore(opts.db);
        try {
          process.stdout.write(`${applyControl(store, parseSearchId(id), verb)}\n`);
        } finally {
          store.close();
        }
      });
  }
}
