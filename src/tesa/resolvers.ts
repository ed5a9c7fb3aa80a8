/**
 * Conflict resolution: when a tensor gets facts from several places (its initial attribute, the
 * producer's forward rule, the readers' backward rules), a resolver merges the incoming
 * attribute into the current one. Default (the paper's §3.2): union of pruned elements, lower
 * precision wins. Replace it with `registerResolver`.
 */
import type { SparsityAttr } from './attributes.js';

export interface Resolver {
  name: string;
  /** Merges `incoming` into `current` in place; true when `current` changed. */
  merge(current: SparsityAttr, incoming: SparsityAttr, tensor: string): boolean;
}

export const unionLowerPrecision: Resolver = {
  name: 'union-lower-precision',
  merge(current, incoming) {
    const a = current.unionPruned(incoming);
    const b = current.lowerBits(incoming);
    return a || b;
  },
};

let active: Resolver = unionLowerPrecision;

/** Makes `resolver` the one the engine uses from now on; returns the previous one. */
export function registerResolver(resolver: Resolver): Resolver {
  const prev = active;
  active = resolver;
  return prev;
}

export function activeResolver(): Resolver {
  return active;
}
