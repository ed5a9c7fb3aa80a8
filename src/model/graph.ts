/**
 * The graph IR every part of tesa works on: plain typed objects, weights as typed arrays.
 *
 * A Graph is a list of nodes in topological order over named tensors. A tensor with `data`
 * is a constant (an ONNX initializer or a folded value); graph inputs have no data.
 * Shapes are concrete numbers once shape inference ran (tesa specialises kernels to shapes,
 * so symbolic dims are bound to concrete values at import: see `importOnnx` options).
 */
import { TesaError } from '../errors.js';

export type DType = 'float32' | 'float16' | 'float64' | 'int64' | 'int32' | 'int8' | 'uint8' | 'bool';

/** float16 is kept as raw bits in a Uint16Array; int64 as BigInt64Array so ids and shapes stay exact. */
export type TensorData = Float32Array | Float64Array | BigInt64Array | Int32Array | Int8Array | Uint8Array | Uint16Array;

export interface Tensor {
  name: string;
  dtype: DType;
  /** Concrete dims. Empty for a scalar. */
  shape: number[];
  /** Present for constants (initializers and folded values). */
  data?: TensorData;
}

export type Attr =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number }
  | { type: 'string'; value: string }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: number[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensor'; value: Tensor };

export interface Node {
  /** Unique within the graph (import names unnamed nodes `<OpType>_<index>`). */
  name: string;
  opType: string;
  /** '' for the default ONNX domain. */
  domain: string;
  /** Tensor names; '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  attrs: Record<string, Attr>;
}

export interface Graph {
  name: string;
  /** Names of the graph's runtime inputs (never initializers). */
  inputs: string[];
  outputs: string[];
  /** Every tensor the graph mentions: inputs, constants, intermediates, outputs. */
  tensors: Map<string, Tensor>;
  /** Topologically ordered. */
  nodes: Node[];
  opsetVersion: number;
  /** Free-form provenance (zoo spec, source file), carried through export as metadata_props. */
  metadata?: Record<string, string>;
}

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function dtypeBytes(dtype: DType): number {
  switch (dtype) {
    case 'float64':
    case 'int64':
      return 8;
    case 'float32':
    case 'int32':
      return 4;
    case 'float16':
      return 2;
    case 'int8':
    case 'uint8':
    case 'bool':
      return 1;
  }
}

export function allocData(dtype: DType, n: number): TensorData {
  switch (dtype) {
    case 'float32':
      return new Float32Array(n);
    case 'float64':
      return new Float64Array(n);
    case 'int64':
      return new BigInt64Array(n);
    case 'int32':
      return new Int32Array(n);
    case 'int8':
      return new Int8Array(n);
    case 'uint8':
    case 'bool':
      return new Uint8Array(n);
    case 'float16':
      return new Uint16Array(n);
  }
}

/** A tensor's values as plain numbers (int64 narrowed; fine for shapes and indices). */
export function toNumbers(data: TensorData): number[] {
  if (data instanceof BigInt64Array) return Array.from(data, (v) => Number(v));
  return Array.from(data as ArrayLike<number>);
}

export function getTensor(graph: Graph, name: string): Tensor {
  const t = graph.tensors.get(name);
  if (!t) throw new TesaError('BAD_MODEL', `tensor '${name}' is used but never defined in graph '${graph.name}'`, 'the model is malformed: re-export it');
  return t;
}

export function isConstant(graph: Graph, name: string): boolean {
  return graph.tensors.get(name)?.data !== undefined;
}

// ---- attributes ----

export function attrInt(node: Node, key: string, fallback?: number): number {
  const a = node.attrs[key];
  if (a === undefined) {
    if (fallback !== undefined) return fallback;
    throw missingAttr(node, key);
  }
  if (a.type !== 'int' && a.type !== 'float') throw wrongAttr(node, key, 'an int');
  return a.value;
}

export function attrFloat(node: Node, key: string, fallback?: number): number {
  const a = node.attrs[key];
  if (a === undefined) {
    if (fallback !== undefined) return fallback;
    throw missingAttr(node, key);
  }
  if (a.type !== 'int' && a.type !== 'float') throw wrongAttr(node, key, 'a float');
  return a.value;
}

export function attrInts(node: Node, key: string, fallback?: number[]): number[] {
  const a = node.attrs[key];
  if (a === undefined) {
    if (fallback !== undefined) return fallback;
    throw missingAttr(node, key);
  }
  if (a.type !== 'ints' && a.type !== 'floats') throw wrongAttr(node, key, 'a list of ints');
  return a.value;
}

export function attrString(node: Node, key: string, fallback?: string): string {
  const a = node.attrs[key];
  if (a === undefined) {
    if (fallback !== undefined) return fallback;
    throw missingAttr(node, key);
  }
  if (a.type !== 'string') throw wrongAttr(node, key, 'a string');
  return a.value;
}

function missingAttr(node: Node, key: string): TesaError {
  return new TesaError('BAD_MODEL', `node '${node.name}' (${node.opType}) lacks required attribute '${key}'`, 'the model is malformed: re-export it');
}

function wrongAttr(node: Node, key: string, want: string): TesaError {
  return new TesaError('BAD_MODEL', `node '${node.name}' (${node.opType}) attribute '${key}' is not ${want}`, 'the model is malformed: re-export it');
}

// ---- structure ----

/** Which node produces each tensor. */
export function producers(graph: Graph): Map<string, Node> {
  const m = new Map<string, Node>();
  for (const n of graph.nodes) for (const o of n.outputs) if (o) m.set(o, n);
  return m;
}

/** Which nodes consume each tensor, in graph order. */
export function consumers(graph: Graph): Map<string, Node[]> {
  const m = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const i of n.inputs) {
      if (!i) continue;
      let list = m.get(i);
      if (!list) m.set(i, (list = []));
      if (!list.includes(n)) list.push(n);
    }
  }
  return m;
}

/**
 * Orders nodes so every input is produced before it is used (Kahn's algorithm, stable:
 * among ready nodes the earlier one in the given order goes first). Throws on a cycle or a
 * tensor nobody defines.
 */
export function topoSort(graph: Graph): Node[] {
  const available = new Set<string>(graph.inputs);
  for (const [name, t] of graph.tensors) if (t.data !== undefined) available.add(name);
  const producedBy = new Map<string, number>();
  graph.nodes.forEach((n, i) => n.outputs.forEach((o) => o && producedBy.set(o, i)));
  const pending = new Array<number>(graph.nodes.length).fill(0);
  const waiters = new Map<string, number[]>();
  graph.nodes.forEach((n, i) => {
    const seen = new Set<string>();
    for (const inp of n.inputs) {
      if (!inp || available.has(inp) || seen.has(inp)) continue;
      seen.add(inp);
      if (!producedBy.has(inp)) {
        throw new TesaError('BAD_MODEL', `node '${n.name}' (${n.opType}) reads tensor '${inp}' that no node, input or initializer defines`, 'the model is malformed: re-export it');
      }
      pending[i]++;
      let w = waiters.get(inp);
      if (!w) waiters.set(inp, (w = []));
      w.push(i);
    }
  });
  // A binary heap keyed by original index keeps the order stable and the sort O(n log n).
  const ready: number[] = [];
  const push = (i: number): void => {
    ready.push(i);
    let c = ready.length - 1;
    while (c > 0) {
      const p = (c - 1) >> 1;
      if (ready[p] <= ready[c]) break;
      [ready[p], ready[c]] = [ready[c], ready[p]];
      c = p;
    }
  };
  const pop = (): number => {
    const top = ready[0];
    const last = ready.pop()!;
    if (ready.length > 0) {
      ready[0] = last;
      let p = 0;
      for (;;) {
        const l = 2 * p + 1;
        const r = l + 1;
        let m = p;
        if (l < ready.length && ready[l] < ready[m]) m = l;
        if (r < ready.length && ready[r] < ready[m]) m = r;
        if (m === p) break;
        [ready[p], ready[m]] = [ready[m], ready[p]];
        p = m;
      }
    }
    return top;
  };
  pending.forEach((c, i) => c === 0 && push(i));
  const order: Node[] = [];
  while (ready.length > 0) {
    const i = pop();
    const n = graph.nodes[i];
    order.push(n);
    for (const o of n.outputs) {
      if (!o) continue;
      for (const w of waiters.get(o) ?? []) if (--pending[w] === 0) push(w);
      waiters.delete(o);
    }
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.find((_, i) => pending[i] > 0);
    throw new TesaError('BAD_MODEL', `graph '${graph.name}' has a cycle through node '${stuck?.name ?? '?'}'`, 'ONNX graphs must be acyclic: re-export the model');
  }
  return order;
}

/** A deep copy whose constant data is shared (weights are never mutated in place; masks make new arrays). */
export function cloneGraph(graph: Graph): Graph {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of graph.tensors) tensors.set(k, { ...t, shape: [...t.shape] });
  return {
    name: graph.name,
    inputs: [...graph.inputs],
    outputs: [...graph.outputs],
    tensors,
    nodes: graph.nodes.map((n) => ({ ...n, inputs: [...n.inputs], outputs: [...n.outputs], attrs: { ...n.attrs } })),
    opsetVersion: graph.opsetVersion,
    metadata: graph.metadata ? { ...graph.metadata } : undefined,
  };
}
