/**
 * The timing loop of the standalone kernel benchmarks (sparse/harness.ts, int8/harness.ts), as
 * C text for their generated main(): one clock and one loop, so that every contender of every
 * harness is timed the same way and ratios between harnesses stay comparable.
 *
 * The loop: each contender is warmed up, then timed as samples that are each the mean of
 * enough back-to-back calls to last ~2 ms (steady-state caches, as inside a model run);
 * contenders take turns sample by sample (A B C A B C …) so drift hits all alike; timing stops
 * after `reps` rounds, or after `budgetMs` once at least 5 rounds are done. It prints
 * `"samples": {"<name>": [ms, …], …}`; the caller prints what surrounds it in its JSON.
 *
 * Samples are wall-clock by default. On a loaded machine a process is descheduled for whole
 * scheduler slices, and because the rounds are periodic those gaps can land on the same
 * contender round after round: one contender's median then comes out 2-6x too slow for the
 * whole run (seen on the shared 2-core box). `clock: 'thread-cpu'` times samples on the
 * thread's CPU clock instead, which does not run while the thread is descheduled; it suits
 * single-threaded contenders (every one of ours, and OpenBLAS at one thread).
 */

export interface TimingLoopOptions {
  /**
   * Rounds of samples (each contender gets one sample per round). A number is baked in; a C
   * expression (e.g. an argv-parsed variable) lets one built program serve any count, as the
   * plan timer's cached programs need.
   */
  reps: number | string;
  /** untimed calls per contender before timing, also used to size a sample (number or C expression) */
  warmup: number | string;
  /** stop after this many ms in all, once at least 5 rounds are done (number or C expression) */
  budgetMs: number | string;
  /** C statement that runs contender `c` (an int in 0..NC-1) once */
  call: string;
  /** what a sample measures (default wall): 'thread-cpu' needs THREAD_CPU_MS_C in the file */
  clock?: SampleClock;
}

export type SampleClock = 'wall' | 'thread-cpu';

/** `now_ms()`: CLOCK_MONOTONIC in ms (the file needs _POSIX_C_SOURCE and <time.h>). */
export const NOW_MS_C = 'static double now_ms(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }';

/** `cpu_ms()`: this thread's CPU time in ms (CLOCK_THREAD_CPUTIME_ID). */
export const THREAD_CPU_MS_C = 'static double cpu_ms(void) { struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t); return t.tv_sec * 1e3 + t.tv_nsec / 1e6; }';

/**
 * C statements for main() that time contenders 0..NC-1 and print their samples. Expects in
 * scope: `NC` (a constant), `names[NC]` (contender names as printed), `now_ms()`.
 */
export function timingLoopC(o: TimingLoopOptions): string {
  // Sizing a sample and the budget stay on the wall clock: they bound how long the user waits.
  const clock = o.clock === 'thread-cpu' ? 'cpu_ms' : 'now_ms';
  const perWarmup = typeof o.warmup === 'number' ? String(Math.max(1, o.warmup)) : `(${o.warmup} > 0 ? ${o.warmup} : 1)`;
  // A run-time count needs the samples on the heap (the file then includes <stdlib.h>).
  const samplesDecl = typeof o.reps === 'number' ? `static double samples[NC][${o.reps}];` : `double (*samples)[${o.reps}] = malloc(sizeof(double[NC][${o.reps}]));`;
  return `  /* Each sample is the mean of enough back-to-back calls to last ~2 ms (steady-state caches,
     as inside a model run); contenders take turns sample by sample so drift hits all alike. */
  int inner[NC];
  for (int c = 0; c < NC; c++) {
    double t0 = now_ms();
    for (int w = 0; w < ${o.warmup}; w++) ${o.call};
    double per = (now_ms() - t0) / ${perWarmup};
    inner[c] = per > 2.0 ? 1 : (int)(2.0 / (per > 1e-4 ? per : 1e-4)) + 1;
  }
  ${samplesDecl}
  int done = 0;
  double start = now_ms();
  for (int r = 0; r < ${o.reps}; r++) {
    for (int c = 0; c < NC; c++) {
      double t0 = ${clock}();
      for (int i = 0; i < inner[c]; i++) ${o.call};
      samples[c][r] = (${clock}() - t0) / inner[c];
    }
    done = r + 1;
    if (now_ms() - start > ${o.budgetMs} && done >= 5) break;
  }
  printf("\\"samples\\": {");
  for (int c = 0; c < NC; c++) {
    printf("%s\\"%s\\": [", c ? ", " : "", names[c]);
    for (int r = 0; r < done; r++) printf("%s%.6f", r ? ", " : "", samples[c][r]);
    printf("]");
  }
  printf("}");
`;
}

/**
 * C that checks every contender against `ref` before any timing: y is poisoned with NaN, the
 * contender runs, and `{"errors": [e0, …],` is printed with e = max |y − ref| / `refmax` (1e30 for
 * NaN or a missed element). Needs M, N, NC, x, y, ref, refmax and call(c, x, y) in scope.
 */
export function checkErrorsC(): string {
  return `  printf("{\\"errors\\": [");
  for (int c = 0; c < NC; c++) {
    for (size_t i = 0; i < (size_t)M * N; i++) y[i] = NAN;
    call(c, x, y);
    double e = 0;
    for (size_t i = 0; i < (size_t)M * N; i++) { double d = fabs((double)y[i] - ref[i]) / refmax; if (!(d <= e)) e = isnan(d) ? INFINITY : d; }
    printf("%s%.9g", c ? ", " : "", isinf(e) ? 1e30 : e);
  }
  printf("],\\n");
`;
}
