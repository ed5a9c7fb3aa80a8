import { describe, expect, it } from 'vitest';
import type { TrialRecord } from '../../db/store.js';
import { budgetRatioOf, expectedTrialMs, fallbackDeadlineMs, finalCandidates, pickBest } from '../../src/search/loop.js';
import { Interrupts, unlessAbandoned, AbandonedError } from '../../src/search/interrupt.js';

function trial(seq: number, p: Partial<TrialRecord>): TrialRecord {
  return {
    id: seq + 100, searchId: 1, seq, candidateHash: `h${seq}`, candidate: { groups: {} }, status: 'ok', latencyMs: 10, ciLowMs: 9, ciHighMs: 11,
    latencyRatio: 0.6, quality: 0.5, feasible: true, reason: null, sparsity: null, flops: null, kernelsBuilt: 0, kernelsCached: 0, startedAt: 0, finishedAt: 0, ...p,
  };
}

describe('loop rules', () => {
  it('budget: a ratio stays, milliseconds become a ratio of the dense baseline', () => {
    expect(budgetRatioOf({ ratio: 0.7 }, 50)).toBe(0.7);
    expect(budgetRatioOf({ ms: 12 }, 48)).toBe(0.25);
  });
  it('best = highest quality among feasible ok trials; ties go to the faster, then the earlier', () => {
    const ts = [
      trial(0, { quality: 0.9, feasible: false }),
      trial(1, { quality: 0.7, latencyMs: 10 }),
      trial(2, { quality: 0.95, status: 'failed', feasible: false }),
      trial(3, { quality: 0.7, latencyMs: 9 }),
      trial(4, { quality: 0.7, latencyMs: 9 }),
    ];
    expect(pickBest(ts)?.seq).toBe(3);
    expect(pickBest([trial(0, { feasible: false })])).toBeNull();
  });
  it('final re-measurement order: pickBest first, then the next feasible by quality, one per candidate, bounded', () => {
    const ts = [
      trial(0, { quality: 0.9, feasible: false }),
      trial(1, { quality: 0.7, latencyMs: 10 }),
      trial(2, { quality: 0.8, candidateHash: 'same' }),
      trial(3, { quality: 0.8, candidateHash: 'same' }),
      trial(4, { quality: 0.75, status: 'failed' }),
      trial(5, { quality: 0.7, latencyMs: 9 }),
      trial(6, { quality: 0.6 }),
    ];
    const order = finalCandidates(ts, 3).map((t) => t.seq);
    expect(order).toEqual([2, 5, 1]);
    expect(order[0]).toBe(pickBest(ts)?.seq);
    expect(finalCandidates(ts, 10).map((t) => t.seq)).toEqual([2, 5, 1, 6]);
    expect(finalCandidates([trial(0, { feasible: false })], 3)).toEqual([]);
  });
  it('a trial is not started unless the last ones suggest it ends within the limit', () => {
    expect(expectedTrialMs([])).toBe(0);
    expect(expectedTrialMs([60_000, 30_000])).toBe(45_000);
    expect(expectedTrialMs([1, 1, 1, 1, 1000, 10, 10, 10, 10, 10])).toBe(10);
  });
  it('fallback re-measurements must end by the trial limit plus a quarter of it (at least a minute)', () => {
    // the default run: 3m30s of trials, fallbacks until 4m30s, so the whole run stays under 5 minutes
    expect(fallbackDeadlineMs(210_000)).toBe(270_000);
    expect(fallbackDeadlineMs(30 * 60_000)).toBe(37.5 * 60_000);
  });
  it('a second signal abandons what is being waited for; the first only asks to stop', async () => {
    const i = new Interrupts();
    let resolveWork!: (v: string) => void;
    const work = new Promise<string>((r) => (resolveWork = r));
    const waited = unlessAbandoned(work, i);
    i.signal('SIGINT');
    expect(i.stopRequested).toBe('signal');
    i.signal('SIGINT');
    await expect(waited).rejects.toBeInstanceOf(AbandonedError);
    resolveWork('late');
    const j = new Interrupts();
    j.signal('SIGTERM');
    await expect(unlessAbandoned(Promise.resolve('done'), j)).resolves.toBe('done');
  });
});
