/**
 * The optimize command's screen as a SearchObserver: the search loop reports through it, the
 * screen itself reads the store on its own connection (so PRAGMA data_version sees the loop's
 * commits) and sends p/s through the store like any other terminal. The loop's phase reports
 * make the pipeline line exact in this process. After q the screen is gone and progress falls
 * back to the plain line observer; the search goes on.
 */
import { render, type Instance } from 'ink';
import { openStore, type Store } from '../../db/store.js';
import { lineObserver, type SearchObserver } from '../search/observer.js';
import { WatchApp } from './app.js';
import type { PipelinePhase } from './model.js';
import { StoreWatchSource, readWatchState } from './read-store.js';
import { colorFromEnv } from './theme.js';
import { wantsWatchScreen } from './lazy.js';

export interface WatchUiObserver extends SearchObserver {
  /** Leaves the screen if it is still up (call in a finally: a failed search never reports its end). */
  close(): void;
}

export interface WatchUiObserverOptions {
  /** Where progress goes after the user leaves the screen with q. */
  fallback: SearchObserver;
  /** Ctrl-C on the screen (raw mode keeps the terminal from sending SIGINT). */
  onInterrupt?: () => void;
  intervalMs?: number;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
}

/** The SIGINT the terminal would have sent: the search's own handler pauses it after the trial. */
export function interruptSelf(): void {
  process.kill(process.pid, 'SIGINT');
}

export function watchUiObserver(dbFile: string, searchId: number, opts: WatchUiObserverOptions): WatchUiObserver {
  let reader: Store | null = null;
  let app: Instance | null = null;
  let left = false;
  let phase: { phase: PipelinePhase; detail?: string } | null = null;
  const intervalMs = opts.intervalMs ?? 300;

  class LiveSource extends StoreWatchSource {
    override poll() {
      const s = super.poll();
      if (!s || !phase) return s;
      return { ...s, pipeline: { ...s.pipeline, phase: s.pipeline.phase === 'idle' && s.header.status !== 'running' ? 'idle' : phase.phase } };
    }
  }

  const element = (source: StoreWatchSource, forced?: ReturnType<typeof readWatchState>) => (
    <WatchApp
      source={source}
      color={colorFromEnv()}
      intervalMs={intervalMs}
      onInterrupt={opts.onInterrupt ?? interruptSelf}
      key={forced ? 'final' : 'live'}
      {...(forced ? { initial: forced } : {})}
    />
  );

  let source: LiveSource | null = null;
  const mount = (): void => {
    if (app || left) return;
    reader = openStore(dbFile);
    source = new LiveSource(reader, searchId);
    app = render(element(source), { exitOnCtrlC: false, patchConsole: true, stdout: opts.stdout ?? process.stdout, stdin: opts.stdin ?? process.stdin });
    void app.waitUntilExit().then(() => {
      if (!app) return;
      // The user pressed q: the search goes on in this process, reported line by line.
      app = null;
      left = true;
      reader?.close();
      reader = null;
      (opts.stdout ?? process.stdout).write(`left the screen; search ${searchId} goes on here (Ctrl-C pauses it; 'tesa watch ${searchId}' shows it again)\n`);
    });
  };

  const unmount = (finalFrame: boolean): void => {
    const a = app;
    if (!a) return;
    app = null;
    if (finalFrame && reader && source) {
      try {
        // Redraw from the store once more so the screen left in the scrollback shows the end.
        a.rerender(element(source, readWatchState(reader, searchId)));
      } catch {
        /* the last frame is only cosmetic */
      }
    }
    a.unmount();
    reader?.close();
    reader = null;
  };

  const fb = opts.fallback;
  return {
    searchStarted(info) {
      if (left) fb.searchStarted(info);
      else mount();
    },
    baseline(info) {
      if (left) fb.baseline(info);
    },
    phase(info) {
      if (left) return fb.phase(info);
      phase = info.phase === 'paused' ? null : { phase: info.phase === 'final' ? 'measuring' : info.phase, ...(info.detail ? { detail: info.detail } : {}) };
      if (info.seq === -1) phase = { phase: 'baseline' };
    },
    trialFinished(report) {
      if (left) fb.trialFinished(report);
      else phase = null;
    },
    message(text) {
      if (left) fb.message(text);
    },
    searchFinished(info) {
      if (left) fb.searchFinished(info);
      else unmount(true);
    },
    close() {
      unmount(false);
    },
  };
}

/**
 * The screen for a search run in this process when stdout is a terminal (and not --json, and
 * TESA_NO_TUI unset); undefined otherwise, so the caller keeps its line-per-trial output.
 */
export function ttyWatchObserver(dbFile: string, searchId: number, json: boolean): WatchUiObserver | undefined {
  if (!wantsWatchScreen(json)) return undefined;
  return watchUiObserver(dbFile, searchId, { fallback: lineObserver((line) => process.stdout.write(`${line}\n`)) });
}
