/**
 * Recorded measurements, for tests that must not depend on timing noise:
 * `TESA_RECORD_MEASUREMENTS=<file>` writes every latency sample set the search takes, keyed
 * ('baseline', a candidate hash, 'final:<hash>', …); `TESA_REPLAY_MEASUREMENTS=<file>` serves
 * them back instead of compiling and running. A key the file lacks is a failed trial in replay
 * (deterministically), never a silent real measurement.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { TesaError } from '../errors.js';

export type RecordedSamples = Record<string, number[]>;

export interface MeasurementTape {
  mode: 'replay' | 'record';
  path: string;
  get(key: string): number[] | undefined;
  put(key: string, samplesMs: number[]): void;
}

export function loadTape(path: string): RecordedSamples {
  if (!existsSync(path)) return {};
  try {
    const v = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    for (const [k, s] of Object.entries(v)) {
      if (!Array.isArray(s) || s.some((x) => typeof x !== 'number')) throw new Error(`entry ${k} is not a list of numbers`);
    }
    return v as RecordedSamples;
  } catch (e) {
    throw new TesaError('BAD_INPUT', `${path}: not a recorded measurement file (${(e as Error).message})`, 'record one with TESA_RECORD_MEASUREMENTS=<file>');
  }
}

export function tapeFromEnv(env: NodeJS.ProcessEnv = process.env): MeasurementTape | null {
  const replay = env.TESA_REPLAY_MEASUREMENTS;
  const record = env.TESA_RECORD_MEASUREMENTS;
  if (replay && record) throw new TesaError('BAD_INPUT', 'TESA_REPLAY_MEASUREMENTS and TESA_RECORD_MEASUREMENTS are both set', 'set only one of them');
  if (replay) {
    if (!existsSync(replay)) throw new TesaError('NOT_FOUND', `TESA_REPLAY_MEASUREMENTS: ${replay} does not exist`, 'record one first with TESA_RECORD_MEASUREMENTS=<file>');
    const data = loadTape(replay);
    return { mode: 'replay', path: replay, get: (k) => data[k], put: () => {} };
  }
  if (record) {
    const data = loadTape(record);
    return {
      mode: 'record',
      path: record,
      get: () => undefined,
      put(k, samples) {
        data[k] = samples;
        const tmp = `${record}.tmp-${process.pid}`;
        writeFileSync(tmp, JSON.stringify(data));
        renameSync(tmp, record);
      },
    };
  }
  return null;
}
