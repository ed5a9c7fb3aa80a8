/**
 * The kernel cache: a cached rebuild makes no compiler call at all (counted through a $CC
 * wrapper that logs every invocation), identical kernels across layers share one library,
 * and a store-like KernelIndex receives every kernel with its verification result.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { chmodSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import type { KernelIndex, KernelRecord } from '../../../backends/backend.js';
import { buildZooModel } from '../../../src/model/zoo/index.js';
import { tempCache } from './helpers.js';
import { openStore } from '../../../db/store.js';
import { rmSync } from 'node:fs';

const cache = tempCache();
afterAll(() => cache.cleanup());

class MemoryIndex implements KernelIndex {
  rows = new Map<string, KernelRecord>();
  touched = 0;
  getKernel(hash: string): KernelRecord | undefined {
    return this.rows.get(hash);
  }
  putKernel(r: KernelRecord): void {
    this.rows.set(r.hash, { ...r });
  }
  touchKernel(): void {
    this.touched++;
  }
}

describe('kernel cache', () => {
  it('a cached rebuild calls no compiler; dedupe shares kernels between layers', async () => {
    const log = join(cache.dir, 'cc.log');
    const wrapper = join(cache.dir, 'cc-wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\necho "$@" >> ${log}\nexec gcc "$@"\n`);
    chmodSync(wrapper, 0o755);
    const saved = process.env.CC;
    process.env.CC = wrapper;
    const index = new MemoryIndex();
    try {
      const graph = buildZooModel('bert-mini');
      const first = new CpuBackend({ cacheDir: join(cache.dir, 'k') });
      const m1 = await first.compile(graph, { kernelIndex: index });
      await first.close();
      const calls = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('-o ')).length;
      // kernels (one per unique hash) + the runner, each built once; --version probes are not builds.
      expect(calls).toBe(m1.stats.kernelsBuilt + 1);
      expect(m1.kernels.length).toBeLessThan(m1.plan.filter((p) => p.kernel !== 'view').length);
      expect([...index.rows.values()].every((r) => r.status === 'ok' && typeof r.maxRelError === 'number')).toBe(true);
      expect(index.rows.size).toBe(m1.kernels.length);
      for (const k of m1.kernels) expect(existsSync(k.sourcePath) && existsSync(k.libraryPath)).toBe(true);

      const second = new CpuBackend({ cacheDir: join(cache.dir, 'k') });
      const m2 = await second.compile(graph, { kernelIndex: index });
      await second.close();
      const after = readFileSync(log, 'utf8').split('\n').filter((l) => l.includes('-o ')).length;
      expect(after).toBe(calls);
      expect(m2.stats.kernelsBuilt).toBe(0);
      expect(m2.stats.kernelsCached).toBe(m1.kernels.length);
      expect(second.compilerCalls).toBe(0);
      expect(index.touched).toBeGreaterThan(0);
    } finally {
      if (saved === undefined) delete process.env.CC;
      else process.env.CC = saved;
    }
  }, 300_000);

  it('the store is the kernel index: verification results land in SQLite and are trusted across processes', async () => {
    const store = openStore(join(cache.dir, 'tesa.db'));
    try {
      const graph = buildZooModel('mlp');
      const a = new CpuBackend({ cacheDir: join(cache.dir, 'k3') });
      const m = await a.compile(graph, { kernelIndex: store });
      await a.close();
      for (const k of m.kernels) {
        const row = store.getKernel(k.hash)!;
        expect(row.status).toBe('ok');
        expect(row.maxRelError).toBeLessThanOrEqual(1e-4);
        // Only the store remembers now: no record.json beside the library.
        rmSync(join(cache.dir, 'k3', k.hash, 'record.json'));
      }
      const b = new CpuBackend({ cacheDir: join(cache.dir, 'k3') });
      const m2 = await b.compile(graph, { kernelIndex: store });
      await b.close();
      expect(m2.stats.kernelsBuilt).toBe(0);
      expect(b.compilerCalls).toBe(0);
    } finally {
      store.close();
    }
  }, 120_000);

  it('generated sources are readable C with shapes baked in', async () => {
    const b = new CpuBackend({ cacheDir: join(cache.dir, 'k2') });
    try {
      const m = await b.compile(buildZooModel('mlp'));
      const src = readFileSync(m.kernels[0].sourcePath, 'utf8');
      expect(src).toMatch(/first built for node '.*MatMul/);
      expect(src).toMatch(/tesa kernel: gemm-dense — MatMul M=\d+ N=\d+ K=\d+/);
      expect(src).toContain('void tesa_kernel_ref(');
    } finally {
      await b.close();
    }
  }, 120_000);
});
