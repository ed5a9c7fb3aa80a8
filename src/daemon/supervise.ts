/** Starting, stopping and asking about the daemon from a command (`tesa daemon …`, `optimize --detach`). */
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, statSync } from 'node:fs';
import { TesaError } from '../errors.js';
import { defaultCliPath } from './daemon.js';
import { daemonFiles, type DaemonFiles } from './files.js';
import { liveDaemonPid, processAlive, readPidFile } from './pid-file.js';

export interface DaemonStatus {
  running: boolean;
  pid: number | null;
  /** A pid file whose process is gone. */
  stalePidFile: boolean;
  files: DaemonFiles;
}

export function daemonStatus(db?: string): DaemonStatus {
  const files = daemonFiles(db);
  const pid = liveDaemonPid(files.pidFile);
  return { running: pid !== null, pid, stalePidFile: pid === null && existsSync(files.pidFile), files };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function logTail(path: string, from: number): string {
  try {
    const text = readFileSync(path, 'utf8').slice(from);
    return text.trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

/**
 * Starts a detached daemon that outlives this terminal; resolves once its pid file names it.
 * `already` is true when one was running (nothing started then).
 */
export async function startDaemon(db?: string, opts: { cli?: string; waitMs?: number } = {}): Promise<{ pid: number; already: boolean; files: DaemonFiles }> {
  const files = daemonFiles(db);
  const live = liveDaemonPid(files.pidFile);
  if (live !== null) return { pid: live, already: true, files };
  const logFd = openSync(files.logFile, 'a');
  const logStart = statSync(files.logFile).size;
  let childPid: number | undefined;
  try {
    const child = spawn(process.execPath, [opts.cli ?? defaultCliPath(), 'daemon', 'run', '--db', files.db], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      cwd: files.dir,
      env: { ...process.env },
    });
    childPid = child.pid;
    child.unref();
  } finally {
    closeSync(logFd);
  }
  if (childPid === undefined) throw new TesaError('INTERNAL', 'could not start the daemon process', `see ${files.logFile}`);
  const deadline = Date.now() + (opts.waitMs ?? 15_000);
  while (Date.now() < deadline) {
    const owner = readPidFile(files.pidFile);
    if (owner === childPid && processAlive(childPid)) return { pid: childPid, already: false, files };
    if (!processAlive(childPid)) {
      // It lost a start race to another daemon: that one is as good.
      const other = liveDaemonPid(files.pidFile);
      if (other !== null) return { pid: other, already: true, files };
      throw new TesaError('INTERNAL', `the daemon exited right after starting: ${logTail(files.logFile, logStart) || 'no output'}`, `see ${files.logFile}`);
    }
    await sleep(100);
  }
  throw new TesaError('INTERNAL', `the daemon (pid ${childPid}) did not come up within ${Math.round((opts.waitMs ?? 15_000) / 1000)} s`, `see ${files.logFile}`);
}

/** A daemon runs for this database afterwards (started if none did); returns its pid. */
export async function ensureDaemon(db?: string, opts: { cli?: string } = {}): Promise<number> {
  return (await startDaemon(db, opts)).pid;
}

/**
 * SIGTERM to the daemon: it stops its runners after their current trial and puts their
 * searches back in the queue. Resolves when it has exited (or throws after waitMs).
 */
export async function stopDaemon(db?: string, opts: { waitMs?: number } = {}): Promise<{ pid: number | null; files: DaemonFiles }> {
  const files = daemonFiles(db);
  const pid = liveDaemonPid(files.pidFile);
  if (pid === null) return { pid: null, files };
  process.kill(pid, 'SIGTERM');
  const waitMs = opts.waitMs ?? 120_000;
  const deadline = Date.now() + waitMs;
  while (processAlive(pid)) {
    if (Date.now() > deadline) {
      throw new TesaError('RUN_FAILED', `the daemon (pid ${pid}) is still finishing its current trials after ${Math.round(waitMs / 1000)} s`, `wait, or 'kill -9 ${pid}' (its searches resume at the next start)`);
    }
    await sleep(200);
  }
  return { pid, files };
}
