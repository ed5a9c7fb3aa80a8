/**
 * The search loop (DESIGN.md, "The way data flows"): the dense baseline first, then per trial
 * ask → masks → propagate → compile → measure → evaluate → tell, each trial recorded together
 * with the strategy's state in ONE transaction, so a process killed at any instant loses at most
 * the trial in flight and a resume continues exactly. Each trial is timed in pairs with the
 * dense model (A B B A …) and judged on the ratio's CI, so load that comes and goes on a shared
 * machine hits both sides alike. At the end the best feasible trial is re-measured the same
 * way with more repetitions; if it misses the budget, the next-best feasible candidates (by
 * quality) are tried, a bounded number of them, each attempt recorded.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { HEARTBEAT_INTERVAL_MS, type Baseline, type SearchStatus, type Store, type TrialRecord, type TrialResult } from '../../db/store.js';
import type { CompiledModel, MeasureProtocol } from '../../backends/backend.js';
import { createStrategy } from '../../strategies/registry.js';
import type { JsonValue, Strategy, TrialOutcome } from '../../strategies/strategy.js';
import type { AutoCompress } from '../../strategies/autocompress.js';
import { candidateHash, normalizeCandidate } from '../space/hash.js';
import type { Candidate } from '../space/space.js';
import { isTesaError, TesaError } from '../errors.js';
import { modelFlops } from '../evaluate/flops-cost.js';
import { checkScore } from '../evaluate/evaluator.js';
import { stateDir } from '../util/state-dir.js';
import { materialize, type Materialized } from './materialize.js';
import { makeMeasurer, type Measured, type Measurer, type PairedMeasured } from './measurer.js';
import type { PairedOptions } from '../evaluate/measure.js';
import { AbandonedError, Interrupts, sleep, unlessAbandoned } from './interrupt.js';
import type { SearchObserver, TrialFigures } from './observer.js';
import type { MeasurementTape } from './replay.js';
import type { SearchRuntime } from './runtime.js';
import { runJsonCommand } from './json-command.js';

export const TRIAL_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 10, maxReps: 40, ciTarget: 0.02, timeoutMs: 60_000 };
export const FINAL_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 20, maxReps: 60, ciTarget: 0.01, timeoutMs: 120_000 };
/** One side of one pair in a trial: short runs, so that trial and dense alternate often. */
export const PAIR_PROTOCOL: MeasureProtocol = { warmup: 2, minReps: 8, maxReps: 8, ciTarget: 0.02, timeoutMs: 60_000 };
/** One side of one pair in the final re-measurement. */
export const FINAL_PAIR_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 15, maxReps: 15, ciTarget: 0.01, timeoutMs: 120_000 };
/** Pairs per trial: at least 3 (a t interval needs a few), more only while feasibility is undecided. */
export const TRIAL_PAIRS: Omit<PairedOptions, 'decideAt'> = { minPairs: 3, maxPairs: 8, ciTarget: 0.02 };

/** The pairs of the final re-measurement: --final-rounds of them, up to twice that while undecided. */
export function finalPairs(finalRounds: number, budgetRatio: number): PairedOptions {
  return { minPairs: finalRounds, maxPairs: 2 * finalRounds, ciTarget: 0.01, decideAt: budgetRatio };
}

export interface LoopOptions {
  store: Store;
  searchId: number;
  runtime: SearchRuntime;
  observer: SearchObserver;
  interrupts: Interrupts;
  tape: MeasurementTape | null;
  dbPath?: string;
  /** Polling period for control requests and pause waits, ms. */
  pollMs?: number;
}

/** One candidate's final re-measurement, interleaved with the dense model (stored as a 'final-attempt' event). */
export interface FinalAttempt {
  /** 1 for the best, 2 for the first fallback, … */
  attempt: number;
  trialId: number;
  seq: number;
  candidateHash: string;
  quality: number | null;
  bestMs: number;
  bestCiHighMs: number;
  denseMs: number;
  /** Geometric mean of the per-pair ratios and its 95% CI. */
  ratio: number;
  ciLowRatio: number;
  ciHighRatio: number;
  pairs: number;
  meetsBudget: boolean;
}

export interface FinalMeasurement {
  /** The attempt that held the budget, else the first (the best by quality). */
  trialId: number;
  best: Measured;
  dense: Measured;
  /** The interleaved ratio (geometric mean of the per-pair ratios). */
  ratio: number;
  /** Upper 95% bound of that ratio. */
  ciHighRatio: number;
  /** Whether any attempt held the budget. */
  meetsBudget: boolean;
  /** Every candidate re-measured, in order: the best, then fallbacks until one held. */
  attempts: FinalAttempt[];
}

export interface SearchOutcome {
  searchId: number;
  status: SearchStatus;
  baseline: Baseline;
  bestTrial: TrialRecord | null;
  final: FinalMeasurement | null;
  trials: number;
  feasibleTrials: number;
  budgetRatio: number;
}

interface CheckpointState {
  strategy: JsonValue;
}

/** Budget as a ratio of the dense baseline (in the unit the search costs by). */
export function budgetRatioOf(budget: { ratio: number } | { ms: number }, baselineMs: number): number {
  return 'ratio' in budget ? budget.ratio : budget.ms / baselineMs;
}

/** What the next trial is expected to take: the mean of the last five run in this process (0 before the first). */
export function expectedTrialMs(durations: readonly number[]): number {
  const last = durations.slice(-5);
  return last.length === 0 ? 0 : last.reduce((s, d) => s + d, 0) / last.length;
}

/** Best = the feasible ok trial with the highest quality; ties: lower latency, then earlier. */
export function pickBest(trials: readonly TrialRecord[]): TrialRecord | null {
  let best: TrialRecord | null = null;
  for (const t of trials) {
    if (t.status !== 'ok' || !t.feasible) continue;
    if (!best) {
      best = t;
      continue;
    }
    const q = t.quality ?? -Infinity;
    const bq = best.quality ?? -Infinity;
    if (q > bq || (q === bq && (t.latencyMs ?? Infinity) < (best.latencyMs ?? Infinity))) best = t;
  }
  return best;
}

export async function runSearch(opts: LoopOptions): Promise<SearchOutcome> {
  const { store, searchId, runtime, observer, interrupts } = opts;
  const { config, backend, space, graph } = runtime;
  const pollMs = opts.pollMs ?? 500;
  store.acquireSearch(searchId);
  const search0 = store.requireSearch(searchId);
  if (search0.fingerprintId !== null && search0.fingerprintId !== runtime.fingerprint.id) {
    store.releaseSearch(searchId);
    throw new TesaError(
      'BAD_INPUT',
      `search ${searchId} was measured on target ${search0.fingerprintId}, this machine is ${runtime.fingerprint.id}`,
      'latencies from different machines do not compare: start a new search here',
    );
  }
  const runStart = Date.now();
  const elapsedBefore = search0.elapsedMs;
  const elapsed = () => elapsedBefore + (Date.now() - runStart);
  const resumed = store.latestCheckpoint(searchId) !== undefined || search0.baseline !== null;
  store.updateSearch(searchId, { status: 'running', fingerprint: runtime.fingerprint, startedAt: search0.startedAt ?? runStart, error: null });
  const event = (kind: string, message: string, data?: unknown, level: 'info' | 'warn' | 'error' = 'info') => {
    try {
      store.addEvent({ searchId, kind, message, data, level });
    } catch {
      // Events are for watching; a failed write must not stop the search.
    }
  };

  // A request left from before this runner (e.g. a stop sent to a paused search) is stale:
  // starting or resuming is the newer instruction.
  store.takeControl(searchId);
  // One timer for the lock's heartbeat and for control requests from other terminals.
  let lastBeat = Date.now();
  const timer = setInterval(() => {
    try {
      if (Date.now() - lastBeat >= HEARTBEAT_INTERVAL_MS) {
        lastBeat = Date.now();
        if (!store.heartbeat(searchId)) interrupts.stopRequested = 'lost-lock';
      }
      const c = store.takeControl(searchId);
      if (c === 'stop') interrupts.stopRequested = interrupts.stopRequested ?? 'control';
      else if (c === 'pause') interrupts.pauseRequested = true;
      else if (c === 'resume') interrupts.pauseRequested = false;
    } catch {
      // A busy database now and then is fine; the next tick tries again.
    }
  }, pollMs);
  timer.unref();

  const abandoned = store.deleteRunningTrials(searchId);
  observer.searchStarted({ searchId, model: config.model, target: config.target, strategy: config.strategy, resumed, groups: space.groups.length, fingerprint: runtime.fingerprint.id });
  event(resumed ? 'search-resumed' : 'search-started', `${resumed ? 'resumed' : 'started'} ${config.strategy} on ${config.model}${abandoned ? ` (re-running ${abandoned} interrupted trial)` : ''}`, {
    groups: space.groups.length,
    abandoned,
  });

  const measurer = makeMeasurer(backend, opts.tape);
  let denseCompiled: CompiledModel | null = null;
  const compileDense = async () => (denseCompiled ??= await backend.compile(graph, { kernelIndex: store, threads: config.threads }));
  const workRoot = join(stateDir(opts.dbPath), 'work', String(searchId));

  let status: SearchStatus = 'done';
  let stopReason: string = 'finished';
  let inFlightTrial: number | null = null;
  try {
    // --- the dense baseline, measured once per search ---------------------------------
    let baseline = store.requireSearch(searchId).baseline;
    if (!baseline) {
      // Killed between storing the baseline's samples and the search row: the samples stand.
      const stored = store.listMeasurements(searchId, { kind: 'baseline' }).at(-1);
      if (stored) {
        baseline = { medianMs: stored.medianMs, madMs: stored.madMs, ciLowMs: stored.ciLowMs, ciHighMs: stored.ciHighMs, n: stored.n, flops: modelFlops(graph) };
        store.updateSearch(searchId, { baseline });
      }
    }
    const reusedBaseline = baseline !== null;
    if (!baseline) {
      event('measuring', 'measuring the dense baseline');
      observer.phase({ seq: -1, phase: 'measuring', detail: 'dense baseline' });
      const m = await unlessAbandoned(measurer.measure('baseline', compileDense, TRIAL_PROTOCOL), interrupts);
      baseline = { medianMs: m.medianMs, madMs: m.madMs, ciLowMs: m.ciLowMs, ciHighMs: m.ciHighMs, n: m.n, flops: modelFlops(graph) };
      store.addMeasurement({ searchId, kind: 'baseline', samplesMs: m.samplesMs, medianMs: m.medianMs, madMs: m.madMs, ciLowMs: m.ciLowMs, ciHighMs: m.ciHighMs, n: m.n });
      store.updateSearch(searchId, { baseline });
      event('baseline', `dense baseline ${m.medianMs.toFixed(3)} ms`, baseline);
    }
    observer.baseline({ baseline, reused: reusedBaseline, unit: 'ms' });
    const budgetRatio = budgetRatioOf(config.budget, baseline.medianMs);
    const baselineFlops = baseline.flops ?? modelFlops(graph);

    // --- the strategy, restored from the last checkpoint --------------------------------
    const strategy: Strategy = createStrategy(config.strategy, { space, seed: config.seed, budgetRatio, maxTrials: config.maxTrials, options: config.strategyOptions });
    const cp = store.latestCheckpoint<CheckpointState>(searchId);
    if (cp) strategy.restore(cp.state.strategy);
    let seq = store.nextTrialSeq(searchId);
    const trialDurations: number[] = [];
    let bestTrialId = store.requireSearch(searchId).bestTrialId;
    let bestQuality = bestTrialId !== null ? (store.getTrial(bestTrialId)?.quality ?? -Infinity) : -Infinity;

    for (;;) {
      // Back to the event loop once per trial: a replayed trial is all synchronous work and
      // microtasks, and without this the control timer and signal handlers would never run.
      await sleep(0);
      if (interrupts.stopRequested) {
        status = interrupts.stopRequested === 'control' ? 'stopped' : 'paused';
        stopReason = interrupts.stopRequested;
        break;
      }
      if (interrupts.pauseRequested) {
        store.updateSearch(searchId, { status: 'paused', elapsedMs: elapsed() });
        event('paused', 'paused by request');
        observer.phase({ seq, phase: 'paused', detail: 'waiting for resume' });
        while (interrupts.pauseRequested && !interrupts.stopRequested) await sleep(pollMs);
        if (interrupts.stopRequested) continue;
        store.updateSearch(searchId, { status: 'running' });
        event('resumed', 'resumed by request');
        continue;
      }
      if (seq >= config.maxTrials) {
        stopReason = 'max-trials';
        break;
      }
      // A trial that would not end within the limit is not started: the limit bounds the run,
      // not only the moment the last trial begins (trials that build kernels take a minute).
      if (elapsed() + expectedTrialMs(trialDurations) >= config.timeLimitMs) {
        stopReason = 'time-limit';
        break;
      }
      const asked = strategy.ask();
      if (!asked) {
        stopReason = 'strategy-finished';
        break;
      }
      const candidate = normalizeCandidate(asked, space);
      const hash = candidateHash(candidate, space);
      const trialId = store.startTrial(searchId, seq, candidate, hash);
      inFlightTrial = trialId;
      event('trial-started', `trial ${seq + 1} started`, { seq, trialId, candidateHash: hash });

      const trialStart = Date.now();
      const r = await runTrial({ opts, measurer, trialId, seq, candidate, hash, budgetRatio, baseline, baselineFlops, compileDense, workRoot });
      if (!r.reused) trialDurations.push(Date.now() - trialStart);
      const outcome: TrialOutcome = {
        status: r.status,
        latencyMs: r.latencyMs ?? undefined,
        latencyCiHighMs: r.ciHighMs ?? undefined,
        latencyRatio: r.latencyRatio ?? undefined,
        quality: r.quality ?? undefined,
        feasible: r.feasible,
        reason: r.reason ?? undefined,
      };
      strategy.tell(asked, outcome);
      const rounds = 'takeRoundEnds' in strategy ? (strategy as AutoCompress).takeRoundEnds() : [];
      const isBest = r.status === 'ok' && r.feasible && (r.quality ?? -Infinity) > bestQuality;
      if (isBest) {
        bestTrialId = trialId;
        bestQuality = r.quality ?? -Infinity;
      }
      store.recordTrialAndCheckpoint(r.result, { state: { strategy: strategy.state() } satisfies CheckpointState }, { bestTrialId, elapsedMs: elapsed() });
      inFlightTrial = null;
      const progress = strategy.progress();
      event(
        'trial-finished',
        r.status === 'ok' ? `trial ${seq + 1}: ${r.latencyRatio?.toFixed(3)}× dense ${config.cost === 'flops' ? 'FLOPs' : 'latency'}, quality ${r.quality?.toFixed(4)}${r.feasible ? ', feasible' : ''}` : `trial ${seq + 1} failed: ${r.reason}`,
        { seq, trialId, status: r.status, latencyRatio: r.latencyRatio, quality: r.quality, feasible: r.feasible, reused: r.reused, progress, ...(r.pairs ? { paired: r.pairs } : {}) },
        r.status === 'ok' ? 'info' : 'warn',
      );
      if (isBest) event('best-improved', `new best: trial ${seq + 1}, quality ${r.quality?.toFixed(4)}, ${r.latencyRatio?.toFixed(3)}× dense`, { trialId, seq });
      observer.trialFinished({
        seq,
        trialId,
        maxTrials: config.maxTrials,
        candidateHash: hash,
        candidate,
        status: r.status,
        latencyMs: r.latencyMs,
        ciHighMs: r.ciHighMs,
        latencyRatio: r.latencyRatio,
        quality: r.quality,
        feasible: r.feasible,
        reason: r.reason,
        kernelsBuilt: r.kernelsBuilt,
        kernelsCached: r.kernelsCached,
        reused: r.reused,
        isBest,
        progress,
      });
      for (const round of rounds) {
        event('round-committed', `round ${round.round}/${round.rounds} committed (target ${round.roundBudget.toFixed(3)}× dense)`, round);
        if (config.finetuneCmd) await runFinetuneHook(opts, round, workRoot, event);
      }
      seq += 1;
    }

    // --- the end: re-measure the best against the dense model, interleaved --------------
    const all = store.listTrials(searchId);
    const best = pickBest(all);
    let final: FinalMeasurement | null = null;
    if (best && status === 'done' && config.finalRounds > 0) final = await finalMeasure(opts, measurer, all, budgetRatio, compileDense, event, elapsed);
    if (status === 'done') {
      store.updateSearch(searchId, { status: 'done', finishedAt: Date.now(), elapsedMs: elapsed(), bestTrialId: final?.trialId ?? best?.id ?? null });
      event('search-finished', `finished (${stopReason})`, { reason: stopReason });
    } else {
      store.updateSearch(searchId, { status, elapsedMs: elapsed(), ...(status === 'stopped' ? { finishedAt: Date.now() } : {}) });
      event(status === 'stopped' ? 'stopped' : 'paused', `${status} (${stopReason}); 'tesa resume ${searchId}' continues`, { reason: stopReason });
    }
    observer.searchFinished({ searchId, status });
    const counts = store.trialCounts(searchId);
    const bestTrial = final ? (all.find((t) => t.id === final.trialId) ?? best) : best;
    return { searchId, status, baseline, bestTrial, final, trials: counts.total, feasibleTrials: counts.feasible, budgetRatio };
  } catch (e) {
    if (e instanceof AbandonedError) {
      // Second signal: the trial in flight is dropped (it re-runs on resume).
      if (inFlightTrial !== null) store.deleteRunningTrials(searchId);
      store.updateSearch(searchId, { status: 'paused', elapsedMs: elapsed() });
      event('paused', `abandoned the trial in flight on a second signal; 'tesa resume ${searchId}' continues`);
      throw new TesaError('RUN_FAILED', `search ${searchId} interrupted; the trial in flight was abandoned`, `'tesa resume ${searchId}' continues where it stopped`, { exitCode: 130 });
    }
    const msg = e instanceof Error ? e.message.split('\n')[0]! : String(e);
    try {
      store.updateSearch(searchId, { status: 'failed', error: msg, elapsedMs: elapsed() });
      event('search-failed', msg, undefined, 'error');
    } catch {
      // The store itself may be what failed.
    }
    throw e;
  } finally {
    clearInterval(timer);
    try {
      store.releaseSearch(searchId);
    } catch {
      // released or taken over already
    }
  }
}

interface TrialRun extends TrialFigures {
  result: TrialResult;
  /** The paired measurement against dense (latency cost only): for the trial's event. */
  pairs?: { ratio: number; ciLowRatio: number; ciHighRatio: number; pairRatios: number[]; denseMs: number; stoppedBy: string } | null;
}

async function runTrial(a: {
  opts: LoopOptions;
  measurer: Measurer;
  trialId: number;
  seq: number;
  candidate: Candidate;
  hash: string;
  budgetRatio: number;
  baseline: Baseline;
  baselineFlops: number;
  compileDense: () => Promise<CompiledModel>;
  workRoot: string;
}): Promise<TrialRun> {
  const { opts, trialId, hash } = a;
  const { store, searchId, runtime, interrupts, observer } = opts;
  const { config, backend } = runtime;

  // The same candidate was judged before in this search: its result stands (no rebuild, no re-measure).
  const prior = store.findTrialsByCandidate(searchId, hash)[0];
  if (prior) {
    const result: TrialResult = {
      trialId,
      status: prior.status === 'ok' ? 'ok' : 'failed',
      latencyMs: prior.latencyMs,
      ciLowMs: prior.ciLowMs,
      ciHighMs: prior.ciHighMs,
      latencyRatio: prior.latencyRatio,
      quality: prior.quality,
      feasible: prior.feasible,
      reason: prior.reason,
      sparsity: prior.sparsity,
      flops: prior.flops,
      kernelsBuilt: 0,
      kernelsCached: 0,
    };
    return { status: result.status, latencyMs: prior.latencyMs, ciHighMs: prior.ciHighMs, latencyRatio: prior.latencyRatio, quality: prior.quality, feasible: prior.feasible, reason: prior.reason, kernelsBuilt: 0, kernelsCached: 0, reused: true, result };
  }

  let built = 0;
  let cached = 0;
  let mat: Materialized | null = null;
  let flops: number | null = null;
  let trialModel: CompiledModel | undefined;
  try {
    mat = materialize({ graph: runtime.graph, space: runtime.space, layerGroups: runtime.layerGroupById, channelMultiple: runtime.capabilities.channelMultiple }, a.candidate);
    flops = modelFlops(runtime.graph, mat.sparsity);
    const m = mat;
    let compiled: CompiledModel | undefined;
    const compile = async (): Promise<CompiledModel> => {
      if (compiled) return compiled;
      let announced = false;
      observer.phase({ seq: a.seq, phase: 'building' });
      compiled = await backend.compile(m.maskedGraph, {
        sparsity: m.sparsity,
        kernelIndex: store,
        threads: config.threads,
        ...planPickingOption(config.planPicking),
        onProgress: (p) => {
          if (!announced && p.total > p.cached) {
            announced = true;
            try {
              store.addEvent({ searchId, kind: 'building', message: `building ${p.total - p.cached} kernels (${p.cached} cached)`, data: { seq: a.seq, ...p } });
            } catch {
              // progress only
            }
          }
        },
      });
      trialModel = compiled;
      built = compiled.stats.kernelsBuilt;
      cached = compiled.stats.kernelsCached;
      observer.phase({ seq: a.seq, phase: 'measuring' });
      try {
        store.addEvent({ searchId, kind: 'measuring', message: `measuring trial ${a.seq + 1} (${built} kernels built, ${cached} cached)`, data: { seq: a.seq, built, cached } });
      } catch {
        // progress only
      }
      return compiled;
    };

    let latency: { medianMs: number; ciLowMs: number; ciHighMs: number; ratio: number; measured: Measured | null; paired: PairedMeasured | null };
    if (config.cost === 'flops') {
      const ratio = flops / a.baselineFlops;
      latency = { medianMs: flops, ciLowMs: flops, ciHighMs: flops, ratio, measured: null, paired: null };
    } else {
      // Timed in pairs with the dense model, judged on the upper 95% bound of the ratio: a
      // baseline timed once drifts with a shared machine's load, and even a dense run right after
      // the trial let a noisy trial look feasible that the final re-measure refuted.
      const p = await unlessAbandoned(
        a.measurer.measurePaired(`trial:${hash}`, compile, a.compileDense, PAIR_PROTOCOL, { ...TRIAL_PAIRS, decideAt: a.budgetRatio }, (i) => (i === 0 ? { a: hash, b: `dense-peer:${hash}` } : null)),
        interrupts,
      );
      latency = { medianMs: p.a.medianMs, ciLowMs: p.a.ciLowMs, ciHighMs: p.a.ciHighMs, ratio: p.ciHighRatio, measured: p.a, paired: p };
    }

    observer.phase({ seq: a.seq, phase: 'evaluating' });
    const workDir = join(a.workRoot, String(a.seq));
    if (runtime.evaluator.needsRun) mkdirSync(workDir, { recursive: true });
    let quality: number;
    try {
      const needsRun = runtime.evaluator.needsRun;
      const ev = await unlessAbandoned(
        runtime.evaluator.evaluate({
          graph: runtime.graph,
          maskedGraph: m.maskedGraph,
          sparsity: m.sparsity,
          candidate: a.candidate,
          candidateHash: hash,
          space: runtime.space,
          compiled: needsRun ? await compile() : undefined,
          backend,
          runCandidate: needsRun ? async (inputs) => backend.run(await compile(), { protocol: { ...TRIAL_PROTOCOL, warmup: 0, minReps: 1, maxReps: 1 }, inputs, wantOutputs: true, seed: config.seed }) : undefined,
          runDense: needsRun ? async (inputs) => backend.run(await a.compileDense(), { protocol: { ...TRIAL_PROTOCOL, warmup: 0, minReps: 1, maxReps: 1 }, inputs, wantOutputs: true, seed: config.seed }) : undefined,
          workDir,
          seed: config.seed,
          summary: m.summary,
        }),
        interrupts,
      );
      quality = checkScore(runtime.evaluator.name, ev).score;
    } finally {
      if (runtime.evaluator.needsRun) rmSync(workDir, { recursive: true, force: true });
    }
    const feasible = latency.ratio <= a.budgetRatio;
    const meas = latency.measured;
    // Under --cost flops nothing was timed: the latency columns stay empty, the ratio is of FLOPs.
    const timed = meas !== null;
    const result: TrialResult = {
      trialId,
      status: 'ok',
      latencyMs: timed ? latency.medianMs : null,
      ciLowMs: timed ? latency.ciLowMs : null,
      ciHighMs: timed ? latency.ciHighMs : null,
      latencyRatio: latency.ratio,
      quality,
      feasible,
      // Layers by weight name; layer groups under 'group:<id>' for the watch screen's table.
      sparsity: { ...m.summary, ...Object.fromEntries(Object.entries(m.groupSummary).map(([id, v]) => [`group:${id}`, v])) },
      flops,
      kernelsBuilt: built,
      kernelsCached: cached,
      measurement: meas ? { samplesMs: meas.samplesMs, medianMs: meas.medianMs, madMs: meas.madMs, ciLowMs: meas.ciLowMs, ciHighMs: meas.ciHighMs, n: meas.n } : undefined,
    };
    const pairs = latency.paired ? { ratio: latency.paired.ratio, ciLowRatio: latency.paired.ciLowRatio, ciHighRatio: latency.paired.ciHighRatio, pairRatios: latency.paired.pairRatios, denseMs: latency.paired.b.medianMs, stoppedBy: latency.paired.stoppedBy } : null;
    return { status: 'ok', latencyMs: timed ? latency.medianMs : null, ciHighMs: timed ? latency.ciHighMs : null, latencyRatio: latency.ratio, quality, feasible, reason: null, kernelsBuilt: built, kernelsCached: cached, reused: false, result, pairs };
  } catch (e) {
    if (e instanceof AbandonedError) throw e;
    const reason = failureReason(e);
    const result: TrialResult = { trialId, status: 'failed', feasible: false, reason, sparsity: mat?.summary ?? null, flops, kernelsBuilt: built, kernelsCached: cached };
    return { status: 'failed', latencyMs: null, ciHighMs: null, latencyRatio: null, quality: null, feasible: false, reason, kernelsBuilt: built, kernelsCached: cached, reused: false, result };
  } finally {
    // A trial's model is not run again (the final phase compiles its own): an hours-long search
    // must not keep every trial's folder and pinned kernels.
    if (trialModel) await backend.release?.(trialModel).catch(() => undefined);
  }
}

/** The CPU backend's `pickPlans` compile option (CpuCompileOptions); other backends ignore it. */
function planPickingOption(p: 'on' | 'off'): { pickPlans?: boolean } {
  return p === 'off' ? { pickPlans: false } : {};
}

function failureReason(e: unknown): string {
  if (isTesaError(e)) return `${e.code}: ${e.message.split('\n')[0]}`;
  if (e instanceof Error) return e.message.split('\n')[0] ?? 'error';
  return String(e);
}

/** Feasible ok trials in the order the final re-measurement tries them: pickBest's order, one per candidate. */
export function finalCandidates(trials: readonly TrialRecord[], limit: number): TrialRecord[] {
  const ranked = trials
    .filter((t) => t.status === 'ok' && t.feasible)
    .sort((x, y) => (y.quality ?? -Infinity) - (x.quality ?? -Infinity) || (x.latencyMs ?? Infinity) - (y.latencyMs ?? Infinity) || x.seq - y.seq);
  const seen = new Set<string>();
  const out: TrialRecord[] = [];
  for (const t of ranked) {
    if (seen.has(t.candidateHash)) continue;
    seen.add(t.candidateHash);
    out.push(t);
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * Fallback attempts are started only while they would end by this: the trial limit plus a
 * quarter of it (at least a minute), so the default run stays within 5 minutes.
 */
export function fallbackDeadlineMs(timeLimitMs: number): number {
  return timeLimitMs + Math.max(60_000, timeLimitMs / 4);
}

/** The attempts a previous runner of this search already made (it was killed during the final phase). */
function storedAttempts(store: Store, searchId: number): Map<number, FinalAttempt> {
  const m = new Map<number, FinalAttempt>();
  for (const e of store.listEvents(searchId)) if (e.kind === 'final-attempt' && e.data && typeof e.data === 'object') m.set((e.data as FinalAttempt).trialId, e.data as FinalAttempt);
  return m;
}

/**
 * The best feasible trial, re-measured in pairs with the dense model (A B B A …) with more
 * repetitions than a trial got; if its upper bound misses the budget, the next-best feasible
 * candidates by quality, up to --final-attempts in all, until one holds.
 */
async function finalMeasure(
  opts: LoopOptions,
  measurer: Measurer,
  trials: readonly TrialRecord[],
  budgetRatio: number,
  compileDense: () => Promise<CompiledModel>,
  event: (kind: string, message: string, data?: unknown, level?: 'info' | 'warn' | 'error') => void,
  elapsed: () => number,
): Promise<FinalMeasurement | null> {
  const { store, searchId, runtime, interrupts, observer } = opts;
  const { config } = runtime;
  const candidates = finalCandidates(trials, config.finalAttempts);
  if (candidates.length === 0) return null;
  const done = storedAttempts(store, searchId);
  const attempts: FinalAttempt[] = [];
  const figures = new Map<number, { best: Measured; dense: Measured }>();
  let lastAttemptMs = 0;
  for (const [i, t] of candidates.entries()) {
    let at = done.get(t.id);
    if (!at && i > 0 && elapsed() + lastAttemptMs > fallbackDeadlineMs(config.timeLimitMs)) {
      event('final-skipped', `final: no time left for fallback ${i} (it would end after --time-limit plus the final phase's allowance)`, { trialId: t.id }, 'warn');
      break;
    }
    if (!at) {
      const attemptStart = Date.now();
      const what = i === 0 ? `trial ${t.seq + 1} (the best)` : `trial ${t.seq + 1} (fallback ${i} of ${candidates.length - 1})`;
      observer.phase({ seq: t.seq, phase: 'final', detail: `re-measuring ${what} against the dense model, interleaved` });
      event('measuring', `final: re-measuring ${what} interleaved with the dense model`);
      let compiled: CompiledModel | undefined;
      const compile = async () => {
        if (compiled) return compiled;
        const mat = materialize({ graph: runtime.graph, space: runtime.space, layerGroups: runtime.layerGroupById, channelMultiple: runtime.capabilities.channelMultiple }, t.candidate);
        compiled = await runtime.backend.compile(mat.maskedGraph, { sparsity: mat.sparsity, kernelIndex: store, threads: config.threads, ...planPickingOption(config.planPicking) });
        return compiled;
      };
      const legacy = (r: number) => (r < config.finalRounds ? { a: `final:${t.candidateHash}:${r}`, b: `final-baseline:${r}` } : null);
      let p: PairedMeasured;
      try {
        p = await unlessAbandoned(measurer.measurePaired(`final:${t.candidateHash}`, compile, compileDense, FINAL_PAIR_PROTOCOL, finalPairs(config.finalRounds, budgetRatio), legacy), interrupts);
      } catch (e) {
        if (e instanceof AbandonedError) throw e;
        event('final-failed', `final: trial ${t.seq + 1} could not be re-measured: ${failureReason(e)}`, { trialId: t.id }, 'warn');
        continue;
      } finally {
        if (compiled) await runtime.backend.release?.(compiled).catch(() => undefined);
      }
      // An absolute budget stays absolute: compare against it, not against the dense re-measure.
      const meets = 'ms' in config.budget ? p.a.ciHighMs <= config.budget.ms : p.ciHighRatio <= budgetRatio;
      at = { attempt: attempts.length + 1, trialId: t.id, seq: t.seq, candidateHash: t.candidateHash, quality: t.quality, bestMs: p.a.medianMs, bestCiHighMs: p.a.ciHighMs, denseMs: p.b.medianMs, ratio: p.ratio, ciLowRatio: p.ciLowRatio, ciHighRatio: p.ciHighRatio, pairs: p.pairRatios.length, meetsBudget: meets };
      figures.set(t.id, { best: p.a, dense: p.b });
      lastAttemptMs = Date.now() - attemptStart;
      store.addMeasurement({ searchId, trialId: t.id, kind: 'final', samplesMs: p.a.samplesMs, medianMs: p.a.medianMs, madMs: p.a.madMs, ciLowMs: p.a.ciLowMs, ciHighMs: p.a.ciHighMs, n: p.a.n });
      store.addMeasurement({ searchId, trialId: t.id, kind: 'final-baseline', samplesMs: p.b.samplesMs, medianMs: p.b.medianMs, madMs: p.b.madMs, ciLowMs: p.b.ciLowMs, ciHighMs: p.b.ciHighMs, n: p.b.n });
      // Not through event(): a resumed final phase reads these back, so a failed write must fail.
      store.addEvent({
        searchId,
        kind: 'final-attempt',
        level: meets ? 'info' : 'warn',
        message: `final attempt ${at.attempt}: trial ${t.seq + 1} ${p.a.medianMs.toFixed(3)} ms vs dense ${p.b.medianMs.toFixed(3)} ms = ${p.ratio.toFixed(3)}× [${p.ciLowRatio.toFixed(3)}–${p.ciHighRatio.toFixed(3)}] over ${at.pairs} pairs${meets ? ', holds the budget' : ' — misses the budget'}`,
        data: at,
      });
    }
    attempts.push(at);
    if (at.meetsBudget) break;
  }
  if (attempts.length === 0) return null;
  const chosen = attempts.find((a) => a.meetsBudget) ?? attempts[0]!;
  const meetsBudget = chosen.meetsBudget;
  event(
    'final',
    meetsBudget
      ? `final: trial ${chosen.seq + 1} holds the budget, ${chosen.ratio.toFixed(3)}× dense (CI upper ${chosen.ciHighRatio.toFixed(3)}×)${chosen.attempt > 1 ? ` — the best (by quality) did not; attempt ${chosen.attempt}` : ''}`
      : `final: none of the ${attempts.length} best feasible candidates held the budget when re-measured; the best is reported as measured`,
    { trialId: chosen.trialId, ratio: chosen.ratio, ciHighRatio: chosen.ciHighRatio, meetsBudget, attempts: attempts.length },
    meetsBudget ? 'info' : 'warn',
  );
  const fig = figures.get(chosen.trialId) ?? storedFigures(store, searchId, chosen);
  return { trialId: chosen.trialId, best: fig.best, dense: fig.dense, ratio: chosen.ratio, ciHighRatio: chosen.ciHighRatio, meetsBudget, attempts };
}

function storedFigures(store: Store, searchId: number, a: FinalAttempt): { best: Measured; dense: Measured } {
  const b = store.listMeasurements(searchId, { kind: 'final', trialId: a.trialId }).at(-1);
  const d = store.listMeasurements(searchId, { kind: 'final-baseline', trialId: a.trialId }).at(-1);
  const fallback = (ms: number, hi: number): Measured => ({ medianMs: ms, madMs: NaN, ciLowMs: NaN, ciHighMs: hi, n: 0, samplesMs: [] });
  return { best: b ?? fallback(a.bestMs, a.bestCiHighMs), dense: d ?? fallback(a.denseMs, NaN) };
}

async function runFinetuneHook(
  opts: LoopOptions,
  round: ReturnType<AutoCompress['takeRoundEnds']>[number],
  workRoot: string,
  event: (kind: string, message: string, data?: unknown, level?: 'info' | 'warn' | 'error') => void,
): Promise<void> {
  const { runtime, searchId, interrupts } = opts;
  const cmd = runtime.config.finetuneCmd!;
  mkdirSync(workRoot, { recursive: true });
  const request = { kind: 'finetune', searchId, model: runtime.config.model, round: round.round, rounds: round.rounds, roundBudget: round.roundBudget, candidate: round.committed, quality: round.quality };
  event('finetune', `round ${round.round}: running the fine-tune command`);
  const r = await unlessAbandoned(runJsonCommand(cmd, request, runtime.config.finetuneTimeoutMs, { cwd: workRoot }), interrupts);
  if (r.ok) event('finetune', `round ${round.round}: fine-tune answered in ${r.ms} ms`, r.response);
  else event('finetune-failed', `round ${round.round}: fine-tune command failed: ${r.reason}`, { reason: r.reason }, 'warn');
}
