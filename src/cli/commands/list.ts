/**
 * `tesa list`: every search in the store, newest first, whatever its status (queued,
 * running, paused, stopping, stopped, done, failed).
 */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { openStore, ownerState, SEARCH_STATUSES, type Budget, type SearchRecord, type SearchStatus, type Store, type TrialCounts } from '../../../db/store.js';
import { badInput } from '../../errors.js';
import { dbPath } from '../../util/state-dir.js';
import { fmt, formatBudget, formatTime, table } from '../format.js';
import { addDbOption, addJsonOption, printJson, type DbOption, type JsonOption } from '../options.js';

export interface SearchListEntry {
  id: number;
  status: SearchStatus;
  /** 'live' | 'stale' | 'dead' when a runner holds the search, else null. */
  runner: 'live' | 'stale' | 'dead' | null;
  model: string;
  target: string;
  strategy: string;
  budget: Budget;
  trials: TrialCounts;
  bestTrialId: number | null;
  bestLatencyRatio: number | null;
  bestQuality: number | null;
  createdAt: string;
  updatedAt: string;
}

export function listEntries(store: Store, status?: SearchStatus[]): SearchListEntry[] {
  return store.listSearches(status ? { status } : {}).map((s: SearchRecord) => {
    const best = s.bestTrialId === null ? undefined : store.getTrial(s.bestTrialId);
    const owner = ownerState(s);
    return {
      id: s.id,
      status: s.status,
      runner: owner === 'none' ? null : owner,
      model: s.model,
      target: s.target,
      strategy: s.strategy,
      budget: s.budget,
      trials: store.trialCounts(s.id),
      bestTrialId: s.bestTrialId,
      bestLatencyRatio: best?.latencyRatio ?? null,
      bestQuality: best?.quality ?? null,
      createdAt: new Date(s.createdAt).toISOString(),
      updatedAt: new Date(s.updatedAt).toISOString(),
    };
  });
}

/** A search marked running whose runner is gone reads "running (dead)": the daemon or a resume will pick it up. */
function statusText(e: SearchListEntry): string {
  if ((e.status === 'running' || e.status === 'stopping') && (e.runner === 'dead' || e.runner === 'stale' || e.runner === null)) {
    return `${e.status} (${e.runner ?? 'no runner'})`;
  }
  return e.status;
}

export function renderList(entries: SearchListEntry[]): string {
  return table(
    ['ID', 'STATUS', 'MODEL', 'TARGET', 'STRATEGY', 'BUDGET', 'TRIALS', 'FEASIBLE', 'BEST RATIO', 'QUALITY', 'UPDATED'],
    entries.map((e) => [
      String(e.id),
      statusText(e),
      e.model,
      e.target,
      e.strategy,
      formatBudget(e.budget),
      String(e.trials.total),
      String(e.trials.feasible),
      fmt(e.bestLatencyRatio),
      fmt(e.bestQuality, 4),
      formatTime(Date.parse(e.updatedAt)),
    ]),
  );
}

function parseStatuses(text: string): SearchStatus[] {
  const out: SearchStatus[] = [];
  for (const part of text.split(',').map((p) => p.trim())) {
    if (!(SEARCH_STATUSES as readonly string[]).includes(part)) throw badInput(`--status '${part}' is not a search status`, `use one of ${SEARCH_STATUSES.join(', ')} (several separated by ',')`);
    out.push(part as SearchStatus);
  }
  return out;
}

interface ListOptions extends DbOption, JsonOption {
  status?: string;
}

export function register(program: Command): void {
  const cmd = program
    .command('list')
    .description('list the searches in the store, newest first: id, status, model, target, strategy, budget, trials, best latency ratio')
    .option('--status <status>', `only searches with this status (${SEARCH_STATUSES.join('|')}; several separated by ',')`);
  addDbOption(cmd);
  addJsonOption(cmd);
  cmd.action((opts: ListOptions) => {
    const statuses = opts.status === undefined ? undefined : parseStatuses(opts.status);
    const path = dbPath(opts.db);
    // Listing never creates a database: a fresh machine simply has no searches yet.
    if (!existsSync(path)) {
      if (opts.json) printJson([]);
      else process.stdout.write(`no searches yet (no database at ${path})\n`);
      return;
    }
    const store = openStore(path, { readOnlyFallback: true });
    try {
      const entries = listEntries(store, statuses);
      if (opts.json) printJson(entries);
      else if (entries.length === 0) process.stdout.write(`no searches${statuses ? ` with status ${statuses.join(' or ')}` : ''} in ${store.path}\n`);
      else process.stdout.write(`${renderList(entries)}\n`);
    } finally {
      store.close();
    }
  });
}
