/** Blocks the thread for `ms` milliseconds: for short retry waits in synchronous code (lock contention), never on a hot path. */
export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
