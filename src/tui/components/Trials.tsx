import { Box, Text } from 'ink';
import type { TrialRow } from '../model.js';
import { fit, formatMs, formatQuality, formatRatio, padLeft, padRight } from '../format.js';
import { useTheme } from '../theme.js';

function line(cells: [string, string, string, string, string, string, string], width: number): string {
  const [n, st, lat, ratio, q, feas, summary] = cells;
  return fit(`${padLeft(n, 5)} ${padRight(st, 7)} ${padLeft(lat, 8)} ${padLeft(ratio, 6)} ${padLeft(q, 7)} ${padRight(feas, 1)} ${summary}`, width);
}

/** Clamp a scroll offset so the window never runs past the list. */
export function clampScroll(offset: number, total: number, rows: number): number {
  return Math.max(0, Math.min(offset, Math.max(0, total - rows)));
}

export function Trials({ trials, width, rows, scroll }: { trials: TrialRow[]; width: number; rows: number; scroll: number }) {
  const t = useTheme();
  if (rows <= 0) return null;
  const offset = clampScroll(scroll, trials.length, rows);
  const shown = trials.slice(offset, offset + rows);
  const pos = trials.length > rows ? ` ${offset + 1}–${offset + shown.length} of ${trials.length} (↑↓)` : ` ${trials.length}`;
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color={t.c('cyan')} wrap="truncate">{fit(`trials${pos}`, width)}</Text>
      <Text bold wrap="truncate">{line(['#', 'status', 'latency', 'ratio', 'quality', ' ', 'choice'], width)}</Text>
      {shown.map((tr) => (
        <Text
          key={tr.id}
          wrap="truncate"
          color={tr.status === 'failed' ? t.c('red') : tr.status === 'running' ? t.c('blue') : tr.feasible ? t.c('green') : undefined}
        >
          {line(
            [String(tr.index), tr.status, formatMs(tr.latencyMs), formatRatio(tr.latencyRatio), formatQuality(tr.quality), tr.status === 'ok' ? (tr.feasible ? '✓' : '✗') : ' ', tr.summary],
            width,
          )}
        </Text>
      ))}
    </Box>
  );
}
