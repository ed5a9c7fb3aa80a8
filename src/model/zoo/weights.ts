/**
 * Seeded weight generation for the zoo. Every tensor draws from its own generator seeded by
 * `<model seed>/<tensor name>`, so a tensor's values depend only on the seed and its name:
 * not on build order, and never equal to another tensor's. alea's `quick()` (32 random bits
 * per value, ample for float32) keeps bert-base's ~110M values to a second or two.
 */
import seedrandom from 'seedrandom';
import { numel } from '../graph.js';

export class WeightGenerator {
  constructor(readonly seed: number) {}

  /** Uniform on [-bound, bound]: std = bound / √3. */
  symmetric(name: string, shape: readonly number[], bound: number): Float32Array {
    return this.uniform(name, shape, -bound, bound);
  }

  /** Uniform on [low, high]. */
  uniform(name: string, shape: readonly number[], low: number, high: number): Float32Array {
    const rng = seedrandom.alea(`${this.seed}/${name}`);
    const out = new Float32Array(numel(shape));
    const span = high - low;
    for (let i = 0; i < out.length; i++) out[i] = low + rng.quick() * span;
    return out;
  }

  /** Uniform with the given standard deviation and zero mean. */
  withStd(name: string, shape: readonly number[], std: number): Float32Array {
    return this.symmetric(name, shape, std * Math.sqrt(3));
  }
}

/**
 * Std for a weight feeding `fanIn` inputs so the output keeps the input's scale:
 * He/Kaiming (gain √2) before a ReLU-like activation, LeCun (gain 1) before a linear one.
 */
export function initStd(fanIn: number, gain: number): number {
  return gain / Math.sqrt(fanIn);
}

export const RELU_GAIN = Math.SQRT2;
