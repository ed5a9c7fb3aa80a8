/**
 * Verification and containment through real processes: a kernel planted wrong is caught by
 * check mode and never timed; a planted segfault or hang kills only the runner child and is
 * reported as the failed kernel of its node, and the same backend keeps working afterwards.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { kernelPaths, readRecord } from '../../../backends/cpu/build.js';
import { TesaError } from '../../../src/errors.js';
import { buildZooModel } from '../../../src/model/zoo/index.js';
import { QUICK, tempCache } from './helpers.js';

const cache = tempCache();
const backend = new CpuBackend({ cacheDir: cache.dir });
afterAll(async () => {
  await backend.close();
  cache.cleanup();
});

const graph = buildZooModel('mlp');
const matmuls = graph.nodes.filter((n) => n.opType === 'MatMul').map((n) => n.name);

async function failure(p: Promise<unknown>): Promise<TesaError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof TesaError) return e;
    throw e;
  }
  throw new Error('expected a TesaError');
}

describe('planted faults', () => {
  it('a wrong kernel is caught by check mode, recorded as wrong, and refused without running again', async () => {
    const e = await failure(backend.compile(graph, { plant: { node: matmuls[1], kind: 'wrong' } }));
    expect(e.code).toBe('WRONG_RESULT');
    expect(e.message).toContain(matmuls[1]);
    const source = /its source is (\S+)/.exec(e.hint ?? '')![1];
    expect(readFileSync(source, 'utf8')).toContain('PLANTED FAULT (wrong)');
    const hash = source.split('/').slice(-2)[0];
    const rec = readRecord(kernelPaths(cache.dir, hash))!;
    expect(rec.status).toBe('wrong');
    expect(rec.maxRelError).toBeGreaterThan(1e-4);
    const again = await failure(backend.compile(graph, { plant: { node: matmuls[1], kind: 'wrong' } }));
    expect(again.code).toBe('WRONG_RESULT');
  }, 180_000);

  it('a segfaulting kernel is a RUN_FAILED naming its node; tesa carries on', async () => {
    const e = await failure(backend.compile(graph, { plant: { node: matmuls[2], kind: 'crash' } }));
    expect(e.code).toBe('RUN_FAILED');
    expect(e.message).toContain(matmuls[2]);
    expect(e.message).toMatch(/SIGSEGV/);
    const model = await backend.compile(graph);
    const res = await backend.run(model, { protocol: QUICK });
    expect(res.samplesMs.length).toBeGreaterThan(0);
  }, 180_000);

  it('a hanging kernel times out and is blamed on its node', async () => {
    const e = await failure(backend.compile(graph, { plant: { node: matmuls[0], kind: 'hang' }, checkTimeoutMs: 3000 }));
    expect(e.code).toBe('RUN_FAILED');
    expect(e.message).toContain(matmuls[0]);
    expect(e.message).toMatch(/longer than 3000 ms/);
  }, 180_000);

  it('planting into a node that has no kernel is a bad input', async () => {
    const e = await failure(backend.compile(graph, { plant: { node: 'no-such-node', kind: 'wrong' } }));
    expect(e.code).toBe('BAD_INPUT');
  });
});
