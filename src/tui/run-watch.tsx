/**
 * Mounting the watch screen on a terminal for `tesa watch` (until q; the search goes on).
 * The optimize command's screen is the observer in observer.tsx.
 */
import { render } from 'ink';
import type { Store } from '../../db/store.js';
import { WatchApp, Screen } from './app.js';
import { StoreWatchSource, readWatchState } from './read-store.js';
import { ThemeProvider, colorFromEnv } from './theme.js';

export interface WatchUiOptions {
  /** Leave by itself once the search is finished. */
  exitWhenFinished?: boolean;
  /** Ctrl-C: what the caller wants (the optimize command turns it into its SIGINT stop). */
  onInterrupt?: () => void;
  intervalMs?: number;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
}

/** Shows the live screen until the user leaves (or the search ends, when asked). */
export async function watchSearch(store: Store, searchId: number, opts: WatchUiOptions = {}): Promise<void> {
  const source = new StoreWatchSource(store, searchId);
  const app = render(
    <WatchApp
      source={source}
      color={colorFromEnv()}
      intervalMs={opts.intervalMs ?? 300}
      exitWhenFinished={opts.exitWhenFinished ?? false}
      {...(opts.onInterrupt ? { onInterrupt: opts.onInterrupt } : {})}
    />,
    { exitOnCtrlC: false, patchConsole: true, stdout: opts.stdout ?? process.stdout, stdin: opts.stdin ?? process.stdin },
  );
  await app.waitUntilExit();
}

/** One frame of the screen as text (a non-TTY `tesa watch`): no keys, no redraws. */
export function snapshotText(store: Store, searchId: number, cols = 100, rows = 40): Promise<void> {
  const state = readWatchState(store, searchId);
  const app = render(
    <ThemeProvider color={false}>
      <Screen state={state} cols={cols} rows={rows} scroll={0} />
    </ThemeProvider>,
    { patchConsole: false, stdout: process.stdout, debug: false },
  );
  app.unmount();
  return app.waitUntilExit();
}
