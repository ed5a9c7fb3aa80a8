import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { openStore } from '../../db/store.js';
import { runCli } from './run-cli.js';

let dir: string;
let db: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-cli-'));
  db = join(dir, 'tesa.db');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Search 1: queued, nothing run. Search 2: done, 4 trials (1 failed), best = seq 2, final re-measure. Search 3: paused. */
function populate(): { bestTrialId: number } {
  const s = openStore(db);
  try {
    s.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, options: { seed: 1, maxTrials: 20 } });
    const b = s.createSearch({ model: 'zoo:bert-mini', target: 'cpu', strategy: 'random', budget: { ms: 12 }, fingerprint: { target: 'cpu', id: 'fp-abc', details: {} } });
    s.updateSearch(b.id, { status: 'done', baseline: { medianMs: 10, madMs: 0.1, ciLowMs: 9.8, ciHighMs: 10.2, n: 40 }, elapsedMs: 75_000 });
    let bestTrialId = -1;
    for (let i = 0; i < 4; i++) {
      const t = s.startTrial(b.id, i, { groups: { 'ffn.0': { ratio: 0.5 + i / 10, pattern: 'block:1x32', precision: 'fp32' }, attn: { ratio: 0.3, pattern: 'fine', precision: 'fp32' } } }, `h${i}`);
      if (i === 2) bestTrialId = t;
      s.recordTrialAndCheckpoint(
        { trialId: t, status: i === 3 ? 'failed' : 'ok', latencyMs: 8 - i, ciLowMs: 7.9 - i, ciHighMs: 8.1 - i, latencyRatio: (8.1 - i) / 10, quality: 0.9 - i / 50, feasible: i !== 3, reason: i === 3 ? 'build failed' : null },
        { state: { i } },
        i === 2 ? { bestTrialId: t } : undefined,
      );
      s.addEvent({ searchId: b.id, kind: 'trial-finished', message: `trial ${i} done`, data: { seq: i, progress: { temperature: 100 * 0.9 ** (i + 1), phase: 'anneal' } } });
    }
    s.addMeasurement({ searchId: b.id, kind: 'final', samplesMs: [6, 6.1], medianMs: 6.05, madMs: 0.05, ciLowMs: 6, ciHighMs: 6.1, n: 2 });
    s.addMeasurement({ searchId: b.id, kind: 'final-baseline', samplesMs: [10, 10.1], medianMs: 10.05, madMs: 0.05, ciLowMs: 10, ciHighMs: 10.1, n: 2 });
    const c = s.createSearch({ model: 'zoo:resnet18', target: 'cpu', strategy: 'autocompress', budget: { ratio: 0.5 } });
    s.updateSearch(c.id, { status: 'paused' });
    return { bestTrialId };
  } finally {
    s.close();
  }
}

describe('tesa list', () => {
  it('shows every search newest first with its trials and best ratio', () => {
    populate();
    const r = runCli(['list', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+STATUS\s+MODEL\s+TARGET\s+STRATEGY\s+BUDGET\s+TRIALS\s+FEASIBLE\s+BEST RATIO\s+QUALITY\s+UPDATED$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(/^\s*3\s+paused\s+zoo:resnet18\s+cpu\s+autocompress\s+≤0\.5×dense\s+0\s+0\s+-\s+-\s+\d{4}-/);
    expect(lines[2]).toMatch(/^\s*2\s+done\s+zoo:bert-mini\s+cpu\s+random\s+≤12 ms\s+4\s+3\s+0\.61\s+0\.86\s+\d{4}-/);
    expect(lines[3]).toMatch(/^\s*1\s+queued\s+zoo:mlp\s+cpu\s+sa\s+≤0\.7×dense\s+0\s+0\s+-\s+-\s+\d{4}-/);
  });

  it('marks a running search whose runner died', () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // a pid that has just exited
    const s = openStore(db);
    const id = s.createSearch({ model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 } }).id;
    s.acquireSearch(id, { pid: dead });
    s.updateSearch(id, { status: 'running' });
    s.close();
    const r = runCli(['list', '--db', db]);
    expect(r.stdout.split('\n')[1]).toMatch(new RegExp(`^\\s*${id}\\s+running \\(dead\\)\\s+zoo:mlp`));
    const j = JSON.parse(runCli(['list', '--db', db, '--json']).stdout) as Array<{ runner: string }>;
    expect(j[0]!.runner).toBe('dead');
    expect(runCli(['show', String(id), '--db', db]).stdout).toMatch(new RegExp(`runner\\s+pid ${dead} on .+ \\(dead, heartbeat `));
  });

  it('filters by status and prints JSON', () => {
    populate();
    const r = runCli(['list', '--db', db, '--status', 'done,queued', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const entries = JSON.parse(r.stdout) as Array<{ id: number; status: string; trials: { total: number; feasible: number }; bestLatencyRatio: number | null; budget: unknown }>;
    expect(entries.map((e) => [e.id, e.status])).toEqual([
      [2, 'done'],
      [1, 'queued'],
    ]);
    expect(entries[0]).toMatchObject({ trials: { total: 4, ok: 3, failed: 1, feasible: 3 }, bestLatencyRatio: 0.61, budget: { ms: 12 } });
  });

  it('takes the database from TESA_DB', () => {
    populate();
    const r = runCli(['list', '--json'], { TESA_DB: db });
    expect((JSON.parse(r.stdout) as unknown[]).length).toBe(3);
  });

  it('says so when there is no database, and does not create one', () => {
    const missing = join(dir, 'none', 'tesa.db');
    const r = runCli(['list', '--db', missing]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`no searches yet (no database at ${missing})\n`);
    expect(existsSync(join(dir, 'none'))).toBe(false);
  });

  it('rejects an unknown status in one line with exit code 2', () => {
    populate();
    const r = runCli(['list', '--db', db, '--status', 'sleeping']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe("tesa: --status 'sleeping' is not a search status (hint: use one of queued, running, paused, stopping, stopped, done, failed (several separated by ','))\n");
  });

  it('refuses a corrupt database in one line and leaves it alone', () => {
    const bad = join(dir, 'bad.db');
    const garbage = Buffer.from('this is not sqlite '.repeat(300));
    writeFileSync(bad, garbage);
    const r = runCli(['list', '--db', bad]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toContain(`tesa: ${bad}: not a tesa database or corrupt (SQLITE_NOTADB`);
    expect(readFileSync(bad).equals(garbage)).toBe(true);
  });
});

describe('tesa show', () => {
  it('shows settings, baseline, best trial with groups, counts, final re-measurement and events', () => {
    const { bestTrialId } = populate();
    const r = runCli(['show', '2', '--db', db]);
    expect(r.stderr).toBe('');
    expect(r.code, r.stderr).toBe(0);
    const out = r.stdout;
    expect(out).toContain(`search 2: done   (${db})`);
    expect(out).toMatch(/model\s+zoo:bert-mini/);
    expect(out).toMatch(/target\s+cpu \(fingerprint fp-abc\)/);
    expect(out).toMatch(/budget\s+latency ≤12 ms/);
    expect(out).toMatch(/elapsed\s+1m15s/);
    expect(out).toContain('dense baseline: 10 ms (95% CI 9.8–10.2 ms, MAD 0.1 ms, n=40)');
    expect(out).toContain('trials: 4 (ok 3, failed 1, feasible 3)');
    expect(out).toContain(`best: trial #2 (id ${bestTrialId})`);
    expect(out).toMatch(/latency\s+6 ms \(95% CI 5\.9–6\.1 ms\)/);
    expect(out).toMatch(/ratio\s+0\.61 × dense/);
    expect(out).toMatch(/quality\s+0\.86/);
    expect(out).toMatch(/attn\s+0\.3\s+fine\s+fp32/);
    expect(out).toMatch(/ffn\.0\s+0\.7\s+block:1x32\s+fp32/);
    expect(out).toContain('ratio 0.607 (upper CI / dense)');
    expect(out).toMatch(/info\s+trial-finished: trial 3 done/);
    expect(out).toContain('progress: temperature 65.61, phase anneal');
  });

  it('makes sense for a search with no trial yet', () => {
    populate();
    const r = runCli(['show', '1', '--db', db]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('search 1: queued');
    expect(r.stdout).toMatch(/options\s+maxTrials=20 seed=1/);
    expect(r.stdout).toContain('dense baseline: not measured yet');
    expect(r.stdout).toContain('trials: none yet');
    expect(r.stdout).toContain('best: none yet');
    expect(r.stdout).toContain('events: none yet');
  });

  it('prints JSON with the optimize --json fields', () => {
    const { bestTrialId } = populate();
    const r = runCli(['show', '2', '--db', db, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const j = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(j).toMatchObject({
      searchId: 2,
      status: 'done',
      baseline: { latencyMs: 10, ciHighMs: 10.2 },
      best: { trialId: bestTrialId, latencyMs: 6, latencyCiHighMs: 6.1, latencyRatio: 0.61, quality: 0.86, groups: { attn: { ratio: 0.3, pattern: 'fine', precision: 'fp32' } } },
      trials: 4,
      feasibleTrials: 3,
      failedTrials: 1,
      final: { best: { latencyMs: 6.05 }, dense: { latencyMs: 10.05 } },
    });
    expect((j.events as unknown[]).length).toBe(4);
    expect(j.progress).toEqual({ temperature: 100 * 0.9 ** 4, phase: 'anneal' });
    const empty = JSON.parse(runCli(['show', '1', '--db', db, '--json']).stdout) as Record<string, unknown>;
    expect(empty).toMatchObject({ searchId: 1, baseline: null, best: null, final: null, progress: null, trials: 0, events: [] });
  });

  it('a missing id is NOT_FOUND: one line naming the id and the database, exit code 2', () => {
    populate();
    const r = runCli(['show', '42', '--db', db]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`tesa: no search 42 in ${db} (hint: run 'tesa list' to see the searches there, or pass another --db)\n`);
    const none = runCli(['show', '1', '--db', join(dir, 'nothing.db')]);
    expect(none.code).toBe(2);
    expect(none.stderr).toContain(`no search 1 in ${join(dir, 'nothing.db')}`);
    expect(existsSync(join(dir, 'nothing.db'))).toBe(false);
  });

  it('a malformed id is one line, exit code 2', () => {
    const r = runCli(['show', 'abc', '--db', db]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe("tesa: search id 'abc' is not a positive integer (hint: run 'tesa list' to see the ids)\n");
  });
});
