/**
 * The options of a search, validated once and stored with it (searches.options), so that
 * `tesa resume` continues with exactly what `tesa optimize` was given. Every bad value is a
 * BAD_INPUT naming the option, raised before anything touches the store.
 */
import { badInput } from '../errors.js';
import { resolve as resolvePath } from 'node:path';
import { parseBudget as parseBudgetOption, parseDims, parseDuration as parseDurationOption } from '../cli/options.js';
import type { Budget } from '../../db/store.js';
import type { Pattern, Precision } from '../plan/sparsity.js';
import type { JsonValue } from '../../strategies/strategy.js';
import { parsePatternList, parsePrecisionList } from '../space/patterns.js';
import { strategyNames } from '../../strategies/registry.js';

export interface SearchConfig {
  model: string;
  target: string;
  budget: Budget;
  strategy: string;
  strategyOptions: Record<string, JsonValue>;
  maxTrials: number;
  timeLimitMs: number;
  seed: number;
  /** null: the backend's defaults. */
  patterns: Pattern[] | null;
  precisions: Precision[];
  groups: 'on' | 'off';
  evaluator: string;
  cost: 'latency' | 'flops';
  threads: number;
  /** AutoCompress per-round hook (JSON on stdin, JSON on stdout). */
  finetuneCmd: string | null;
  finetuneTimeoutMs: number;
  /** cmd: evaluator time per trial (default: the protocol's 10 minutes). */
  evaluatorTimeoutMs?: number;
  /** fidelity: calibration file and, for a raw float32 file, its shape. */
  calibration?: string;
  calibrationShape?: number[];
  /** --propagate-precision: the bit-width rule applied to every candidate (SearchSpace.propagatePrecision). */
  propagatePrecision?: boolean;
  /** --int8-outliers: fp32 outlier fraction of int8 weights (SearchSpace.int8Outliers); absent = 0. */
  int8Outliers?: number;
  /** Pairs (A-B rounds) of the final interleaved re-measurement, at least; 0 skips it. */
  finalRounds: number;
  /** Candidates the final re-measurement tries, best first, until one holds the budget. */
  finalAttempts: number;
  /**
   * 'on': the backend times each sparse op's plans against dense while compiling (slow on a
   * loaded machine, cached per op); 'off': cached decisions and the density thresholds only.
   */
  planPicking: 'on' | 'off';
}

export const DEFAULT_MODEL = 'zoo:mlp';
export const DEFAULT_MAX_TRIALS = 16;
/**
 * The trial loop's cap (no trial is started that would not end within it); the final
 * re-measurement comes after it, so the default run ends within 5 minutes even when trials
 * take a minute each (timed plan picking on a loaded 2-core machine).
 */
export const DEFAULT_TIME_LIMIT_MS = 3.5 * 60_000;
/** Pairs of the final re-measurement: six give a t interval with 5 degrees of freedom. */
export const DEFAULT_FINAL_ROUNDS = 6;
/** The best and at most two fallbacks. */
export const DEFAULT_FINAL_ATTEMPTS = 3;

/** `0.7` (a ratio of the dense latency, in (0, 1]) or `12ms` / `1.5s` (absolute): the CLI's shared parser. */
export function parseBudget(text: string, option = '--latency-budget'): Budget {
  return parseBudgetOption(text, option);
}

/** `90s`, `30m`, `2h`, `1h30m`, `500ms`; a bare number is seconds. Must be positive. */
export function parseDuration(text: string, option = '--time-limit'): number {
  const ms = parseDurationOption(text, option);
  if (!(ms > 0) || !Number.isFinite(ms)) throw badInput(`${option} '${text}': expected a positive duration like 90s, 30m, 2h or 1h30m`, `for example ${option} 30m`);
  return ms;
}

export function parsePositiveInt(text: string, option: string, max = 1_000_000_000): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || Number(t) < 1 || Number(t) > max) throw badInput(`${option} ${JSON.stringify(text)} must be a whole number from 1 to ${max}`, `for example ${option} 20`);
  return Number(t);
}

export function parseSeed(text: string, option = '--seed'): number {
  const t = text.trim();
  if (!/^\d+$/.test(t) || !Number.isSafeInteger(Number(t))) throw badInput(`${option} ${JSON.stringify(text)} must be a non-negative whole number`, 'for example --seed 42');
  return Number(t);
}

export function parseChoice<T extends string>(text: string, option: string, choices: readonly T[]): T {
  const t = text.trim();
  if (!(choices as readonly string[]).includes(t)) throw badInput(`${option} ${JSON.stringify(text)} is not one of ${choices.join(', ')}`, `use ${option} ${choices[0]}`);
  return t as T;
}

/** `key=value` pairs; values parse as JSON when they can (numbers, booleans), else stay strings. */
export function parseStrategyOptions(pairs: readonly string[], option = '--strategy-option'): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const pair of pairs) {
    const i = pair.indexOf('=');
    if (i <= 0) throw badInput(`${option} ${JSON.stringify(pair)} is not key=value`, `for example ${option} coolingRate=0.95`);
    const key = pair.slice(0, i).trim();
    const raw = pair.slice(i + 1).trim();
    let value: JsonValue = raw;
    try {
      value = JSON.parse(raw) as JsonValue;
    } catch {
      value = raw;
    }
    out[key] = value;
  }
  return out;
}

export interface RawOptimizeOptions {
  model?: string;
  target?: string;
  latencyBudget?: string;
  strategy?: string;
  strategyOption?: string[];
  maxTrials?: string;
  timeLimit?: string;
  seed?: string;
  patterns?: string;
  precisions?: string;
  groups?: string;
  evaluator?: string;
  cost?: string;
  threads?: string;
  finetuneCmd?: string;
  finetuneTimeout?: string;
  finalRounds?: string;
  finalAttempts?: string;
  planPicking?: string;
  evaluatorTimeout?: string;
  calibration?: string;
  calibrationShape?: string;
  propagatePrecision?: boolean;
  int8Outliers?: string;
}

export const TARGETS = ['cpu', 'cuda'] as const;

/** Precisions searched when --precisions is not given: the CUDA backend computes in fp16 (tensor cores), the CPU in fp32. */
function defaultPrecisions(target: string): Precision[] {
  return [target === 'cuda' ? 'fp16' : 'fp32'];
}

/** Every option checked and defaulted; throws BAD_INPUT at the first bad one. */
export function resolveSearchConfig(raw: RawOptimizeOptions, defaultThreads: number): SearchConfig {
  const model = (raw.model ?? DEFAULT_MODEL).trim();
  if (model.length === 0) throw badInput('--model is empty', 'give an .onnx path or zoo:NAME, e.g. --model zoo:mlp');
  const target = parseChoice(raw.target ?? 'cpu', '--target', TARGETS);
  const strategy = parseChoice(raw.strategy ?? 'sa', '--strategy', strategyNames());
  const evaluator = (raw.evaluator ?? 'proxy').trim();
  if (!/^(proxy|fidelity(:.+)?|cmd:.+)$/.test(evaluator)) throw badInput(`--evaluator ${JSON.stringify(raw.evaluator)} is not an evaluator`, 'use proxy, fidelity or cmd:"<command>"');
  // The precision rules act on int8 choices only: without int8 they would be silently ignored.
  if ((raw.propagatePrecision === true || raw.int8Outliers !== undefined) && !(raw.precisions ?? '').split(',').some((p) => p.trim() === 'int8')) {
    throw badInput(`${raw.propagatePrecision === true ? '--propagate-precision' : '--int8-outliers'} needs int8 among --precisions`, 'add --precisions fp32,int8');
  }
  return {
    model,
    target,
    budget: parseBudget(raw.latencyBudget ?? '0.7'),
    strategy,
    strategyOptions: parseStrategyOptions(raw.strategyOption ?? []),
    maxTrials: raw.maxTrials === undefined ? DEFAULT_MAX_TRIALS : parsePositiveInt(raw.maxTrials, '--max-trials', 1_000_000),
    timeLimitMs: raw.timeLimit === undefined ? DEFAULT_TIME_LIMIT_MS : parseDuration(raw.timeLimit),
    seed: raw.seed === undefined ? 1 : parseSeed(raw.seed),
    patterns: raw.patterns === undefined ? null : parsePatternList(raw.patterns),
    precisions: raw.precisions === undefined ? defaultPrecisions(target) : parsePrecisionList(raw.precisions),
    groups: parseChoice(raw.groups ?? 'on', '--groups', ['on', 'off'] as const),
    evaluator,
    cost: parseChoice(raw.cost ?? 'latency', '--cost', ['latency', 'flops'] as const),
    threads: raw.threads === undefined ? defaultThreads : parsePositiveInt(raw.threads, '--threads', 1024),
    finetuneCmd: raw.finetuneCmd === undefined ? null : nonEmpty(raw.finetuneCmd, '--finetune-cmd'),
    finetuneTimeoutMs: raw.finetuneTimeout === undefined ? 10 * 60_000 : parseDuration(raw.finetuneTimeout, '--finetune-timeout'),
    finalRounds: raw.finalRounds === undefined ? DEFAULT_FINAL_ROUNDS : raw.finalRounds.trim() === '0' ? 0 : parsePositiveInt(raw.finalRounds, '--final-rounds', 100),
    finalAttempts: raw.finalAttempts === undefined ? DEFAULT_FINAL_ATTEMPTS : parsePositiveInt(raw.finalAttempts, '--final-attempts', 100),
    planPicking: parseChoice(raw.planPicking ?? 'on', '--plan-picking', ['on', 'off'] as const),
    ...(raw.evaluatorTimeout === undefined ? {} : { evaluatorTimeoutMs: parseDuration(raw.evaluatorTimeout, '--evaluator-timeout') }),
    ...(raw.calibration === undefined ? {} : { calibration: resolvePath(nonEmpty(raw.calibration, '--calibration')) }),
    ...(raw.calibrationShape === undefined ? {} : { calibrationShape: parseDims(raw.calibrationShape, '--calibration-shape') }),
    ...(raw.propagatePrecision === true ? { propagatePrecision: true } : {}),
    ...(raw.int8Outliers === undefined ? {} : { int8Outliers: parseFraction(raw.int8Outliers, '--int8-outliers', 0.5) }),
  };
}

/** A number in [0, max], e.g. `0.01`. */
export function parseFraction(text: string, option: string, max = 1): number {
  const t = text.trim();
  const v = Number(t);
  if (t === '' || !Number.isFinite(v) || v < 0 || v > max) throw badInput(`${option} ${JSON.stringify(text)} must be a number from 0 to ${max}`, `for example ${option} 0.01`);
  return v;
}

function nonEmpty(v: string, option: string): string {
  if (v.trim().length === 0) throw badInput(`${option} is empty`, `give a command, e.g. ${option} "python3 finetune.py"`);
  return v;
}

/** The stored options back into a config (for resume); tolerant of fields added later. */
export function configFromStored(model: string, target: string, strategy: string, budget: Budget, options: Record<string, unknown>): SearchConfig {
  const o = options as Partial<SearchConfig>;
  return {
    model,
    target,
    budget,
    strategy,
    strategyOptions: o.strategyOptions ?? {},
    maxTrials: o.maxTrials ?? DEFAULT_MAX_TRIALS,
    timeLimitMs: o.timeLimitMs ?? DEFAULT_TIME_LIMIT_MS,
    seed: o.seed ?? 1,
    patterns: o.patterns ?? null,
    precisions: o.precisions ?? defaultPrecisions(target),
    groups: o.groups ?? 'on',
    evaluator: o.evaluator ?? 'proxy',
    cost: o.cost ?? 'latency',
    threads: o.threads ?? 1,
    finetuneCmd: o.finetuneCmd ?? null,
    finetuneTimeoutMs: o.finetuneTimeoutMs ?? 10 * 60_000,
    finalRounds: o.finalRounds ?? DEFAULT_FINAL_ROUNDS,
    finalAttempts: o.finalAttempts ?? DEFAULT_FINAL_ATTEMPTS,
    planPicking: o.planPicking ?? 'on',
    ...(o.evaluatorTimeoutMs === undefined ? {} : { evaluatorTimeoutMs: o.evaluatorTimeoutMs }),
    ...(o.calibration === undefined ? {} : { calibration: o.calibration }),
    ...(o.calibrationShape === undefined ? {} : { calibrationShape: o.calibrationShape }),
    ...(o.propagatePrecision === true ? { propagatePrecision: true } : {}),
    ...(o.int8Outliers === undefined ? {} : { int8Outliers: o.int8Outliers }),
  };
}

/** What goes into searches.options (everything but the columns the store keeps apart). */
export function storedOptions(c: SearchConfig): Record<string, unknown> {
  const { model: _m, target: _t, strategy: _s, budget: _b, ...rest } = c;
  return rest;
}
