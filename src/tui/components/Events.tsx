import { Box, Text } from 'ink';
import type { EventRow } from '../model.js';
import { fit } from '../format.js';
import { useTheme } from '../theme.js';

function clock(at: number): string {
  const d = new Date(at);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

/** The newest `rows` events, oldest first (a log reads downwards). */
export function Events({ events, width, rows }: { events: EventRow[]; width: number; rows: number }) {
  const t = useTheme();
  if (rows <= 0) return null;
  const shown = events.slice(-rows);
  return (
    <Box flexDirection="column" width={width}>
      <Text bold color={t.c('cyan')}>events</Text>
      {shown.length === 0 ? <Text dimColor={t.dim}>(none yet)</Text> : null}
      {shown.map((e, i) => (
        <Text key={i} wrap="truncate" color={e.level === 'error' ? t.c('red') : e.level === 'warn' ? t.c('yellow') : undefined}>
          {fit(`${clock(e.at)} ${e.message.replace(/\s+/g, ' ')}`, width)}
        </Text>
      ))}
    </Box>
  );
}
