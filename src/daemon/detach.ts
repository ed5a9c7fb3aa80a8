/** `tesa optimize --detach`: the search goes into the store's queue and a daemon runs it. */
import { openStore } from '../../db/store.js';
import type { SearchConfig } from '../search/config.js';
import { queueSearch } from './queue.js';
import { ensureDaemon } from './supervise.js';
import { daemonFiles } from './files.js';

export interface Detached {
  searchId: number;
  daemonPid: number;
  logFile: string;
}

export async function optimizeDetached(config: SearchConfig, db?: string): Promise<Detached> {
  const store = openStore(db);
  let searchId: number;
  try {
    searchId = queueSearch(store, config).id;
  } finally {
    store.close();
  }
  const daemonPid = await ensureDaemon(db);
  return { searchId, daemonPid, logFile: daemonFiles(db).logFile };
}

/** What optimize --detach prints (one line per fact; --json prints the object instead). */
export function detachedLines(d: Detached): string[] {
  return [
    `search ${d.searchId} queued; the daemon (pid ${d.daemonPid}) runs it`,
    `follow it: tesa watch ${d.searchId}   pause/stop: tesa pause|stop ${d.searchId}   log: ${d.logFile}`,
  ];
}
