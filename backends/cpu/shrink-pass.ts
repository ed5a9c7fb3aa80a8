/**
 * Shrunk dense for coarse pruning, in the compile path: when a model carries row / col /
 * channel masks, the channels every reader reads with all-zero weights leave the model across
 * their whole layer group (src/export/shrink.ts: producers' output channels, per-channel ops on
 * the way, readers' input channels), so the backend compiles physically smaller GEMMs and
 * convolutions instead of running dense over zeroed channels, and no gather is left where
 * propagation removed a channel. The shrunk graph computes exactly what the masked graph does
 * (removed channels contributed zero); the masks of shrunk weights are re-cut to their new shape.
 */
import type { Graph, Tensor } from '../../src/model/graph.js';
import type { ModelSparsity, WeightSparsity } from '../../src/plan/sparsity.js';
import { parsePattern } from '../../src/prune/pattern.js';
import { shrinkChannels, type GroupShrink } from '../../src/export/shrink.js';
import { findLayerGroups } from '../../src/tesa/groups.js';

export interface ShrunkModel {
  graph: Graph;
  sparsity: ModelSparsity;
  groups: GroupShrink[];
  /** Channels removed over all groups. */
  removed: number;
  parametersBefore: number;
  parametersAfter: number;
}

const COARSE = new Set(['row', 'col', 'channel']);

/** Whether any weight of the model was pruned with a coarse (channel-removing) pattern. */
export function hasCoarsePruning(sparsity: ModelSparsity): boolean {
  for (const s of sparsity.values()) {
    if (COARSE.has(parsePattern(s.pattern, `pattern of '${s.weight}'`).kind)) return true;
  }
  return false;
}

/** The mask of a shrunk weight: its zeros. Pruned elements are zero in the masked graph, so this is the old mask re-cut (a kept weight that is exactly zero counts as pruned, which changes no result). */
function maskOfValues(t: Tensor): Uint8Array {
  const d = t.data as Float32Array;
  const m = new Uint8Array(d.length);
  for (let i = 0; i < d.length; i++) m[i] = d[i] !== 0 ? 1 : 0;
  return m;
}

/**
 * The shrunk model for a masked graph with coarse masks, or null when none is coarse or no
 * channel could be removed (the caller then compiles the masked graph as it is).
 */
export function shrinkForCompile(masked: Graph, sparsity: ModelSparsity): ShrunkModel | null {
  if (!hasCoarsePruning(sparsity)) return null;
  const r = shrinkChannels(masked, findLayerGroups(masked));
  const removed = r.groups.reduce((a, g) => a + g.removed, 0);
  if (removed === 0) return null;
  const out: ModelSparsity = new Map();
  const shrunkFrom = new Map<string, string[]>();
  for (const [now, was] of r.shrunkConstants) shrunkFrom.set(was, [...(shrunkFrom.get(was) ?? []), now]);
  for (const [w, s] of sparsity) {
    const names = shrunkFrom.get(w);
    if (!names) {
      // Untouched, and still read under its own name.
      if (r.graph.tensors.has(w)) out.set(w, s);
      continue;
    }
    for (const name of names) {
      const t = r.graph.tensors.get(name)!;
      if (!(t.data instanceof Float32Array)) continue;
      const mask = maskOfValues(t);
      const pruned = mask.includes(0);
      // All that is left is dense: the weight needs no entry unless its precision is not fp32.
      if (!pruned && s.precision === 'fp32') continue;
      const entry: WeightSparsity = { ...s, weight: name, shape: [...t.shape], mask };
      out.set(name, entry);
    }
    // A constant copied under a new name keeps its old self for the readers outside the group.
    if (r.graph.tensors.has(w) && !names.includes(w)) out.set(w, s);
  }
  return { graph: r.graph, sparsity: out, groups: r.groups, removed, parametersBefore: r.parametersBefore, parametersAfter: r.parametersAfter };
}
