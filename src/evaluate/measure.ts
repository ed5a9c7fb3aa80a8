/**
 * The measurement protocol (DESIGN.md): warm up, then time in batches until the 95% CI of
 * the median is within ±ciTarget of the median, or maxReps / the time cap is reached.
 * `interleaved` compares two things A B A B … so that machine drift hits both alike.
 */
import type { MeasureProtocol } from '../../backends/backend.js';
import { relativeCIHalfWidth, summarize, type LatencyStats } from './stats.js';

export const DEFAULT_PROTOCOL: MeasureProtocol = { warmup: 3, minReps: 10, maxReps: 200, ciTarget: 0.02, timeoutMs: 120_000 };

/** Whether the samples' median is known to ±ciTarget (95%). */
export function converged(samples: readonly number[], ciTarget: number): boolean {
  return samples.length >= 6 && relativeCIHalfWidth(samples) <= ciTarget;
}

/** Something that can be timed: returns n whole-run samples in ms. */
export type Sampler = (n: number) => Promise<number[]>;

export interface Measurement {
  samplesMs: number[];
  stats: LatencyStats;
  converged: boolean;
}

export async function measure(sample: Sampler, protocol: MeasureProtocol = DEFAULT_PROTOCOL, warmup: (n: number) => Promise<unknown> = sample): Promise<Measurement> {
  if (protocol.warmup > 0) await warmup(protocol.warmup);
  const t0 = performance.now();
  const samples: number[] = [];
  const batch = Math.max(1, Math.min(protocol.minReps, 10));
  let ok = false;
  while (samples.length < protocol.maxReps) {
    samples.push(...(await sample(Math.min(batch, protocol.maxReps - samples.length))));
    ok = samples.length >= protocol.minReps && converged(samples, protocol.ciTarget);
    if (ok || performance.now() - t0 > protocol.timeoutMs) break;
  }
  return { samplesMs: samples, stats: summarize(samples), converged: ok };
}

export interface InterleavedOptions {
  /** A-B rounds. */
  rounds: number;
  /** Samples per side per round. */
  perRound: number;
  warmup?: number;
  /** Stop early once both medians are within ±ciTarget (after minRounds). */
  ciTarget?: number;
  minRounds?: number;
}

export interface InterleavedResult {
  a: Measurement;
  b: Measurement;
  /** median(a) / median(b). */
  ratio: number;
  /** Per-round ratios of medians: their spread shows how much drift there was. */
  roundRatios: number[];
}

/** A B A B …: each round times both sides back to back. */
export async function interleaved(a: Sampler, b: Sampler, opts: InterleavedOptions): Promise<InterleavedResult> {
  const w = opts.warmup ?? 2;
  if (w > 0) {
    await a(w);
    await b(w);
  }
  const sa: number[] = [];
  const sb: number[] = [];
  const roundRatios: number[] = [];
  const minRounds = opts.minRounds ?? Math.min(3, opts.rounds);
  for (let r = 0; r < opts.rounds; r++) {
    const ra = await a(opts.perRound);
    const rb = await b(opts.perRound);
    sa.push(...ra);
    sb.push(...rb);
    roundRatios.push(summarize(ra).medianMs / summarize(rb).medianMs);
    if (opts.ciTarget !== undefined && r + 1 >= minRounds && converged(sa, opts.ciTarget) && converged(sb, opts.ciTarget)) break;
  }
  const A = summarize(sa);
  const B = summarize(sb);
  const t = opts.ciTarget ?? 0.02;
  return {
    a: { samplesMs: sa, stats: A, converged: converged(sa, t) },
    b: { samplesMs: sb, stats: B, converged: converged(sb, t) },
    ratio: A.medianMs / B.medianMs,
    roundRatios,
  };
}
