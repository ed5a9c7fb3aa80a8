/**
 * Exactness: turns propagated attributes into a graph that a dense runtime runs with the same
 * result. Every pruned element of a constant float tensor (weights, biases, normalization
 * parameters) becomes zero, and every fold (fold.ts) adds its constant channel's contribution to
 * the reader's bias — creating the bias (a Gemm C, a Conv B, an Add after a MatMul) if needed.
 */
import { TesaError } from '../errors.js';
import { attrFloat, cloneGraph, consumers, type Graph, type Node, type Tensor } from '../model/graph.js';
import type { SparsityAttr } from './attributes.js';
import type { Fold } from './fold.js';

export interface AppliedAttributes {
  attributes: ReadonlyMap<string, SparsityAttr>;
  folds?: readonly Fold[];
}

function floatCopy(t: Tensor): Float32Array | Float64Array {
  if (t.data instanceof Float32Array) return t.data.slice();
  if (t.data instanceof Float64Array) return t.data.slice();
  throw new TesaError('UNSUPPORTED', `tensor '${t.name}' is ${t.dtype}: pruning writes float32/float64 constants only`, 'convert the model to float32');
}

function uniqueName(graph: Graph, base: string): string {
  let name = base;
  for (let k = 1; graph.tensors.has(name); k++) name = `${base}_${k}`;
  return name;
}

export function applyAttributes(graph: Graph, result: AppliedAttributes): Graph {
  const g = cloneGraph(graph);
  for (const [name, t] of g.tensors) {
    const a = result.attributes.get(name);
    if (!t.data || !a || a.count() === 0) continue;
    if (!(t.data instanceof Float32Array || t.data instanceof Float64Array)) continue;
    const d = floatCopy(t);
    a.forEachPruned((i) => {
      d[i] = 0;
    });
    t.data = d;
  }
  // Sum folds per reader first: one bias update per node.
  const perNode = new Map<string, Float64Array>();
  for (const f of result.folds ?? []) {
    const acc = perNode.get(f.node);
    if (!acc) perNode.set(f.node, f.contribution.slice());
    else for (let i = 0; i < acc.length; i++) acc[i] += f.contribution[i];
  }
  const cons = consumers(g);
  for (const [nodeName, add] of perNode) {
    const node = g.nodes.find((n) => n.name === nodeName);
    if (!node) throw new TesaError('INTERNAL', `fold names node '${nodeName}' that the graph lacks`);
    addToBias(g, node, add, cons);
  }
  return g;
}

function addInto(g: Graph, name: string, add: Float64Array, scale = 1): void {
  const t = g.tensors.get(name)!;
  const d = floatCopy(t);
  if (d.length === add.length) for (let i = 0; i < d.length; i++) d[i] += add[i] / scale;
  else throw new TesaError('INTERNAL', `bias '${name}' has ${d.length} elements, fold has ${add.length}`);
  t.data = d;
}

/** A private copy of a constant another node also reads, so the fold changes only this node. */
function ownConstant(g: Graph, node: Node, slot: number, cons: Map<string, Node[]>): string {
  const name = node.inputs[slot];
  const readers = cons.get(name) ?? [];
  if (readers.length <= 1) return name;
  const t = g.tensors.get(name)!;
  const copy = uniqueName(g, `${name}.folded`);
  g.tensors.set(copy, { ...t, name: copy, shape: [...t.shape] });
  node.inputs[slot] = copy;
  return copy;
}

function addToBias(g: Graph, node: Node, add: Float64Array, cons: Map<string, Node[]>): void {
  const n = add.length;
  if (node.opType === 'Gemm' || node.opType === 'Conv') {
    const slot = 2;
    const beta = node.opType === 'Gemm' ? attrFloat(node, 'beta', 1) : 1;
    if (node.inputs[slot]) {
      const bias = g.tensors.get(node.inputs[slot])!;
      if (bias.shape.reduce((a, b) => a * b, 1) === n) {
        addInto(g, ownConstant(g, node, slot, cons), add, beta);
        return;
      }
      if (node.opType === 'Gemm') {
        // A broadcast C of another shape: materialise it as [n] is only valid for 1-row C; fall back to an Add after.
        return addAfter(g, node, add);
      }
    }
    const name = uniqueName(g, `${node.name}.fold_bias`);
    const d = new Float32Array(n);
    for (let i = 0; i < n; i++) d[i] = add[i] / beta;
    g.tensors.set(name, { name, dtype: 'float32', shape: [n], data: d });
    while (node.inputs.length < 2) node.inputs.push('');
    node.inputs[2] = name;
    return;
  }
  // MatMul: the Add(bias) that follows, when it is the only reader and adds a [n] constant.
  const y = node.outputs[0];
  const readers = cons.get(y) ?? [];
  if (readers.length === 1 && readers[0].opType === 'Add' && !g.outputs.includes(y)) {
    const add2 = readers[0];
    const slot = add2.inputs[0] === y ? 1 : 0;
    const other = g.tensors.get(add2.inputs[slot]);
    if (other?.data && other.shape.reduce((a, b) => a * b, 1) === n && other.shape[other.shape.length - 1] === n) {
      addInto(g, ownConstant(g, add2, slot, cons), add);
      return;
    }
  }
  addAfter(g, node, add);
}

/** Inserts `y = y' + bias` right after the node. */
function addAfter(g: Graph, node: Node, add: Float64Array): void {
  const y = node.outputs[0];
  const pre = uniqueName(g, `${y}.prefold`);
  const t = g.tensors.get(y)!;
  g.tensors.set(pre, { ...t, name: pre, shape: [...t.shape], data: undefined });
  node.outputs[0] = pre;
  const biasName = uniqueName(g, `${node.name}.fold_bias`);
  g.tensors.set(biasName, { name: biasName, dtype: 'float32', shape: [add.length], data: Float32Array.from(add) });
  const at = g.nodes.indexOf(node);
  g.nodes.splice(at + 1, 0, { name: uniqueName(g, `${node.name}.fold_add`), opType: 'Add', domain: '', inputs: [pre, biasName], outputs: [y], attrs: {} });
}
