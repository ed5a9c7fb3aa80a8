/**
 * AutoCompress (Liu et al., AAAI 2020) over layer groups: a few rounds whose latency target
 * tightens from the dense model toward the budget (r_i = 1 − (1 − budget)·i/R). Each round
 * anneals from the previous round's result, perturbing each group in proportion to how much
 * moving it has paid before (experience-based perturbation), and ends by committing its best
 * point as the new floor: later rounds only prune more. The loop may run a fine-tune hook at
 * each commit (`takeRoundEnd`).
 */
import { Rng } from './rng.js';
import { numberOption, rejectUnknownOptions } from './options.js';
import { Annealer, annealConfigFrom, candidateToPoint, SA_OPTION_KEYS, type AnnealConfig } from './sa.js';
import { parameterWeightedMean, pointToCandidate, type Point } from './annealing.js';
import { fastestSpeed, initialLevelGuess } from './precision.js';
import type { Candidate } from '../src/space/space.js';
import type { JsonValue, Strategy, StrategyFactory, StrategyInit, TrialOutcome } from './strategy.js';

export interface RoundEnd {
  round: number;
  rounds: number;
  roundBudget: number;
  /** The committed point of the round, as a candidate (null if no candidate met the round's target). */
  committed: Candidate | null;
  quality: number | null;
}

const AC_KEYS = [...SA_OPTION_KEYS, 'rounds', 'trialsPerRound', 'experienceRate'] as const;

interface AcState {
  strategy: 'autocompress';
  rng: JsonValue;
  asked: number;
  round: number;
  base: number[];
  basePoint: Point | null;
  weights: number[];
  anneal: JsonValue;
  roundEnds: RoundEnd[];
}

export class AutoCompress implements Strategy {
  readonly name = 'autocompress';
  private readonly rng: Rng;
  private readonly config: AnnealConfig;
  readonly rounds: number;
  readonly trialsPerRound: number;
  private readonly experienceRate: number;
  private round = 0;
  private asked = 0;
  private base: number[];
  private basePoint: Point | null = null;
  private weights: number[];
  private annealer: Annealer;
  private pendingRoundEnds: RoundEnd[] = [];
  /** Dense latency factor of the all-fastest-precision point, which sizes each round's starting level. */
  private readonly speed: number;

  constructor(private readonly init: StrategyInit) {
    rejectUnknownOptions(init.options, AC_KEYS, 'autocompress');
    const n = init.space.groups.length;
    const maxRatio = Math.max(...init.space.groups.map((g) => g.maxRatio), 0);
    this.rounds = numberOption(init.options, 'rounds', 3, (v) => Number.isInteger(v) && v >= 1 && v <= 100, 'an integer in [1, 100]');
    const perRound = Math.max(2, Math.floor(init.maxTrials / this.rounds));
    this.trialsPerRound = numberOption(init.options, 'trialsPerRound', perRound, (v) => Number.isInteger(v) && v >= 1, 'a positive integer');
    this.experienceRate = numberOption(init.options, 'experienceRate', 0.5, (v) => v >= 0 && v <= 10, 'a number in [0, 10]');
    this.speed = fastestSpeed(init.space, init.precisionSpeed);
    const base = annealConfigFrom(init.options, init.budgetRatio, maxRatio, this.speed);
    // Each round cools from start to stop over its own trials, unless the user fixed the rate.
    const cooling = init.options.coolingRate !== undefined ? base.coolingRate : Math.pow(base.stopTemperature / base.startTemperature, 1 / this.trialsPerRound) - 1e-9;
    this.config = { ...base, coolingRate: cooling, sortByImportance: false };
    this.rng = new Rng(init.seed);
    this.base = new Array<number>(n).fill(0);
    this.weights = new Array<number>(n).fill(1);
    this.annealer = this.newRoundAnnealer();
  }

  roundBudget(round = this.round): number {
    return 1 - (1 - this.init.budgetRatio) * ((round + 1) / this.rounds);
  }

  private newRoundAnnealer(): Annealer {
    // Start each round where its target should need it (see annealConfigFrom), never below what is committed.
    const guess = Math.min(0.95, initialLevelGuess(this.roundBudget(), this.speed, 1, 0.05));
    const level = Math.max(parameterWeightedMean(this.init.space, this.base), this.round === 0 ? Math.min(guess, this.config.initialLevel) : guess);
    return new Annealer(this.init.space, this.config, this.rng, { point: this.basePoint, floors: [...this.base], level }, this.init.precisionSpeed);
  }

  private get finished(): boolean {
    return this.round >= this.rounds;
  }

  ask(): Candidate | null {
    if (this.asked >= this.init.maxTrials || this.init.space.groups.length === 0) return null;
    while (!this.finished && (this.annealer.done || this.annealer.s.iteration >= this.trialsPerRound)) this.endRound();
    if (this.finished) return null;
    this.asked += 1;
    return pointToCandidate(this.init.space, this.annealer.propose(this.weights));
  }

  tell(candidate: Candidate, outcome: TrialOutcome): void {
    const point = this.annealer.s.proposal ?? candidateToPoint(this.init.space, candidate);
    const feasible = outcome.status === 'ok' && (typeof outcome.latencyRatio === 'number' ? outcome.latencyRatio <= this.roundBudget() : outcome.feasible);
    const r = this.annealer.tell(point, outcome, feasible, this.roundBudget());
    if (r.improved) {
      const total = r.moved.reduce((a, b) => a + b, 0);
      if (total > 0) this.weights = this.weights.map((w, i) => 0.9 * w + 0.1 + this.experienceRate * (r.moved[i]! / total));
    }
    if (this.annealer.done || this.annealer.s.iteration >= this.trialsPerRound) this.endRound();
  }

  private endRound(): void {
    const best = this.annealer.s.best;
    if (best) {
      this.basePoint = best.point;
      this.base = [...best.point.ratios];
    }
    this.pendingRoundEnds.push({
      round: this.round + 1,
      rounds: this.rounds,
      roundBudget: this.roundBudget(),
      committed: best ? pointToCandidate(this.init.space, best.point) : null,
      quality: best ? best.quality : null,
    });
    this.round += 1;
    if (!this.finished) this.annealer = this.newRoundAnnealer();
  }

  /** Rounds committed since the last call (the loop runs the fine-tune hook for each). */
  takeRoundEnds(): RoundEnd[] {
    const out = this.pendingRoundEnds;
    this.pendingRoundEnds = [];
    return out;
  }

  state(): JsonValue {
    const s: AcState = {
      strategy: 'autocompress',
      rng: this.rng.state(),
      asked: this.asked,
      round: this.round,
      base: this.base,
      basePoint: this.basePoint,
      weights: this.weights,
      anneal: this.annealer.snapshot(),
      roundEnds: this.pendingRoundEnds,
    };
    return JSON.parse(JSON.stringify(s)) as JsonValue;
  }

  restore(state: JsonValue): void {
    const o = state as unknown as AcState;
    if (o?.strategy !== 'autocompress') throw new Error('not a saved autocompress state');
    this.rng.restore(o.rng);
    this.asked = o.asked;
    this.round = o.round;
    this.base = [...o.base];
    this.basePoint = o.basePoint;
    this.weights = [...o.weights];
    this.annealer = this.newRoundAnnealer();
    this.annealer.load(o.anneal);
    this.pendingRoundEnds = [...(o.roundEnds ?? [])];
  }

  progress(): Record<string, number | string> {
    return {
      round: Math.min(this.round + 1, this.rounds),
      rounds: this.rounds,
      roundBudget: Number(this.roundBudget(Math.min(this.round, this.rounds - 1)).toFixed(4)),
      temperature: Number(this.annealer.s.temperature.toFixed(3)),
    };
  }
}

export const createAutoCompress: StrategyFactory = (init) => new AutoCompress(init);
