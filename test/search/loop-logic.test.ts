import { describe, expect, it } from 'vitest';
import type { TrialRecord } from '../../db/store.js';
import { budgetRatioOf, pickBest } from '../../src/search/loop.js';
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
