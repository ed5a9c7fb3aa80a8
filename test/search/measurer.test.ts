import { describe, expect, it } from 'vitest';
import type { Backend } from '../../backends/backend.js';
import { makeMeasurer } from '../../src/search/measurer.js';
import type { MeasurementTape } from '../../src/search/replay.js';

/** Replay never compiles or runs: a backend that throws proves it. */
const noBackend = new Proxy({}, { get: () => () => { throw new Error('the backend was used in replay'); } }) as unknown as Backend;
const never = async () => { throw new Error('compiled in replay'); };
const replay = (data: Record<string, number[]>): MeasurementTape => ({ mode: 'replay', path: 'tape.json', get: (k) => data[k], put: () => {} });
const opts = { minPairs: 3, maxPairs: 6, ciTarget: 0.001, decideAt: 0.7 };
const protocol = { warmup: 0, minReps: 3, maxReps: 3, ciTarget: 0.02, timeoutMs: 1000 };

describe('paired measurement from a tape', () => {
  it('replays pairs by key, in the order they were measured', async () => {
    const tape: Record<string, number[]> = {};
    for (let i = 0; i < 6; i++) {
      tape[`trial:h#${i}:a`] = [6, 6, 6];
      tape[`trial:h#${i}:b`] = [10, 10, 10];
    }
    const r = await makeMeasurer(noBackend, replay(tape)).measurePaired('trial:h', never, never, protocol, opts);
    expect(r.pairRatios).toEqual([0.6, 0.6, 0.6]);
    expect(r.stoppedBy).toBe('decided');
    expect(r.a.samplesMs).toHaveLength(9);
    expect(r.b.medianMs).toBe(10);
  });

  it('reads a tape recorded before pairs (one trial run, one dense run after it) as one pair', async () => {
    const tape = { h: [6, 6.1, 5.9, 6, 6, 6.2, 6], 'dense-peer:h': [10, 10, 10] };
    const r = await makeMeasurer(noBackend, replay(tape)).measurePaired('trial:h', never, never, protocol, opts, (i) => (i === 0 ? { a: 'h', b: 'dense-peer:h' } : null));
    expect(r.pairRatios).toEqual([0.6]);
    expect(r.stoppedBy).toBe('no-more-data');
    expect(r.ciHighRatio).toBeCloseTo(r.a.ciHighMs / 10, 12);
  });

  it('a key the tape lacks fails deterministically', async () => {
    await expect(makeMeasurer(noBackend, replay({})).measurePaired('trial:x', never, never, protocol, opts)).rejects.toThrow(/no recorded measurement for 'trial:x#0:a'/);
  });

  it('records every side of every pair under its own key', async () => {
    const put: Record<string, number[]> = {};
    const tape: MeasurementTape = { mode: 'record', path: 't', get: () => undefined, put: (k, s) => (put[k] = s) };
    let calls = 0;
    const backend = { run: async () => ({ samplesMs: [calls++ % 2 === 0 ? 5 : 10, 5, 10].map((x) => x) }) } as unknown as Backend;
    const model = async () => ({}) as never;
    await makeMeasurer(backend, tape).measurePaired('final:h', model, model, protocol, { minPairs: 2, maxPairs: 2, ciTarget: 0.5 });
    expect(Object.keys(put).sort()).toEqual(['final:h#0:a', 'final:h#0:b', 'final:h#1:a', 'final:h#1:b']);
  });
});
