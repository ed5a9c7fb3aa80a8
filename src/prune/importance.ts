/**
 * Per-element importance scores. Masks rank units (elements, blocks, rows, tiles) by the sum
 * of their elements' scores, so an element score must be additive: |w| for L1, w² for L2
 * (ranking by Σw² is ranking by the L2 norm), |w·∂L/∂w| for first-order Taylor.
 */
import { TesaError } from '../errors.js';

export type ImportanceKind = 'l1' | 'l2' | 'taylor';

export interface ImportanceOptions {
  /** Default 'l1'; 'taylor' needs `gradient`. */
  importance?: ImportanceKind;
  /** ∂L/∂w, same length as the weight; required for 'taylor'. */
  gradient?: Float32Array;
}

export function elementImportance(weightName: string, data: Float32Array, opts: ImportanceOptions = {}): Float64Array {
  const kind = opts.importance ?? 'l1';
  const out = new Float64Array(data.length);
  switch (kind) {
    case 'l1':
      for (let i = 0; i < data.length; i++) out[i] = Math.abs(data[i]!);
      return out;
    case 'l2':
      for (let i = 0; i < data.length; i++) out[i] = data[i]! * data[i]!;
      return out;
    case 'taylor': {
      const g = opts.gradient;
      if (!g) {
        throw new TesaError('BAD_INPUT', `Taylor importance for weight '${weightName}' needs its gradient`, 'supply gradients, or use importance l1/l2');
      }
      if (g.length !== data.length) {
        throw new TesaError('BAD_INPUT', `gradient of '${weightName}' has ${g.length} elements, the weight has ${data.length}`, 'the gradient must have the weight\'s shape');
      }
      for (let i = 0; i < data.length; i++) out[i] = Math.abs(data[i]! * g[i]!);
      return out;
    }
    default:
      throw new TesaError('BAD_INPUT', `unknown importance '${String(kind)}'`, 'use l1, l2 or taylor');
  }
}
