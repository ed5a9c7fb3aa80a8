import { describe, it, expect } from 'vitest';
import { plotScatter, scatterLines } from '../../src/tui/scatter-plot.js';
import { bar, fit, formatDuration, formatMs } from '../../src/tui/format.js';

describe('plotScatter', () => {
  it('puts fast high-quality points top left, slow low-quality ones bottom right, the budget between', () => {
    const plot = plotScatter(
      { points: [{ latencyRatio: 0.5, quality: 1, feasible: true }, { latencyRatio: 1, quality: 0.5, feasible: false }], budgetRatio: 0.75, best: null },
      20,
      5,
    );
    const lines = scatterLines(plot);
    expect(lines).toHaveLength(5);
    expect(lines.every((l) => [...l].length === 20)).toBe(true);
    const topLeft = plot.cells[0]!.findIndex((c) => c.kind !== 'empty' && c.kind !== 'budget');
    const bottomRight = plot.cells[4]!.findIndex((c) => c.kind !== 'empty' && c.kind !== 'budget');
    expect(plot.cells[0]![topLeft]!.kind).toBe('feasible');
    expect(plot.cells[4]![bottomRight]!.kind).toBe('infeasible');
    expect(topLeft).toBeLessThan(3);
    expect(bottomRight).toBeGreaterThan(16);
    const budgetCol = plot.cells[2]!.findIndex((c) => c.kind === 'budget');
    expect(budgetCol).toBeGreaterThan(topLeft);
    expect(budgetCol).toBeLessThan(bottomRight);
    expect(lines.every((l) => l[budgetCol] === '│')).toBe(true);
  });

  it('packs points that share a cell into one braille character and marks mixed cells', () => {
    const plot = plotScatter(
      {
        points: [
          { latencyRatio: 0, quality: 0, feasible: true },
          { latencyRatio: 10, quality: 10, feasible: true },
          { latencyRatio: 5.02, quality: 5, feasible: true },
          { latencyRatio: 5.04, quality: 5, feasible: false },
        ],
        budgetRatio: null,
        best: null,
      },
      10,
      3,
    );
    const kinds = plot.cells.flat().map((c) => c.kind);
    expect(kinds.filter((k) => k === 'mixed')).toHaveLength(1);
    expect(kinds).not.toContain('budget');
  });

  it('marks the best point', () => {
    const best = { latencyRatio: 0.6, quality: 0.9, feasible: true };
    const plot = plotScatter({ points: [best, { latencyRatio: 0.9, quality: 0.95, feasible: false }], budgetRatio: 0.7, best }, 12, 4);
    expect(scatterLines(plot).join('')).toContain('◆');
  });
});

describe('formatters', () => {
  it('format durations, latencies, bars and cuts', () => {
    expect(formatDuration(59_400)).toBe('59s');
    expect(formatDuration(62_000)).toBe('1m02s');
    expect(formatDuration(3_720_000)).toBe('1h02m');
    expect(formatDuration(null)).toBe('–');
    expect(formatMs(0.25)).toBe('250µs');
    expect(formatMs(12.34)).toBe('12.3ms');
    expect(bar(0.5, 10)).toBe('█████░░░░░');
    expect([...bar(0.33, 10)]).toHaveLength(10);
    expect(bar(2, 4)).toBe('████');
    expect(fit('abcdef', 4)).toBe('abc…');
  });
});
