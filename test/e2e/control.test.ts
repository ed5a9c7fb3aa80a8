import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { runCli } from '../cli/run-cli.js';

let dir: string;
let db: string;
const children: ChildProcess[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-control-'));
  db = join(dir, 't.db');
});
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

function newSearch(status: 'queued' | 'running' = 'queued', ownerPid?: number): number {
  const store = openStore(db);
  try {
    const s = store.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, status });
    if (ownerPid !== undefined) store.acquireSearch(s.id, { pid: ownerPid });
    return s.id;
  } finally {
    store.close();
  }
}

function read(id: number) {
  const store = openStore(db);
  try {
    return store.requireSearch(id);
  } finally {
    store.close();
  }
}

describe('tesa pause|continue|stop', () => {
  it('changes a search nobody runs at once: pause holds it out of the queue, continue puts it back, stop ends it', () => {
    const id = newSearch('queued');
    const p = runCli(['pause', String(id), '--db', db]);
    expect(p.code).toBe(0);
    expect(p.stdout).toContain(`search ${id} paused`);
    expect(read(id).status).toBe('paused');
    const c = runCli(['continue', String(id), '--db', db]);
    expect(c.stdout).toContain(`search ${id} queued again`);
    expect(read(id).status).toBe('queued');
    const s = runCli(['stop', String(id), '--db', db]);
    expect(s.stdout).toContain(`search ${id} stopped`);
    expect(read(id)).toMatchObject({ status: 'stopped', control: 'none' });
    const again = runCli(['stop', String(id), '--db', db]);
    expect(again.code).toBe(2);
    expect(again.stderr).toBe(`tesa: search ${id} is already stopped (hint: nothing to stop)\n`);
  });

  it('asks the live runner through the control column', () => {
    const runner = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    children.push(runner);
    const id = newSearch('running', runner.pid);
    const p = runCli(['pause', String(id), '--db', db]);
    expect(p.stdout).toContain(`pause requested; the runner (pid ${runner.pid})`);
    expect(read(id)).toMatchObject({ status: 'running', control: 'pause' });
    const s = runCli(['stop', String(id), '--db', db]);
    expect(s.stdout).toContain('stop requested');
    expect(read(id)).toMatchObject({ status: 'running', control: 'stop' });
  });

  it('names a missing search and a bad id', () => {
    newSearch();
    const missing = runCli(['pause', '99', '--db', db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/^tesa: no search 99 in .*t\.db \(hint: run 'tesa list'/);
    const bad = runCli(['stop', 'x1', '--db', db]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('search id "x1" is not a number');
  });
});
