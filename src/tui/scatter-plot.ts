/**
 * Latency-vs-quality scatter in braille: each character cell holds 2×4 dots, so a 30×6 panel
 * shows 60×24 positions. x = latency ratio (left is faster), y = quality (up is better).
 * The budget is a vertical line; cells are tagged so the panel can colour feasible points.
 */
import type { ScatterView } from './model.js';

export type CellKind = 'empty' | 'feasible' | 'infeasible' | 'mixed' | 'budget' | 'best';

export interface PlotCell {
  char: string;
  kind: CellKind;
}

export interface ScatterPlot {
  /** `rows` lines of `cols` cells each. */
  cells: PlotCell[][];
  xMin: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

const BRAILLE_BASE = 0x2800;
// Dot bit for (column 0..1, row 0..3) inside one braille cell.
const DOT_BITS = [
  [0x01, 0x08],
  [0x02, 0x10],
  [0x04, 0x20],
  [0x40, 0x80],
];

function range(values: number[], pad: number, fallback: [number, number]): [number, number] {
  const finite = values.filter(Number.isFinite);
  if (finite.length === 0) return fallback;
  let lo = Math.min(...finite);
  let hi = Math.max(...finite);
  if (hi - lo < 1e-9) {
    lo -= 0.5 * (Math.abs(lo) || 1) * 0.1;
    hi += 0.5 * (Math.abs(hi) || 1) * 0.1;
  }
  const span = hi - lo;
  return [lo - span * pad, hi + span * pad];
}

export function plotScatter(view: ScatterView, cols: number, rows: number): ScatterPlot {
  const c = Math.max(1, cols);
  const r = Math.max(1, rows);
  const xs = view.points.map((p) => p.latencyRatio);
  if (view.budgetRatio !== null) xs.push(view.budgetRatio);
  const [xMin, xMax] = range(xs, 0.05, [0, 1.2]);
  const [yMin, yMax] = range(view.points.map((p) => p.quality), 0.05, [0, 1]);
  const bits: number[][] = Array.from({ length: r }, () => new Array<number>(c).fill(0));
  const feasibleIn: boolean[][] = Array.from({ length: r }, () => new Array<boolean>(c).fill(false));
  const infeasibleIn: boolean[][] = Array.from({ length: r }, () => new Array<boolean>(c).fill(false));
  const dotX = (x: number): number => Math.min(c * 2 - 1, Math.max(0, Math.round(((x - xMin) / (xMax - xMin)) * (c * 2 - 1))));
  const dotY = (y: number): number => Math.min(r * 4 - 1, Math.max(0, Math.round(((yMax - y) / (yMax - yMin)) * (r * 4 - 1))));
  for (const p of view.points) {
    if (!Number.isFinite(p.latencyRatio) || !Number.isFinite(p.quality)) continue;
    const dx = dotX(p.latencyRatio);
    const dy = dotY(p.quality);
    const cx = dx >> 1;
    const cy = dy >> 2;
    bits[cy]![cx]! |= DOT_BITS[dy & 3]![dx & 1]!;
    if (p.feasible) feasibleIn[cy]![cx] = true;
    else infeasibleIn[cy]![cx] = true;
  }
  const budgetCol = view.budgetRatio === null ? -1 : dotX(view.budgetRatio) >> 1;
  const bestCell = view.best && Number.isFinite(view.best.latencyRatio) && Number.isFinite(view.best.quality)
    ? { x: dotX(view.best.latencyRatio) >> 1, y: dotY(view.best.quality) >> 2 }
    : null;
  const cells: PlotCell[][] = [];
  for (let y = 0; y < r; y++) {
    const line: PlotCell[] = [];
    for (let x = 0; x < c; x++) {
      const b = bits[y]![x]!;
      if (bestCell && bestCell.x === x && bestCell.y === y) {
        line.push({ char: '◆', kind: 'best' });
      } else if (b !== 0) {
        const f = feasibleIn[y]![x]!;
        const i = infeasibleIn[y]![x]!;
        line.push({ char: String.fromCodePoint(BRAILLE_BASE + b), kind: f && i ? 'mixed' : f ? 'feasible' : 'infeasible' });
      } else if (x === budgetCol) {
        line.push({ char: '│', kind: 'budget' });
      } else {
        line.push({ char: ' ', kind: 'empty' });
      }
    }
    cells.push(line);
  }
  return { cells, xMin, xMax, yMin, yMax };
}

/** The plot as plain lines (for logs and tests). */
export function scatterLines(plot: ScatterPlot): string[] {
  return plot.cells.map((row) => row.map((cell) => cell.char).join(''));
}
