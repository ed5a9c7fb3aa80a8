/**
 * `tesa resume <id>`: continues a paused, stopped, failed or killed search from its last
 * checkpoint — same RNG state, temperature and current point; cached kernels and stored
 * measurements reused; a trial left running by a dead process is re-run. A search that another
 * live process runs is refused (LOCKED); a finished one just prints its result.
 */
import type { Command } from 'commander';
import { assertStoreWritable, openStore } from '../../../db/store.js';
import { parseSearchId } from '../options.js';
import { configFromStored } from '../../search/config.js';
import { executeSearch } from '../../search/execute.js';
import { tapeFromEnv } from '../../search/replay.js';
import { prepareRuntime } from '../../search/runtime.js';
import { summarizeSearch, summaryLines } from '../../search/summary.js';
import { ttyWatchObserver } from '../../tui/lazy.js';

export function register(program: Command): void {
  program
    .command('resume')
    .description('continue a search where it stopped')
    .argument('<id>', 'search id (see tesa list)')
    .option('--db <path>', 'the tesa database (default $TESA_DB or the state folder)')
    .option('--json', 'print the result as JSON')
    .action(async (id: string, flags: { db?: string; json?: boolean }) => {
      process.exitCode = await resume(id, flags);
    });
}

export async function resume(idText: string, flags: { db?: string; json?: boolean }): Promise<number> {
  const id = parseSearchId(idText);
  const tape = tapeFromEnv();
  // A finished search only prints its result, which a read-only database can give.
  const store = openStore(flags.db, { readOnlyFallback: true });
  try {
    const s = store.requireSearch(id);
    if (s.status === 'done') {
      const sum = summarizeSearch(store, id);
      process.stdout.write(flags.json ? `${JSON.stringify(sum.json)}\n` : `${summaryLines(sum).join('\n')}\n`);
      return 0;
    }
    assertStoreWritable(store.path);
    // Refuse a live owner before the (slower) model load; the loop re-acquires as the same owner.
    store.acquireSearch(id);
    let runtime;
    try {
      runtime = await prepareRuntime(configFromStored(s.model, s.target, s.strategy, s.budget, s.options), { dbPath: flags.db });
    } catch (e) {
      store.releaseSearch(id);
      throw e;
    }
    // On a terminal the live watch screen replaces the line per trial, as in `tesa optimize`.
    const screen = await ttyWatchObserver(store.path, id, flags.json === true);
    try {
      return await executeSearch({ store, searchId: id, runtime, tape, json: flags.json === true, dbPath: flags.db, ...(screen ? { observer: screen } : {}) });
    } finally {
      screen?.close();
    }
  } finally {
    store.close();
  }
}
