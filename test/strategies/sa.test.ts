import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../strategies/registry.js';
import { SimulatedAnnealing } from '../../strategies/sa.js';
import { parameterWeightedMean, rescaleToLevel, assignByImportance, acceptProbability } from '../../strategies/annealing.js';
import type { Candidate } from '../../src/space/space.js';
import type { Strategy, TrialOutcome } from '../../strategies/strategy.js';
import { fourGroupSpace, syntheticOutcome } from './fixtures.js';

function drive(s: Strategy, steps: number, outcome: (c: Candidate) => TrialOutcome): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < steps; i++) {
    const c = s.ask();
    if (!c) break;
    out.push(c);
    s.tell(c, outcome(c));
  }
  return out;
}

const space = fourGroupSpace();
const init = (seed: number, options = {}) => ({ space, seed, budgetRatio: 0.7, maxTrials: 1000, options });

describe('annealing arithmetic', () => {
  it('rescales to the requested parameter-weighted level', () => {
    const r = rescaleToLevel(space, [0.1, 0.4, 0.2, 0.9], 0.5);
    expect(parameterWeightedMean(space, r)).toBeCloseTo(0.5, 6);
    expect(Math.max(...r)).toBeLessThanOrEqual(0.95);
  });
  it('returns the maxima (best effort) when the level cannot be reached, instead of looping', () => {
    const r = rescaleToLevel(space, [0.1, 0.4, 0.2, 0.9], 0.99);
    for (const x of r) expect(x).toBeCloseTo(0.95, 9);
  });
  it('respects floors', () => {
    const r = rescaleToLevel(space, [0.1, 0.1, 0.1, 1], 0.3, [0.2, 0.2, 0.2, 0.2]);
    expect(Math.min(...r)).toBeGreaterThanOrEqual(0.2);
    expect(parameterWeightedMean(space, r)).toBeCloseTo(0.3, 6);
  });
  it('gives the highest ratio to the least important group', () => {
    const r = assignByImportance(space, [0.1, 0.2, 0.3, 0.4]);
    // importance: a 1.6, c 1.0, b 0.7 (4000), d 0.7 (500): order a, c, d, b → b is least important
    expect(r).toEqual([0.1, 0.4, 0.2, 0.3]);
  });
  it('acceptance is invariant to the score scale', () => {
    expect(acceptProbability(-0.5, 1, 50, 100)).toBeCloseTo(acceptProbability(-500, 1000, 50, 100), 12);
    expect(acceptProbability(0.1, 1, 50, 100)).toBe(1);
  });
});

describe('sa strategy', () => {
  it('same seed and same outcomes give the same candidates; another seed differs', () => {
    const a = drive(createStrategy('sa', init(7)), 50, (c) => syntheticOutcome(space, c, 0.7));
    const b = drive(createStrategy('sa', init(7)), 50, (c) => syntheticOutcome(space, c, 0.7));
    const c = drive(createStrategy('sa', init(8)), 50, (c) => syntheticOutcome(space, c, 0.7));
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  it('restore continues exactly (RNG, temperature, current point)', () => {
    const full = drive(createStrategy('sa', init(3)), 100, (c) => syntheticOutcome(space, c, 0.7));
    const first = createStrategy('sa', init(3));
    const head = drive(first, 6, (c) => syntheticOutcome(space, c, 0.7));
    const saved = JSON.parse(JSON.stringify(first.state()));
    const second = createStrategy('sa', init(3));
    second.restore(saved);
    const tail = drive(second, 100, (c) => syntheticOutcome(space, c, 0.7));
    expect([...head, ...tail]).toEqual(full);
  });

  it('ends after the NNI schedule (100 → 20 at 0.9: 16 trials) whatever the scores', () => {
    for (const scale of [1, 1e6, -3]) {
      const s = createStrategy('sa', init(1));
      const seq = drive(s, 10_000, (c) => ({ ...syntheticOutcome(space, c, 0.01, scale, 50), feasible: false }));
      expect(seq.length).toBe(16);
      expect(s.ask()).toBeNull();
    }
  });

  it('terminates when every candidate fails', () => {
    const s = createStrategy('sa', init(1));
    expect(drive(s, 10_000, () => ({ status: 'failed', feasible: false, reason: 'build error' })).length).toBe(16);
  });

  it('climbs the sparsity level until candidates fit the budget, then keeps feasible points', () => {
    const s = new SimulatedAnnealing({ ...init(5), options: { initialLevel: 0.05, coolingRate: 0.97 } });
    const seq = drive(s, 200, (c) => syntheticOutcome(space, c, 0.6));
    const feasible = seq.filter((c) => syntheticOutcome(space, c, 0.6).feasible);
    expect(feasible.length).toBeGreaterThan(seq.length / 3);
    expect(syntheticOutcome(space, seq[0]!, 0.6).feasible).toBe(false);
  });

  it('the same decisions for quality q and 1000·q + 5 (normalised acceptance)', () => {
    const a = drive(createStrategy('sa', init(11)), 50, (c) => syntheticOutcome(space, c, 0.7));
    const b = drive(createStrategy('sa', init(11)), 50, (c) => syntheticOutcome(space, c, 0.7, 1000, 5));
    expect(a).toEqual(b);
  });

  it('rejects unknown and bad options as BAD_INPUT', () => {
    expect(() => createStrategy('sa', init(1, { temp: 3 }))).toThrow(/no such option/);
    expect(() => createStrategy('sa', init(1, { coolingRate: 1.5 }))).toThrow(/coolingRate/);
    expect(() => createStrategy('nope', init(1))).toThrow(/unknown strategy/);
  });
});
