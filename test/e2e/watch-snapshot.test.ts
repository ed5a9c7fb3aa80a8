import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore } from '../../db/store.js';
import { runCli } from '../cli/run-cli.js';

let dir: string;
let db: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-watch-snap-'));
  db = join(dir, 't.db');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('tesa watch without a terminal', () => {
  it('prints one frame of the screen and exits; without an id it picks the running search', () => {
    const store = openStore(db);
    store.createSearch({ model: 'zoo:old', target: 'cpu', strategy: 'random', budget: { ratio: 0.5 }, status: 'done' });
    const s = store.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, options: { maxTrials: 8 }, status: 'running' });
    const t = store.startTrial(s.id, 0, { groups: { g0: { ratio: 0.5, pattern: 'block:1x32', precision: 'fp32' } } }, 'h0');
    store.finishTrial({ trialId: t, status: 'ok', latencyMs: 1.2, ciLowMs: 1.1, ciHighMs: 1.3, latencyRatio: 0.65, quality: 0.9, feasible: true });
    store.close();
    const r = runCli(['watch', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(new RegExp(`^tesa · search #${s.id} · zoo:mlp → cpu · sa · budget 0\\.70× dense +RUNNING$`));
    expect(r.stdout).toContain('trials 1/8');
    expect(r.stdout).toContain('best  #1  1.20ms [1.10ms–1.30ms]  0.65× dense  quality 0.900');
    expect(r.stdout).toMatch(/g0\s+block:1x32\s+50% fp32/);
    // eslint-disable-next-line no-control-regex
    expect(r.stdout).not.toMatch(/\x1b\[/);
  });

  it('says so when nothing runs', () => {
    const empty = join(dir, 'empty.db');
    openStore(empty).close();
    const r = runCli(['watch', '--db', empty]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^tesa: no running or queued search in .*empty\.db \(hint: start one with 'tesa optimize'/);
  });
});
