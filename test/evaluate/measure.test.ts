import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { converged, interleaved, measure } from '../../src/evaluate/measure.js';
import { medianCI, relativeCIHalfWidth, summarize } from '../../src/evaluate/stats.js';

describe('stats', () => {
  it('median CI from order statistics brackets the median and narrows with n', () => {
    const rng = seedrandom('s');
    const xs = Array.from({ length: 100 }, () => 10 + rng());
    const s = summarize(xs);
    expect(s.ciLowMs).toBeLessThanOrEqual(s.medianMs);
    expect(s.ciHighMs).toBeGreaterThanOrEqual(s.medianMs);
    const small = medianCI(xs.slice(0, 10));
    expect(small[1] - small[0]).toBeGreaterThan(s.ciHighMs - s.ciLowMs);
    // ranks for n = 100: 40 and 61 (1-based) of the sorted samples
    const sorted = [...xs].sort((a, b) => a - b);
    expect(medianCI(xs)).toEqual([sorted[39], sorted[60]]);
    expect(medianCI([3, 1, 2])).toEqual([1, 3]);
  });

  it('MAD and relative half-width', () => {
    const s = summarize([1, 2, 3, 4, 100]);
    expect(s.medianMs).toBe(3);
    expect(s.madMs).toBe(1);
    expect(relativeCIHalfWidth([10, 10, 10, 10, 10, 10])).toBe(0);
  });
});

describe('protocol', () => {
  it('stops as soon as the CI is within ±2%', async () => {
    const rng = seedrandom('q');
    let calls = 0;
    const m = await measure(async (n) => {
      calls++;
      return Array.from({ length: n }, () => 5 + rng() * 0.05);
    }, { warmup: 2, minReps: 10, maxReps: 1000, ciTarget: 0.02, timeoutMs: 60_000 });
    expect(m.converged).toBe(true);
    expect(m.samplesMs.length).toBe(10);
    expect(calls).toBe(2);
  });

  it('gives up at maxReps when noise never settles', async () => {
    const rng = seedrandom('n');
    const m = await measure(async (n) => Array.from({ length: n }, () => rng() * 100), { warmup: 0, minReps: 5, maxReps: 40, ciTarget: 0.001, timeoutMs: 60_000 });
    expect(m.converged).toBe(false);
    expect(m.samplesMs.length).toBe(40);
    expect(converged(m.samplesMs, 0.001)).toBe(false);
  });

  it('interleaves A B A B and reports the ratio of medians', async () => {
    const order: string[] = [];
    const r = await interleaved(
      async (n) => (order.push('A'), Array(n).fill(2)),
      async (n) => (order.push('B'), Array(n).fill(4)),
      { rounds: 3, perRound: 4, warmup: 0 },
    );
    expect(order).toEqual(['A', 'B', 'A', 'B', 'A', 'B']);
    expect(r.ratio).toBe(0.5);
    expect(r.roundRatios).toEqual([0.5, 0.5, 0.5]);
    expect(r.a.samplesMs.length).toBe(12);
  });
});
