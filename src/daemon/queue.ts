/** Queueing a search for the daemon: the search goes into the store with every option it needs. */
import type { SearchRecord, Store } from '../../db/store.js';
import { storedOptions, type SearchConfig } from '../search/config.js';

export function queueSearch(store: Store, config: SearchConfig): SearchRecord {
  const search = store.createSearch({
    model: config.model,
    target: config.target,
    strategy: config.strategy,
    budget: config.budget,
    options: storedOptions(config),
    status: 'queued',
  });
  store.addEvent({ searchId: search.id, kind: 'queued', message: `queued for the daemon: ${config.model} on ${config.target}, ${config.strategy}` });
  return search;
}
