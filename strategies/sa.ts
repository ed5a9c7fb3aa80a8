/**
 * Simulated annealing over per-group sparsity, after NNI's SimulatedAnnealingPruner (start
 * temperature 100, stop 20, cooling 0.9, perturbation magnitude 0.35; ratios drawn as a
 * sorted list and given to groups by importance rank), with the objective "quality subject
 * to latency within budget":
 *
 * - the overall sparsity level is not fixed as in NNI but steered by the budget: an
 *   infeasible candidate raises it, a feasible one lets it relax, so the search settles at the
 *   least pruning that meets the latency budget;
 * - only feasible candidates become the current point (infeasible ones are rejected);
 * - precision is ordinal (strategies/precision.ts): the first candidate takes every group's
 *   fastest offered precision with a sparsity level sized for that precision's speed-up; an
 *   over-budget trial moves precision one step faster before the level is raised, and slack
 *   under the budget lets precision step back up;
 * - acceptance uses score differences normalised by the spread of scores seen, so a score of
 *   any scale behaves; the temperature falls every trial, so the strategy always ends.
 */
import { Rng } from './rng.js';
import { numberOption, rejectUnknownOptions } from './options.js';
import {
  acceptProbability,
  assignByImportance,
  isPoint,
  observeScore,
  importanceOrder,
  perturbPatterns,
  pointToCandidate,
  rescaleToLevel,
  roundRatios,
  scaleOf,
  type Point,
  type ScoreScale,
} from './annealing.js';
import { driftAfter, fastestPrecision, fastestSpeed, hasFasterPrecision, initialLevelGuess, stepPrecisions, type PrecisionDrift, type PrecisionSpeed } from './precision.js';
import type { Candidate, SearchSpace } from '../src/space/space.js';
import type { JsonValue, Strategy, StrategyFactory, StrategyInit, TrialOutcome } from './strategy.js';

export interface AnnealConfig {
  startTemperature: number;
  stopTemperature: number;
  coolingRate: number;
  perturbationMagnitude: number;
  /** Overall (parameter-weighted) sparsity of the first candidate. */
  initialLevel: number;
  /** Fraction of the way to the maximum ratio the level climbs after an infeasible candidate. */
  levelUp: number;
  /** Fraction of the level it relaxes after a feasible one. */
  levelDown: number;
  /** Probability (at the start temperature) that a group's pattern or precision is re-drawn. */
  choiceChange: number;
  /** NNI's rule: sorted ratios by importance rank. AutoCompress perturbs groups in place instead. */
  sortByImportance: boolean;
}

export const SA_OPTION_KEYS = ['startTemperature', 'stopTemperature', 'coolingRate', 'perturbationMagnitude', 'initialLevel', 'levelUp', 'levelDown', 'choiceChange'] as const;

/** `speed`: the dense latency factor of the first candidate's precisions (1 for fp32; see precision.ts). */
export function annealConfigFrom(options: Record<string, JsonValue>, budgetRatio: number, maxRatio: number, speed = 1): AnnealConfig {
  const prob = (v: number) => v >= 0 && v <= 1;
  const startTemperature = numberOption(options, 'startTemperature', 100, (v) => v > 0, 'a positive number');
  const stopTemperature = numberOption(options, 'stopTemperature', 20, (v) => v > 0 && v < startTemperature, 'a positive number below startTemperature');
  const coolingRate = numberOption(options, 'coolingRate', 0.9, (v) => v > 0 && v < 1, 'a number in (0, 1)');
  const perturbationMagnitude = numberOption(options, 'perturbationMagnitude', 0.35, (v) => v > 0 && v <= 1, 'a number in (0, 1]');
  // A latency budget r needs roughly 1 - r/speed of the work gone, and sparse kernels pay an
  // indexing overhead, so start a little above that (precision.ts: initialLevelGuess).
  const guess = initialLevelGuess(budgetRatio, speed, maxRatio);
  const initialLevel = numberOption(options, 'initialLevel', guess, prob, 'a ratio in [0, 1]');
  const levelUp = numberOption(options, 'levelUp', 0.3, prob, 'a number in [0, 1]');
  const levelDown = numberOption(options, 'levelDown', 0.08, prob, 'a number in [0, 1]');
  const choiceChange = numberOption(options, 'choiceChange', 0.3, prob, 'a number in [0, 1]');
  return { startTemperature, stopTemperature, coolingRate, perturbationMagnitude, initialLevel, levelUp, levelDown, choiceChange, sortByImportance: true };
}

export interface AnnealState {
  temperature: number;
  iteration: number;
  level: number;
  current: Point | null;
  currentQuality: number | null;
  currentFeasible: boolean;
  best: { point: Point; quality: number } | null;
  scale: ScoreScale;
  proposal: Point | null;
  /** Direction of the next precision step, set by the last outcome (absent in checkpoints before precision steering: 'either'). */
  precisionDrift?: PrecisionDrift;
}

export interface TellResult {
  accepted: boolean;
  /** Accepted with a better score than the point it replaced (or the first feasible point). */
  improved: boolean;
  /** Per group, how far the accepted proposal moved from the previous point. */
  moved: number[];
}

/** One annealing run: the engine both strategies drive. The RNG is the strategy's. */
export class Annealer {
  s: AnnealState;

  constructor(
    readonly space: SearchSpace,
    readonly config: AnnealConfig,
    private readonly rng: Rng,
    readonly start?: { point: Point | null; floors?: number[]; level?: number },
    readonly precisionSpeed?: PrecisionSpeed,
  ) {
    this.s = {
      temperature: config.startTemperature,
      iteration: 0,
      level: start?.level ?? config.initialLevel,
      current: start?.point ?? null,
      currentQuality: null,
      currentFeasible: false,
      best: null,
      scale: { min: null, max: null },
      proposal: null,
      precisionDrift: 'either',
    };
  }

  get done(): boolean {
    return this.s.temperature < this.config.stopTemperature;
  }

  /** Proposes the next point; `weights` (autocompress's experience) scales each group's step. */
  propose(weights?: readonly number[]): Point {
    const { space, config, rng } = this;
    const floors = this.start?.floors;
    let seeds: number[];
    let choices: Pick<Point, 'patterns' | 'precisions'>;
    const cur = this.s.current;
    if (!cur) {
      seeds = space.groups.map(() => rng.next());
      // The fastest precision everywhere: the initial level was sized for it, and the budget then
      // steers precision up where there is slack.
      choices = { patterns: space.groups.map((g) => rng.pick(g.patterns)), precisions: space.groups.map((g) => fastestPrecision(g, this.precisionSpeed)) };
    } else {
      const magnitude = (config.perturbationMagnitude * this.s.temperature) / config.startTemperature;
      const meanW = weights && weights.length > 0 ? weights.reduce((a, b) => a + b, 0) / weights.length : 1;
      seeds = cur.ratios.map((r, i) => {
        const m = magnitude * (weights ? (weights[i] ?? 1) / meanW : 1);
        return Math.min(1, Math.max(0, r + rng.uniform(-m, m)));
      });
      const change = (config.choiceChange * this.s.temperature) / config.startTemperature;
      const patterns = perturbPatterns(space, cur, change, rng);
      const leastImportantFirst = importanceOrder(space).reverse();
      const precisions = stepPrecisions(space, cur.precisions, this.s.precisionDrift ?? 'either', change, rng, leastImportantFirst, this.precisionSpeed);
      choices = { patterns, precisions };
    }
    const ordered = config.sortByImportance ? assignByImportance(space, seeds) : seeds;
    const ratios = roundRatios(space, rescaleToLevel(space, ordered, this.s.level, floors));
    const p: Point = { ratios, ...choices };
    this.s.proposal = p;
    return p;
  }

  /** `budgetRatio`: the target the feasibility was judged against, to tell slack from a near miss. */
  tell(point: Point, outcome: TrialOutcome, feasible: boolean, budgetRatio?: number): TellResult {
    const s = this.s;
    const { config } = this;
    const prev = s.current;
    let accepted = false;
    let improved = false;
    if (outcome.status === 'ok') {
      const q = typeof outcome.quality === 'number' && Number.isFinite(outcome.quality) ? outcome.quality : 0;
      s.scale = observeScore(s.scale, q);
      const maxRatio = Math.max(...this.space.groups.map((g) => g.maxRatio));
      s.precisionDrift = driftAfter(feasible, outcome.latencyRatio, budgetRatio);
      if (!feasible) {
        // Precision first: the level climbs only once the point has no faster precision left.
        if (!hasFasterPrecision(this.space, point.precisions, this.precisionSpeed)) s.level = s.level + config.levelUp * Math.max(0, maxRatio - s.level);
        if (!s.currentFeasible) {
          // No feasible point yet: walk on from here, the level has moved up.
          s.current = point;
          s.currentQuality = q;
          accepted = true;
        }
      } else {
        if (!s.currentFeasible || s.currentQuality === null) {
          accepted = true;
          improved = true;
        } else {
          const delta = q - s.currentQuality;
          improved = delta > 0;
          accepted = delta >= 0 || this.rng.next() < acceptProbability(delta, scaleOf(s.scale), s.temperature, config.startTemperature);
        }
        if (accepted) {
          s.current = point;
          s.currentQuality = q;
          s.currentFeasible = true;
        }
        if (!s.best || q > s.best.quality) s.best = { point, quality: q };
        s.level = s.level * (1 - config.levelDown);
        const floors = this.start?.floors;
        if (floors) {
          const floorLevel = floors.reduce((a, f, i) => a + f * this.space.groups[i]!.parameters, 0) / Math.max(1, this.space.groups.reduce((a, g) => a + g.parameters, 0));
          s.level = Math.max(s.level, floorLevel);
        }
      }
    }
    s.iteration += 1;
    s.temperature *= config.coolingRate;
    s.proposal = null;
    const moved = point.ratios.map((r, i) => (accepted && prev ? Math.abs(r - (prev.ratios[i] ?? 0)) : 0));
    return { accepted, improved: accepted && improved, moved };
  }

  snapshot(): JsonValue {
    return JSON.parse(JSON.stringify(this.s)) as JsonValue;
  }

  load(v: JsonValue): void {
    const o = v as unknown as AnnealState;
    if (typeof o !== 'object' || o === null || typeof o.temperature !== 'number' || typeof o.level !== 'number' || (o.current !== null && !isPoint(o.current))) {
      throw new Error('annealer state is malformed');
    }
    this.s = JSON.parse(JSON.stringify(o)) as AnnealState;
    if (this.s.precisionDrift !== 'faster' && this.s.precisionDrift !== 'higher') this.s.precisionDrift = 'either';
  }
}

export class SimulatedAnnealing implements Strategy {
  readonly name = 'sa';
  private rng: Rng;
  private annealer: Annealer;
  private asked = 0;

  constructor(private readonly init: StrategyInit) {
    rejectUnknownOptions(init.options, SA_OPTION_KEYS, 'sa');
    const maxRatio = Math.max(...init.space.groups.map((g) => g.maxRatio), 0);
    this.rng = new Rng(init.seed);
    const speed = fastestSpeed(init.space, init.precisionSpeed);
    this.annealer = new Annealer(init.space, annealConfigFrom(init.options, init.budgetRatio, maxRatio, speed), this.rng, undefined, init.precisionSpeed);
  }

  ask(): Candidate | null {
    if (this.annealer.done || this.asked >= this.init.maxTrials || this.init.space.groups.length === 0) return null;
    this.asked += 1;
    return pointToCandidate(this.init.space, this.annealer.propose());
  }

  tell(candidate: Candidate, outcome: TrialOutcome): void {
    const point = this.annealer.s.proposal ?? candidateToPoint(this.init.space, candidate);
    this.annealer.tell(point, outcome, outcome.status === 'ok' && outcome.feasible, this.init.budgetRatio);
  }

  state(): JsonValue {
    return { strategy: 'sa', rng: this.rng.state(), asked: this.asked, anneal: this.annealer.snapshot() };
  }

  restore(state: JsonValue): void {
    const o = state as { strategy?: string; rng?: JsonValue; asked?: number; anneal?: JsonValue };
    if (o?.strategy !== 'sa' || o.rng === undefined || o.anneal === undefined) throw new Error('not a saved sa state');
    this.rng.restore(o.rng);
    this.asked = typeof o.asked === 'number' ? o.asked : 0;
    this.annealer.load(o.anneal);
  }

  progress(): Record<string, number | string> {
    const s = this.annealer.s;
    return { temperature: Number(s.temperature.toFixed(3)), stopTemperature: this.annealer.config.stopTemperature, level: Number(s.level.toFixed(4)), iteration: s.iteration };
  }
}

export function candidateToPoint(space: SearchSpace, c: Candidate): Point {
  return {
    ratios: space.groups.map((g) => c.groups[g.id]?.ratio ?? 0),
    patterns: space.groups.map((g) => c.groups[g.id]?.pattern ?? g.patterns[0]!),
    precisions: space.groups.map((g) => c.groups[g.id]?.precision ?? g.precisions[0]!),
  };
}

export const createSa: StrategyFactory = (init) => new SimulatedAnnealing(init);
