/**
 * Execution-plan transformation in the whole-model path: CpuBackend.compile times every sparse
 * GEMM's candidate plans against dense before planning (src/plan/transform.ts), keeps a sparse
 * plan only when it measured faster, persists the decision in the store's plan_decisions table,
 * and a later compile (another process, same store) re-uses it without timing again.
 * Asserts choices and counts only, never times.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import seedrandom from 'seedrandom';
import { CpuBackend } from '../../../../backends/cpu/cpu-backend.js';
import { GraphBuilder } from '../../../../src/model/graph-builder.js';
import type { Graph } from '../../../../src/model/graph.js';
import type { ModelSparsity } from '../../../../src/plan/sparsity.js';
import { makeMask } from '../../../../src/prune/masks.js';
import { clearPlanMemory, pickerCounters } from '../../../../src/plan/picker.js';
import { openStore } from '../../../../db/store.js';
import { planTimerBuilds } from '../../../../backends/cpu/kernels/sparse/plan-timer.js';
import { tempCache } from '../helpers.js';

const cache = tempCache();
afterAll(() => cache.cleanup());

/** One MatMul Y[64,256] = X[64,256]·W[256,256] with W pruned; the op the test is about is 'mm'. */
function model(pattern: string, ratio: number, seed: string): { graph: Graph; sparsity: ModelSparsity } {
  const rng = seedrandom(seed);
  const b = new GraphBuilder('one_matmul', 17);
  const x = b.input('x', 'float32', [64, 256]);
  const data = Float32Array.from({ length: 256 * 256 }, () => rng() * 2 - 1);
  const mask = makeMask({ data, shape: [256, 256] }, pattern, ratio, { axisForChannel: 1, weightName: 'w' });
  for (let i = 0; i < mask.length; i++) if (!mask[i]) data[i] = 0;
  const w = b.initializer('w', data, [256, 256]);
  const graph = b.build([b.node('MatMul', [x, w], {}, { name: 'mm', outputShape: [64, 256] })]);
  return { graph, sparsity: new Map([['w', { weight: 'w', pattern, precision: 'fp32' as const, shape: [256, 256], mask }]]) };
}

describe('plan picking inside compile', () => {
  it('a 30% fine mask compiles to the dense plan by timing, not by a threshold', async () => {
    clearPlanMemory();
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      const { graph, sparsity } = model('fine', 0.3, 'a');
      const before = pickerCounters();
      const compiled = await backend.compile(graph, { sparsity });
      const after = pickerCounters();
      expect(after.timed - before.timed).toBe(1);
      const [c] = backend.lastPlanChoices;
      expect(c!.node).toBe('mm');
      expect(c!.choice.plan).toEqual({ family: 'dense' });
      expect(c!.choice.denseOnly).toBeUndefined();
      // The native kernel of the pattern was built, verified and timed against dense.
      const csr = c!.choice.candidates.find((x) => x.plan === 'csr');
      expect(csr?.medianMs).toBeGreaterThan(0);
      expect(csr?.maxRelError).toBeLessThan(1e-4);
      expect(c!.choice.denseMs).toBeGreaterThan(0);
      expect(compiled.plan.find((p) => p.node === 'mm')!.kernel).toBe('gemm-dense');
    } finally {
      await backend.close();
    }
  });

  it('persists the decision in the store and re-uses it on the next compile without timing', async () => {
    clearPlanMemory();
    const db = join(cache.dir, 't.db');
    const { graph, sparsity } = model('block:1x32', 0.9, 'b');
    const first = new CpuBackend({ cacheDir: cache.dir });
    const store = openStore(db);
    let plan: unknown;
    try {
      const t0 = pickerCounters().timed;
      const compiled = await first.compile(graph, { sparsity, kernelIndex: store });
      expect(pickerCounters().timed - t0).toBe(1);
      const c = first.lastPlanChoices[0]!;
      expect(c.choice.fromCache).toBe(false);
      expect(store.getPlanDecision(c.choice.key)).toMatchObject({ key: c.choice.key, plan: c.choice.plan });
      plan = c.choice.plan;
      // Whatever won the timing is what the model runs.
      expect(compiled.plan.find((p) => p.node === 'mm')!.kernel).toBe(c.choice.plan.family === 'dense' ? 'gemm-dense' : 'gemm-sparse');
    } finally {
      await first.close();
      store.close();
    }
    // As after a resume: nothing in memory, the decision only in the database.
    clearPlanMemory();
    const second = new CpuBackend({ cacheDir: cache.dir });
    const reopened = openStore(db);
    try {
      const before = pickerCounters();
      const builds = planTimerBuilds();
      await second.compile(graph, { sparsity, kernelIndex: reopened });
      const after = pickerCounters();
      expect(after.timed - before.timed).toBe(0);
      expect(after.fromStore - before.fromStore).toBe(1);
      expect(planTimerBuilds()).toBe(builds);
      expect(second.lastPlanChoices[0]!.choice.fromCache).toBe(true);
      expect(second.lastPlanChoices[0]!.choice.plan).toEqual(plan);
    } finally {
      await second.close();
      reopened.close();
    }
  });

  it('an op where no sparse plan applies is decided dense without building anything', async () => {
    clearPlanMemory();
    const backend = new CpuBackend({ cacheDir: cache.dir });
    try {
      // 10% fine (as propagation leaves behind): no plan is enumerated and the native CSR is not worth timing.
      const { graph, sparsity } = model('fine', 0.1, 'c');
      const before = pickerCounters();
      const builds = planTimerBuilds();
      const compiled = await backend.compile(graph, { sparsity });
      expect(pickerCounters().timed - before.timed).toBe(0);
      expect(pickerCounters().denseOnly - before.denseOnly).toBe(1);
      expect(planTimerBuilds()).toBe(builds);
      expect(backend.lastPlanChoices[0]!.choice.denseOnly).toBe(true);
      expect(compiled.plan.find((p) => p.node === 'mm')!.kernel).toBe('gemm-dense');
    } finally {
      await backend.close();
    }
  });
});
