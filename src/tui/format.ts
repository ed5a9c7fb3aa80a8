/** Small text formatters shared by the panels; every one returns a plain string. */

export function formatDuration(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms) || ms < 0) return '–';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h${String(m % 60).padStart(2, '0')}m`;
}

export function formatMs(ms: number | null): string {
  if (ms === null || !Number.isFinite(ms)) return '–';
  if (ms >= 100) return `${ms.toFixed(0)}ms`;
  if (ms >= 10) return `${ms.toFixed(1)}ms`;
  if (ms >= 1) return `${ms.toFixed(2)}ms`;
  return `${(ms * 1000).toFixed(0)}µs`;
}

export function formatRatio(r: number | null): string {
  return r === null || !Number.isFinite(r) ? '–' : `${r.toFixed(2)}×`;
}

export function formatFraction(f: number | null): string {
  return f === null || !Number.isFinite(f) ? '–' : `${Math.round(f * 100)}%`;
}

export function formatQuality(q: number | null): string {
  if (q === null || !Number.isFinite(q)) return '–';
  return Math.abs(q) >= 100 ? q.toFixed(0) : q.toPrecision(3);
}

/** Cuts a string to `width` columns, marking the cut with an ellipsis. */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  if (text.length <= width) return text;
  return width === 1 ? '…' : `${text.slice(0, width - 1)}…`;
}

export function padRight(text: string, width: number): string {
  const t = fit(text, width);
  return t + ' '.repeat(Math.max(0, width - t.length));
}

export function padLeft(text: string, width: number): string {
  const t = fit(text, width);
  return ' '.repeat(Math.max(0, width - t.length)) + t;
}

/** A bar of `width` cells filled to `fraction` (clamped to [0,1]), in block characters. */
export function bar(fraction: number, width: number): string {
  if (width <= 0) return '';
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.floor(f * width);
  const partials = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];
  const rest = f * width - full;
  const partial = full < width ? partials[Math.floor(rest * 8)] ?? '' : '';
  return '█'.repeat(full) + partial + '░'.repeat(Math.max(0, width - full - (partial ? 1 : 0)));
}
