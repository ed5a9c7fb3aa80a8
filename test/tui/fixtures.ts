import type { WatchState, TrialRow, ScatterPoint } from '../../src/tui/model.js';

/** A deterministic mid-search state: 24 trials of a 12-group model, SA at T=42.1. */
export function midSearch(overrides: Partial<WatchState> = {}): WatchState {
  const trials: TrialRow[] = [];
  const points: ScatterPoint[] = [];
  for (let i = 24; i >= 1; i--) {
    const ratio = 0.45 + ((i * 37) % 60) / 100;
    const quality = 0.99 - ((i * 13) % 30) / 100;
    const failed = i % 11 === 0;
    trials.push({
      id: 100 + i,
      index: i,
      status: i === 24 ? 'running' : failed ? 'failed' : 'ok',
      latencyMs: i === 24 || failed ? null : 2.5 * ratio,
      latencyRatio: i === 24 || failed ? null : ratio,
      quality: i === 24 || failed ? null : quality,
      feasible: !failed && i !== 24 && ratio <= 0.7,
      summary: failed ? 'build failed: cc exited 1' : `mean sparsity ${(50 + i).toFixed(0)}% block:1x32`,
    });
    if (i !== 24 && !failed) points.push({ latencyRatio: ratio, quality, feasible: ratio <= 0.7 });
  }
  const groups = Array.from({ length: 12 }, (_, g) => ({
    id: `g${g}:fc${g}.weight`,
    pattern: g % 3 === 0 ? 'fine' : 'block:1x32',
    ratio: 0.3 + (g % 5) * 0.1,
    precision: 'fp32',
    propagatedSparsity: 0.32 + (g % 5) * 0.1,
  }));
  const best = points.filter((p) => p.feasible).sort((a, b) => b.quality - a.quality)[0]!;
  return {
    header: {
      searchId: 7,
      model: 'zoo:mlp',
      target: 'cpu',
      fingerprint: 'Intel Xeon 8375C · avx2 avx512f fma · gcc 12.2.0',
      strategy: 'sa',
      budget: '0.70× dense',
      status: 'running',
      control: null,
      elapsedMs: 62_000,
      etaMs: 130_000,
    },
    progress: {
      trialsDone: 23,
      maxTrials: 60,
      timeUsedMs: 62_000,
      timeLimitMs: null,
      strategy: { temperature: 42.1 },
      feasibleTrials: 9,
      failedTrials: 2,
    },
    best: { trialId: 117, index: 17, latencyMs: 1.523, ciLowMs: 1.49, ciHighMs: 1.55, latencyRatio: 0.62, quality: 0.973, feasible: true },
    groups,
    scatter: { points, budgetRatio: 0.7, best },
    pipeline: { phase: 'building', kernelsBuilding: 4, cacheHits: 30, cacheLookups: 48, baselineMs: 2.5 },
    events: [
      { at: Date.UTC(2026, 0, 1, 10, 0, 0), level: 'info', message: 'dense baseline 2.50ms [2.47–2.53]' },
      { at: Date.UTC(2026, 0, 1, 10, 0, 5), level: 'warn', message: 'trial 11 failed: build failed: cc exited 1' },
      { at: Date.UTC(2026, 0, 1, 10, 0, 9), level: 'info', message: 'new best: trial 17 at 0.62× quality 0.973' },
      { at: Date.UTC(2026, 0, 1, 10, 0, 12), level: 'info', message: 'trial 23 measured 1.61ms' },
    ],
    trials,
    ...overrides,
  };
}

/** The state before the first trial: nothing measured yet. */
export function starting(): WatchState {
  const s = midSearch();
  return {
    ...s,
    header: { ...s.header, elapsedMs: 1000, etaMs: null },
    progress: { ...s.progress, trialsDone: 0, feasibleTrials: 0, failedTrials: 0, strategy: {} },
    best: null,
    groups: [],
    scatter: { points: [], budgetRatio: 0.7, best: null },
    pipeline: { phase: 'baseline', kernelsBuilding: 0, cacheHits: 0, cacheLookups: 0, baselineMs: null },
    events: [],
    trials: [],
  };
}

/** Lines of a frame with ANSI escapes removed. */
export function plain(frame: string | undefined): string[] {
  // eslint-disable-next-line no-control-regex
  return (frame ?? '').replace(/\x1b\[[0-9;]*m/g, '').split('\n');
}

/** Display width of a line: every code point here is one column wide. */
export function widthOf(line: string): number {
  return [...line].length;
}
