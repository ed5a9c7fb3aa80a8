/**
 * Latency of a compiled model under the measurement protocol, or of a recorded tape in
 * replay mode. Keys name what was measured ('baseline', 'trial:<hash>#2:a', …), so record and
 * replay line up whatever order things happen in.
 */
import type { Backend, CompiledModel, MeasureProtocol } from '../../backends/backend.js';
import type { LatencyStats } from '../../db/store.js';
import { TesaError } from '../errors.js';
import { pairedRatio, type PairedOptions, type PairedRatio } from '../evaluate/measure.js';
import type { MeasurementTape } from './replay.js';
import { latencyStats } from './latency-stats.js';

export interface Measured extends LatencyStats {
  samplesMs: number[];
}

/** A measured against B, interleaved: both sides' samples and the ratio with its 95% CI. */
export interface PairedMeasured {
  a: Measured;
  b: Measured;
  /** Geometric mean of the per-pair ratios A/B. */
  ratio: number;
  ciLowRatio: number;
  ciHighRatio: number;
  pairRatios: number[];
  stoppedBy: PairedRatio['stoppedBy'];
}

/** Tape keys an older tesa recorded for pair `pair` (one pair of separate runs), or null when it has none. */
export type LegacyKeys = (pair: number) => { a: string; b: string } | null;

export interface Measurer {
  /** True when no compile is needed because the tape has this key (replay mode). */
  hasRecorded(key: string): boolean;
  measure(key: string, compile: () => Promise<CompiledModel>, protocol: MeasureProtocol): Promise<Measured>;
  /**
   * A and B in alternating runs (tape keys `<key>#<pair>:a|b`), each run under `protocol`,
   * pairs added until `pairs` says stop. In replay, a tape from before pairs were measured is
   * read through `legacy`; a tape that ends after pair 0 ends the measurement there.
   */
  measurePaired(key: string, a: () => Promise<CompiledModel>, b: () => Promise<CompiledModel>, protocol: MeasureProtocol, pairs: PairedOptions, legacy?: LegacyKeys): Promise<PairedMeasured>;
}

export function makeMeasurer(backend: Backend, tape: MeasurementTape | null): Measurer {
  const replayed = (key: string): number[] => {
    const s = tape!.get(key);
    if (!s) throw new TesaError('RUN_FAILED', `no recorded measurement for '${key}' in ${tape!.path}`, 'record the run first with TESA_RECORD_MEASUREMENTS');
    return s;
  };
  const timed = async (key: string, compile: () => Promise<CompiledModel>, protocol: MeasureProtocol): Promise<number[]> => {
    const model = await compile();
    const r = await backend.run(model, { protocol });
    if (r.samplesMs.length === 0) throw new TesaError('RUN_FAILED', `the runner returned no timings for '${key}'`, 'run with --debug to see the runner output');
    tape?.put(key, r.samplesMs);
    return r.samplesMs;
  };
  return {
    hasRecorded(key) {
      return tape?.mode === 'replay' && tape.get(key) !== undefined;
    },
    async measure(key, compile, protocol) {
      const s = tape?.mode === 'replay' ? replayed(key) : await timed(key, compile, protocol);
      return { ...latencyStats(s), samplesMs: s };
    },
    async measurePaired(key, compileA, compileB, protocol, opts, legacy) {
      const side = (which: 'a' | 'b', compile: () => Promise<CompiledModel>) => async (pair: number): Promise<number[] | null> => {
        const k = `${key}#${pair}:${which}`;
        if (tape?.mode !== 'replay') return timed(k, compile, protocol);
        const s = tape.get(k);
        if (s) return s;
        const old = legacy?.(pair);
        if (old) {
          const o = tape.get(old[which]);
          if (o) return o;
        }
        if (pair > 0) return null;
        return replayed(k);
      };
      const r = await pairedRatio(side('a', compileA), side('b', compileB), opts);
      const a = r.pairs.flatMap((p) => p.a);
      const b = r.pairs.flatMap((p) => p.b);
      return {
        a: { ...latencyStats(a), samplesMs: a },
        b: { ...latencyStats(b), samplesMs: b },
        ratio: r.ratio,
        ciLowRatio: r.ciLow,
        ciHighRatio: r.ciHigh,
        pairRatios: r.pairs.map((p) => p.ratio),
        stoppedBy: r.stoppedBy,
      };
    },
  };
}
