/**
 * Uniform random search: every group draws its ratio and pattern independently; precisions
 * come from a mix drawn per candidate (precision.ts: drawPrecisionMix).
 * The baseline the other strategies must beat; it ignores outcomes.
 */
import { Rng } from './rng.js';
import { rejectUnknownOptions } from './options.js';
import { pointToCandidate, roundRatios } from './annealing.js';
import { drawPrecisionMix } from './precision.js';
import type { Candidate } from '../src/space/space.js';
import type { JsonValue, Strategy, StrategyFactory, StrategyInit, TrialOutcome } from './strategy.js';

export class RandomSearch implements Strategy {
  readonly name = 'random';
  private readonly rng: Rng;
  private asked = 0;

  constructor(private readonly init: StrategyInit) {
    rejectUnknownOptions(init.options, [], 'random');
    this.rng = new Rng(init.seed);
  }

  ask(): Candidate | null {
    const { space } = this.init;
    if (this.asked >= this.init.maxTrials || space.groups.length === 0) return null;
    this.asked += 1;
    const ratios = roundRatios(space, space.groups.map((g) => this.rng.uniform(g.minRatio, g.maxRatio)));
    const patterns = space.groups.map((g) => this.rng.pick(g.patterns));
    return pointToCandidate(space, { ratios, patterns, precisions: drawPrecisionMix(space, this.rng) });
  }

  tell(_candidate: Candidate, _outcome: TrialOutcome): void {}

  state(): JsonValue {
    return { strategy: 'random', rng: this.rng.state(), asked: this.asked };
  }

  restore(state: JsonValue): void {
    const o = state as { strategy?: string; rng?: JsonValue; asked?: number };
    if (o?.strategy !== 'random' || o.rng === undefined) throw new Error('not a saved random state');
    this.rng.restore(o.rng);
    this.asked = typeof o.asked === 'number' ? o.asked : 0;
  }

  progress(): Record<string, number | string> {
    return { asked: this.asked };
  }
}

export const createRandom: StrategyFactory = (init) => new RandomSearch(init);
