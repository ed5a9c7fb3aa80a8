/**
 * Latency of a compiled model under the measurement protocol, or of a recorded tape in
 * replay mode. Keys name what was measured ('baseline', a candidate hash, 'final:<hash>:2'),
 * so record and replay line up whatever order things happen in.
 */
import type { Backend, CompiledModel, MeasureProtocol } from '../../backends/backend.js';
import type { LatencyStats } from '../../db/store.js';
import { TesaError } from '../errors.js';
import type { MeasurementTape } from './replay.js';
import { latencyStats } from './latency-stats.js';

export interface Measured extends LatencyStats {
  samplesMs: number[];
}

export interface Measurer {
  /** True when no compile is needed because the tape has this key (replay mode). */
  hasRecorded(key: string): boolean;
  measure(key: string, compile: () => Promise<CompiledModel>, protocol: MeasureProtocol): Promise<Measured>;
}

export function makeMeasurer(backend: Backend, tape: MeasurementTape | null): Measurer {
  return {
    hasRecorded(key) {
      return tape?.mode === 'replay' && tape.get(key) !== undefined;
    },
    async measure(key, compile, protocol) {
      if (tape?.mode === 'replay') {
        const s = tape.get(key);
        if (!s) throw new TesaError('RUN_FAILED', `no recorded measurement for '${key}' in ${tape.path}`, 'record the run first with TESA_RECORD_MEASUREMENTS');
        return { ...latencyStats(s), samplesMs: s };
      }
      const model = await compile();
      const r = await backend.run(model, { protocol });
      if (r.samplesMs.length === 0) throw new TesaError('RUN_FAILED', `the runner returned no timings for '${key}'`, 'run with --debug to see the runner output');
      tape?.put(key, r.samplesMs);
      return { ...latencyStats(r.samplesMs), samplesMs: r.samplesMs };
    },
  };
}
