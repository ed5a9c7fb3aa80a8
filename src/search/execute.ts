/**
 * Runs a prepared search in this process the way the CLI wants it: signal handlers installed
 * for its duration, progress through an observer, the summary printed at the end, and the
 * backend and store closed whatever happens. Shared by `tesa optimize` and `tesa resume`.
 */
import type { Store } from '../../db/store.js';
import { Interrupts } from './interrupt.js';
import { runSearch } from './loop.js';
import { lineObserver, type SearchObserver } from './observer.js';
import type { MeasurementTape } from './replay.js';
import type { SearchRuntime } from './runtime.js';
import { summarizeSearch, summaryLines } from './summary.js';

export interface ExecuteOptions {
  store: Store;
  searchId: number;
  runtime: SearchRuntime;
  tape: MeasurementTape | null;
  json: boolean;
  dbPath?: string;
  /** Overrides the default line observer (the TUI plugs in here). */
  observer?: SearchObserver;
  out?: (text: string) => void;
  err?: (text: string) => void;
}

/** Returns the process exit code: 0 when the search finished or was stopped on request, 130 when a signal paused it. */
export async function executeSearch(o: ExecuteOptions): Promise<number> {
  const out = o.out ?? ((t: string) => process.stdout.write(t));
  const err = o.err ?? ((t: string) => process.stderr.write(t));
  // With --json stdout carries exactly one JSON document; progress goes to stderr.
  const observer = o.observer ?? lineObserver((line) => (o.json ? err : out)(`${line}\n`));
  const interrupts = new Interrupts();
  interrupts.installSignalHandlers((sig) => err(`tesa: ${sig}: finishing the trial in flight, then pausing (send it again to abandon the trial now)\n`));
  try {
    const outcome = await runSearch({ store: o.store, searchId: o.searchId, runtime: o.runtime, observer, interrupts, tape: o.tape, dbPath: o.dbPath });
    const sum = summarizeSearch(o.store, o.searchId);
    if (o.json) out(`${JSON.stringify(sum.json)}\n`);
    else {
      for (const line of summaryLines(sum)) out(`${line}\n`);
      if (outcome.status === 'paused') out(`paused: 'tesa resume ${o.searchId}' continues\n`);
    }
    return outcome.status === 'paused' && interrupts.stopRequested === 'signal' ? 130 : 0;
  } finally {
    interrupts.removeSignalHandlers();
    await o.runtime.backend.close().catch(() => {});
    await o.runtime.evaluator.close?.().catch(() => {});
  }
}
