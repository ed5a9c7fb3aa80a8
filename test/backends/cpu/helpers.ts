/** Shared by the cpu backend tests: a fresh kernel cache folder and output comparison. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function tempCache(prefix = 'tesa-cpu-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** max |a - b| / max |b| (b the reference). */
export function relError(a: ArrayLike<number>, b: ArrayLike<number | bigint>): number {
  if (a.length !== b.length) return Infinity;
  let d = 0;
  let m = 0;
  for (let i = 0; i < b.length; i++) {
    const y = Number(b[i]);
    d = Math.max(d, Math.abs(Number(a[i]) - y));
    m = Math.max(m, Math.abs(y));
  }
  return d === 0 ? 0 : d / Math.max(m, 1e-30);
}

export const QUICK = { warmup: 1, minReps: 2, maxReps: 3, ciTarget: 0.5, timeoutMs: 60_000 };
