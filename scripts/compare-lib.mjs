// Shared by scripts/compare-*.mjs: runs `tesa optimize --json` as a child process with its own
// database (and so its own kernel cache), or reads a database a previous run left, and turns
// the store into the figures the comparisons print.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const cli = join(root, 'dist', 'src', 'cli', 'main.js');

/** --key value pairs (and bare --flags as true) from argv. */
export function parseArgs(argv, defaults) {
  const out = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const key = a.slice(2);
    const next = argv[i + 1];
    // --extra takes the next argument whatever it looks like (it is options for optimize).
    if (next === undefined || (next.startsWith('--') && key !== 'extra')) out[key] = true;
    else {
      out[key] = next;
      i++;
    }
  }
  return out;
}

/** Runs one search unless `db` already holds a finished one; returns its figures. */
export async function runOrReuse(db, args, log = (l) => process.stderr.write(`${l}\n`)) {
  mkdirSync(dirname(db), { recursive: true });
  let wallMs = null;
  let exitCode = null;
  if (!(existsSync(db) && finished(db))) {
    log(`$ node ${cli} optimize ${args.join(' ')} --db ${db} --json`);
    const t0 = Date.now();
    exitCode = await new Promise((res) => {
      const child = spawn(process.execPath, [cli, 'optimize', ...args, '--db', db, '--json'], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, NO_COLOR: '1' } });
      child.on('close', (code) => res(code));
    });
    wallMs = Date.now() - t0;
    if (exitCode !== 0) log(`  exited with ${exitCode}`);
  } else log(`reusing ${db}`);
  return { db, wallMs, exitCode, ...figures(db) };
}

function finished(db) {
  const d = new Database(db, { readonly: true });
  try {
    const s = d.prepare('SELECT status FROM searches ORDER BY id DESC LIMIT 1').get();
    return s?.status === 'done';
  } catch {
    return false;
  } finally {
    d.close();
  }
}

/** Everything the tables need, from the store alone. */
export function figures(db) {
  const d = new Database(db, { readonly: true });
  try {
    const s = d.prepare('SELECT * FROM searches ORDER BY id DESC LIMIT 1').get();
    const options = JSON.parse(s.options_json ?? '{}');
    const trials = d.prepare('SELECT * FROM trials WHERE search_id = ? ORDER BY seq').all(s.id);
    const events = d.prepare('SELECT kind, at, data_json FROM events WHERE search_id = ? ORDER BY id').all(s.id);
    const attempts = events.filter((e) => e.kind === 'final-attempt').map((e) => JSON.parse(e.data_json));
    const ok = trials.filter((t) => t.status === 'ok');
    const built = trials.reduce((n, t) => n + (t.kernels_built ?? 0), 0);
    const cached = trials.reduce((n, t) => n + (t.kernels_cached ?? 0), 0);
    const best = s.best_trial_id === null ? null : trials.find((t) => t.id === s.best_trial_id) ?? null;
    const first = attempts[0] ?? null;
    const held = attempts.find((a) => a.meetsBudget) ?? null;
    const budget = JSON.parse(s.budget_json);
    const started = events.find((e) => e.kind === 'search-started')?.at ?? null;
    const lastTrial = [...events].reverse().find((e) => e.kind === 'trial-finished')?.at ?? null;
    return {
      searchId: s.id,
      status: s.status,
      model: s.model,
      cost: options.cost ?? 'latency',
      groups: options.groups ?? 'on',
      seed: options.seed,
      budgetRatio: budget.ratio ?? null,
      trials: trials.length,
      okTrials: ok.length,
      feasibleTrials: trials.filter((t) => t.feasible).length,
      elapsedMs: s.elapsed_ms,
      trialPhaseMs: started !== null && lastTrial !== null ? lastTrial - started : null,
      kernelsBuilt: built,
      kernelsCached: cached,
      cacheShare: built + cached > 0 ? cached / (built + cached) : null,
      /** The search's own choice (the first candidate re-measured; the best by quality), as the search judged it. */
      best: (() => {
        const t = first ? (trials.find((x) => x.id === first.trialId) ?? best) : best;
        return t ? { seq: t.seq, quality: t.quality, predictedRatio: t.latency_ratio } : null;
      })(),
      /** The search's own choice (best by quality among feasible trials), re-measured. */
      chosen: first,
      /** The first candidate whose re-measure held the budget (maybe after fallbacks). */
      held,
      attempts,
    };
  } finally {
    d.close();
  }
}

export const f3 = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(3));
export const pct = (v) => (v === null || v === undefined || !Number.isFinite(v) ? '-' : `${(v * 100).toFixed(1)}%`);
export const mins = (ms) => (ms === null || ms === undefined ? '-' : `${Math.floor(ms / 60000)}m${String(Math.round((ms % 60000) / 1000)).padStart(2, '0')}s`);

/** A plain-text table: first row the header. */
export function table(rows) {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  return rows.map((r) => r.map((c, i) => String(c).padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

/** `8m` for every model, or `zoo:a=8m,zoo:b=5m` per model (a model not named gets `fallback`). */
export function perModel(value, model, fallback) {
  if (value === undefined || value === true) return fallback;
  const s = String(value);
  if (!s.includes('=')) return s;
  for (const part of s.split(',')) {
    const i = part.lastIndexOf('=');
    if (part.slice(0, i) === model) return part.slice(i + 1);
  }
  return fallback;
}

/** The ratio and its CI as `0.652 [0.611–0.690]`. */
export const ratioCi = (a) => (a ? `${f3(a.ratio)} [${f3(a.ciLowRatio)}–${f3(a.ciHighRatio)}]` : '-');

export const slug = (model) => model.replace(/^zoo:/, '').replace(/[^A-Za-z0-9.-]+/g, '_');

/** `--extra '--plan-picking off --threads 1'`: more optimize options, passed as they are. */
export const extra = (o) => (typeof o.extra === 'string' ? o.extra.split(/\s+/).filter(Boolean) : []);
