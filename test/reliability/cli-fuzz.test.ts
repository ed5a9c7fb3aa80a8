/**
 * Every command and option given bad values through the real binary: each case must end in
 * exactly one `tesa: …` line on stderr and exit code 2, within a timeout, with no stack and no
 * signal, and must leave the store as it was (the database file absent when none existed, the
 * row counts of every table unchanged when one did). Cases are generated from a seeded pool of
 * bad values per option; the quick run takes a seeded sample, the full run all of them.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { openStore } from '../../db/store.js';
import { FULL, rejectionProblem, rng, tempDir, tesa } from './helpers.js';

const tmp = tempDir('tesa-cli-fuzz-');
const storeDb = join(tmp.dir, 'store', 'tesa.db');
const notOnnx = join(tmp.dir, 'not-a-model.onnx');
const aDir = join(tmp.dir, 'a-folder');

beforeAll(() => {
  mkdirSync(aDir, { recursive: true });
  writeFileSync(notOnnx, 'this is not protobuf at all\n');
  // A real, migrated, empty store that rejected commands must not change.
  openStore(storeDb).close();
});
afterAll(() => tmp.cleanup());

/** Row counts of every table: "unchanged" for a store nobody should have written. */
function storeCounts(path: string): string {
  const db = new Database(path, { readonly: true });
  try {
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as Array<{ name: string }>;
    return tables.map((t) => `${t.name}=${(db.prepare(`SELECT count(*) AS n FROM "${t.name}"`).get() as { n: number }).n}`).join(' ');
  } finally {
    db.close();
  }
}

const badNumbers = ['0', '-1', 'abc', 'NaN', '1.5', '1e400', '', ' ', '0x10', '-Infinity'];
const badDurations = ['0', '-1m', 'abc', '5xs', '1e400h', '', 'm', '--'];
const badBudgets = ['0', '-1', 'abc', '5xs', 'NaN', '-3ms', '0ms', '', '1e400'];
const badDbPaths = ['/proc/tesa-no-such/t.db', '/dev/null/t.db'];

/** Each case: argv, plus whether it names a fresh database (must stay absent) or the shared store. */
interface Case {
  args: string[];
  db: 'fresh' | 'store' | 'none';
}

function generateCases(): Case[] {
  const out: Case[] = [];
  // Whatever optimize accepts by mistake must still end fast.
  const opt = (flag: string, v: string): Case => ({ args: ['optimize', '--max-trials', '1', '--time-limit', '5s', flag, v], db: 'fresh' });
  for (const v of badBudgets) out.push(opt('--latency-budget', v));
  for (const v of badNumbers) {
    out.push(opt('--max-trials', v));
    out.push(opt('--threads', v));
  }
  for (const v of ['-1', 'abc', '1.5', 'NaN']) out.push(opt('--seed', v), opt('--final-rounds', v));
  for (const v of badDurations) out.push(opt('--time-limit', v), opt('--evaluator-timeout', v));
  for (const v of ['nope', 'block:0x0', 'nm:5:4', 'tile:-1', ',', 'fine,nope', 'block:axb']) out.push(opt('--patterns', v));
  for (const v of ['int3', '', 'fp32,,']) out.push(opt('--precisions', v));
  for (const v of ['nope', '']) out.push(opt('--strategy', v), opt('--target', v), opt('--cost', v), opt('--evaluator', v));
  for (const v of ['maybe', '']) out.push(opt('--groups', v));
  for (const v of ['coolingRate=abc', '=', 'nokey', 'coolingRate=-1', 'startTemperature=NaN', 'noSuchSetting=1']) out.push(opt('--strategy-option', v));
  for (const v of ['/nonexistent/model.onnx', 'zoo:nope', '', notOnnx, aDir]) out.push(opt('--model', v));
  out.push(opt('--calibration', '/nonexistent.npy'), opt('--calibration-shape', 'axb'));
  for (const p of badDbPaths) out.push({ args: ['optimize', '--max-trials', '1', '--db', p], db: 'none' });

  for (const v of ['*=nope:0.5', '*=fine:150', '*=fine:-0.1', '*=fine:abc', 'noeq', '*=block:0x4:0.5']) {
    out.push({ args: ['propagate', 'zoo:mlp', '--init', v], db: 'none' });
  }
  out.push({ args: ['propagate', 'zoo:mlp', '--groups', 'maybe'], db: 'none' }, { args: ['propagate', '/nonexistent.onnx'], db: 'none' });
  for (const m of ['/nonexistent.onnx', notOnnx, aDir, '/dev/null', 'zoo:nope']) out.push({ args: ['inspect', m], db: 'none' });
  for (const d of ['x', 'batch=0', 'batch=-1', 'batch=abc', '=3']) out.push({ args: ['inspect', 'zoo:mlp', '--dim', d], db: 'none' });

  out.push({ args: ['list', '--status', 'nope'], db: 'store' });
  for (const id of ['abc', '-1', '0', '99999', '1.5', '']) {
    for (const cmd of ['show', 'resume', 'pause', 'continue', 'stop', 'export', 'watch']) out.push({ args: [cmd, id], db: 'store' });
  }
  for (const v of ['-1', 'abc']) out.push({ args: ['show', '1', '--events', v], db: 'store' });
  out.push({ args: ['export', '1', '--trial', 'abc'], db: 'store' }, { args: ['export', '1', '--out', '/proc/tesa-no-such'], db: 'store' });
  for (const p of badDbPaths) {
    for (const cmd of [['list'], ['show', '1'], ['daemon', 'start'], ['daemon', 'status'], ['daemon', 'stop'], ['watch', '1']]) out.push({ args: [...cmd, '--db', p], db: 'none' });
  }
  out.push({ args: ['daemon', 'stop', '--timeout', 'abc'], db: 'fresh' });

  out.push({ args: ['bench', 'model', '/nonexistent.onnx'], db: 'none' }, { args: ['bench', 'model', 'zoo:mlp', '--rounds', 'abc'], db: 'none' });
  out.push({ args: ['bench', 'model', 'zoo:mlp', '--isa', 'avx9000'], db: 'none' }, { args: ['bench', 'model', 'zoo:mlp', '--threads', '-2'], db: 'none' });
  for (const [f, v] of [['--shape', 'axb'], ['--shape', '0x0x0'], ['--shape', '-1x4x4'], ['--op', 'nope'], ['--sparsity', '1.5'], ['--pattern', 'nope'], ['--precision', 'int3'], ['--target', 'nope'], ['--threads', 'abc']]) {
    out.push({ args: ['bench', 'kernel', '--shape', '8x8x8', f, v], db: 'none' });
  }
  out.push({ args: ['no-such-command'], db: 'none' }, { args: ['optimize', '--no-such-option'], db: 'fresh' }, { args: ['show'], db: 'store' });
  return out;
}

describe('every command given bad input', () => {
  it('exits 2 with one line, no crash, no hang, store untouched', async () => {
    const all = generateCases();
    const r = rng('cli-fuzz');
    // The quick run: a seeded sample of 10 (the same ones every time).
    const chosen = FULL ? all : all.map((c) => ({ c, k: r() })).sort((a, b) => a.k - b.k).slice(0, 10).map((x) => x.c);
    const problems: string[] = [];
    const before = storeCounts(storeDb);
    for (const [i, c] of chosen.entries()) {
      const fresh = join(tmp.dir, `fresh-${i}`, 'tesa.db');
      const args = c.db === 'none' ? c.args : [...c.args, '--db', c.db === 'fresh' ? fresh : storeDb];
      const o = await tesa(args, { TESA_DB: join(tmp.dir, 'never', 'tesa.db'), TESA_CACHE_DIR: join(tmp.dir, 'cache') }, 60_000);
      const label = `tesa ${args.map((a) => JSON.stringify(a)).join(' ')}`;
      // `list` of a database that does not exist is an empty answer, not an error.
      const emptyList = c.args[0] === 'list' && o.code === 0 && /no database/.test(o.stdout) && o.stderr === '';
      const p = emptyList ? null : rejectionProblem(o);
      if (p) problems.push(`${label}: ${p}`);
      if (c.db === 'fresh' && existsSync(fresh)) problems.push(`${label}: created ${fresh} for rejected input`);
      if (existsSync(join(tmp.dir, 'never', 'tesa.db'))) problems.push(`${label}: wrote to $TESA_DB although --db was given`);
    }
    const after = storeCounts(storeDb);
    console.log(`cli fuzz: ${chosen.length} of ${all.length} cases run, ${problems.length} problems`);
    expect(after).toBe(before);
    expect(problems).toEqual([]);
  });
});
