import { Box, Text } from 'ink';
import type { ScatterView } from '../model.js';
import { plotScatter, type CellKind, type PlotCell } from '../scatter-plot.js';
import { formatQuality, padLeft } from '../format.js';
import { useTheme, type ColorName } from '../theme.js';

const KIND_COLOR: Partial<Record<CellKind, ColorName>> = {
  feasible: 'green',
  infeasible: 'red',
  mixed: 'yellow',
  budget: 'magenta',
  best: 'cyan',
};

/** Consecutive cells of one kind, so a row is a handful of <Text> runs. */
function runs(row: PlotCell[]): { text: string; kind: CellKind }[] {
  const out: { text: string; kind: CellKind }[] = [];
  for (const cell of row) {
    const last = out[out.length - 1];
    if (last && last.kind === cell.kind) last.text += cell.char;
    else out.push({ text: cell.char, kind: cell.kind });
  }
  return out;
}

const AXIS = 7;

/** `cols`/`rows` are the plot's cells; the panel adds 7 columns of y labels and one x-axis row. */
export function Scatter({ scatter, cols, rows }: { scatter: ScatterView; cols: number; rows: number }) {
  const t = useTheme();
  if (rows <= 0 || cols <= 4) return null;
  const plot = plotScatter(scatter, cols, rows);
  const lo = plot.xMin.toFixed(2);
  const hi = `${plot.xMax.toFixed(2)}×`;
  const budget = scatter.budgetRatio === null ? '' : ` │=${scatter.budgetRatio.toFixed(2)}`;
  const mid = 'latency';
  const gap = Math.max(1, cols - lo.length - hi.length - mid.length - budget.length);
  const xAxis = `${lo}${' '.repeat(Math.floor(gap / 2))}${mid}${budget}${' '.repeat(Math.ceil(gap / 2))}${hi}`.slice(0, cols);
  return (
    <Box flexDirection="column" width={cols + AXIS}>
      {plot.cells.map((row, y) => {
        const label = y === 0 ? formatQuality(plot.yMax) : y === rows - 1 ? formatQuality(plot.yMin) : y === Math.floor(rows / 2) ? 'qual.' : '';
        return (
          <Box key={y}>
            <Text dimColor={t.dim}>{padLeft(label, AXIS - 1)}▕</Text>
            <Text wrap="truncate">
              {runs(row).map((r, i) => (
                <Text key={i} color={KIND_COLOR[r.kind] ? t.c(KIND_COLOR[r.kind]!) : undefined} bold={r.kind === 'best'}>
                  {r.text}
                </Text>
              ))}
            </Text>
          </Box>
        );
      })}
      <Text dimColor={t.dim} wrap="truncate">{' '.repeat(AXIS)}{xAxis}</Text>
    </Box>
  );
}
