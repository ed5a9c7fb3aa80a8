/**
 * The shared timing loop of the kernel harnesses, compiled and run for real: it prints one
 * sample list per contender, and the thread-CPU clock leaves out time the thread spends off
 * the CPU (the reason the int8 harness uses it on a loaded machine), the wall clock does not.
 */
import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { NOW_MS_C, THREAD_CPU_MS_C, timingLoopC, type SampleClock } from '../../../backends/cpu/kernels/bench-timing.js';

const run = promisify(execFile);

/** Contender 0 does a little arithmetic; contender 1 sleeps 3 ms per call (off the CPU). */
function program(clock: SampleClock): string {
  return `#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <time.h>
#define NC 2
static const char *names[NC] = { "spin", "sleep" };
${NOW_MS_C}
${THREAD_CPU_MS_C}
static volatile double sink;
static void call(int c) {
  if (c == 0) { double s = 0; for (int i = 0; i < 20000; i++) s += i * 0.5; sink = s; }
  else { struct timespec t = { 0, 3000000 }; nanosleep(&t, NULL); }
}
int main(void) {
  (void)cpu_ms;
  printf("{");
${timingLoopC({ reps: 6, warmup: 2, budgetMs: 10_000, call: 'call(c)', clock })}  printf("}\\n");
  return 0;
}
`;
}

async function samples(clock: SampleClock): Promise<Record<string, number[]>> {
  const dir = mkdtempSync(join(tmpdir(), 'tesa-timing-'));
  try {
    writeFileSync(join(dir, 'main.c'), program(clock));
    await run(process.env.CC ?? 'cc', ['-O1', '-std=gnu11', '-o', join(dir, 't'), join(dir, 'main.c')]);
    const { stdout } = await run(join(dir, 't'), [], { timeout: 60_000 });
    return (JSON.parse(stdout) as { samples: Record<string, number[]> }).samples;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

describe('timingLoopC', () => {
  it('prints reps samples per contender, in contender order', async () => {
    const s = await samples('wall');
    expect(Object.keys(s)).toEqual(['spin', 'sleep']);
    expect(s.spin).toHaveLength(6);
    expect(s.sleep).toHaveLength(6);
    for (const v of [...s.spin!, ...s.sleep!]) expect(v).toBeGreaterThan(0);
  }, 60_000);

  it('wall samples include a sleep; thread-CPU samples leave it out', async () => {
    const wall = await samples('wall');
    const cpu = await samples('thread-cpu');
    // nanosleep(3 ms) cannot return early on the wall clock, and burns next to no CPU.
    expect(median(wall.sleep!)).toBeGreaterThanOrEqual(3);
    expect(median(cpu.sleep!)).toBeLessThan(1);
    expect(median(cpu.spin!)).toBeGreaterThan(0);
  }, 60_000);

  it('uses the clock it is given for the samples and the wall clock for sizing and the budget', () => {
    const wall = timingLoopC({ reps: 3, warmup: 1, budgetMs: 5, call: 'f(c)' });
    const cpu = timingLoopC({ reps: 3, warmup: 1, budgetMs: 5, call: 'f(c)', clock: 'thread-cpu' });
    expect(wall).not.toContain('cpu_ms()');
    expect(cpu).toContain('samples[c][r] = (cpu_ms() - t0) / inner[c];');
    expect(cpu).toContain('if (now_ms() - start > 5 && done >= 5) break;');
    expect(cpu).toContain('double per = (now_ms() - t0) / 1;');
  });
});
