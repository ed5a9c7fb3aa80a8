/** The cache cap also bounds the plan picker's timer objects and programs, oldest first. */
import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PLAN_TIMER_CAP_SHARE, trimPlanTimers } from '../../src/util/kernel-cache-gc.js';

const root = mkdtempSync(join(tmpdir(), 'tesa-plan-timer-trim-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function plant(cacheDir: string, sub: 'obj' | 'bin', name: string, bytes: number, ageS: number): string {
  const dir = join(cacheDir, 'plan-timers', sub);
  mkdirSync(dir, { recursive: true });
  const p = join(dir, name);
  writeFileSync(p, Buffer.alloc(bytes, 7));
  const t = new Date(Date.now() - ageS * 1000);
  utimesSync(p, t, t);
  return p;
}

describe('trimPlanTimers', () => {
  it('does nothing without a cap', () => {
    const dir = join(root, 'nocap');
    const p = plant(dir, 'obj', 'a.o', 1000, 10);
    expect(trimPlanTimers(dir, {})).toBeNull();
    expect(existsSync(p)).toBe(true);
  });

  it('removes the oldest files until the folder fits its share of the cap', () => {
    const dir = join(root, 'cap');
    const capMb = 0.01; // 10485 bytes; the timers' share is a quarter of it
    const limit = Math.floor(capMb * 1024 * 1024 * PLAN_TIMER_CAP_SHARE);
    const oldest = plant(dir, 'obj', 'old.o', 1500, 300);
    const older = plant(dir, 'bin', 'older', 1500, 200);
    const recent = plant(dir, 'obj', 'recent.o', 1000, 100);
    const newest = plant(dir, 'bin', 'newest', 1000, 1);
    const r = trimPlanTimers(dir, { TESA_KERNEL_CACHE_MB: String(capMb) });
    expect(r).not.toBeNull();
    expect(r!.totalBytes).toBeLessThanOrEqual(limit);
    expect(existsSync(oldest)).toBe(false);
    expect(existsSync(older)).toBe(false);
    expect(existsSync(recent)).toBe(true);
    expect(existsSync(newest)).toBe(true);
    expect(r!.removed).toBe(2);
  });
});
