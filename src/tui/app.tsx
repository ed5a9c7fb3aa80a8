/**
 * The watch screen: `Screen` draws a WatchState for a terminal size (pure); `WatchApp` polls a
 * source, handles keys and follows terminal resizes.
 */
import { useEffect, useState } from 'react';
import { Box, Text, useApp, useInput, useStdin, useStdout } from 'ink';
import type { WatchState } from './model.js';
import { isFinished } from './model.js';
import { computeLayout } from './layout.js';
import { ThemeProvider, useTheme } from './theme.js';
import { Header } from './components/Header.js';
import { Progress } from './components/Progress.js';
import { Best } from './components/Best.js';
import { GroupsTable } from './components/GroupsTable.js';
import { Scatter } from './components/Scatter.js';
import { Pipeline } from './components/Pipeline.js';
import { Events } from './components/Events.js';
import { Trials, clampScroll } from './components/Trials.js';
import { fit } from './format.js';

export type ControlAction = 'pause' | 'resume' | 'stop';

export interface ScreenProps {
  state: WatchState;
  cols: number;
  rows: number;
  scroll: number;
  /** A transient line for the footer, e.g. "stop requested". */
  notice?: string;
}

/** Paused, or about to be: p then means resume (a pending pause is taken back the same way). */
function pausedOrPausing(h: WatchState['header']): boolean {
  return (h.status === 'paused' && h.control !== 'resume') || h.control === 'pause';
}

function footerKeys(state: WatchState): string {
  const h = state.header;
  if (isFinished(h.status)) return 'q quit · ↑↓ scroll';
  const p = pausedOrPausing(h) ? 'p resume' : 'p pause';
  return `${p} · s stop · q leave (search goes on) · ↑↓ scroll`;
}

export function Screen({ state, cols, rows, scroll, notice }: ScreenProps) {
  const t = useTheme();
  const layout = computeLayout(cols, rows);
  const w = layout.cols;
  const middle = layout.groupRows > 0;
  const footer = notice ? `${notice} · ${footerKeys(state)}` : footerKeys(state);
  return (
    <Box flexDirection="column" width={w}>
      <Header header={state.header} width={w} lines={layout.headerLines} />
      <Progress progress={state.progress} width={w} />
      <Best best={state.best} width={w} />
      {middle ? (
        <Box flexDirection="column" width={w}>
          <Box width={w}>
            <Box width={layout.groupsCols + (layout.scatterRows > 0 ? 1 : 0)}>
              <Text bold color={t.c('cyan')}>{fit(`groups of the best candidate (${state.groups.length})`, layout.groupsCols)}</Text>
            </Box>
            {layout.scatterRows > 0 ? (
              <Text bold color={t.c('cyan')} wrap="truncate">{fit(`latency vs quality (${state.scatter.points.length})`, w - layout.groupsCols - 1)}</Text>
            ) : null}
          </Box>
          <Box width={w}>
            <GroupsTable groups={state.groups} width={layout.groupsCols} rows={layout.groupRows} />
            {layout.scatterRows > 0 ? (
              <Box marginLeft={1}>
                <Scatter scatter={state.scatter} cols={layout.scatterCols} rows={layout.scatterRows} />
              </Box>
            ) : null}
          </Box>
        </Box>
      ) : null}
      {layout.pipeline ? <Pipeline pipeline={state.pipeline} width={w} /> : null}
      {layout.eventRows > 0 ? <Events events={state.events} width={w} rows={layout.eventRows} /> : null}
      {layout.trialRows > 0 ? <Trials trials={state.trials} width={w} rows={layout.trialRows} scroll={scroll} /> : null}
      <Text wrap="truncate" dimColor={t.dim}>{fit(footer, w)}</Text>
    </Box>
  );
}

/** Terminal size, following 'resize'. */
export function useTerminalSize(fixed?: { cols: number; rows: number }): { cols: number; rows: number } {
  const { stdout } = useStdout();
  const read = () => ({ cols: stdout.columns || 80, rows: stdout.rows || 24 });
  const [size, setSize] = useState(read);
  useEffect(() => {
    if (fixed) return;
    // The size may have changed between the first render and this effect.
    const onResize = () => setSize((prev) => {
      const next = read();
      return next.cols === prev.cols && next.rows === prev.rows ? prev : next;
    });
    onResize();
    stdout.on('resize', onResize);
    return () => {
      stdout.off('resize', onResize);
    };
  }, [stdout, fixed]);
  return fixed ?? size;
}

export interface WatchSource {
  /** The current state when the store changed since the last call (or on the first call), else null. */
  poll(): WatchState | null;
  control(action: ControlAction): void;
}

export interface WatchAppProps {
  source: WatchSource;
  intervalMs?: number;
  color: boolean;
  /** Overrides the terminal size (tests). */
  size?: { cols: number; rows: number };
  /** Leave by itself once the search is finished (the optimize command's screen). */
  exitWhenFinished?: boolean;
  /** The first state, when the caller already has one. */
  initial?: WatchState;
  /** Ctrl-C (raw mode swallows SIGINT): by default it leaves like q. */
  onInterrupt?: () => void;
}

export function WatchApp({ source, intervalMs = 300, color, size, exitWhenFinished = false, initial, onInterrupt }: WatchAppProps) {
  const { exit } = useApp();
  const { isRawModeSupported } = useStdin();
  const { cols, rows } = useTerminalSize(size);
  const [state, setState] = useState<WatchState | null>(() => initial ?? source.poll());
  const [scroll, setScroll] = useState(0);
  const [notice, setNotice] = useState<string | undefined>(undefined);

  useEffect(() => {
    const timer = setInterval(() => {
      const next = source.poll();
      if (next) setState(next);
    }, intervalMs);
    return () => clearInterval(timer);
  }, [source, intervalMs]);

  useEffect(() => {
    if (exitWhenFinished && state && isFinished(state.header.status)) exit();
  }, [exitWhenFinished, state, exit]);

  useInput(
    (input, key) => {
      if (key.ctrl && input === 'c') {
        if (onInterrupt) onInterrupt();
        else exit();
        return;
      }
      if (input === 'q') {
        exit();
        return;
      }
      if (!state) return;
      const status = state.header.status;
      if (input === 'p' && !isFinished(status)) {
        const action: ControlAction = pausedOrPausing(state.header) ? 'resume' : 'pause';
        source.control(action);
        setNotice(action === 'pause' ? 'pause requested' : 'resume requested');
        setState(source.poll() ?? state);
      } else if (input === 's' && !isFinished(status)) {
        source.control('stop');
        setNotice('stop requested');
        setState(source.poll() ?? state);
      } else if (key.upArrow) {
        setScroll((s) => Math.max(0, s - 1));
      } else if (key.downArrow) {
        setScroll((s) => clampScroll(s + 1, state.trials.length, computeLayout(cols, rows).trialRows));
      } else if (key.pageUp) {
        setScroll((s) => Math.max(0, s - computeLayout(cols, rows).trialRows));
      } else if (key.pageDown) {
        const n = computeLayout(cols, rows).trialRows;
        setScroll((s) => clampScroll(s + n, state.trials.length, n));
      }
    },
    { isActive: isRawModeSupported === true },
  );

  return (
    <ThemeProvider color={color}>
      {state ? (
        <Screen state={state} cols={cols} rows={rows} scroll={scroll} notice={notice} />
      ) : (
        <Text>waiting for the search to start…</Text>
      )}
    </ThemeProvider>
  );
}
