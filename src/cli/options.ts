/**
 * Option helpers every command shares: where the database is, JSON output, and parsers for
 * the values users type (dims, budgets, durations, ids). Parsers throw TesaError BAD_INPUT
 * naming the option, so a typo is one line and exit code 2.
 */
import type { Command } from 'commander';
import { badInput } from '../errors.js';
import type { Budget } from '../../db/store.js';

export interface DbOption {
  db?: string;
}

export interface JsonOption {
  json?: boolean;
}

/** `--db <path>`; without it the store uses $TESA_DB, then $XDG_STATE_HOME/tesa/tesa.db, then ~/.local/state/tesa/tesa.db. */
export function addDbOption(cmd: Command): Command {
  return cmd.option('--db <path>', 'database file (default: $TESA_DB, else $XDG_STATE_HOME/tesa/tesa.db, else ~/.local/state/tesa/tesa.db)');
}

export function addJsonOption(cmd: Command, what = 'print the result as JSON'): Command {
  return cmd.option('--json', what);
}

/** The one way commands print JSON: pretty, one trailing newline, on stdout. */
export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** "1x3x224x224" or "1,3,224,224" → [1, 3, 224, 224]; every dim a positive integer. */
export function parseDims(text: string, option = '--dims'): number[] {
  const parts = text.trim().split(/[x,×]/);
  const dims = parts.map((p) => (/^\s*\d+\s*$/.test(p) ? Number(p) : NaN));
  if (text.trim() === '' || dims.some((d) => !Number.isSafeInteger(d) || d <= 0)) {
    throw badInput(`${option} '${text}': expected positive integers separated by 'x' or ',' (e.g. 1x128)`, `for example ${option} 1x3x224x224`);
  }
  return dims;
}

/** "batch=1,seq=128" → { batch: 1, seq: 128 }: values for a model's symbolic dimensions. */
export function parseDimBindings(text: string, option = '--dim'): Record<string, number> {
  const out: Record<string, number> = {};
  for (const part of text.split(',')) {
    const m = /^\s*([A-Za-z_][\w.:-]*)\s*=\s*(\d+)\s*$/.exec(part);
    if (!m || Number(m[2]) <= 0) throw badInput(`${option} '${text}': expected name=positive integer pairs separated by ','`, `for example ${option} batch=1,seq=128`);
    out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** `0.7` (a ratio of the dense latency, 0 < r ≤ 1) or `12ms` / `12 ms` / `1.5s` (absolute). */
export function parseBudget(text: string, option = '--latency-budget'): Budget {
  const t = text.trim().toLowerCase();
  const abs = /^(\d+(?:\.\d+)?)\s*(ms|s)$/.exec(t);
  if (abs) {
    const ms = Number(abs[1]) * (abs[2] === 's' ? 1000 : 1);
    if (ms > 0) return { ms };
  } else if (/^\d*\.?\d+$/.test(t)) {
    const ratio = Number(t);
    if (ratio > 0 && ratio <= 1) return { ratio };
  }
  throw badInput(`${option} '${text}': expected a ratio in (0, 1] of the dense latency or a time like 12ms`, `for example ${option} 0.7 or ${option} 12ms`);
}

/** "90s", "30m", "2h", "1h30m", "500ms" or a bare number of seconds → milliseconds. */
export function parseDuration(text: string, option = '--time-limit'): number {
  const t = text.trim().toLowerCase();
  if (/^\d+(\.\d+)?$/.test(t)) return Number(t) * 1000;
  const unit: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
  let total = 0;
  let rest = t;
  while (rest.length) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)/.exec(rest);
    if (!m) {
      total = NaN;
      break;
    }
    total += Number(m[1]) * unit[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  if (!(total > 0)) throw badInput(`${option} '${text}': expected a duration like 90s, 30m, 2h or 1h30m`, `for example ${option} 30m`);
  return total;
}

/** A non-negative integer option (--max-trials, --seed, --threads …). */
export function parseCount(text: string, option: string, min = 0): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) throw badInput(`${option} '${text}': expected an integer ≥ ${min}`, `for example ${option} ${Math.max(min, 10)}`);
  return n;
}

/** A search id as typed on the command line. */
export function parseSearchId(text: string): number {
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw badInput(`search id '${text}' is not a positive integer`, "run 'tesa list' to see the ids");
  return n;
}
