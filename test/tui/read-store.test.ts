import { describe, it, expect, beforeEach, afterEach } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, type Store } from '../../db/store.js';
import { readWatchState, StoreWatchSource, defaultSearchId, fingerprintLine, durationMs } from '../../src/tui/read-store.js';

let dir: string;
let store: Store;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'tesa-watch-'));
  store = openStore(join(dir, 't.db'));
});
afterEach(() => {
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const cand = (r: number) => ({ groups: { g0: { ratio: r, pattern: 'block:1x32', precision: 'fp32' as const }, g1: { ratio: 0, pattern: 'fine', precision: 'fp32' as const } } });

function seed(): number {
  const s = store.createSearch({
    model: 'zoo:mlp',
    target: 'cpu',
    strategy: 'sa',
    budget: { ratio: 0.7 },
    options: { maxTrials: 10, timeLimitMs: 600_000 },
    status: 'running',
    fingerprint: { target: 'cpu', id: 'fp1', details: { cpu: 'Test CPU 9000', flags: 'avx2 fma', compiler: 'gcc 12' } },
  });
  store.acquireSearch(s.id);
  store.updateSearch(s.id, { baseline: { medianMs: 2, madMs: 0.01, ciLowMs: 1.98, ciHighMs: 2.02, n: 20 }, startedAt: Date.now() - 10_000, elapsedMs: 10_000 });
  const ratios = [0.3, 0.6, 0.8];
  for (let i = 0; i < ratios.length; i++) {
    const id = store.startTrial(s.id, i, cand(ratios[i]!), `h${i}`);
    const lat = 2 * (1 - ratios[i]! * 0.5);
    store.recordTrialAndCheckpoint(
      { trialId: id, status: 'ok', latencyMs: lat, ciLowMs: lat * 0.98, ciHighMs: lat * 1.02, latencyRatio: (lat * 1.02) / 2, quality: 1 - ratios[i]! / 2, feasible: (lat * 1.02) / 2 <= 0.7, kernelsBuilt: 2, kernelsCached: i, sparsity: { g0: { before: ratios[i]!, after: ratios[i]! + 0.05 } } },
      { state: { progress: { temperature: 90 - i * 9 } } },
    );
  }
  const failed = store.startTrial(s.id, 3, cand(0.9), 'h3');
  store.finishTrial({ trialId: failed, status: 'failed', feasible: false, reason: 'build failed: cc exited 1' });
  store.startTrial(s.id, 4, cand(0.5), 'h4');
  store.addEvent({ searchId: s.id, kind: 'build', message: 'building 3 kernels', data: { seq: 4, total: 5, cached: 2 } });
  return s.id;
}

describe('readWatchState', () => {
  it('derives header, progress, best, groups, scatter, pipeline, events and trials from the store', () => {
    const id = seed();
    const s = readWatchState(store, id);
    expect(s.header).toMatchObject({ searchId: id, model: 'zoo:mlp', target: 'cpu', strategy: 'sa', budget: '0.70× dense', status: 'running', control: null });
    expect(s.header.fingerprint).toBe('Test CPU 9000 · avx2 fma · gcc 12');
    expect(s.header.elapsedMs).toBeGreaterThanOrEqual(10_000);
    expect(s.header.etaMs).not.toBeNull();
    expect(s.progress).toMatchObject({ trialsDone: 4, maxTrials: 10, timeLimitMs: 600_000, feasibleTrials: 1, failedTrials: 1, strategy: { temperature: 72 } });
    // Only the 0.8 trial is within 0.7×: 2*(1-0.4)*1.02/2 = 0.612.
    expect(s.best).toMatchObject({ index: 3, latencyMs: 1.2, feasible: true, quality: 0.6 });
    expect(s.groups).toEqual([
      { id: 'g0', pattern: 'block:1x32', ratio: 0.8, precision: 'fp32', propagatedSparsity: 0.8500000000000001 },
      { id: 'g1', pattern: 'dense', ratio: 0, precision: 'fp32', propagatedSparsity: null },
    ]);
    expect(s.scatter.points).toHaveLength(3);
    expect(s.scatter.budgetRatio).toBe(0.7);
    expect(s.pipeline).toMatchObject({ phase: 'building', kernelsBuilding: 3, cacheHits: 3, cacheLookups: 9, baselineMs: 2 });
    expect(s.events.map((e) => e.message)).toEqual(['building 3 kernels']);
    expect(s.trials.map((t) => [t.index, t.status])).toEqual([[5, 'running'], [4, 'failed'], [3, 'ok'], [2, 'ok'], [1, 'ok']]);
    expect(s.trials[1]!.summary).toBe('build failed: cc exited 1');
    expect(s.trials[2]!.summary).toBe('mean 40% block:1x32');
  });

  it('turns an absolute budget into a ratio of the measured dense latency for the scatter', () => {
    const s = store.createSearch({ model: 'm.onnx', target: 'cpu', strategy: 'random', budget: { ms: 1.5 }, status: 'queued' });
    expect(readWatchState(store, s.id).scatter.budgetRatio).toBeNull();
    store.updateSearch(s.id, { baseline: { medianMs: 3, madMs: 0, ciLowMs: 3, ciHighMs: 3, n: 5 } });
    const w = readWatchState(store, s.id);
    expect(w.scatter.budgetRatio).toBe(0.5);
    expect(w.header.budget).toBe('1.5ms');
    expect(w.best).toBeNull();
    expect(w.pipeline.phase).toBe('idle');
  });
});

describe('StoreWatchSource', () => {
  it('reads again only after another connection commits or after its own control request', () => {
    const id = seed();
    const source = new StoreWatchSource(store, id, () => 1000);
    expect(source.poll()).not.toBeNull();
    expect(source.poll()).toBeNull();
    const other = openStore(join(dir, 't.db'));
    other.addEvent({ searchId: id, kind: 'measure', message: 'measuring' });
    other.close();
    const next = source.poll();
    expect(next?.pipeline.phase).toBe('measuring');
    expect(source.poll()).toBeNull();
    source.control('pause');
    expect(store.getSearch(id)?.control).toBe('pause');
    expect(source.poll()?.header.control).toBe('pause');
  });

  it('moves the clocks of a running search once a second without reading', () => {
    const id = seed();
    let now = 50_000;
    const source = new StoreWatchSource(store, id, () => now);
    const first = source.poll()!;
    now += 400;
    expect(source.poll()).toBeNull();
    now += 800;
    expect(source.poll()!.header.elapsedMs).toBe(first.header.elapsedMs + 1200);
  });
});

describe('helpers', () => {
  it('picks the newest running search, else the newest queued one', () => {
    expect(() => defaultSearchId(store)).toThrow(/no running or queued search/);
    const a = store.createSearch({ model: 'a', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, status: 'running' });
    store.createSearch({ model: 'b', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, status: 'queued' });
    store.createSearch({ model: 'c', target: 'cpu', strategy: 'sa', budget: { ratio: 0.7 }, status: 'done' });
    expect(defaultSearchId(store)).toBe(a.id);
  });
  it('formats fingerprints and parses durations', () => {
    expect(durationMs('30m')).toBe(1_800_000);
    expect(durationMs(1500)).toBe(1500);
    expect(durationMs('soon')).toBeNull();
    expect(fingerprintLine({ fingerprint: null, fingerprintId: null } as never)).toBe('fingerprint pending');
  });
});
