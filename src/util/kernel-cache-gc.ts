/**
 * The kernel cache's size cap: when the libraries recorded in the store exceed the cap, the
 * least recently used kernels go (their folder first, then their row), never one the model
 * being compiled uses. Set by $TESA_KERNEL_CACHE_MB; no cap when unset.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { KernelIndex, KernelRecord } from '../../backends/backend.js';
import { TesaError } from '../errors.js';

/** A kernel index that can also list and forget kernels (the store is one). */
export interface EvictableKernelIndex extends KernelIndex {
  lruKernels(limit: number): KernelRecord[];
  totalKernelBytes(fingerprintId?: string): number;
  deleteKernel(hash: string): void;
}

export interface EvictionResult {
  evicted: string[];
  freedBytes: number;
  /** Bytes recorded after eviction (may stay above the cap when only in-use kernels are left). */
  totalBytes: number;
}

export function isEvictable(index: KernelIndex | undefined): index is EvictableKernelIndex {
  const i = index as Partial<EvictableKernelIndex> | undefined;
  return !!i && typeof i.lruKernels === 'function' && typeof i.totalKernelBytes === 'function' && typeof i.deleteKernel === 'function';
}

/** The cap in bytes from $TESA_KERNEL_CACHE_MB (a positive number of MiB), or null for none. */
export function kernelCacheCapBytes(env: NodeJS.ProcessEnv = process.env): number | null {
  const raw = env.TESA_KERNEL_CACHE_MB;
  if (raw === undefined || raw.trim() === '') return null;
  const mb = Number(raw);
  if (!/^\s*\d+(\.\d+)?\s*$/.test(raw) || !Number.isFinite(mb) || mb <= 0) {
    throw new TesaError('BAD_INPUT', `TESA_KERNEL_CACHE_MB='${raw}' is not a positive number of MiB`, 'e.g. TESA_KERNEL_CACHE_MB=512, or unset it for no cap');
  }
  return Math.floor(mb * 1024 * 1024);
}

/**
 * Evicts least-recently-used kernels until the recorded total is at most `capBytes`.
 * A kernel's folder is removed before its row: a kill in between leaves a row whose library is
 * missing, which the builder treats as "not built" and rebuilds, never a folder nobody counts.
 */
export function evictKernels(index: EvictableKernelIndex, capBytes: number, inUse: ReadonlySet<string>): EvictionResult {
  let total = index.totalKernelBytes();
  const evicted: string[] = [];
  let freed = 0;
  if (total <= capBytes) return { evicted, freedBytes: 0, totalBytes: total };
  for (const k of index.lruKernels(Number.MAX_SAFE_INTEGER)) {
    if (total <= capBytes) break;
    if (inUse.has(k.hash)) continue;
    const dir = dirname(k.libraryPath);
    // Only a folder named after the kernel's hash is ours to delete.
    if (basename(dir) === k.hash) rmSync(dir, { recursive: true, force: true });
    index.deleteKernel(k.hash);
    total -= k.sizeBytes;
    freed += k.sizeBytes;
    evicted.push(k.hash);
  }
  return { evicted, freedBytes: freed, totalBytes: index.totalKernelBytes() };
}

/** Applies the $TESA_KERNEL_CACHE_MB cap after a build, keeping the kernels of the model just built. */
export function applyKernelCacheCap(index: KernelIndex | undefined, inUse: ReadonlySet<string>, env: NodeJS.ProcessEnv = process.env): EvictionResult | null {
  const cap = kernelCacheCapBytes(env);
  if (cap === null || !isEvictable(index)) return null;
  return evictKernels(index, cap, inUse);
}

/** Share of the cap the plan picker's timer programs and objects may hold (they are rebuilt on demand). */
export const PLAN_TIMER_CAP_SHARE = 0.25;

/**
 * Keeps `<cacheDir>/plan-timers/{obj,bin}` within its share of $TESA_KERNEL_CACHE_MB, oldest
 * modification first (the timer touches what it re-uses). Anything removed is rebuilt when a plan
 * is timed again; decisions already made live in the store and need none of it.
 */
export function trimPlanTimers(cacheDir: string, env: NodeJS.ProcessEnv = process.env): { removed: number; totalBytes: number } | null {
  const cap = kernelCacheCapBytes(env);
  if (cap === null) return null;
  const files: Array<{ path: string; bytes: number; mtimeMs: number }> = [];
  for (const sub of ['obj', 'bin']) {
    const dir = join(cacheDir, 'plan-timers', sub);
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) {
      try {
        const st = statSync(join(dir, n));
        if (st.isFile()) files.push({ path: join(dir, n), bytes: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // removed meanwhile
      }
    }
  }
  let total = files.reduce((a, f) => a + f.bytes, 0);
  const limit = Math.floor(cap * PLAN_TIMER_CAP_SHARE);
  let removed = 0;
  files.sort((a, b) => a.mtimeMs - b.mtimeMs);
  for (const f of files) {
    if (total <= limit) break;
    rmSync(f.path, { force: true });
    total -= f.bytes;
    removed++;
  }
  return { removed, totalBytes: total };
}
