/**
 * The watch screen for commands that may show it, loaded on first use: importing ink costs
 * about 0.9 s, which every other command (and every scripted `--json` run) should not pay.
 */
import type { WatchUiObserver } from './observer.js';

/** Whether `optimize`/`resume` show the live screen: a terminal, no --json, no $TESA_NO_TUI. */
export function wantsWatchScreen(json: boolean): boolean {
  return !json && process.stdout.isTTY === true && (process.env['TESA_NO_TUI'] ?? '') === '';
}

/** The screen as the search's observer on a terminal, else undefined (plain lines). */
export async function ttyWatchObserver(dbFile: string, searchId: number, json: boolean): Promise<WatchUiObserver | undefined> {
  if (!wantsWatchScreen(json)) return undefined;
  const screen = await import('./observer.js');
  return screen.ttyWatchObserver(dbFile, searchId, json);
}
