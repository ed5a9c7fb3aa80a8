import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { runCli } from '../cli/run-cli.js';

let dir: string;
let db: string;

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function sessionOf(pid: number): number {
  // /proc/<pid>/stat: "pid (comm) state ppid pgrp session …"; comm may hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-daemon-cli-'));
  db = join(dir, 'tesa.db');
});
afterAll(() => {
  runCli(['daemon', 'stop', '--db', db]);
  rmSync(dir, { recursive: true, force: true });
});

describe('tesa daemon start|status|stop', () => {
  it('runs one detached daemon per database and stops it', async () => {
    const before = runCli(['daemon', 'status', '--db', db]);
    expect(before.code).toBe(3);
    expect(before.stdout).toContain('daemon not running');

    const start = runCli(['daemon', 'start', '--db', db]);
    expect(start.stderr).toBe('');
    expect(start.code).toBe(0);
    const pid = Number(/daemon started \(pid (\d+)\)/.exec(start.stdout)?.[1]);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(join(dir, 'daemon.pid'), 'utf8').trim()).toBe(String(pid));
    // Its own session: closing this terminal (SIGHUP to our session) does not reach it.
    expect(sessionOf(pid)).not.toBe(sessionOf(process.pid));
    expect(sessionOf(pid)).toBe(pid);
    process.kill(pid, 'SIGHUP');
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(pid)).toBe(true);

    const again = runCli(['daemon', 'start', '--db', db]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`daemon already running (pid ${pid})`);

    const second = runCli(['daemon', 'run', '--db', db]);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(/^tesa: a tesa daemon is already running \(pid \d+/);

    const status = runCli(['daemon', 'status', '--db', db]);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain(`daemon running (pid ${pid})`);
    expect(status.stdout).toContain('queued: none');

    const stop = runCli(['daemon', 'stop', '--db', db]);
    expect(stop.code).toBe(0);
    expect(stop.stdout).toContain(`daemon stopped (pid ${pid})`);
    expect(alive(pid)).toBe(false);
    expect(existsSync(join(dir, 'daemon.pid'))).toBe(false);
    const log = readFileSync(join(dir, 'daemon.log'), 'utf8');
    expect(log).toContain('started; database');
    expect(log).toContain('SIGHUP ignored');
    expect(log).toContain('SIGTERM: stopping 0 runner(s)');
    expect(runCli(['daemon', 'stop', '--db', db]).stdout).toContain('no daemon running');
  });

  it('takes over the pid file a SIGKILLed daemon left', () => {
    const first = runCli(['daemon', 'start', '--db', db]);
    const pid = Number(/pid (\d+)/.exec(first.stdout)?.[1]);
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while (alive(pid) && Date.now() < deadline) spinWait(50);
    expect(existsSync(join(dir, 'daemon.pid'))).toBe(true);
    expect(runCli(['daemon', 'status', '--db', db]).stdout).toContain('stale pid file');
    const next = runCli(['daemon', 'start', '--db', db]);
    expect(next.stdout).toMatch(/daemon started \(pid \d+\)/);
    const pid2 = Number(/pid (\d+)/.exec(next.stdout)?.[1]);
    expect(pid2).not.toBe(pid);
    expect(runCli(['daemon', 'stop', '--db', db]).code).toBe(0);
  });
});

describe('tesa optimize --detach', () => {
  it('queues the search, starts a daemon, and a search the runner cannot start fails with its reason', async () => {
    const missing = join(dir, 'missing.onnx');
    const r = runCli(['optimize', '--detach', '--model', missing, '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const m = /^search (\d+) queued; the daemon \(pid (\d+)\) runs it$/m.exec(r.stdout);
    expect(m).not.toBeNull();
    const [id, pid] = [Number(m![1]), Number(m![2])];
    expect(alive(pid)).toBe(true);
    const deadline = Date.now() + 60_000;
    const read = () => {
      const store = openStore(db);
      try {
        return store.requireSearch(id);
      } finally {
        store.close();
      }
    };
    let search = read();
    while (search.status === 'queued' || search.status === 'running') {
      if (Date.now() > deadline) throw new Error(`search ${id} still ${search.status}`);
      spinWait(300);
      search = read();
    }
    expect(search.status).toBe('failed');
    expect(search.error).toContain(`${missing}: no such file`);
    // Exit code 2 (a fault the user must fix) is not retried.
    expect(readFileSync(join(dir, 'daemon.log'), 'utf8').match(new RegExp(`running 'tesa resume ${id}'`, 'g'))).toHaveLength(1);
    const json = runCli(['optimize', '--detach', '--json', '--model', missing, '--db', db]);
    expect(JSON.parse(json.stdout)).toEqual({ searchId: id + 1, status: 'queued', daemonPid: pid });
    expect(runCli(['daemon', 'stop', '--db', db]).code).toBe(0);
  });
});

function spinWait(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
