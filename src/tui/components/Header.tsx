import { Box, Text } from 'ink';
import type { HeaderView } from '../model.js';
import { fit, formatDuration } from '../format.js';
import { useTheme, type ColorName } from '../theme.js';

const STATUS_COLOR: Record<HeaderView['status'], ColorName> = {
  queued: 'gray',
  running: 'green',
  paused: 'yellow',
  stopping: 'yellow',
  stopped: 'red',
  done: 'cyan',
  failed: 'red',
};

/** What the status line says, including a control request the runner has not acted on yet. */
export function statusLabel(h: Pick<HeaderView, 'status' | 'control'>): string {
  if (h.status === 'running' && h.control === 'pause') return 'PAUSING…';
  if ((h.status === 'running' || h.status === 'paused') && h.control === 'stop') return 'STOPPING…';
  if (h.status === 'paused' && h.control === 'resume') return 'RESUMING…';
  return h.status.toUpperCase();
}

export function Header({ header, width, lines }: { header: HeaderView; width: number; lines: 1 | 2 }) {
  const t = useTheme();
  const status = statusLabel(header);
  const title = `tesa · search #${header.searchId} · ${header.model} → ${header.target} · ${header.strategy} · budget ${header.budget}`;
  const time = `elapsed ${formatDuration(header.elapsedMs)} · ETA ${header.etaMs === null ? '–' : formatDuration(header.etaMs)}`;
  const room = width - status.length - 1;
  return (
    <Box flexDirection="column" width={width}>
      <Box width={width}>
        <Box width={room}>
          <Text bold wrap="truncate">{fit(title, room)}</Text>
        </Box>
        <Text> </Text>
        <Text bold inverse={t.color} color={t.c(STATUS_COLOR[header.status])}>{status}</Text>
      </Box>
      {lines === 2 ? (
        <Text wrap="truncate" dimColor={t.dim}>{fit(`${header.fingerprint} · ${time}`, width)}</Text>
      ) : null}
    </Box>
  );
}
