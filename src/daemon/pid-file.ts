/**
 * One daemon per state folder: a pid file created exclusively. A pid file whose process is
 * gone (or is no tesa daemon: the pid was reused) is stale and taken over; the takeover
 * itself is serialised by an atomic mkdir so two starting daemons cannot both take it.
 */
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmdirSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { TesaError } from '../errors.js';
import { sleepSync } from '../util/sleep-sync.js';

/** True when a process with this pid exists (EPERM: exists, not ours). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether pid is a live tesa daemon; where /proc is missing, any live process counts. */
export function isDaemonProcess(pid: number): boolean {
  if (!processAlive(pid)) return false;
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return cmdline.includes('daemon') && cmdline.includes('run');
  } catch {
    return !existsSync('/proc/self');
  }
}

export function readPidFile(path: string): number | null {
  try {
    const text = readFileSync(path, 'utf8').trim();
    return /^\d+$/.test(text) ? Number(text) : null;
  } catch {
    return null;
  }
}

/** The pid of the live daemon of this pid file, or null. */
export function liveDaemonPid(path: string): number | null {
  const pid = readPidFile(path);
  return pid !== null && isDaemonProcess(pid) ? pid : null;
}

function createExclusive(path: string, pid: number): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  }
  try {
    writeSync(fd, `${pid}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

function withTakeoverLock<T>(path: string, fn: () => T): T {
  const lock = `${path}.lock`;
  for (let attempt = 0; ; attempt++) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      // A takeover lock older than 10 s belongs to a process that died mid-takeover.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 10_000) rmdirSync(lock);
      } catch {
        /* gone already */
      }
      if (attempt > 50) throw new TesaError('LOCKED', `${lock} is held by another starting daemon`, `remove ${lock} if no tesa daemon is starting`);
      sleepSync(100);
    }
  }
  try {
    return fn();
  } finally {
    try {
      rmdirSync(lock);
    } catch {
      /* already gone */
    }
  }
}

/** Makes `pid` the owner of the pid file; LOCKED when another live daemon owns it. */
export function acquirePidFile(path: string, pid: number = process.pid): void {
  if (createExclusive(path, pid)) return;
  withTakeoverLock(path, () => {
    const owner = readPidFile(path);
    if (owner !== null && owner !== pid && isDaemonProcess(owner)) {
      throw new TesaError('LOCKED', `a tesa daemon is already running (pid ${owner}, ${path})`, "'tesa daemon status' shows it; 'tesa daemon stop' stops it");
    }
    try {
      unlinkSync(path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    if (!createExclusive(path, pid)) {
      throw new TesaError('LOCKED', `another tesa daemon took ${path} at the same moment`, "'tesa daemon status' shows it");
    }
  });
}

/** Removes the pid file if it is still ours. */
export function releasePidFile(path: string, pid: number = process.pid): void {
  if (readPidFile(path) === pid) {
    try {
      unlinkSync(path);
    } catch {
      /* already gone */
    }
  }
}
