/** `tesa watch [id]`: the live screen of a search, from any terminal; q leaves, the search goes on. */
import type { Command } from 'commander';
import { openStore } from '../../../db/store.js';
import { badInput } from '../../errors.js';
import { defaultSearchId } from '../../tui/read-store.js';

export function parseSearchId(text: string): number {
  if (!/^\d+$/.test(text.trim()) || Number(text) < 1) throw badInput(`search id ${JSON.stringify(text)} is not a number`, "run 'tesa list' to see the ids");
  return Number(text);
}

export function register(program: Command): void {
  program
    .command('watch')
    .argument('[id]', 'search id (default: the newest running or queued search)')
    .description('show a search live: progress, best so far, groups, latency/quality scatter, trials (p pause/resume, s stop, q leave)')
    .option('--db <path>', 'database file (default: $TESA_DB or ~/.local/state/tesa/tesa.db)')
    .action(async (id: string | undefined, opts: { db?: string }) => {
      const store = openStore(opts.db, { readOnlyFallback: true });
      try {
        const searchId = id === undefined ? defaultSearchId(store) : store.requireSearch(parseSearchId(id)).id;
        // Loaded here: ink's import costs ~0.9 s that other commands should not pay.
        const { snapshotText, watchSearch } = await import('../../tui/run-watch.js');
        if (process.stdout.isTTY) await watchSearch(store, searchId);
        else await snapshotText(store, searchId);
      } finally {
        store.close();
      }
    });
}
