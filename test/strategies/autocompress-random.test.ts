import { describe, expect, it } from 'vitest';
import { AutoCompress } from '../../strategies/autocompress.js';
import { createStrategy } from '../../strategies/registry.js';
import type { Candidate } from '../../src/space/space.js';
import type { Strategy } from '../../strategies/strategy.js';
import { fourGroupSpace, syntheticOutcome } from './fixtures.js';

const space = fourGroupSpace();

function drive(s: Strategy, steps: number, budget = 0.6): Candidate[] {
  const out: Candidate[] = [];
  for (let i = 0; i < steps; i++) {
    const c = s.ask();
    if (!c) break;
    out.push(c);
    s.tell(c, syntheticOutcome(space, c, budget));
  }
  return out;
}

describe('autocompress', () => {
  const init = { space, seed: 4, budgetRatio: 0.6, maxTrials: 30, options: { rounds: 3 } };

  it('runs its rounds with tightening targets; later rounds never prune a group less than the committed base', () => {
    const ac = new AutoCompress(init);
    const rounds: ReturnType<AutoCompress['takeRoundEnds']> = [];
    const seq: Candidate[] = [];
    for (;;) {
      const c = ac.ask();
      rounds.push(...ac.takeRoundEnds());
      if (!c) break;
      seq.push(c);
      ac.tell(c, syntheticOutcome(space, c, 0.6));
      const ends = ac.takeRoundEnds();
      rounds.push(...ends);
      for (const e of ends) {
        if (!e.committed) continue;
        // every later candidate prunes each group at least as much as this commit
        (e as { floor?: Candidate }).floor = e.committed;
      }
    }
    expect(rounds.map((r) => r.round)).toEqual([1, 2, 3]);
    expect(rounds[0]!.roundBudget).toBeGreaterThan(rounds[1]!.roundBudget);
    expect(rounds[2]!.roundBudget).toBeCloseTo(0.6, 9);
    expect(seq.length).toBe(30);
    const firstCommit = rounds[0]!.committed!;
    const afterFirst = seq.slice(10);
    for (const c of afterFirst) for (const g of space.groups) expect(c.groups[g.id]!.ratio).toBeGreaterThanOrEqual(firstCommit.groups[g.id]!.ratio - 1e-9);
  });

  it('restores exactly mid-round', () => {
    const full = drive(new AutoCompress(init), 100);
    const a = new AutoCompress(init);
    const head = drive(a, 13);
    const b = new AutoCompress(init);
    b.restore(JSON.parse(JSON.stringify(a.state())));
    expect([...head, ...drive(b, 100)]).toEqual(full);
  });
});

describe('random', () => {
  const init = { space, seed: 9, budgetRatio: 0.7, maxTrials: 40, options: {} };
  it('draws ratios on the grid within range, deterministically, and stops at maxTrials', () => {
    const a = drive(createStrategy('random', init), 1000);
    expect(a.length).toBe(40);
    expect(drive(createStrategy('random', init), 1000)).toEqual(a);
    for (const c of a) for (const g of Object.values(c.groups)) {
      expect(g.ratio).toBeGreaterThanOrEqual(0);
      expect(g.ratio).toBeLessThanOrEqual(0.95);
      expect(Math.abs(g.ratio / 0.05 - Math.round(g.ratio / 0.05))).toBeLessThan(1e-9);
    }
    const s = createStrategy('random', init);
    drive(s, 10);
    const t = createStrategy('random', init);
    t.restore(JSON.parse(JSON.stringify(s.state())));
    expect(drive(t, 1000)).toEqual(a.slice(10));
  });
});
