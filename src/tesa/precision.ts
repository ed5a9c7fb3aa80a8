/**
 * The paper's bit-width rule (§5.2, after [38]), an optional pass: a layer quantized to b bits
 * with w weight elements gives its neighbour layer (w_n elements) b_n = b·w / w_n; above 16 the
 * neighbour stays at 32 bits, else it drops to 8. Lower precision wins, so the pass only spreads
 * lower widths from layers that have one. Neighbours are the nearest weighted layers up and down
 * the data flow, through any non-weighted ops.
 */
import { consumers, type Graph, type Node } from '../model/graph.js';
import { DEFAULT_BITS, SparsityAttr } from './attributes.js';
import { prunableOf, prunableWeights, type PrunableWeight } from './weights.js';
import type { Precision } from '../plan/sparsity.js';

export function neighbourWidth(bits: number, elements: number, neighbourElements: number): number {
  const bn = (bits * elements) / neighbourElements;
  return bn > 16 ? 32 : 8;
}

/** Nearest weighted layers downstream and upstream of each prunable weight. */
export function layerNeighbours(graph: Graph): Map<string, Set<string>> {
  const cons = consumers(graph);
  const byNode = new Map<string, PrunableWeight>();
  for (const p of prunableWeights(graph)) byNode.set(p.node, p);
  const nodeWeight = (n: Node): PrunableWeight | undefined => byNode.get(n.name) ?? prunableOf(graph, n);
  const out = new Map<string, Set<string>>();
  const link = (a: string, b: string): void => {
    if (a === b) return;
    (out.get(a) ?? out.set(a, new Set()).get(a)!).add(b);
    (out.get(b) ?? out.set(b, new Set()).get(b)!).add(a);
  };
  for (const p of byNode.values()) {
    const node = graph.nodes.find((n) => n.name === p.node)!;
    const seen = new Set<string>();
    const stack = [...node.outputs];
    while (stack.length > 0) {
      const t = stack.pop()!;
      if (seen.has(t)) continue;
      seen.add(t);
      for (const r of cons.get(t) ?? []) {
        const w = nodeWeight(r);
        if (w && r.inputs[w.slot] !== t) link(p.weight, w.weight);
        else stack.push(...r.outputs);
      }
    }
  }
  return out;
}

/** Applies the rule to a fixpoint on the weights' attributes (uniform widths per layer). */
export function propagatePrecision(graph: Graph, attrs: Map<string, SparsityAttr>): number {
  const neighbours = layerNeighbours(graph);
  let changes = 0;
  for (let round = 0; round < 1000; round++) {
    let changed = false;
    for (const [w, ns] of neighbours) {
      const a = attrs.get(w);
      if (!a || a.defaultBits >= DEFAULT_BITS) continue;
      for (const n of ns) {
        const b = attrs.get(n);
        if (!b) continue;
        const width = neighbourWidth(a.defaultBits, a.size, b.size);
        // Lower precision wins element by element (per-element exceptions below `width` stay).
        if (b.lowerBits(new SparsityAttr(b.shape, width))) {
          changed = true;
          changes++;
        }
      }
    }
    if (!changed) break;
  }
  return changes;
}

/**
 * The rule as the search applies it (`--propagate-precision`): every prunable weight starts at
 * its candidate's width (int8 → 8 bits, anything else 32), the rule runs to its fixpoint, and
 * each MatMul/Gemm weight whose whole width came down to 8 becomes int8. Only linear weights
 * change: they are the ones the int8 kernels and the quantized export serve. Returns the
 * weights that changed precision (name → 'int8').
 */
export function propagatedInt8(graph: Graph, precisions: ReadonlyMap<string, Precision>): Map<string, Precision> {
  const attrs = new Map<string, SparsityAttr>();
  const linear = new Set<string>();
  for (const p of prunableWeights(graph)) {
    attrs.set(p.weight, new SparsityAttr(p.shape, precisions.get(p.weight) === 'int8' ? 8 : DEFAULT_BITS));
    if ((p.opType === 'MatMul' || p.opType === 'Gemm') && p.shape.length === 2) linear.add(p.weight);
  }
  propagatePrecision(graph, attrs);
  const changed = new Map<string, Precision>();
  for (const [w, a] of attrs) {
    if (!linear.has(w) || precisions.get(w) === 'int8') continue;
    if (a.uniformBits() && a.defaultBits <= 8) changed.set(w, 'int8');
  }
  return changed;
}
