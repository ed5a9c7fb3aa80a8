import { Box, Text } from 'ink';
import type { BestView } from '../model.js';
import { fit, formatMs, formatQuality, formatRatio } from '../format.js';
import { useTheme } from '../theme.js';

export function bestLine(best: BestView | null): string {
  if (!best) return 'best  – (no feasible trial yet)';
  const ci = best.ciLowMs !== null && best.ciHighMs !== null ? ` [${formatMs(best.ciLowMs)}–${formatMs(best.ciHighMs)}]` : '';
  return `best  #${best.index}  ${formatMs(best.latencyMs)}${ci}  ${formatRatio(best.latencyRatio)} dense  quality ${formatQuality(best.quality)}  ${best.feasible ? '✓ within budget' : '✗ over budget'}`;
}

export function Best({ best, width }: { best: BestView | null; width: number }) {
  const t = useTheme();
  return (
    <Box width={width}>
      <Text wrap="truncate" bold={best !== null} color={best ? t.c(best.feasible ? 'green' : 'yellow') : undefined}>
        {fit(bestLine(best), width)}
      </Text>
    </Box>
  );
}
