/**
 * Quality evaluators (DESIGN.md, "Quality"): given one candidate — its masks after
 * propagation, the masked graph, and, for evaluators that need it, a way to run the compiled
 * candidate and the dense model — return a score (higher is better, any scale) with details,
 * or throw. The loop turns a throw into a failed trial with the message as its reason, so a
 * broken evaluator never stops a search.
 *
 * Registry: `proxy` here; `fidelity` and `cmd:"…"` register themselves the same way
 * (`registerEvaluator('fidelity', …)`, `registerEvaluator('cmd', …)` for the `cmd:` prefix).
 */
import { badInput } from '../errors.js';
import type { Backend, CompiledModel, RunResult } from '../../backends/backend.js';
import type { Graph } from '../model/graph.js';
import type { ModelSparsity } from '../plan/sparsity.js';
import type { Candidate, SearchSpace } from '../space/space.js';

export interface EvaluationContext {
  /** The dense model as loaded. */
  graph: Graph;
  /** The candidate's model: pruned weights zeroed, propagation applied. */
  maskedGraph: Graph;
  /** Every prunable weight's final mask (after propagation), pattern and precision. */
  sparsity: ModelSparsity;
  candidate: Candidate;
  candidateHash: string;
  space: SearchSpace;
  /** The compiled candidate, when the loop built one (latency cost); absent under --cost flops. */
  compiled?: CompiledModel;
  backend?: Backend;
  /** Runs the compiled candidate once with given inputs and returns its outputs. */
  runCandidate?: (inputs: RunInputs) => Promise<RunResult>;
  /** Runs the dense model (compiled once per search) with given inputs. */
  runDense?: (inputs: RunInputs) => Promise<RunResult>;
  /** A scratch folder private to this trial (for files handed to external programs). */
  workDir: string;
  seed: number;
  /** Per-weight pruned fraction before/after propagation (the materialized candidate's summary), when the loop has it. */
  summary?: Record<string, { before: number; after: number }>;
}

export type RunInputs = Map<string, Float32Array | BigInt64Array | Int32Array>;

export interface EvaluationResult {
  score: number;
  details?: Record<string, unknown>;
}

export interface Evaluator {
  readonly name: string;
  /** True when evaluate() uses runCandidate/runDense (the loop then provides them). */
  readonly needsRun: boolean;
  evaluate(ctx: EvaluationContext): Promise<EvaluationResult>;
  close?(): Promise<void>;
}

export interface EvaluatorInit {
  /** What followed the prefix: for `cmd:python3 eval.py` the argument is `python3 eval.py`. */
  argument: string;
  graph: Graph;
  seed: number;
  timeoutMs?: number;
  /** What the user gave as --model (carried into cmd: requests). */
  modelSpec?: string;
  /** fidelity: calibration inputs (.npy, or raw float32 with calibrationShape). */
  calibration?: string;
  calibrationShape?: number[];
}

export type EvaluatorFactory = (init: EvaluatorInit) => Evaluator;

const factories = new Map<string, EvaluatorFactory>();

export function registerEvaluator(prefix: string, factory: EvaluatorFactory): void {
  factories.set(prefix, factory);
}

export function evaluatorNames(): string[] {
  return [...factories.keys()];
}

/** `proxy`, `fidelity`, `cmd:<command>`: the part before the first ':' picks the factory. */
export function createEvaluator(spec: string, init: Omit<EvaluatorInit, 'argument'>): Evaluator {
  const i = spec.indexOf(':');
  const prefix = i < 0 ? spec : spec.slice(0, i);
  const argument = i < 0 ? '' : spec.slice(i + 1);
  const f = factories.get(prefix);
  if (!f) throw badInput(`--evaluator ${JSON.stringify(spec)}: no such evaluator`, `available: ${evaluatorNames().join(', ')}`);
  return f({ ...init, argument });
}

/** A finite number or a clear failure: evaluators must not hand NaN to a strategy. */
export function checkScore(name: string, r: EvaluationResult): EvaluationResult {
  if (typeof r.score !== 'number' || !Number.isFinite(r.score)) throw new Error(`evaluator ${name} returned a score that is not a finite number (${String(r.score)})`);
  return r;
}
