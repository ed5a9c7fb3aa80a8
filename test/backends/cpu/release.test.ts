/**
 * Compiled models stay runnable while they are live, whatever the kernel cache cap evicts, and
 * `release` hands a model back: its folder goes and its kernels become evictable. The long run
 * found the first: under a small cap, a trial's compile evicted the dense peer's kernels and
 * every later trial failed to load it.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { openStore } from '../../../db/store.js';
import { CpuBackend } from '../../../backends/cpu/cpu-backend.js';
import { buildZooModel } from '../../../src/model/zoo/index.js';
import { QUICK, tempCache } from './helpers.js';

const tmp = tempCache('tesa-release-');
afterAll(() => tmp.cleanup());
const savedCap = process.env.TESA_KERNEL_CACHE_MB;
afterEach(() => {
  if (savedCap === undefined) delete process.env.TESA_KERNEL_CACHE_MB;
  else process.env.TESA_KERNEL_CACHE_MB = savedCap;
});

describe('cpu backend: live models and release under the cache cap', () => {
  it('keeps the kernels of every live model, and frees them on release', async () => {
    const cacheDir = join(tmp.dir, 'kernels');
    const store = openStore(join(tmp.dir, 't.db'));
    const backend = new CpuBackend({ cacheDir });
    try {
      process.env.TESA_KERNEL_CACHE_MB = '0.001'; // below any real kernel: only pinned ones stay
      const graph = buildZooModel('mlp');
      const first = await backend.compile(graph, { kernelIndex: store, threads: 1 });
      // Another fingerprint (thread count) gives other kernel hashes: a compile that must evict.
      const second = await backend.compile(graph, { kernelIndex: store, threads: 2 });
      const firstHashes = new Set(first.kernels.map((k) => k.hash));
      expect(second.kernels.some((k) => !firstHashes.has(k.hash))).toBe(true);
      for (const k of first.kernels) expect(existsSync(k.libraryPath), k.hash).toBe(true);
      const r = await backend.run(first, { protocol: QUICK });
      expect(r.samplesMs.length).toBeGreaterThan(0);

      await backend.release(first);
      expect(existsSync(first.dir)).toBe(false);
      // The next compile may now evict what only the released model used.
      const third = await backend.compile(graph, { kernelIndex: store, threads: 3 });
      const kept = new Set([...second.kernels, ...third.kernels].map((k) => k.hash));
      for (const k of first.kernels) if (!kept.has(k.hash)) expect(store.getKernel(k.hash), k.hash).toBeUndefined();
      for (const k of second.kernels) expect(existsSync(k.libraryPath), k.hash).toBe(true);
      // Releasing twice, or a model of no one, is harmless.
      await backend.release(first);
      expect((await backend.run(second, { protocol: QUICK })).samplesMs.length).toBeGreaterThan(0);
    } finally {
      await backend.close();
      store.close();
    }
  }, 240_000);
});
