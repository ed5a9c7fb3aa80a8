/**
 * Activation ranges from calibration inputs: one observer per tensor accumulates min, max,
 * |x|max and the mean square over every calibration batch it is shown. The ranges give a
 * static activation scale (activationScale(absMax)) and the E[x²] the error model needs.
 */
import { activationScale, type ActivationQuant } from './activations.js';

export interface ActivationRange {
  min: number;
  max: number;
  absMax: number;
  /** root mean square over every element seen */
  rms: number;
  count: number;
}

export class RangeObserver {
  private min = Infinity;
  private max = -Infinity;
  private sumSq = 0;
  private count = 0;

  update(x: ArrayLike<number>): void {
    for (let i = 0; i < x.length; i++) {
      const v = x[i]!;
      if (v < this.min) this.min = v;
      if (v > this.max) this.max = v;
      this.sumSq += v * v;
    }
    this.count += x.length;
  }

  range(): ActivationRange {
    if (this.count === 0) return { min: 0, max: 0, absMax: 0, rms: 0, count: 0 };
    return { min: this.min, max: this.max, absMax: Math.max(-this.min, this.max), rms: Math.sqrt(this.sumSq / this.count), count: this.count };
  }
}

/** Tensor name → its range over all calibration batches (each batch: tensor name → values). */
export function calibrationRanges(batches: Iterable<ReadonlyMap<string, ArrayLike<number>>>): Map<string, ActivationRange> {
  const obs = new Map<string, RangeObserver>();
  for (const batch of batches) {
    for (const [name, values] of batch) {
      let o = obs.get(name);
      if (!o) obs.set(name, (o = new RangeObserver()));
      o.update(values);
    }
  }
  return new Map([...obs].map(([name, o]) => [name, o.range()]));
}

export function staticActivationQuant(r: ActivationRange): ActivationQuant {
  return activationScale(r.absMax);
}
