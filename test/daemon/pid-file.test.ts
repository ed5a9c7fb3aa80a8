import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquirePidFile, releasePidFile, liveDaemonPid, isDaemonProcess } from '../../src/daemon/pid-file.js';

let dir: string;
let pidFile: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-pid-'));
  pidFile = join(dir, 'daemon.pid');
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A live process whose command line looks like a tesa daemon's. */
function fakeDaemon(): ChildProcess {
  const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)', 'daemon', 'run'], { stdio: 'ignore' });
  children.push(c);
  return c;
}

function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' });
  return Number(r.stdout.trim());
}

describe('daemon pid file', () => {
  it('is created with our pid and removed on release', () => {
    acquirePidFile(pidFile, 4242);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe('4242');
    releasePidFile(pidFile, 1); // not ours: stays
    expect(existsSync(pidFile)).toBe(true);
    releasePidFile(pidFile, 4242);
    expect(existsSync(pidFile)).toBe(false);
  });

  it('refuses a second daemon while the first lives', async () => {
    const d = fakeDaemon();
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(pidFile, `${d.pid}\n`);
    expect(isDaemonProcess(d.pid!)).toBe(true);
    expect(liveDaemonPid(pidFile)).toBe(d.pid);
    expect(() => acquirePidFile(pidFile, process.pid)).toThrow(/already running \(pid \d+/);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe(String(d.pid));
  });

  it('takes over a stale pid file: dead process, or a pid reused by something else', () => {
    writeFileSync(pidFile, `${deadPid()}\n`);
    expect(liveDaemonPid(pidFile)).toBeNull();
    acquirePidFile(pidFile, 5151);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe('5151');
    // This test process is alive but is no tesa daemon.
    writeFileSync(pidFile, `${process.pid}\n`);
    acquirePidFile(pidFile, 6262);
    expect(readFileSync(pidFile, 'utf8').trim()).toBe('6262');
    expect(existsSync(`${pidFile}.lock`)).toBe(false);
  });
});
