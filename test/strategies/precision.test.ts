import { describe, expect, it } from 'vitest';
import { createStrategy } from '../../strategies/registry.js';
import { Annealer, annealConfigFrom, SimulatedAnnealing } from '../../strategies/sa.js';
import { AutoCompress } from '../../strategies/autocompress.js';
import { parameterWeightedMean, type Point } from '../../strategies/annealing.js';
import { byQuality, drawPrecisionMix, initialLevelGuess, stepPrecisions } from '../../strategies/precision.js';
import { Rng } from '../../strategies/rng.js';
import type { Precision } from '../../src/plan/sparsity.js';
import type { Candidate, SearchSpace } from '../../src/space/space.js';
import type { Strategy, TrialOutcome } from '../../strategies/strategy.js';

/** Twelve groups (bert-mini has 12) offering fp32 and int8; sizes and importances differ. */
function mixedSpace(precisions: Precision[] = ['fp32', 'int8']): SearchSpace {
  return {
    groups: Array.from({ length: 12 }, (_, i) => ({
      id: `g${i}`,
      weights: [`g${i}.w`],
      parameters: 1000 * (1 + (i % 3)),
      importance: 0.5 + (i % 4) * 0.3,
      patterns: ['block:1x32'],
      precisions,
      minRatio: 0,
      maxRatio: 0.95,
      ratioStep: 0.05,
    })),
  };
}

/**
 * A synthetic world in which int8 halves a group's dense time at a small quality cost while
 * pruning costs quality quadratically: the trade-off the acceptance point is about.
 */
function world(space: SearchSpace, c: Candidate, budget: number): TrialOutcome {
  let total = 0;
  let time = 0;
  let imp = 0;
  let keptImp = 0;
  for (const g of space.groups) {
    const ch = c.groups[g.id]!;
    const precisionTime = ch.precision === 'int8' ? 0.5 : 1;
    total += g.parameters;
    time += g.parameters * precisionTime * (1 - 0.8 * ch.ratio);
    imp += g.importance * g.parameters;
    keptImp += g.importance * g.parameters * (1 - ch.ratio) ** 2 * (ch.precision === 'int8' ? 0.995 : 1);
  }
  const ratio = 0.08 + 0.92 * (time / total);
  return { status: 'ok', latencyMs: ratio * 10, latencyCiHighMs: ratio * 10, latencyRatio: ratio, quality: keptImp / imp, feasible: ratio <= budget };
}

function drive(s: Strategy, space: SearchSpace, budget: number, steps: number): { seq: Candidate[]; best: number } {
  const seq: Candidate[] = [];
  let best = -Infinity;
  for (let i = 0; i < steps; i++) {
    const c = s.ask();
    if (!c) break;
    seq.push(c);
    const o = world(space, c, budget);
    if (o.feasible) best = Math.max(best, o.quality!);
    s.tell(c, o);
  }
  return { seq, best };
}

const precisionsOf = (space: SearchSpace, c: Candidate) => space.groups.map((g) => c.groups[g.id]!.precision);
const ratiosOf = (space: SearchSpace, c: Candidate) => space.groups.map((g) => c.groups[g.id]!.ratio);
const init = (space: SearchSpace, budgetRatio: number, seed = 7, options = {}) => ({ space, seed, budgetRatio, maxTrials: 40, options });

describe('precision as an ordinal variable', () => {
  it('orders offered precisions from most faithful to fastest, whatever the offered order', () => {
    const g = mixedSpace(['int8', 'fp32']).groups[0]!;
    expect(byQuality(g)).toEqual(['fp32', 'int8']);
    expect(byQuality({ ...g, precisions: ['int8', 'bf16', 'fp32'] })).toEqual(['fp32', 'bf16', 'int8']);
    expect(byQuality(g, { int8: 1.5 })).toEqual(['int8', 'fp32']);
  });

  it('sizes the first level for the precision speed-up; fp32 keeps the old guess', () => {
    expect(initialLevelGuess(0.5, 1, 0.95)).toBeCloseTo(0.7, 12);
    expect(initialLevelGuess(0.6, 1, 0.95)).toBeCloseTo(0.6, 12);
    expect(initialLevelGuess(0.5, 0.5, 0.95)).toBe(0);
    expect(initialLevelGuess(0.3, 0.5, 0.95)).toBeCloseTo(0.6, 12);
    expect(annealConfigFrom({}, 0.5, 0.95).initialLevel).toBeCloseTo(0.7, 12);
  });

  it('a faster step never raises a precision and always lowers one when possible; a higher step never lowers', () => {
    const space = mixedSpace();
    const rng = new Rng(1);
    const order = space.groups.map((_, i) => i).reverse();
    for (let k = 0; k < 50; k++) {
      const cur = space.groups.map(() => (rng.next() < 0.5 ? 'fp32' : 'int8') as Precision);
      if (cur.every((p) => p === 'int8')) continue;
      const down = stepPrecisions(space, cur, 'faster', 0.1, rng, order);
      expect(down.some((p, i) => p === 'int8' && cur[i] === 'fp32')).toBe(true);
      expect(down.some((p, i) => p === 'fp32' && cur[i] === 'int8')).toBe(false);
      const up = stepPrecisions(space, cur, 'higher', 0.5, rng, order);
      expect(up.some((p, i) => p === 'int8' && cur[i] === 'fp32')).toBe(false);
    }
    const allFast = space.groups.map(() => 'int8' as Precision);
    expect(stepPrecisions(space, allFast, 'faster', 1, new Rng(2), order)).toEqual(allFast);
  });
});

describe('sa with precisions', () => {
  it('the first candidate is all int8 when int8 is offered, with no pruning when int8 alone fits the budget', () => {
    const space = mixedSpace();
    const first = createStrategy('sa', init(space, 0.5)).ask()!;
    expect(precisionsOf(space, first).every((p) => p === 'int8')).toBe(true);
    expect(ratiosOf(space, first).every((r) => r === 0)).toBe(true);
    const tight = createStrategy('sa', init(space, 0.3)).ask()!;
    expect(precisionsOf(space, tight).every((p) => p === 'int8')).toBe(true);
    expect(parameterWeightedMean(space, ratiosOf(space, tight))).toBeCloseTo(0.6, 1);
  });

  it('a backend speed factor changes the first level: int8 only 10% faster needs pruning', () => {
    const space = mixedSpace();
    const s = new SimulatedAnnealing({ ...init(space, 0.5), precisionSpeed: { int8: 0.9 } });
    const first = s.ask()!;
    expect(precisionsOf(space, first).every((p) => p === 'int8')).toBe(true);
    expect(parameterWeightedMean(space, ratiosOf(space, first))).toBeGreaterThan(0.5);
  });

  it('fp32 only: every candidate stays fp32 and the first level is the fp32 guess', () => {
    const space = mixedSpace(['fp32']);
    const { seq } = drive(createStrategy('sa', init(space, 0.5)), space, 0.5, 40);
    expect(seq.every((c) => precisionsOf(space, c).every((p) => p === 'fp32'))).toBe(true);
    expect(parameterWeightedMean(space, ratiosOf(space, seq[0]!))).toBeCloseTo(0.7, 1);
  });

  it('over budget: the next proposal lowers precision and keeps the level; with no faster precision left the level climbs', () => {
    const space = mixedSpace();
    const config = annealConfigFrom({}, 0.5, 0.95);
    const mixed: Point = { ratios: space.groups.map(() => 0.2), patterns: space.groups.map(() => 'block:1x32'), precisions: space.groups.map((_, i) => (i < 6 ? 'fp32' : 'int8')) };
    const a = new Annealer(space, config, new Rng(3), { point: mixed, level: 0.2 });
    const p1 = a.propose();
    a.tell(p1, { status: 'ok', latencyRatio: 0.8, quality: 0.5, feasible: false }, false, 0.5);
    expect(a.s.level).toBe(0.2);
    expect(a.s.precisionDrift).toBe('faster');
    const p2 = a.propose();
    const int8s = (p: Point) => p.precisions.filter((x) => x === 'int8').length;
    expect(int8s(p2)).toBeGreaterThan(int8s(p1));
    expect(p2.precisions.some((x, i) => x === 'fp32' && p1.precisions[i] === 'int8')).toBe(false);

    const fast: Point = { ...mixed, precisions: space.groups.map(() => 'int8') };
    const b = new Annealer(space, config, new Rng(3), { point: fast, level: 0.2 });
    b.tell(fast, { status: 'ok', latencyRatio: 0.8, quality: 0.5, feasible: false }, false, 0.5);
    expect(b.s.level).toBeGreaterThan(0.2);
  });

  it('slack under the budget lets precision step up; a near miss does not force it', () => {
    const space = mixedSpace();
    const config = annealConfigFrom({}, 0.5, 0.95);
    const fast: Point = { ratios: space.groups.map(() => 0), patterns: space.groups.map(() => 'block:1x32'), precisions: space.groups.map(() => 'int8') };
    const a = new Annealer(space, config, new Rng(5), { point: fast, level: 0 });
    a.tell(a.propose(), { status: 'ok', latencyRatio: 0.3, quality: 0.99, feasible: true }, true, 0.5);
    expect(a.s.precisionDrift).toBe('higher');
    const next = a.propose();
    expect(next.precisions.some((p) => p === 'fp32')).toBe(true);
    a.tell(next, { status: 'ok', latencyRatio: 0.49, quality: 0.995, feasible: true }, true, 0.5);
    expect(a.s.precisionDrift).toBe('either');
  });

  it('finds better quality with fp32,int8 than fp32 alone at the same budget (synthetic world)', () => {
    const both = mixedSpace();
    const fp32 = mixedSpace(['fp32']);
    const withInt8 = drive(createStrategy('sa', init(both, 0.5)), both, 0.5, 40);
    const pruningOnly = drive(createStrategy('sa', init(fp32, 0.5)), fp32, 0.5, 40);
    // All int8 alone is 0.54× here, so a little pruning is needed: about 0.8 of the quality is reachable;
    // fp32 needs ~70% sparsity, which keeps little of it.
    expect(withInt8.best).toBeGreaterThan(0.8);
    expect(withInt8.best).toBeGreaterThan(pruningOnly.best + 0.3);
  });

  it('state round-trips the precision drift, and a checkpoint without it still restores', () => {
    const space = mixedSpace();
    const full = drive(createStrategy('sa', init(space, 0.4, 9)), space, 0.4, 40).seq;
    const first = createStrategy('sa', init(space, 0.4, 9));
    const head = drive(first, space, 0.4, 5).seq;
    const saved = JSON.parse(JSON.stringify(first.state())) as { anneal: { precisionDrift?: string } };
    expect(['faster', 'higher', 'either']).toContain(saved.anneal.precisionDrift);
    const second = createStrategy('sa', init(space, 0.4, 9));
    second.restore(saved);
    expect([...head, ...drive(second, space, 0.4, 40).seq]).toEqual(full);

    delete saved.anneal.precisionDrift;
    const old = createStrategy('sa', init(space, 0.4, 9));
    old.restore(saved);
    expect(old.ask()).not.toBeNull();
    expect((old.state() as { anneal: { precisionDrift?: string } }).anneal.precisionDrift).toBe('either');
  });
});

describe('autocompress and random with precisions', () => {
  it('autocompress starts all int8 and restores exactly with the drift', () => {
    const space = mixedSpace();
    const ac = new AutoCompress({ ...init(space, 0.4, 4), options: { rounds: 2 } });
    const first = ac.ask()!;
    expect(precisionsOf(space, first).every((p) => p === 'int8')).toBe(true);
    ac.tell(first, world(space, first, 0.4));
    const saved = JSON.parse(JSON.stringify(ac.state()));
    const again = new AutoCompress({ ...init(space, 0.4, 4), options: { rounds: 2 } });
    again.restore(saved);
    expect(drive(again, space, 0.4, 40).seq).toEqual(drive(ac, space, 0.4, 40).seq);
  });

  it('random draws every precision mix, corners included, deterministically', () => {
    const space = mixedSpace();
    const rng = new Rng(11);
    let allInt8 = 0;
    let allFp32 = 0;
    let mixed = 0;
    for (let k = 0; k < 1000; k++) {
      const p = drawPrecisionMix(space, rng);
      if (p.every((x) => x === 'int8')) allInt8++;
      else if (p.every((x) => x === 'fp32')) allFp32++;
      else mixed++;
    }
    // A uniform mix makes each corner about 1 in 13 for 12 groups; independent draws would give 1 in 4096.
    expect(allInt8).toBeGreaterThan(40);
    expect(allFp32).toBeGreaterThan(40);
    expect(mixed).toBeGreaterThan(600);
    const a = createStrategy('random', init(space, 0.5, 3));
    const b = createStrategy('random', init(space, 0.5, 3));
    for (let k = 0; k < 20; k++) expect(a.ask()).toEqual(b.ask());
    expect(drawPrecisionMix(mixedSpace(['fp32']), new Rng(1)).every((p) => p === 'fp32')).toBe(true);
  });
});
