/** Small text formatters shared by the commands that print searches (list, show, …). */
import type { Budget } from '../../db/store.js';

export function formatBudget(b: Budget): string {
  return 'ratio' in b ? `≤${fmt(b.ratio, 2)}×dense` : `≤${fmt(b.ms, 3)} ms`;
}

/** A number with at most `digits` decimals, trailing zeros dropped; '-' for null. */
export function fmt(n: number | null | undefined, digits = 3): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '-';
  return String(Number(n.toFixed(digits)));
}

export function fmtMs(n: number | null | undefined): string {
  return n === null || n === undefined ? '-' : `${fmt(n, n < 1 ? 4 : 3)} ms`;
}

/** UTC, to the second: the same on every machine reading the same database. */
export function formatTime(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) return '-';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** 3723000 → "1h02m03s"; 4200 → "4.2s". */
export function formatDuration(ms: number): string {
  if (ms < 60_000) return `${fmt(ms / 1000, 1)}s`;
  const s = Math.floor(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  const pad = (x: number) => String(x).padStart(2, '0');
  return h > 0 ? `${h}h${pad(m)}m${pad(sec)}s` : `${m}m${pad(sec)}s`;
}

/** Left-aligned columns separated by two spaces; numbers are right-aligned. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^-?[\d.]+(%|×)?$|^-$/.test(r[i] ?? '')));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
