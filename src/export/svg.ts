/**
 * Two plots for report.md, written as plain SVG (no plotting dependency): the search's
 * latency-vs-quality scatter with the budget line, and per-layer sparsity before/after
 * propagation as paired horizontal bars.
 */

export interface ScatterPoint {
  x: number;
  y: number;
  feasible: boolean;
  label: string;
  highlight?: boolean;
}

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** About `n` round tick values covering [lo, hi]. */
export function ticks(lo: number, hi: number, n = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? raw;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}

function range(values: number[], extra: number[] = []): [number, number] {
  const all = [...values, ...extra].filter(Number.isFinite);
  if (all.length === 0) return [0, 1];
  let lo = Math.min(...all);
  let hi = Math.max(...all);
  if (hi === lo) {
    lo -= Math.abs(lo) * 0.1 || 0.5;
    hi += Math.abs(hi) * 0.1 || 0.5;
  }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

export function scatterSvg(o: { points: ScatterPoint[]; budget: number | null; xLabel: string; yLabel: string; title: string }): string {
  const W = 640;
  const H = 400;
  const m = { l: 64, r: 20, t: 36, b: 50 };
  const [x0, x1] = range(o.points.map((p) => p.x), o.budget !== null ? [o.budget] : []);
  const [y0, y1] = range(o.points.map((p) => p.y));
  const sx = (v: number) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
  const sy = (v: number) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
  const L: string[] = [];
  L.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  L.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  L.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${esc(o.title)}</text>`);
  for (const t of ticks(x0, x1)) {
    const x = sx(t).toFixed(1);
    L.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#eee"/>`);
    L.push(`<text x="${x}" y="${H - m.b + 16}" text-anchor="middle">${fmt(t)}</text>`);
  }
  for (const t of ticks(y0, y1)) {
    const y = sy(t).toFixed(1);
    L.push(`<line x1="${m.l}" y1="${y}" x2="${W - m.r}" y2="${y}" stroke="#eee"/>`);
    L.push(`<text x="${m.l - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(t)}</text>`);
  }
  L.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#333"/>`);
  L.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 12}" text-anchor="middle">${esc(o.xLabel)}</text>`);
  L.push(`<text transform="translate(16 ${(m.t + H - m.b) / 2}) rotate(-90)" text-anchor="middle">${esc(o.yLabel)}</text>`);
  if (o.budget !== null) {
    const x = sx(o.budget).toFixed(1);
    L.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#c00" stroke-dasharray="6 4"/>`);
    L.push(`<text x="${Number(x) + 4}" y="${m.t + 14}" fill="#c00">budget ${fmt(o.budget)}</text>`);
  }
  for (const p of o.points.filter((q) => !q.highlight)) {
    L.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="4" fill="${p.feasible ? '#2a7' : '#999'}" fill-opacity="0.8"><title>${esc(p.label)}</title></circle>`);
  }
  for (const p of o.points.filter((q) => q.highlight)) {
    L.push(`<circle cx="${sx(p.x).toFixed(1)}" cy="${sy(p.y).toFixed(1)}" r="7" fill="none" stroke="#06c" stroke-width="2.5"><title>${esc(p.label)}</title></circle>`);
  }
  const lx = W - m.r - 150;
  L.push(`<circle cx="${lx}" cy="${m.t + 12}" r="4" fill="#2a7"/><text x="${lx + 8}" y="${m.t + 16}">feasible</text>`);
  L.push(`<circle cx="${lx + 70}" cy="${m.t + 12}" r="4" fill="#999"/><text x="${lx + 78}" y="${m.t + 16}">over budget</text>`);
  L.push(`<circle cx="${lx}" cy="${m.t + 30}" r="6" fill="none" stroke="#06c" stroke-width="2"/><text x="${lx + 10}" y="${m.t + 34}">exported</text>`);
  L.push('</svg>');
  return L.join('\n') + '\n';
}

export interface BarRow {
  label: string;
  before: number | null;
  after: number;
}

export function sparsityBarsSvg(o: { rows: BarRow[]; title: string }): string {
  const W = 720;
  const rowH = 18;
  const m = { l: 260, r: 30, t: 50, b: 40 };
  const H = m.t + m.b + Math.max(1, o.rows.length) * rowH;
  const sx = (v: number) => m.l + Math.max(0, Math.min(1, v)) * (W - m.l - m.r);
  const L: string[] = [];
  L.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`);
  L.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  L.push(`<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(o.title)}</text>`);
  L.push(`<rect x="${m.l}" y="28" width="10" height="8" fill="#9cf"/><text x="${m.l + 14}" y="36">before propagation</text>`);
  L.push(`<rect x="${m.l + 150}" y="28" width="10" height="8" fill="#06c"/><text x="${m.l + 164}" y="36">after propagation</text>`);
  for (const t of [0, 0.25, 0.5, 0.75, 1]) {
    const x = sx(t).toFixed(1);
    L.push(`<line x1="${x}" y1="${m.t}" x2="${x}" y2="${H - m.b}" stroke="#eee"/>`);
    L.push(`<text x="${x}" y="${H - m.b + 14}" text-anchor="middle">${Math.round(t * 100)}%</text>`);
  }
  L.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">pruned fraction of the weight</text>`);
  o.rows.forEach((r, i) => {
    const y = m.t + i * rowH;
    const label = r.label.length > 42 ? `…${r.label.slice(-41)}` : r.label;
    L.push(`<text x="${m.l - 6}" y="${y + rowH / 2 + 3}" text-anchor="end">${esc(label)}</text>`);
    if (r.before !== null) L.push(`<rect x="${m.l}" y="${y + 2}" width="${(sx(r.before) - m.l).toFixed(1)}" height="${rowH / 2 - 2}" fill="#9cf"><title>${esc(`${r.label}: ${(r.before * 100).toFixed(1)}% before`)}</title></rect>`);
    L.push(`<rect x="${m.l}" y="${y + rowH / 2}" width="${(sx(r.after) - m.l).toFixed(1)}" height="${rowH / 2 - 2}" fill="#06c"><title>${esc(`${r.label}: ${(r.after * 100).toFixed(1)}% after`)}</title></rect>`);
  });
  L.push(`<line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${H - m.b}" stroke="#333"/>`);
  L.push('</svg>');
  return L.join('\n') + '\n';
}
