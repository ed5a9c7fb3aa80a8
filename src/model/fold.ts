/**
 * Constant folding, Identity removal and dead-node elimination: the clean-up every imported
 * graph gets, so that the shape sub-graphs PyTorch's exporter emits (Shape → Gather →
 * Unsqueeze → Concat → Reshape, ConstantOfShape/Expand/Where for masks, …) become plain
 * constants and every count (`tesa inspect`) sees only the real computation.
 *
 * Folding runs together with shape inference in one pass in topological order: a node is
 * folded when its inputs are constant (Shape and Size need only a known input shape), its op
 * has a TS kernel (`fold-eval.ts`), none of its outputs is a graph output, and its outputs are
 * small. The size caps keep weights out of it: a node that reads a float constant with more
 * than `weightGuard` elements is left alone, so weights keep their names and never get
 * duplicated (PyTorch's own `do_constant_folding` already folded weight transposes).
 */
import type { Graph, Node } from './graph.js';
import { DEFAULT_LIMITS, evaluateNode } from './fold-eval.js';
import { inferNode } from './shape-inference.js';
import type { ShapeContext } from './shapes/common.js';

export interface FoldOptions {
  /** File path or zoo:NAME, for error messages. */
  source?: string;
  /** Largest folded output, in elements. */
  maxElements?: number;
}

export interface FoldReport {
  folded: number;
  identitiesRemoved: number;
  deadRemoved: number;
}

/** Infers every node's shapes and folds what can be folded; removes the folded nodes. */
export function foldConstants(graph: Graph, opts: FoldOptions = {}): number {
  const ctx: ShapeContext = { graph, source: opts.source ?? graph.name };
  const graphOutputs = new Set(graph.outputs);
  const kept: Node[] = [];
  let folded = 0;
  const limits = { ...DEFAULT_LIMITS, ...(opts.maxElements !== undefined ? { maxElements: opts.maxElements } : {}) };
  for (const node of graph.nodes) {
    inferNode(ctx, node);
    const values = node.outputs.some((o) => graphOutputs.has(o)) ? undefined : evaluateNode(ctx, node, limits);
    if (values) {
      node.outputs.forEach((o, i) => (graph.tensors.get(o)!.data = values[i]));
      folded++;
    } else kept.push(node);
  }
  graph.nodes = kept;
  return folded;
}

function renameInputs(graph: Graph, from: string, to: string): void {
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === from ? to : i));
}

/**
 * Removes Identity nodes (and inference-mode Dropout whose mask nobody reads) by rewiring their
 * consumers to the source tensor. Graph output names stay: when the Identity produces a graph
 * output, its source's producer is renamed to write that output instead.
 */
export function removeIdentities(graph: Graph): number {
  const outputs = new Set(graph.outputs);
  const inputs = new Set(graph.inputs);
  let removed = 0;
  for (const node of [...graph.nodes]) {
    const isIdentity = node.opType === 'Identity' || (node.opType === 'Dropout' && (node.outputs.length < 2 || node.outputs[1] === '') && !node.inputs[2]);
    if (!isIdentity || node.domain !== '') continue;
    const src = node.inputs[0];
    const dst = node.outputs[0];
    if (!outputs.has(dst)) {
      graph.nodes.splice(graph.nodes.indexOf(node), 1);
      renameInputs(graph, dst, src);
      graph.tensors.delete(dst);
      removed++;
      continue;
    }
    const producer = graph.nodes.find((n) => n.outputs.includes(src));
    if (!producer || outputs.has(src) || inputs.has(src)) continue;
    graph.nodes.splice(graph.nodes.indexOf(node), 1);
    producer.outputs = producer.outputs.map((o) => (o === src ? dst : o));
    renameInputs(graph, src, dst);
    graph.tensors.delete(src);
    removed++;
  }
  return removed;
}

/** Drops nodes none of whose outputs reach a graph output, then tensors nobody mentions. */
export function eliminateDeadNodes(graph: Graph): number {
  const live = new Set(graph.outputs);
  const keep: boolean[] = new Array(graph.nodes.length).fill(false);
  for (let i = graph.nodes.length - 1; i >= 0; i--) {
    const n = graph.nodes[i];
    if (n.outputs.some((o) => o && live.has(o))) {
      keep[i] = true;
      for (const inp of n.inputs) if (inp) live.add(inp);
    }
  }
  const before = graph.nodes.length;
  graph.nodes = graph.nodes.filter((_, i) => keep[i]);
  const mentioned = new Set<string>([...graph.inputs, ...graph.outputs]);
  for (const n of graph.nodes) for (const t of [...n.inputs, ...n.outputs]) if (t) mentioned.add(t);
  for (const name of [...graph.tensors.keys()]) if (!mentioned.has(name)) graph.tensors.delete(name);
  return before - graph.nodes.length;
}

/** The whole clean-up: shape inference with folding, Identity removal, dead-node elimination. */
export function simplifyGraph(graph: Graph, opts: FoldOptions = {}): FoldReport {
  const folded = foldConstants(graph, opts);
  const identitiesRemoved = removeIdentities(graph);
  const deadRemoved = eliminateDeadNodes(graph);
  return { folded, identitiesRemoved, deadRemoved };
}
