import { Box, Text } from 'ink';
import type { ProgressView } from '../model.js';
import { bar, fit, formatDuration } from '../format.js';
import { useTheme } from '../theme.js';

/** The strategy's progress facts as short text: "T=42.1", "round 2/4". */
export function strategyFacts(facts: Record<string, number | string>): string {
  const parts: string[] = [];
  // Only the facts a person follows; strategies report more (levels, iterations) for logs.
  const { temperature, round, rounds, roundBudget } = facts;
  if (round !== undefined) parts.push(rounds !== undefined ? `round ${round}/${rounds}` : `round ${round}`);
  if (typeof roundBudget === 'number') parts.push(`target ${roundBudget.toFixed(2)}×`);
  if (typeof temperature === 'number') parts.push(`T=${temperature.toFixed(1)}`);
  return parts.join(' ');
}

/** How far along the search is, 0..1: the further of the trial and time limits. */
export function progressFraction(p: ProgressView): number {
  const byTrials = p.maxTrials ? p.trialsDone / p.maxTrials : 0;
  const byTime = p.timeLimitMs ? p.timeUsedMs / p.timeLimitMs : 0;
  return Math.min(1, Math.max(byTrials, byTime));
}

export function Progress({ progress, width }: { progress: ProgressView; width: number }) {
  const t = useTheme();
  const trials = `trials ${progress.trialsDone}${progress.maxTrials ? `/${progress.maxTrials}` : ''}`;
  const time = progress.timeLimitMs ? ` time ${formatDuration(progress.timeUsedMs)}/${formatDuration(progress.timeLimitMs)}` : '';
  const frac = progressFraction(progress);
  const pct = `${String(Math.round(frac * 100)).padStart(3)}%`;
  const facts = strategyFacts(progress.strategy);
  const counts = `feasible ${progress.feasibleTrials}${progress.failedTrials ? ` failed ${progress.failedTrials}` : ''}`;
  const right = [pct, facts, counts].filter(Boolean).join('  ');
  const left = `${trials}${time} `;
  const barWidth = Math.max(0, Math.min(40, width - left.length - right.length - 2));
  const hasLimit = progress.maxTrials !== null || progress.timeLimitMs !== null;
  return (
    <Box width={width}>
      <Text wrap="truncate">
        {fit(left, width)}
        {hasLimit && barWidth >= 4 ? <Text color={t.c('green')}>{bar(frac, barWidth)}</Text> : null}
        {fit(` ${right}`, Math.max(0, width - left.length - (hasLimit && barWidth >= 4 ? barWidth : 0)))}
      </Text>
    </Box>
  );
}
