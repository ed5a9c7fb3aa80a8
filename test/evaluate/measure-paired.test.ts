import { describe, expect, it } from 'vitest';
import seedrandom from 'seedrandom';
import { pairedRatio, pairedStats, type PairSampler } from '../../src/evaluate/measure.js';
import { ratioCI, summarize, tQuantile975 } from '../../src/evaluate/stats.js';

describe('ratio CI from pairs', () => {
  it('t quantiles: the table, then the normal value', () => {
    expect(tQuantile975(1)).toBe(12.706);
    expect(tQuantile975(5)).toBe(2.571);
    expect(tQuantile975(30)).toBe(2.042);
    expect(tQuantile975(200)).toBeCloseTo(1.96, 2);
    expect(tQuantile975(0)).toBeNaN();
  });

  it('geometric mean with a t interval on the log scale; symmetric under inversion', () => {
    const r = ratioCI([0.5, 0.5, 0.5]);
    expect(r).toEqual({ n: 3, ratio: 0.5, ciLow: 0.5, ciHigh: 0.5 });
    const rs = [0.6, 0.66, 0.63, 0.7, 0.61];
    const a = ratioCI(rs);
    const logs = rs.map(Math.log);
    const m = logs.reduce((s, x) => s + x, 0) / 5;
    const sd = Math.sqrt(logs.reduce((s, x) => s + (x - m) ** 2, 0) / 4);
    expect(a.ratio).toBeCloseTo(Math.exp(m), 12);
    expect(a.ciHigh).toBeCloseTo(Math.exp(m + (2.776 * sd) / Math.sqrt(5)), 12);
    const inv = ratioCI(rs.map((x) => 1 / x));
    expect(inv.ratio).toBeCloseTo(1 / a.ratio, 12);
    expect(inv.ciLow).toBeCloseTo(1 / a.ciHigh, 12);
    // one pair has no spread to go on; nonsense ratios give no interval
    expect(ratioCI([0.7]).ciHigh).toBeNaN();
    expect(ratioCI([0.7, -1]).ratio).toBeNaN();
  });

  it('one pair: A’s median CI over B’s median (what a single comparison can say)', () => {
    const a = [10, 11, 12, 10.5, 11.5, 10.2, 11.1];
    const b = [20, 20, 20];
    const s = pairedStats([{ a, b, ratio: summarize(a).medianMs / 20 }]);
    expect(s.ratio).toBeCloseTo(summarize(a).medianMs / 20, 12);
    expect(s.ciHigh).toBeCloseTo(summarize(a).ciHighMs / 20, 12);
    expect(s.ciLow).toBeCloseTo(summarize(a).ciLowMs / 20, 12);
  });
});

const constant = (v: number, log: string[], name: string): PairSampler => async (pair) => (log.push(`${name}${pair}`), [v, v, v, v]);

describe('pairedRatio', () => {
  it('alternates A B, B A so a steady trend cancels; stops once the decision is made', async () => {
    const log: string[] = [];
    const r = await pairedRatio(constant(6, log, 'A'), constant(10, log, 'B'), { minPairs: 3, maxPairs: 8, ciTarget: 0.001, decideAt: 0.7 });
    expect(log).toEqual(['A0', 'B0', 'B1', 'A1', 'A2', 'B2']);
    expect(r.stoppedBy).toBe('decided');
    expect(r.ratio).toBeCloseTo(0.6, 12);
    expect(r.pairs).toHaveLength(3);
    expect(r.a.n).toBe(12);
  });

  it('runs to maxPairs while the CI straddles the threshold and is wide', async () => {
    const rng = seedrandom('straddle');
    const a: PairSampler = async () => Array.from({ length: 5 }, () => 7 * (0.7 + 0.6 * rng()));
    const b: PairSampler = async () => Array.from({ length: 5 }, () => 10 * (0.7 + 0.6 * rng()));
    const r = await pairedRatio(a, b, { minPairs: 3, maxPairs: 6, ciTarget: 0.001, decideAt: 0.7 });
    expect(r.stoppedBy).toBe('max-pairs');
    expect(r.pairs).toHaveLength(6);
    expect(r.ciLow).toBeLessThan(0.7);
    expect(r.ciHigh).toBeGreaterThan(0.7);
  });

  it('stops when precise enough without a threshold; a tape that ends stops it', async () => {
    const p = await pairedRatio(constant(5, [], 'A'), constant(10, [], 'B'), { minPairs: 2, maxPairs: 10, ciTarget: 0.01 });
    expect(p.stoppedBy).toBe('precise');
    expect(p.pairs).toHaveLength(2);
    const ends: PairSampler = async (i) => (i === 0 ? [5, 5, 5] : null);
    const q = await pairedRatio(ends, constant(10, [], 'B'), { minPairs: 3, maxPairs: 10, ciTarget: 0.01 });
    expect(q.stoppedBy).toBe('no-more-data');
    expect(q.pairs).toHaveLength(1);
    await expect(pairedRatio(async () => null, constant(1, [], 'B'), { minPairs: 1, maxPairs: 3, ciTarget: 0.01 })).rejects.toThrow(/no pair/);
  });

  /**
   * A shared machine: a load factor that wanders from run to run (other jobs come and go) and
   * multiplies every sample of the run. A candidate truly at 0.75× dense must not be judged
   * feasible at budget 0.7 more than about 1 time in 20; one at 0.6× must be found feasible.
   * The rule used before (the candidate's upper median CI over a dense run right after it)
   * is fooled far more often by the same machine.
   */
  function machine(seed: string) {
    const rng = seedrandom(seed);
    let load = 1;
    return (trueMs: number): PairSampler =>
      async () => {
        load = Math.min(3, Math.max(1, load + (rng() - 0.5) * 0.4));
        return Array.from({ length: 8 }, () => trueMs * load * (1 + 0.03 * rng()));
      };
  }
  it('under wandering load: few false feasibles, and the old single-run rule is worse', async () => {
    let pairedFalse = 0;
    let oldFalse = 0;
    let pairedFound = 0;
    const sims = 200;
    for (let s = 0; s < sims; s++) {
      const m = machine(`load-${s}`);
      const r = await pairedRatio(m(7.5), m(10), { minPairs: 3, maxPairs: 8, ciTarget: 0.02, decideAt: 0.7 });
      if (r.ciHigh <= 0.7) pairedFalse++;
      const m2 = machine(`load-${s}`);
      const cand = summarize((await m2(7.5)(0))!);
      const dense = summarize((await m2(10)(0))!);
      if (cand.ciHighMs / dense.medianMs <= 0.7) oldFalse++;
      const m3 = machine(`good-${s}`);
      const g = await pairedRatio(m3(6), m3(10), { minPairs: 3, maxPairs: 8, ciTarget: 0.02, decideAt: 0.7 });
      if (g.ciHigh <= 0.7) pairedFound++;
    }
    expect(pairedFalse / sims).toBeLessThanOrEqual(0.06);
    expect(oldFalse).toBeGreaterThan(2 * pairedFalse);
    expect(pairedFound / sims).toBeGreaterThanOrEqual(0.8);
  });
});
