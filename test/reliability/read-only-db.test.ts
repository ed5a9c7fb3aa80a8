/**
 * A database that cannot be written: the file alone read-only, and (separately) its folder
 * read-only, made so even for root (a read-only bind mount in a private mount namespace, or
 * chattr +i; see readOnlyWay). Writers (`tesa optimize --db`, `tesa resume` of an unfinished
 * search, `tesa daemon start`, `tesa pause`) refuse in one line that names the file, with a
 * hint, exit 2, before any work. Readers do what a user expects of an archived database:
 * `tesa show`, `tesa list` and `tesa resume` of a finished search print it. Either way the
 * file's bytes stay the same and `PRAGMA integrity_check` is ok.
 * Also here: `tesa export --out` under /proc is one line, not Node 20's recursive-mkdir hang.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../db/store.js';
import { resolveSearchConfig, storedOptions } from '../../src/search/config.js';
import { FULL, readOnlyWay, recordSummary, rejectionProblem, tempDir, tesa, tesaReadOnly, type Outcome } from './helpers.js';

const tmp = tempDir('tesa-read-only-db-');
afterAll(() => tmp.cleanup());
const env = { TESA_NO_TUI: '1', TESA_CACHE_DIR: join(tmp.dir, 'kernels') };
/** A database with search 1 done and search 2 queued (never started). */
const master = join(tmp.dir, 'master', 'tesa.db');

beforeAll(async () => {
  // A real finished search, cheap: one trial judged by FLOPs, no final re-measurement.
  const r = await tesa(['optimize', '--model', 'zoo:mlp', '--max-trials', '1', '--final-rounds', '0', '--cost', 'flops', '--db', master, '--json'], env, 600_000);
  expect(r.code, r.stderr).toBe(0);
  const store = openStore(master);
  const c = resolveSearchConfig({ model: 'zoo:mlp', maxTrials: '1' }, 1);
  store.createSearch({ model: c.model, target: c.target, strategy: c.strategy, budget: c.budget, options: storedOptions(c), status: 'queued' });
  store.close(); // checkpoints the WAL: the copies below are whole single files
}, 600_000);

const sha = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex');
const integrity = (file: string): string => {
  const d = new Database(file, { readonly: true });
  try {
    return d.pragma('integrity_check', { simple: true }) as string;
  } finally {
    d.close();
  }
};

const modes = FULL ? (['folder', 'file'] as const) : (['folder'] as const);

describe.skipIf(readOnlyWay === null)(`a read-only database (${readOnlyWay ?? 'no way to make one here'})`, () => {
  for (const mode of modes) {
    it(`${mode} read-only: writers refuse in one line naming the file; show, list and resume of a finished search read it; bytes unchanged`, async () => {
      const dir = join(tmp.dir, `ro-${mode}`);
      mkdirSync(dir, { recursive: true });
      const db = join(dir, 'tesa.db');
      copyFileSync(master, db);
      const before = sha(db);
      const filesBefore = readdirSync(dir).sort();
      const target = mode === 'folder' ? dir : db;
      const run = (args: string[]): Promise<Outcome> => tesaReadOnly(target, [...args, '--db', db], env);
      const problems: string[] = [];
      let faults = 0;

      for (const args of [['optimize', '--model', 'zoo:mlp', '--max-trials', '1'], ['resume', '2'], ['daemon', 'start'], ['pause', '2']]) {
        faults++;
        const o = await run(args);
        const p = rejectionProblem(o);
        if (p) problems.push(`tesa ${args.join(' ')}: ${p}`);
        else if (!o.stderr.includes(db) || !o.stderr.includes('(hint: ')) problems.push(`tesa ${args.join(' ')}: does not name ${db} with a hint: ${o.stderr.trim()}`);
      }

      faults++;
      const show = await run(['show', '1', '--json']);
      expect(show.stderr).toBe('');
      expect(show.code).toBe(0);
      const sum = JSON.parse(show.stdout) as { searchId: number; status: string };
      expect(sum.searchId).toBe(1);
      expect(sum.status).toBe('done');

      faults++;
      const list = await run(['list', '--json']);
      expect(list.stderr).toBe('');
      expect(list.code).toBe(0);
      expect((JSON.parse(list.stdout) as Array<{ id: number }>).map((s) => s.id).sort()).toEqual([1, 2]);

      faults++;
      const done = await run(['resume', '1', '--json']);
      expect(done.stderr).toBe('');
      expect(done.code).toBe(0);

      // A read-only folder got nothing new (no -wal, -shm, daemon.pid or log).
      if (mode === 'folder') expect(readdirSync(dir).sort()).toEqual(filesBefore);
      expect(sha(db), 'the database file changed').toBe(before);
      expect(integrity(db)).toBe('ok');
      recordSummary({ suite: `read-only database (${mode}, ${readOnlyWay})`, faultsInjected: faults, survived: faults - problems.length, dataLost: sha(db) === before ? 0 : 1, crashes: 0, note: 'optimize/resume/daemon start/pause refused in one line; show/list/resume-of-done read it' });
      expect(problems).toEqual([]);
    }, 600_000);
  }
});
if (readOnlyWay === null) console.log('read-only database: skipped — neither a read-only bind mount (unshare -m, needs root) nor chattr +i works here');

describe('tesa export --out under /proc', () => {
  it('is one line naming --out, never the recursive-mkdir hang', async () => {
    const db = join(tmp.dir, 'export', 'tesa.db');
    mkdirSync(join(tmp.dir, 'export'), { recursive: true });
    copyFileSync(master, db);
    const o = await tesa(['export', '1', '--out', '/proc/tesa-no-such/out', '--no-measure', '--db', db], env, 120_000);
    expect(rejectionProblem(o), o.stderr).toBeNull();
    expect(o.stderr).toMatch(/^tesa: --out \/proc\/tesa-no-such\/out: cannot create the folder/);
    recordSummary({ suite: 'export --out under /proc', badInputs: 1, crashes: 0 });
  }, 180_000);
});
