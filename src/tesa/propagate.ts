/**
 * The propagation engine: a worklist over the graph's nodes until nothing changes. Each visit
 * asks the node's rule (hand-written, else a tensor-scrambling rule prepared beforehand, see
 * scramble.ts) for forward facts about its outputs and backward facts about its inputs.
 *
 * Forward facts are merged into the output through the active resolver. Backward facts are
 * "dead for this reader": a tensor read by several nodes (or that is a graph output) takes only
 * the elements dead for every reader, so a residual stream stays alive while any branch reads it.
 *
 * Propagation is synchronous: rules that need onnxruntime (scrambling) are prepared by the async
 * `prepareScrambleRules` before, and cached by (op, attributes, shapes).
 */
import { producers, topoSort, type Graph, type Node } from '../model/graph.js';
import { SparsityAttr } from './attributes.js';
import { findFolds, type Fold } from './fold.js';
import { propagatePrecision } from './precision.js';
import { activeResolver, unionLowerPrecision } from './resolvers.js';
import { getRule, type Rule, type RuleContext } from './rules/registry.js';
import './rules/index.js';

export interface PropagateOptions {
  /** Run the paper's bit-width rule between neighbouring layers after the pruning fixpoint. */
  propagatePrecision?: boolean;
  /** Rules for ops without a hand-written one (from scramble.ts); looked up by node name. */
  extraRules?: ReadonlyMap<string, Rule>;
  /**
   * Fold channels that became non-zero constants into the readers' biases (fold.ts), so that
   * their readers' weights can be pruned too. Default true; `applyAttributes` applies the folds.
   */
  foldConstants?: boolean;
  /** Safety cap on node visits (a fixpoint is reached long before on real graphs). */
  maxVisits?: number;
}

export interface PropagationResult {
  /** Attribute of every float tensor that has a shape. */
  attributes: Map<string, SparsityAttr>;
  /** Node visits until the fixpoint. */
  visits: number;
  /** Op types met with no rule: propagation stops there (nothing is assumed). */
  unhandled: string[];
  /** Constant channels moved into readers' biases; applyAttributes applies them. */
  folds: Fold[];
}

const FLOAT = new Set(['float32', 'float16', 'float64']);

export function isTracked(graph: Graph, name: string): boolean {
  const t = graph.tensors.get(name);
  return t !== undefined && FLOAT.has(t.dtype) && t.shape.every((d) => Number.isInteger(d) && d >= 0);
}

/**
 * Initial attributes: every tracked tensor dense, float constants pruned where exactly zero,
 * then the given attributes merged in.
 */
export function initialAttributes(graph: Graph, initial: ReadonlyMap<string, SparsityAttr>): Map<string, SparsityAttr> {
  const attrs = new Map<string, SparsityAttr>();
  const resolver = activeResolver();
  for (const [name, t] of graph.tensors) {
    if (!isTracked(graph, name)) continue;
    const zeros = zeroBits(t);
    const given = initial.get(name);
    // The common case (no exact zeros, default resolution) copies the given bitset in one go.
    if (given && !zeros && resolver === unionLowerPrecision && given.shape.length === t.shape.length && given.shape.every((d, i) => d === t.shape[i])) {
      attrs.set(name, given.clone());
      continue;
    }
    const a = new SparsityAttr(t.shape);
    if (zeros) a.orBits(zeros);
    if (given && given.size === a.size) resolver.merge(a, given, name);
    attrs.set(name, a);
  }
  return attrs;
}

/**
 * Propagates the initial attributes (tensor name → attribute) over the graph: the fixpoint, then
 * constant folding and the fixpoint again while folds find something, then (optionally) the
 * precision rule.
 */
/** Exact zeros of float constants, cached per data array (the search propagates the same graph many times). */
const zeroCache = new WeakMap<object, Uint32Array | null>();

function zeroBits(t: { data?: unknown }): Uint32Array | null {
  const d = t.data;
  if (!(d instanceof Float32Array || d instanceof Float64Array)) return null;
  const hit = zeroCache.get(d);
  if (hit !== undefined) return hit;
  let words: Uint32Array | null = null;
  for (let i = 0; i < d.length; i++) {
    if (d[i] === 0) (words ??= new Uint32Array((d.length + 31) >>> 5))[i >>> 5] |= 1 << (i & 31);
  }
  zeroCache.set(d, words);
  return words;
}

export function propagate(graph: Graph, initial: ReadonlyMap<string, SparsityAttr>, opts: PropagateOptions = {}): PropagationResult {
  const attrs = initialAttributes(graph, initial);
  let res = propagateFrom(graph, attrs, opts);
  const folds: Fold[] = [];
  if (opts.foldConstants ?? true) {
    const done = new Set<string>();
    for (let round = 0; round < 64; round++) {
      const found = findFolds(graph, attrs, done);
      if (found.length === 0) break;
      folds.push(...found);
      const again = propagateFrom(graph, attrs, opts);
      res = { ...again, visits: res.visits + again.visits, unhandled: [...new Set([...res.unhandled, ...again.unhandled])].sort() };
    }
  }
  if (opts.propagatePrecision) propagatePrecision(graph, attrs);
  return { ...res, folds };
}

/** Runs the fixpoint on attributes you built (they are updated in place); no folding. */
export function propagateFrom(graph: Graph, attrs: Map<string, SparsityAttr>, opts: PropagateOptions = {}): PropagationResult {
  const nodes = graph.nodes.length > 0 ? topoSort(graph) : [];
  const index = new Map<Node, number>();
  nodes.forEach((n, i) => index.set(n, i));
  const prod = producers(graph);
  const readers = new Map<string, { node: Node; slot: number }[]>();
  for (const n of nodes) n.inputs.forEach((t, slot) => {
    if (!t) return;
    let list = readers.get(t);
    if (!list) readers.set(t, (list = []));
    list.push({ node: n, slot });
  });
  const outputs = new Set(graph.outputs);
  // Per reader: the last backward fact it gave for a tensor (null: nothing dead).
  const deadBy = new Map<string, (SparsityAttr | null)[]>();
  const resolver = activeResolver();
  const unhandled = new Set<string>();

  const queued = new Uint8Array(nodes.length);
  const queue: number[] = [];
  const enqueue = (n: Node | undefined): void => {
    if (!n) return;
    const i = index.get(n)!;
    if (queued[i]) return;
    queued[i] = 1;
    queue.push(i);
  };
  const touched = (tensor: string): void => {
    enqueue(prod.get(tensor));
    for (const r of readers.get(tensor) ?? []) enqueue(r.node);
  };
  // Forward order first, then backward: most facts settle in two sweeps.
  for (const n of nodes) enqueue(n);
  for (let i = nodes.length - 1; i >= 0; i--) {
    queued[i] = 0;
    enqueue(nodes[i]);
  }

  const maxVisits = opts.maxVisits ?? Math.max(10_000, nodes.length * 200);
  let visits = 0;
  while (queue.length > 0) {
    const i = queue.shift()!;
    queued[i] = 0;
    const node = nodes[i];
    const rule = getRule(node.opType, node.domain) ?? opts.extraRules?.get(node.name);
    if (!rule) {
      unhandled.add(node.domain ? `${node.domain}::${node.opType}` : node.opType);
      continue;
    }
    if (++visits > maxVisits) break;
    const ctx: RuleContext = {
      node,
      graph,
      inputs: node.inputs.map((t) => (t ? attrs.get(t) : undefined)),
      outputs: node.outputs.map((t) => (t ? attrs.get(t) : undefined)),
      inShapes: node.inputs.map((t) => (t ? graph.tensors.get(t)?.shape : undefined)),
      outShapes: node.outputs.map((t) => (t ? graph.tensors.get(t)?.shape : undefined)),
      constant: (slot) => {
        const t = node.inputs[slot];
        return t ? graph.tensors.get(t)?.data : undefined;
      },
    };
    const res = rule(ctx);
    res.outputs?.forEach((fact, k) => {
      const t = node.outputs[k];
      const cur = t ? attrs.get(t) : undefined;
      if (!fact || !cur || fact.size !== cur.size) return;
      if (resolver.merge(cur, fact, t)) touched(t);
    });
    node.inputs.forEach((t, slot) => {
      if (!t) return;
      const cur = attrs.get(t);
      if (!cur || outputs.has(t)) return;
      const fact = res.inputs?.[slot];
      const rs = readers.get(t)!;
      if (rs.length === 1) {
        if (fact && fact.size === cur.size && resolver.merge(cur, fact, t)) touched(t);
        return;
      }
      let facts = deadBy.get(t);
      if (!facts) deadBy.set(t, (facts = new Array<SparsityAttr | null>(rs.length).fill(null)));
      const at = rs.findIndex((r) => r.node === node && r.slot === slot);
      facts[at] = fact && fact.size === cur.size ? fact : null;
      if (facts.some((f) => f === null)) return;
      const both = intersect(facts as SparsityAttr[]);
      if (both && resolver.merge(cur, both, t)) touched(t);
    });
  }
  return { attributes: attrs, visits, unhandled: [...unhandled].sort(), folds: [] };
}

function intersect(facts: SparsityAttr[]): SparsityAttr | undefined {
  const first = facts[0];
  const words = first.bitset();
  if (!words) return undefined;
  const acc = words.slice();
  for (let k = 1; k < facts.length; k++) {
    const b = facts[k].bitset();
    if (!b) return undefined;
    for (let w = 0; w < acc.length; w++) acc[w] &= b[w];
  }
  const out = new SparsityAttr(first.shape);
  out.orBits(acc);
  return out.count() > 0 ? out : undefined;
}
