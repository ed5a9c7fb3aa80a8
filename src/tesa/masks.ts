/**
 * Masks in, masks out: the entry point the search loop and the backends call once per
 * candidate. Initial weight masks (1 = kept) → propagation → the final mask of every prunable
 * weight and the per-layer sparsity before and after.
 */
import type { Graph } from '../model/graph.js';
import { TesaError } from '../errors.js';
import { SparsityAttr } from './attributes.js';
import type { Fold } from './fold.js';
import { propagate, type PropagateOptions } from './propagate.js';
import { prunableWeights } from './weights.js';

export interface LayerSparsity {
  /** Weight (initializer) name. */
  name: string;
  /** Pruned fraction of the initial mask. */
  before: number;
  /** Pruned fraction after propagation. */
  after: number;
}

export interface MaskPropagation {
  attributes: Map<string, SparsityAttr>;
  /** Final mask of every prunable weight (1 = kept), stored layout. */
  weightMasks: Map<string, Uint8Array>;
  layers: LayerSparsity[];
  /** Pruned fraction over all prunable weights' elements. */
  total: { before: number; after: number };
  folds: Fold[];
  unhandled: string[];
}

export function propagateMasks(graph: Graph, initialMasks: ReadonlyMap<string, Uint8Array>, opts: PropagateOptions = {}): MaskPropagation {
  const initial = new Map<string, SparsityAttr>();
  for (const [name, mask] of initialMasks) {
    const t = graph.tensors.get(name);
    if (!t) throw new TesaError('BAD_INPUT', `mask given for '${name}', which graph '${graph.name}' does not have`, 'name an initializer of the model');
    if (mask.length !== t.shape.reduce((a, b) => a * b, 1)) {
      throw new TesaError('BAD_INPUT', `mask for '${name}' has ${mask.length} elements, the tensor has shape [${t.shape.join(',')}]`, 'give one byte per element, 1 = kept');
    }
    initial.set(name, SparsityAttr.fromMask(t.shape, mask));
  }
  const res = propagate(graph, initial, opts);
  const weightMasks = new Map<string, Uint8Array>();
  const layers: LayerSparsity[] = [];
  let total = 0;
  let before = 0;
  let after = 0;
  for (const p of prunableWeights(graph)) {
    const a = res.attributes.get(p.weight);
    if (!a) continue;
    const pruned0 = initial.get(p.weight)?.count() ?? 0;
    weightMasks.set(p.weight, a.toMask());
    layers.push({ name: p.weight, before: a.size === 0 ? 0 : pruned0 / a.size, after: a.sparsity() });
    total += a.size;
    before += pruned0;
    after += a.count();
  }
  return {
    attributes: res.attributes,
    weightMasks,
    layers,
    total: { before: total === 0 ? 0 : before / total, after: total === 0 ? 0 : after / total },
    folds: res.folds,
    unhandled: res.unhandled,
  };
}
