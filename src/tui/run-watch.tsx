/**
 * Mounting the watch screen on a terminal: `tesa watch` (until q), and `tesa optimize` on a
 * TTY (until the search ends or q; the search goes on either way).
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

/**
 * The optimize command's screen: shows the search while `run` works, leaves when it settles
 * (after a last redraw) or when the user presses q, and returns what `run` returned.
 */
export async function runWithWatchUi<T>(searchId: number, store: Store, run: Promise<T>, opts: WatchUiOptions = {}): Promise<T> {
  const source = new StoreWatchSource(store, searchId);
  const app = render(
    <WatchApp source={source} color={colorFromEnv()} intervalMs={opts.intervalMs ?? 250} {...(opts.onInterrupt ? { onInterrupt: opts.onInterrupt } : {})} />,
    { exitOnCtrlC: false, patchConsole: true, stdout: opts.stdout ?? process.stdout, stdin: opts.stdin ?? process.stdin },
  );
  let left = false;
  void app.waitUntilExit().then(() => {
    left = true;
  });
  try {
    return await run;
  } finally {
    if (!left) {
      // Let the last poll show the final status before the screen is left in the scrollback.
      await new Promise((r) => setTimeout(r, (opts.intervalMs ?? 250) + 50));
      app.unmount();
    }
    await app.waitUntilExit().catch(() => undefined);
  }
}
