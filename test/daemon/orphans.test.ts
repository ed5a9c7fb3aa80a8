import { describe, it, expect, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { orphanedSearches } from '../../src/daemon/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function deadPid(): number {
  return Number(spawnSync(process.execPath, ['-e', 'console.log(process.pid)'], { encoding: 'utf8' }).stdout.trim());
}

describe('orphanedSearches', () => {
  it('returns what a dead runner left running, leaves live ones, and ends the ones that were stopping', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tesa-orphans-'));
    dirs.push(dir);
    const store = openStore(join(dir, 't.db'));
    const mk = (status: 'running' | 'stopping' | 'paused', pid: number) => {
      const s = store.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, status });
      store.acquireSearch(s.id, { pid });
      return s.id;
    };
    const dead = deadPid();
    const orphan = mk('running', dead);
    const live = mk('running', process.pid);
    const stopping = mk('stopping', dead);
    const stopAsked = mk('running', dead);
    store.setControl(stopAsked, 'stop');
    const paused = mk('paused', dead);
    expect(orphanedSearches(store).map((s) => s.id)).toEqual([orphan]);
    expect(store.requireSearch(stopping).status).toBe('stopped');
    expect(store.requireSearch(stopAsked)).toMatchObject({ status: 'stopped', control: 'none' });
    expect(store.requireSearch(live).status).toBe('running');
    expect(store.requireSearch(paused).status).toBe('paused');
    store.close();
  });
});
