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
  /** Final mask of every prunable weight (1 = kept), stored layout; unpacked on first read. */
  weightMasks: Map<string, Uint8Array>;
  layers: LayerSparsity[];
  /** Pruned fraction over all prunable weights' elements. */
  total: { before: number; after: number };
  folds: Fold[];
  unhandled: string[];
}

/**
 * Weight masks made on first read: a search step that looks at a few layers does not pay for
 * unpacking 85M mask bytes of BERT-base. Behaves as a plain Map (get, iteration, size).
 */
class LazyMasks extends Map<string, Uint8Array> {
  private readonly pending = new Map<string, SparsityAttr>();

  static of(entries: Iterable<[string, SparsityAttr]>): LazyMasks {
    const m = new LazyMasks();
    for (const [k, a] of entries) {
      m.pending.set(k, a);
      super.prototype.set.call(m, k, new Uint8Array(0));
    }
    return m;
  }

  private materialize(k: string): void {
    const a = this.pending.get(k);
    if (!a) return;
    this.pending.delete(k);
    super.set(k, a.toMask());
  }

  private materializeAll(): void {
    for (const k of [...this.pending.keys()]) this.materialize(k);
  }

  override get(k: string): Uint8Array | undefined {
    this.materialize(k);
    return super.get(k);
  }

  override set(k: string, v: Uint8Array): this {
    this.pending?.delete(k);
    return super.set(k, v);
  }

  override entries(): MapIterator<[string, Uint8Array]> {
    this.materializeAll();
    return super.entries();
  }

  override values(): MapIterator<Uint8Array> {
    this.materializeAll();
    return super.values();
  }

  override [Symbol.iterator](): MapIterator<[string, Uint8Array]> {
    return this.entries();
  }

  override forEach(fn: (value: Uint8Array, key: string, map: Map<string, Uint8Array>) => void, thisArg?: unknown): void {
    this.materializeAll();
    super.forEach(fn, thisArg);
  }
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
  const finals: [string, SparsityAttr][] = [];
  const layers: LayerSparsity[] = [];
  let total = 0;
  let before = 0;
  let after = 0;
  for (const p of prunableWeights(graph)) {
    const a = res.attributes.get(p.weight);
    if (!a) continue;
    const pruned0 = initial.get(p.weight)?.count() ?? 0;
    finals.push([p.weight, a]);
    layers.push({ name: p.weight, before: a.size === 0 ? 0 : pruned0 / a.size, after: a.sparsity() });
    total += a.size;
    before += pruned0;
    after += a.count();
  }
  return {
    attributes: res.attributes,
    weightMasks: LazyMasks.of(finals),
    layers,
    total: { before: total === 0 ? 0 : before / total, after: total === 0 ? 0 : after / total },
    folds: res.folds,
    unhandled: res.unhandled,
  };
}
