/**
 * The search loop (DESIGN.md, "The way data flows"): the dense baseline first, then per trial
 * ask → masks → propagate → compile → measure → evaluate → tell, each trial recorded together
 * with the strategy's state in ONE transaction, so a process killed at any instant loses at most
 * the trial in flight and a resume continues exactly. At the end the best feasible trial is
 * re-measured interleaved with the dense model (A B A B) so drift cancels.
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
import { makeMeasurer, type Measured, type Measurer } from './measurer.js';
import { AbandonedError, Interrupts, sleep, unlessAbandoned } from './interrupt.js';
import type { SearchObserver, TrialFigures } from './observer.js';
import type { MeasurementTape } from './replay.js';
import type { SearchRuntime } from './runtime.js';
import { runJsonCommand } from './json-command.js';
import { latencyStats } from './latency-stats.js';

export const TRIAL_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 10, maxReps: 40, ciTarget: 0.02, timeoutMs: 60_000 };
export const FINAL_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 20, maxReps: 60, ciTarget: 0.01, timeoutMs: 120_000 };

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

export interface FinalMeasurement {
  trialId: number;
  best: Measured;
  dense: Measured;
  /** best median / dense median, both from the interleaved runs. */
  ratio: number;
  /** best upper CI bound / dense median. */
  ciHighRatio: number;
  meetsBudget: boolean;
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
      if (elapsed() >= config.timeLimitMs) {
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

      const r = await runTrial({ opts, measurer, trialId, seq, candidate, hash, budgetRatio, baseline, baselineFlops, compileDense, workRoot });
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
        { seq, trialId, status: r.status, latencyRatio: r.latencyRatio, quality: r.quality, feasible: r.feasible, reused: r.reused, progress },
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
    if (best && status === 'done' && config.finalRounds > 0) final = await finalMeasure(opts, measurer, best, budgetRatio, baseline, compileDense, event);
    if (status === 'done') {
      store.updateSearch(searchId, { status: 'done', finishedAt: Date.now(), elapsedMs: elapsed(), bestTrialId: best?.id ?? null });
      event('search-finished', `finished (${stopReason})`, { reason: stopReason });
    } else {
      store.updateSearch(searchId, { status, elapsedMs: elapsed(), ...(status === 'stopped' ? { finishedAt: Date.now() } : {}) });
      event(status === 'stopped' ? 'stopped' : 'paused', `${status} (${stopReason}); 'tesa resume ${searchId}' continues`, { reason: stopReason });
    }
    observer.searchFinished({ searchId, status });
    const counts = store.trialCounts(searchId);
    return { searchId, status, baseline, bestTrial: best, final, trials: counts.total, feasibleTrials: counts.feasible, budgetRatio };
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

    let latency: { medianMs: number; ciLowMs: number; ciHighMs: number; ratio: number; measured: Measured | null };
    if (config.cost === 'flops') {
      const ratio = flops / a.baselineFlops;
      latency = { medianMs: flops, ciLowMs: flops, ciHighMs: flops, ratio, measured: null };
    } else {
      const measured = await unlessAbandoned(a.measurer.measure(hash, compile, TRIAL_PROTOCOL), interrupts);
      // The ratio is taken against a dense peer timed right after the trial, under the same load:
      // the baseline timed once at the start drifts with the machine's load on a shared box, and
      // a ratio against it let trials look feasible that the final interleaved re-measure refuted.
      const peer = await unlessAbandoned(a.measurer.measure(`dense-peer:${hash}`, a.compileDense, TRIAL_PROTOCOL), interrupts);
      latency = { medianMs: measured.medianMs, ciLowMs: measured.ciLowMs, ciHighMs: measured.ciHighMs, ratio: measured.ciHighMs / peer.medianMs, measured };
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
    return { status: 'ok', latencyMs: timed ? latency.medianMs : null, ciHighMs: timed ? latency.ciHighMs : null, latencyRatio: latency.ratio, quality, feasible, reason: null, kernelsBuilt: built, kernelsCached: cached, reused: false, result };
  } catch (e) {
    if (e instanceof AbandonedError) throw e;
    const reason = failureReason(e);
    const result: TrialResult = { trialId, status: 'failed', feasible: false, reason, sparsity: mat?.summary ?? null, flops, kernelsBuilt: built, kernelsCached: cached };
    return { status: 'failed', latencyMs: null, ciHighMs: null, latencyRatio: null, quality: null, feasible: false, reason, kernelsBuilt: built, kernelsCached: cached, reused: false, result };
  }
}

function failureReason(e: unknown): string {
  if (isTesaError(e)) return `${e.code}: ${e.message.split('\n')[0]}`;
  if (e instanceof Error) return e.message.split('\n')[0] ?? 'error';
  return String(e);
}

/** A B A B …: dense and best alternate so that drift (heat, other load) hits both alike. */
async function finalMeasure(
  opts: LoopOptions,
  measurer: Measurer,
  best: TrialRecord,
  budgetRatio: number,
  baseline: Baseline,
  compileDense: () => Promise<CompiledModel>,
  event: (kind: string, message: string, data?: unknown) => void,
): Promise<FinalMeasurement> {
  const { store, searchId, runtime, interrupts, observer } = opts;
  const existing = store.listMeasurements(searchId, { kind: 'final', trialId: best.id }).at(-1);
  const existingDense = store.listMeasurements(searchId, { kind: 'final-baseline' }).at(-1);
  let bestM: Measured;
  let denseM: Measured;
  if (existing && existingDense) {
    bestM = existing;
    denseM = existingDense;
  } else {
    observer.phase({ seq: best.seq, phase: 'final', detail: `re-measuring trial ${best.seq + 1} against the dense model, interleaved` });
    event('measuring', `final: re-measuring trial ${best.seq + 1} interleaved with the dense model`);
    let compiledBest: CompiledModel | undefined;
    const compileBest = async () => {
      if (compiledBest) return compiledBest;
      const mat = materialize({ graph: runtime.graph, space: runtime.space, layerGroups: runtime.layerGroupById, channelMultiple: runtime.capabilities.channelMultiple }, best.candidate);
      compiledBest = await runtime.backend.compile(mat.maskedGraph, { sparsity: mat.sparsity, kernelIndex: store, threads: runtime.config.threads });
      return compiledBest;
    };
    const denseSamples: number[] = [];
    const bestSamples: number[] = [];
    for (let r = 0; r < runtime.config.finalRounds; r++) {
      const d = await unlessAbandoned(measurer.measure(`final-baseline:${r}`, compileDense, FINAL_PROTOCOL), interrupts);
      denseSamples.push(...d.samplesMs);
      const b = await unlessAbandoned(measurer.measure(`final:${best.candidateHash}:${r}`, compileBest, FINAL_PROTOCOL), interrupts);
      bestSamples.push(...b.samplesMs);
    }
    bestM = { ...latencyStats(bestSamples), samplesMs: bestSamples };
    denseM = { ...latencyStats(denseSamples), samplesMs: denseSamples };
    store.addMeasurement({ searchId, trialId: best.id, kind: 'final', samplesMs: bestM.samplesMs, medianMs: bestM.medianMs, madMs: bestM.madMs, ciLowMs: bestM.ciLowMs, ciHighMs: bestM.ciHighMs, n: bestM.n });
    store.addMeasurement({ searchId, kind: 'final-baseline', samplesMs: denseM.samplesMs, medianMs: denseM.medianMs, madMs: denseM.madMs, ciLowMs: denseM.ciLowMs, ciHighMs: denseM.ciHighMs, n: denseM.n });
  }
  const ratio = bestM.medianMs / denseM.medianMs;
  const ciHighRatio = bestM.ciHighMs / denseM.medianMs;
  // An absolute budget stays absolute: compare against it, not against the dense re-measure.
  const limitMs = 'ms' in runtime.config.budget ? runtime.config.budget.ms : budgetRatio * denseM.medianMs;
  const meetsBudget = bestM.ciHighMs <= limitMs;
  void baseline;
  event('final', `final: ${bestM.medianMs.toFixed(3)} ms (ci ≤ ${bestM.ciHighMs.toFixed(3)}) vs dense ${denseM.medianMs.toFixed(3)} ms: ${ratio.toFixed(3)}×${meetsBudget ? '' : ' — misses the budget'}`, {
    trialId: best.id,
    ratio,
    ciHighRatio,
    meetsBudget,
  });
  return { trialId: best.id, best: bestM, dense: denseM, ratio, ciHighRatio, meetsBudget };
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
