/**
 * The one source of randomness for strategies: a seedrandom ARC4 generator whose full state
 * can be saved into a checkpoint and restored, so a resumed search draws the same numbers.
 */
import seedrandom from 'seedrandom';
import type { JsonValue } from './strategy.js';

export class Rng {
  private prng: seedrandom.StatefulPRNG<seedrandom.State.Arc4>;

  constructor(seed: number | string) {
    this.prng = seedrandom(String(seed), { state: true });
  }

  static fromState(state: JsonValue): Rng {
    const r = new Rng(0);
    r.restore(state);
    return r;
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.prng();
  }

  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.prng();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.prng() * n));
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty list');
    return items[this.int(items.length)]!;
  }

  state(): JsonValue {
    const s = this.prng.state();
    return { i: s.i, j: s.j, S: [...s.S] };
  }

  restore(state: JsonValue): void {
    if (!isArc4(state)) throw new Error('Rng.restore: not an ARC4 state');
    this.prng = seedrandom('', { state: { i: state.i, j: state.j, S: [...state.S] } });
  }
}

function isArc4(v: JsonValue): v is { i: number; j: number; S: number[] } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.i === 'number' && typeof v.j === 'number' && Array.isArray(v.S) && v.S.length === 256;
}
