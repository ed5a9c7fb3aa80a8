/**
 * The kernel cache cap ($TESA_KERNEL_CACHE_MB): least recently used kernels leave (folder and
 * store row) until the recorded total fits, the kernels of the model being compiled never do,
 * and a model compiled under the cap still rebuilds nothing the second time.
 */
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openStore, type Store } from '../../db/store.js';
import { CpuBackend } from '../../backends/cpu/cpu-backend.js';
import type { KernelRecord } from '../../backends/backend.js';
import { buildZooModel } from '../../src/model/zoo/index.js';
import { applyKernelCacheCap, evictKernels, kernelCacheCapBytes } from '../../src/util/kernel-cache-gc.js';
import { TesaError } from '../../src/errors.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('tesa-cache-cap-');
afterAll(() => tmp.cleanup());
const savedCap = process.env.TESA_KERNEL_CACHE_MB;
afterEach(() => {
  if (savedCap === undefined) delete process.env.TESA_KERNEL_CACHE_MB;
  else process.env.TESA_KERNEL_CACHE_MB = savedCap;
});

function sleep(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** A kernel folder with a library of `bytes` bytes, recorded in the store. */
function plantKernel(store: Store, cacheDir: string, hash: string, bytes: number): KernelRecord {
  const dir = join(cacheDir, hash);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kernel.so'), Buffer.alloc(bytes, 1));
  writeFileSync(join(dir, 'kernel.c'), '/* planted */\n');
  const rec: KernelRecord = {
    hash,
    fingerprintId: 'fp-test',
    language: 'c',
    entry: 'tesa_kernel',
    sourcePath: join(dir, 'kernel.c'),
    libraryPath: join(dir, 'kernel.so'),
    buildMs: 1,
    status: 'ok',
    maxRelError: 0,
    error: null,
    sizeBytes: bytes,
  };
  store.putKernel(rec);
  sleep(3); // distinct last_used_at
  return rec;
}

describe('kernel cache cap', () => {
  it('reads the cap from $TESA_KERNEL_CACHE_MB and refuses nonsense in one line', () => {
    expect(kernelCacheCapBytes({})).toBeNull();
    expect(kernelCacheCapBytes({ TESA_KERNEL_CACHE_MB: '2' })).toBe(2 * 1024 * 1024);
    for (const bad of ['0', '-1', 'abc', '5mb', 'NaN', '1e3']) {
      expect(() => kernelCacheCapBytes({ TESA_KERNEL_CACHE_MB: bad })).toThrow(TesaError);
    }
  });

  it('evicts least recently used first, skips kernels in use, removes folder and row', () => {
    const cacheDir = join(tmp.dir, 'lru');
    const store = openStore(join(tmp.dir, 'lru.db'));
    try {
      const ks = ['k0', 'k1', 'k2', 'k3', 'k4'].map((h) => plantKernel(store, cacheDir, h, 1000));
      store.touchKernel('k0'); // k0 becomes the most recent: order is now k1 k2 k3 k4 k0
      const res = evictKernels(store, 2500, new Set(['k1']));
      // k1 is in use: k2, k3, k4 go (5000 → 2000), k0 and k1 stay.
      expect(res.evicted).toEqual(['k2', 'k3', 'k4']);
      expect(res.totalBytes).toBe(2000);
      for (const k of ks) {
        const gone = res.evicted.includes(k.hash);
        expect(existsSync(join(cacheDir, k.hash)), k.hash).toBe(!gone);
        expect(store.getKernel(k.hash) === undefined, k.hash).toBe(gone);
      }
      // Under the cap: nothing happens.
      expect(evictKernels(store, 2000, new Set()).evicted).toEqual([]);
      // Only in-use kernels left above the cap: they stay.
      expect(evictKernels(store, 0, new Set(['k0', 'k1'])).evicted).toEqual([]);
    } finally {
      store.close();
    }
  });

  it('never deletes a folder that is not named after the kernel', () => {
    const store = openStore(join(tmp.dir, 'foreign.db'));
    try {
      const foreign = join(tmp.dir, 'foreign-folder');
      mkdirSync(foreign, { recursive: true });
      writeFileSync(join(foreign, 'kernel.so'), 'x');
      store.putKernel({ ...plantKernel(store, join(tmp.dir, 'fc'), 'kf', 10), libraryPath: join(foreign, 'kernel.so') });
      const res = evictKernels(store, 0, new Set());
      expect(res.evicted).toEqual(['kf']);
      expect(existsSync(foreign)).toBe(true);
    } finally {
      store.close();
    }
  });

  it('compiling under a tiny cap evicts older kernels, keeps the model\'s own, and a recompile builds nothing', async () => {
    const cacheDir = join(tmp.dir, 'real');
    const store = openStore(join(tmp.dir, 'real.db'));
    const backend = new CpuBackend({ cacheDir });
    try {
      const old = ['old0', 'old1', 'old2'].map((h) => plantKernel(store, cacheDir, h, 4096));
      process.env.TESA_KERNEL_CACHE_MB = '0.001'; // ~1 KiB: less than any real kernel
      const graph = buildZooModel('mlp');
      const m1 = await backend.compile(graph, { kernelIndex: store });
      for (const o of old) {
        expect(store.getKernel(o.hash)).toBeUndefined();
        expect(existsSync(join(cacheDir, o.hash))).toBe(false);
      }
      for (const k of m1.kernels) {
        expect(store.getKernel(k.hash)?.status).toBe('ok');
        expect(existsSync(k.libraryPath)).toBe(true);
      }
      const m2 = await backend.compile(graph, { kernelIndex: store });
      expect(m2.stats.kernelsBuilt).toBe(0);
      expect(m2.stats.kernelsCached).toBe(m1.kernels.length);
      // The cap holds over what is not in use: the store records only this model's kernels.
      expect(store.totalKernelBytes()).toBe(m1.kernels.reduce((s, k) => s + (store.getKernel(k.hash)?.sizeBytes ?? 0), 0));
      expect(applyKernelCacheCap(store, new Set())?.totalBytes).toBe(0);
      expect(existsSync(m1.kernels[0].libraryPath)).toBe(false);
    } finally {
      await backend.close();
      store.close();
    }
  }, 180_000);
});
