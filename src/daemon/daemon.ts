/**
 * The daemon's loop (`tesa daemon run`, started detached by `tesa daemon start`). It runs the
 * store's queue: at most one search per target at a time, each in a child `tesa resume <id>`
 * whose output goes to the daemon log. The child takes the search's store lock itself, so a
 * foreground `tesa resume` of the same search and the daemon never both run it: whoever locks
 * first runs, the other is refused.
 *
 * On start it also takes back what a dead runner left 'running' (a crash, a SIGKILL of the
 * previous daemon): those are resumed before anything queued. SIGTERM stops the children
 * gracefully and puts what they were running back in the queue for the next daemon.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openStore, ownerState, type SearchRecord, type Store } from '../../db/store.js';
import { acquirePidFile, releasePidFile } from './pid-file.js';
import { daemonFiles } from './files.js';

export interface DaemonOptions {
  db?: string;
  /** How often the queue is looked at, ms. */
  pollMs?: number;
  /** The tesa CLI entry to run children with (default: the one this file was built with). */
  cli?: string;
  log?: (line: string) => void;
}

/** A failed child start of the same search this many times in a row marks it failed. */
const MAX_ATTEMPTS = 3;

export function defaultCliPath(): string {
  return fileURLToPath(new URL('../cli/main.js', import.meta.url));
}

interface Runner {
  searchId: number;
  target: string;
  child: ChildProcess;
  exited: Promise<number | null>;
  /** The runner's last line on stderr: why it failed, when it did. */
  lastError: string;
}

function stamp(line: string): string {
  return `${new Date().toISOString()} daemon[${process.pid}] ${line}\n`;
}

/** Searches a dead runner left mid-run; a pending stop makes them stopped instead. */
export function orphanedSearches(store: Store): SearchRecord[] {
  const out: SearchRecord[] = [];
  for (const s of store.listSearches({ status: ['running', 'stopping'] }).reverse()) {
    const owner = ownerState(s);
    if (owner === 'live') continue;
    if (s.status === 'stopping' || s.control === 'stop') {
      store.updateSearch(s.id, { status: 'stopped', finishedAt: Date.now() });
      store.setControl(s.id, 'none');
      store.addEvent({ searchId: s.id, kind: 'daemon', message: 'stopped: its runner died while stopping' });
      continue;
    }
    out.push(s);
  }
  return out;
}

/** Whether some live process (ours or not) runs a search on this target now. */
function targetBusy(store: Store, target: string): boolean {
  return store.listSearches({ status: ['running', 'stopping', 'paused'] }).some((s) => s.target === target && ownerState(s) === 'live');
}

export async function runDaemon(opts: DaemonOptions = {}): Promise<void> {
  const files = daemonFiles(opts.db);
  const log = opts.log ?? ((line: string) => process.stdout.write(stamp(line)));
  const cli = opts.cli ?? defaultCliPath();
  const pollMs = opts.pollMs ?? 1000;
  acquirePidFile(files.pidFile);
  const store = openStore(files.db);
  const runners = new Map<string, Runner>();
  const attempts = new Map<number, number>();
  const pausedByUser = new Set<number>();
  let stopping = false;
  let wake: (() => void) | null = null;

  log(`started; database ${files.db}`);
  store.addEvent({ kind: 'daemon', message: `daemon started (pid ${process.pid})` });

  const start = (s: SearchRecord, why: string): void => {
    log(`search ${s.id} (${s.model} on ${s.target}): ${why}; running 'tesa resume ${s.id}'`);
    store.addEvent({ searchId: s.id, kind: 'daemon', message: `daemon runs it (${why})` });
    const child = spawn(process.execPath, [cli, 'resume', String(s.id), '--db', files.db], {
      stdio: ['ignore', 'inherit', 'pipe'],
      env: { ...process.env, TESA_DAEMON: String(process.pid) },
    });
    // stderr goes to the log as it comes; its last line is kept as the reason of a failure.
    child.stderr?.on('data', (chunk: Buffer) => {
      process.stderr.write(chunk);
      const last = chunk.toString('utf8').trim().split('\n').pop();
      if (last) runner.lastError = last.trim();
    });
    const exited = new Promise<number | null>((resolve) => {
      child.on('exit', (code, signal) => resolve(code ?? (signal ? 128 : null)));
      child.on('error', (e) => {
        log(`search ${s.id}: cannot start its runner: ${e.message}`);
        resolve(127);
      });
    });
    const runner: Runner = { searchId: s.id, target: s.target, child, exited, lastError: '' };
    runners.set(s.target, runner);
    void exited.then((code) => {
      runners.delete(s.target);
      afterExit(s.id, code, runner.lastError);
      wake?.();
    });
  };

  const afterExit = (id: number, code: number | null, lastError: string): void => {
    const s = store.getSearch(id);
    if (!s) return;
    log(`search ${id}: runner exited with code ${code}; search is ${s.status}`);
    if (stopping) {
      // Interrupted by 'daemon stop' (the runner records a signal stop as 'paused'): back to
      // the queue for the next daemon, unless a person had paused it before.
      if ((s.status === 'running' || s.status === 'paused') && !pausedByUser.has(id) && ownerState(s) !== 'live' && s.control !== 'stop') {
        store.updateSearch(id, { status: 'queued', finishedAt: null });
        log(`search ${id}: back in the queue`);
      }
      return;
    }
    if (code === 0 || ownerState(s) === 'live') {
      attempts.delete(id);
      return;
    }
    if (s.status === 'queued' || s.status === 'running') {
      // Exit code 2 is a TesaError the user must fix (bad model, unsupported option): retrying
      // cannot help. Anything else (a crash, a signal) gets MAX_ATTEMPTS tries.
      const n = code === 2 ? MAX_ATTEMPTS : (attempts.get(id) ?? 0) + 1;
      attempts.set(id, n);
      if (n >= MAX_ATTEMPTS) {
        const why = lastError.replace(/^tesa: /, '') || `its runner exited with code ${code}`;
        store.updateSearch(id, { status: 'failed', error: why, finishedAt: Date.now() });
        store.addEvent({ searchId: id, level: 'error', kind: 'daemon', message: `failed: ${why} (see ${files.logFile})` });
        log(`search ${id}: marked failed: ${why}`);
      }
    }
  };

  const tick = (): void => {
    if (stopping) return;
    const orphans = orphanedSearches(store).filter((s) => ![...runners.values()].some((r) => r.searchId === s.id));
    const targets = new Set<string>([...orphans.map((s) => s.target), ...store.listSearches({ status: 'queued' }).map((s) => s.target)]);
    for (const target of targets) {
      if (runners.has(target) || targetBusy(store, target)) continue;
      const orphan = orphans.find((s) => s.target === target);
      if (orphan) {
        start(orphan, 'resuming: its runner died');
        continue;
      }
      const next = store.nextQueued(target);
      if (next) start(next, 'next in the queue');
    }
  };

  const onSignal = (sig: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    for (const r of runners.values()) if (store.getSearch(r.searchId)?.status === 'paused') pausedByUser.add(r.searchId);
    log(`${sig}: stopping ${runners.size} runner(s) gracefully`);
    for (const r of runners.values()) r.child.kill('SIGTERM');
    wake?.();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  process.on('SIGHUP', () => log('SIGHUP ignored (the daemon outlives its terminal)'));

  try {
    while (!stopping) {
      try {
        tick();
      } catch (e) {
        log(`error while looking at the queue: ${e instanceof Error ? e.message : String(e)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, pollMs);
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      wake = null;
    }
    await Promise.all([...runners.values()].map((r) => r.exited));
    // Let the exit handlers (requeue) run before the store closes.
    await new Promise((r) => setImmediate(r));
  } finally {
    store.addEvent({ kind: 'daemon', message: `daemon stopped (pid ${process.pid})` });
    store.close();
    releasePidFile(files.pidFile);
    log('stopped');
  }
}
