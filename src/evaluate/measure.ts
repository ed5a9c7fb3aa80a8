/**
 * The measurement protocol (DESIGN.md): warm up, then time in batches until the 95% CI of
 * the median is within ±ciTarget of the median, or maxReps / the time cap is reached.
 * `interleaved` compares two things A B A B … so that machine drift hits both alike;
 * `pairedRatio` does the same with a confidence interval on the ratio itself, one ratio per pair.
 */
import type { MeasureProtocol } from '../../backends/backend.js';
import { ratioCI, relativeCIHalfWidth, summarize, type LatencyStats } from './stats.js';

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

/** One side's samples for pair number `pair`; null when no more pairs can be had (a replayed tape that ends). */
export type PairSampler = (pair: number) => Promise<number[] | null>;

export interface PairedOptions {
  minPairs: number;
  maxPairs: number;
  /** Stop once the ratio's 95% CI is within ±ciTarget of the ratio (relative half-width). */
  ciTarget: number;
  /** Stop as soon as the CI lies wholly on one side of this ratio: the decision it serves is made. */
  decideAt?: number;
}

export interface Pair {
  a: number[];
  b: number[];
  /** median(a) / median(b) of this pair. */
  ratio: number;
}

export interface PairedRatio {
  pairs: Pair[];
  /** All of A's and all of B's samples. */
  a: LatencyStats;
  b: LatencyStats;
  /** Geometric mean of the per-pair ratios. */
  ratio: number;
  /** 95% CI of the ratio (see ratioCI; with one pair: A's median CI over B's median). */
  ciLow: number;
  ciHigh: number;
  stoppedBy: 'decided' | 'precise' | 'max-pairs' | 'no-more-data';
}

/** The ratio and its CI of pairs measured so far. */
export function pairedStats(pairs: readonly Pair[]): { ratio: number; ciLow: number; ciHigh: number } {
  if (pairs.length === 0) return { ratio: NaN, ciLow: NaN, ciHigh: NaN };
  if (pairs.length === 1) {
    const a = summarize(pairs[0]!.a);
    const b = summarize(pairs[0]!.b);
    return { ratio: a.medianMs / b.medianMs, ciLow: a.ciLowMs / b.medianMs, ciHigh: a.ciHighMs / b.medianMs };
  }
  const r = ratioCI(pairs.map((p) => p.ratio));
  return { ratio: r.ratio, ciLow: r.ciLow, ciHigh: r.ciHigh };
}

/**
 * A B B A A B …, one ratio per pair: load that comes and goes hits both sides of a pair alike,
 * so the per-pair ratios vary far less than the latencies do, and their spread gives the CI.
 * Sequential: after minPairs, stops when the decision at `decideAt` is made or the CI is
 * tight; never more than maxPairs.
 */
export async function pairedRatio(a: PairSampler, b: PairSampler, opts: PairedOptions): Promise<PairedRatio> {
  const pairs: Pair[] = [];
  let stoppedBy: PairedRatio['stoppedBy'] = 'max-pairs';
  const minPairs = Math.max(1, Math.min(opts.minPairs, opts.maxPairs));
  for (let i = 0; i < opts.maxPairs; i++) {
    // A B, then B A: a steady trend (a core warming, load building) cancels over two pairs.
    const first = i % 2 === 0 ? a : b;
    const second = i % 2 === 0 ? b : a;
    const s1 = await first(i);
    const s2 = s1 === null ? null : await second(i);
    if (s1 === null || s2 === null) {
      stoppedBy = 'no-more-data';
      break;
    }
    const [sa, sb] = i % 2 === 0 ? [s1, s2] : [s2, s1];
    if (sa.length === 0 || sb.length === 0) throw new Error(`pair ${i} has no samples`);
    pairs.push({ a: sa, b: sb, ratio: summarize(sa).medianMs / summarize(sb).medianMs });
    if (pairs.length < minPairs) continue;
    const s = pairedStats(pairs);
    if (opts.decideAt !== undefined && (s.ciHigh <= opts.decideAt || s.ciLow > opts.decideAt)) {
      stoppedBy = 'decided';
      break;
    }
    if ((s.ciHigh - s.ciLow) / 2 / s.ratio <= opts.ciTarget) {
      stoppedBy = 'precise';
      break;
    }
  }
  if (pairs.length === 0) throw new Error('no pair was measured');
  const s = pairedStats(pairs);
  return { pairs, a: summarize(pairs.flatMap((p) => p.a)), b: summarize(pairs.flatMap((p) => p.b)), ...s, stoppedBy };
}
