/**
 * What the user asked the runner to do, from signals (SIGINT/SIGTERM) or from the store's
 * control column (pause/resume/stop from any terminal). The loop reads it between trials;
 * `abandoned` resolves when a second signal says "now", so a long build or measurement is
 * no longer waited for.
 */
export type StopReason = 'signal' | 'control' | 'lost-lock';

export class Interrupts {
  stopRequested: StopReason | null = null;
  pauseRequested = false;
  private signals = 0;
  private abandonResolve: (() => void) | null = null;
  /** Resolves on the second signal. */
  readonly abandoned: Promise<void>;
  private installed: Array<[NodeJS.Signals, () => void]> = [];

  constructor() {
    this.abandoned = new Promise<void>((resolve) => (this.abandonResolve = resolve));
  }

  /** First SIGINT/SIGTERM: finish the trial in flight, then stop. Second: abandon it now. */
  installSignalHandlers(onFirst?: (signal: NodeJS.Signals) => void): void {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = () => this.signal(sig, onFirst);
      process.on(sig, h);
      this.installed.push([sig, h]);
    }
  }

  signal(sig: NodeJS.Signals, onFirst?: (signal: NodeJS.Signals) => void): void {
    this.signals += 1;
    if (this.signals === 1) {
      this.stopRequested = this.stopRequested ?? 'signal';
      onFirst?.(sig);
    } else {
      this.abandonResolve?.();
    }
  }

  get abandonNow(): boolean {
    return this.signals >= 2;
  }

  removeSignalHandlers(): void {
    for (const [sig, h] of this.installed) process.off(sig, h);
    this.installed = [];
  }
}

export class AbandonedError extends Error {
  constructor() {
    super('abandoned by a second signal');
  }
}

/** The promise's value, or AbandonedError as soon as the second signal arrives. */
export function unlessAbandoned<T>(p: Promise<T>, interrupts: Interrupts): Promise<T> {
  return Promise.race([p, interrupts.abandoned.then(() => Promise.reject(new AbandonedError()))]);
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
