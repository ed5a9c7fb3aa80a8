/**
 * Lowers a whole graph to a GPU program (program.ts). Walks the nodes in order keeping, per
 * tensor, either a view of a buffer, a lazy element-wise expression, or a scalar constant:
 * - shape ops (Reshape, Transpose, Unsqueeze, Squeeze, Flatten, Identity) re-stride views and
 *   the leaves of lazy expressions; only when no strides express the result is the tensor
 *   copied, into the layout that makes the reshaped result feature-major;
 * - element-wise ops (Add, Mul, Erf, Cast, …) grow lazy expressions, so a chain of them costs
 *   one pass over memory, done by whichever step consumes it (LayerNorm, Softmax, a copy);
 * - MatMul/Gemm with a constant 2-D weight become linear steps on feature-major activations;
 *   MatMul of two activations (attention) becomes a batched GEMM on whatever strides its
 *   operands have (cuBLAS takes either matrix orientation).
 * Any other op is refused with the node's name: the CUDA backend runs a model wholly on the
 * GPU or not at all.
 */
import { TesaError } from '../../../src/errors.js';
import { attrFloat, attrInt, attrInts, consumers, type Graph, type Node, type Tensor } from '../../../src/model/graph.js';
import type { BinaryFn, BufferDecl, ElemType, Expr, LinearDecl, Operand, Program, Step, UnaryFn, View } from './program.js';
import { asFloat32, asInt64 } from './model-files.js';
import { broadcastShapes, broadcastView, product, reshapeView, rowMajorStrides, storageOrder, stridesInOrder, transposeView } from './views.js';

type Value = { kind: 'view'; view: View; dtype: ElemType } | { kind: 'lazy'; operand: Operand } | { kind: 'scalar'; value: number };

/** Where a linear layer's weight sits in the graph: stored [K,N] (MatMul) or [N,K] (Gemm transB=1). */
export interface LinearSource extends LinearDecl {
  stored: 'KN' | 'NK';
}

export interface LoweredProgram extends Program {
  linears: LinearSource[];
}

/**
 * A linear layer's weight in the math view N×K (row-major), and its mask there when one is
 * given (stored like the weight): what kernels, cuBLAS and the reference interpreter take.
 */
export function linearMathWeight(graph: Graph, d: LinearSource, storedMask?: ArrayLike<number>): { w: Float32Array; mask: Uint8Array | null } {
  const t = graph.tensors.get(d.weight)!;
  const src = asFloat32(t.data!);
  const { N, K } = d;
  const w = new Float32Array(N * K);
  const mask = storedMask ? new Uint8Array(N * K) : null;
  for (let n = 0; n < N; n++)
    for (let k = 0; k < K; k++) {
      const at = d.stored === 'NK' ? n * K + k : k * N + n;
      w[n * K + k] = src[at]!;
      if (mask) mask[n * K + k] = storedMask![at]!;
    }
  return { w, mask };
}

const UNARY: Record<string, UnaryFn> = { Erf: 'erf', Relu: 'relu', Tanh: 'tanh', Sigmoid: 'sigmoid', Exp: 'exp', Log: 'log', Sqrt: 'sqrt', Neg: 'neg', Abs: 'abs', Reciprocal: 'recip' };
const BINARY: Record<string, BinaryFn> = { Add: 'add', Sub: 'sub', Mul: 'mul', Div: 'div', Pow: 'pow', Max: 'max', Min: 'min' };
/** Leaves one generated kernel may read; beyond this the inputs are materialised first. */
const MAX_LEAVES = 6;
const FLOAT_TYPES = new Set(['float32', 'float16', 'float64']);

function unsupported(node: Node, what: string): TesaError {
  return new TesaError('UNSUPPORTED', `node '${node.name}' (${node.opType}): ${what}`, 'the CUDA backend runs whole models on the GPU only; use --target cpu for this model');
}

/** Feature-major order: the last dim outermost, the others row-major (tokens contiguous). */
function featureMajorOrder(rank: number): number[] {
  return rank < 2 ? [...Array(rank).keys()] : [rank - 1, ...Array(rank - 1).keys()];
}

function remapLeaves(e: Expr, shift: number[]): Expr {
  switch (e.op) {
    case 'leaf':
      return { op: 'leaf', leaf: shift[e.leaf]! };
    case 'const':
      return e;
    case 'unary':
      return { op: 'unary', fn: e.fn, a: remapLeaves(e.a, shift) };
    case 'binary':
      return { op: 'binary', fn: e.fn, a: remapLeaves(e.a, shift), b: remapLeaves(e.b, shift) };
  }
}

function viewKey(v: View, t: ElemType): string {
  return `${t}|${v.buf}|${v.offset}|${v.shape.join(',')}|${v.strides.join(',')}`;
}

class Lowerer {
  readonly buffers: BufferDecl[] = [];
  readonly steps: Step[] = [];
  readonly linears: LinearSource[] = [];
  private readonly values = new Map<string, Value>();
  private readonly constViews = new Map<string, { view: View; dtype: ElemType }>();

  private readonly users: Map<string, Node[]>;

  constructor(private readonly graph: Graph) {
    this.users = consumers(graph);
  }

  /**
   * Strides for a computed tensor such that the shape ops after it (a chain of single uses:
   * Transpose, Reshape, …) end in a feature-major tensor, so they stay views and nothing is
   * copied. Attention's context (P·V, then Transpose and Reshape back to [B, S, hidden]) is
   * the case that matters. Null when there is no such chain or no strides make it work.
   */
  demandedStrides(name: string): number[] | null {
    const chain: Node[] = [];
    let cur = name;
    for (;;) {
      const users = this.users.get(cur) ?? [];
      const u = users[0];
      if (users.length !== 1 || !u || !['Transpose', 'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze'].includes(u.opType) || this.graph.outputs.includes(cur)) break;
      chain.push(u);
      cur = u.outputs[0]!;
    }
    if (chain.length === 0) return null;
    const finalShape = this.tensor(cur).shape;
    if (finalShape.length < 2) return null;
    let view: View | null = { buf: -1, offset: 0, shape: [...finalShape], strides: stridesInOrder(finalShape, featureMajorOrder(finalShape.length)) };
    for (const node of chain.reverse()) {
      const inShape = this.tensor(node.inputs[0]!).shape;
      if (node.opType === 'Transpose') {
        const perm = attrInts(node, 'perm', [...Array(inShape.length).keys()].reverse());
        const strides = new Array<number>(inShape.length);
        perm.forEach((p, i) => (strides[p] = view!.strides[i]!));
        view = { ...view, shape: [...inShape], strides };
      } else {
        view = reshapeView(view, inShape);
        if (!view) return null;
      }
    }
    return view.strides;
  }

  tensor(name: string): Tensor {
    const t = this.graph.tensors.get(name);
    if (!t) throw new TesaError('BAD_INPUT', `graph references unknown tensor '${name}'`, 'the model file is inconsistent');
    return t;
  }

  addBuffer(dtype: ElemType, numel: number, role: BufferDecl['role'], name: string, data?: Float32Array | BigInt64Array): number {
    const id = this.buffers.length;
    this.buffers.push({ id, dtype, numel: Math.max(1, numel), role, name, ...(data ? { data } : {}) });
    return id;
  }

  set(name: string, v: Value): void {
    this.values.set(name, v);
  }

  value(name: string): Value {
    const v = this.values.get(name);
    if (v) return v;
    const t = this.tensor(name);
    if (!t.data) throw new TesaError('INTERNAL', `tensor '${name}' is used before it is computed`, 'the graph is not in topological order');
    if (FLOAT_TYPES.has(t.dtype) && product(t.shape) === 1) return { kind: 'scalar', value: Number(t.data[0]) };
    const c = this.constView(t);
    return { kind: 'view', view: c.view, dtype: c.dtype };
  }

  constView(t: Tensor): { view: View; dtype: ElemType } {
    const hit = this.constViews.get(t.name);
    if (hit) return hit;
    const float = FLOAT_TYPES.has(t.dtype);
    if (!float && t.dtype !== 'int64' && t.dtype !== 'int32') throw new TesaError('UNSUPPORTED', `constant '${t.name}' has type ${t.dtype}`, 'the CUDA backend holds float and int64 tensors');
    const dtype: ElemType = float ? 'f16' : 'i64';
    const data = float ? asFloat32(t.data!) : asInt64(t.data!);
    const made = { view: { buf: this.addBuffer(dtype, product(t.shape), 'const', t.name, data), offset: 0, shape: [...t.shape], strides: rowMajorStrides(t.shape) }, dtype };
    this.constViews.set(t.name, made);
    return made;
  }

  /** The value as an operand of `shape` (broadcast). */
  operand(v: Value, shape: readonly number[]): Operand {
    switch (v.kind) {
      case 'scalar':
        return { shape: [...shape], leaves: [], leafTypes: [], expr: { op: 'const', value: v.value } };
      case 'view':
        return { shape: [...shape], leaves: [broadcastView(v.view, shape)], leafTypes: [v.dtype], expr: { op: 'leaf', leaf: 0 } };
      case 'lazy':
        return { shape: [...shape], leaves: v.operand.leaves.map((l) => broadcastView(l, shape)), leafTypes: [...v.operand.leafTypes], expr: v.operand.expr };
    }
  }

  /** Concatenates operands' leaves (deduplicated) and returns each operand's expression over the union. */
  combine(ops: Operand[]): { leaves: View[]; leafTypes: ElemType[]; exprs: Expr[] } {
    const leaves: View[] = [];
    const leafTypes: ElemType[] = [];
    const index = new Map<string, number>();
    const exprs = ops.map((o) => {
      const shift = o.leaves.map((l, i) => {
        const k = viewKey(l, o.leafTypes[i]!);
        let at = index.get(k);
        if (at === undefined) {
          at = leaves.length;
          index.set(k, at);
          leaves.push(l);
          leafTypes.push(o.leafTypes[i]!);
        }
        return at;
      });
      return remapLeaves(o.expr, shift);
    });
    return { leaves, leafTypes, exprs };
  }

  /** The storage order a materialised operand takes: that of its leaf with the most varying dims. */
  naturalOrder(o: Operand): number[] {
    let best: View | null = null;
    let bestScore = -1;
    for (const l of o.leaves) {
      const score = l.strides.filter((s, i) => s !== 0 && l.shape[i] !== 1).length;
      if (score > bestScore) {
        best = l;
        bestScore = score;
      }
    }
    if (!best) return [...o.shape.keys()];
    const order = storageOrder(best.shape, best.strides);
    // Broadcast dims of the leader go outermost so the rest stays packed in its order.
    const zero = order.filter((d) => best!.strides[d] === 0);
    return [...zero, ...order.filter((d) => best!.strides[d] !== 0)];
  }

  /** Writes the value into a new temp buffer laid out as `strides` (default: its natural order). */
  materialize(v: Value, shape: readonly number[], name: string, strides?: number[]): View {
    if (v.kind === 'view' && !strides) return v.view;
    if (v.kind === 'view' && v.dtype === 'i64') throw new TesaError('INTERNAL', `cannot copy int64 tensor ${name}`, 'int64 tensors are ids and masks, used in place');
    const src = this.operand(v, shape);
    const outStrides = strides ?? stridesInOrder(shape, this.naturalOrder(src));
    const out: View = { buf: this.addBuffer('f16', product(shape), 'temp', name), offset: 0, shape: [...shape], strides: outStrides };
    this.steps.push({ kind: 'ew', out, src });
    return out;
  }

  lowerNode(node: Node): void {
    const out = node.outputs[0]!;
    const outT = this.tensor(out);
    const op = node.opType;
    if (op in BINARY) return this.elementwise(node, outT, BINARY[op]!);
    if (op in UNARY) return this.unary(node, outT, UNARY[op]!);
    switch (op) {
      case 'Identity':
      case 'Dropout':
        return this.set(out, this.value(node.inputs[0]!));
      case 'Cast':
        return this.cast(node, outT);
      case 'Reshape':
      case 'Flatten':
      case 'Squeeze':
      case 'Unsqueeze':
        return this.reshape(node, outT);
      case 'Transpose':
        return this.transpose(node, outT);
      case 'MatMul':
        return this.matmul(node, outT);
      case 'Gemm':
        return this.gemm(node, outT);
      case 'LayerNormalization':
        return this.layerNorm(node, outT);
      case 'Softmax':
        return this.softmax(node, outT);
      case 'Gather':
        return this.gather(node, outT);
      default:
        throw unsupported(node, 'no CUDA kernel for this op');
    }
  }

  private lazy(outT: Tensor, operands: Operand[], build: (exprs: Expr[]) => Expr, node: Node): void {
    let c = this.combine(operands);
    if (c.leaves.length > MAX_LEAVES) {
      // Too many inputs for one kernel: give each lazy input a buffer of its own first.
      const solid = operands.map((o, i) => (o.leaves.length > 1 ? this.operand({ kind: 'view', view: this.materialize({ kind: 'lazy', operand: o }, o.shape, `${node.name}#in${i}`), dtype: 'f16' }, o.shape) : o));
      c = this.combine(solid);
    }
    this.set(outT.name, { kind: 'lazy', operand: { shape: [...outT.shape], leaves: c.leaves, leafTypes: c.leafTypes, expr: build(c.exprs) } });
  }

  private elementwise(node: Node, outT: Tensor, fn: BinaryFn): void {
    const a = this.value(node.inputs[0]!);
    const b = this.value(node.inputs[1]!);
    if (a.kind === 'scalar' && b.kind === 'scalar') throw unsupported(node, 'constant expression left unfolded');
    const shape = outT.shape.length ? outT.shape : broadcastShapes(this.tensor(node.inputs[0]!).shape, this.tensor(node.inputs[1]!).shape);
    this.lazy({ ...outT, shape }, [this.operand(a, shape), this.operand(b, shape)], ([x, y]) => ({ op: 'binary', fn, a: x!, b: y! }), node);
  }

  private unary(node: Node, outT: Tensor, fn: UnaryFn): void {
    const a = this.value(node.inputs[0]!);
    this.lazy(outT, [this.operand(a, outT.shape)], ([x]) => ({ op: 'unary', fn, a: x! }), node);
  }

  private cast(node: Node, outT: Tensor): void {
    const v = this.value(node.inputs[0]!);
    if (!FLOAT_TYPES.has(outT.dtype)) {
      if (v.kind === 'view' && v.dtype === 'i64' && (outT.dtype === 'int64' || outT.dtype === 'int32')) return this.set(outT.name, v);
      throw unsupported(node, `cast to ${outT.dtype} of a computed tensor`);
    }
    // int64 leaves are converted to float where they are loaded.
    this.set(outT.name, v.kind === 'view' ? { kind: 'lazy', operand: this.operand(v, outT.shape) } : v);
  }

  private restride(node: Node, outT: Tensor, f: (v: View) => View | null): void {
    const v = this.value(node.inputs[0]!);
    if (v.kind === 'scalar') return this.set(outT.name, v);
    if (v.kind === 'view') {
      const r = f(v.view);
      if (r) return this.set(outT.name, { kind: 'view', view: r, dtype: v.dtype });
    } else {
      const leaves = v.operand.leaves.map(f);
      if (leaves.every((l): l is View => l !== null)) return this.set(outT.name, { kind: 'lazy', operand: { shape: [...outT.shape], leaves, leafTypes: v.operand.leafTypes, expr: v.operand.expr } });
    }
    // No strides express it: copy into the layout that makes the result feature-major.
    const inShape = this.tensor(node.inputs[0]!).shape;
    const target: View = { buf: -1, offset: 0, shape: [...outT.shape], strides: stridesInOrder(outT.shape, featureMajorOrder(outT.shape.length)) };
    const back = node.opType === 'Transpose' ? null : reshapeView(target, inShape);
    const copy = this.materialize(v, inShape, `${node.name}#copy`, back?.strides ?? rowMajorStrides(inShape));
    const r = f(copy);
    if (!r) throw new TesaError('INTERNAL', `node '${node.name}': no view after a copy`, 'report this model');
    this.set(outT.name, { kind: 'view', view: r, dtype: 'f16' });
  }

  private reshape(node: Node, outT: Tensor): void {
    this.restride(node, outT, (view) => reshapeView(view, outT.shape));
  }

  private transpose(node: Node, outT: Tensor): void {
    const rank = this.tensor(node.inputs[0]!).shape.length;
    const perm = attrInts(node, 'perm', [...Array(rank).keys()].reverse());
    this.restride(node, outT, (view) => transposeView(view, perm));
  }

  private matmul(node: Node, outT: Tensor): void {
    const w = this.tensor(node.inputs[1]!);
    if (w.data && w.shape.length === 2 && FLOAT_TYPES.has(w.dtype)) return this.linear(node, outT, node.inputs[0]!, w, 'KN');
    this.bmm(node, outT);
  }

  private gemm(node: Node, outT: Tensor): void {
    const w = this.tensor(node.inputs[1]!);
    if (attrInt(node, 'transA', 0) !== 0) throw unsupported(node, 'transA=1');
    if (attrFloat(node, 'alpha', 1) !== 1 || attrFloat(node, 'beta', 1) !== 1) throw unsupported(node, 'alpha or beta other than 1');
    if (!w.data || w.shape.length !== 2) throw unsupported(node, 'the weight must be a constant 2-D tensor');
    const bias = node.inputs[2];
    if (!bias) return this.linear(node, outT, node.inputs[0]!, w, attrInt(node, 'transB', 0) === 1 ? 'NK' : 'KN');
    const tmp = `${outT.name}#nobias`;
    this.linear(node, { ...outT, name: tmp }, node.inputs[0]!, w, attrInt(node, 'transB', 0) === 1 ? 'NK' : 'KN');
    const shape = outT.shape;
    this.lazy(outT, [this.operand(this.value(tmp), shape), this.operand(this.value(bias), shape)], ([x, y]) => ({ op: 'binary', fn: 'add', a: x!, b: y! }), node);
  }

  private linear(node: Node, outT: Tensor, input: string, w: Tensor, stored: 'KN' | 'NK'): void {
    const xShape = this.tensor(input).shape;
    const K = stored === 'KN' ? w.shape[0]! : w.shape[1]!;
    const N = stored === 'KN' ? w.shape[1]! : w.shape[0]!;
    if (xShape[xShape.length - 1] !== K) throw new TesaError('BAD_INPUT', `node '${node.name}': input has ${xShape[xShape.length - 1]} features, weight expects ${K}`, 'check the model shapes');
    const M = product(xShape) / K;
    const fm = stridesInOrder(xShape, featureMajorOrder(xShape.length));
    const v = this.value(input);
    let x: View;
    if (v.kind === 'view' && v.dtype === 'f16' && v.view.strides.every((s, i) => s === fm[i] || xShape[i] === 1)) x = v.view;
    else x = this.materialize(v, xShape, `${node.name}#x`, fm);
    const outShape = [...xShape.slice(0, -1), N];
    const y: View = { buf: this.addBuffer('f16', M * N, 'temp', `${node.name}#y`), offset: 0, shape: outShape, strides: stridesInOrder(outShape, featureMajorOrder(outShape.length)) };
    const index = this.linears.length;
    this.linears.push({ index, node: node.name, weight: w.name, M, N, K, stored });
    this.steps.push({ kind: 'linear', index, x, y });
    this.set(outT.name, { kind: 'view', view: y, dtype: 'f16' });
  }

  /** A matrix view cuBLAS can take: one of the two matrix strides is 1. */
  private matrixView(v: Value, shape: readonly number[], name: string): View {
    const view = this.materialize(v, shape, name);
    const r = view.shape.length;
    const ok = (x: View): boolean => (x.strides[r - 1] === 1 && x.strides[r - 2]! >= x.shape[r - 1]!) || (x.strides[r - 2] === 1 && x.strides[r - 1]! >= x.shape[r - 2]!);
    if (r >= 2 && ok(view)) return view;
    return this.materialize({ kind: 'view', view, dtype: 'f16' }, shape, `${name}#rm`, rowMajorStrides(shape));
  }

  private bmm(node: Node, outT: Tensor): void {
    const aShape = this.tensor(node.inputs[0]!).shape;
    const bShape = this.tensor(node.inputs[1]!).shape;
    if (aShape.length < 2 || bShape.length < 2) throw unsupported(node, 'MatMul of vectors');
    const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
    const a = this.matrixView(this.value(node.inputs[0]!), aShape, `${node.name}#a`);
    const b = this.matrixView(this.value(node.inputs[1]!), bShape, `${node.name}#b`);
    const aB = broadcastView(a, [...batch, ...aShape.slice(-2)]);
    const bB = broadcastView(b, [...batch, ...bShape.slice(-2)]);
    // Written in the layout its consumers want when cuBLAS can write it (a matrix stride of 1).
    const r = outT.shape.length;
    const want = this.demandedStrides(outT.name);
    const writable = want !== null && ((want[r - 1] === 1 && want[r - 2]! >= outT.shape[r - 1]!) || (want[r - 2] === 1 && want[r - 1]! >= outT.shape[r - 2]!));
    const out: View = { buf: this.addBuffer('f16', product(outT.shape), 'temp', `${node.name}#y`), offset: 0, shape: [...outT.shape], strides: writable ? want! : rowMajorStrides(outT.shape) };
    this.steps.push({ kind: 'bmm', out, a: aB, b: bB });
    this.set(outT.name, { kind: 'view', view: out, dtype: 'f16' });
  }

  private lastAxis(node: Node, fallback: number): void {
    const rank = this.tensor(node.inputs[0]!).shape.length;
    const axis = attrInt(node, 'axis', fallback);
    if (axis !== -1 && axis !== rank - 1) throw unsupported(node, `axis ${axis}: only the last axis is supported`);
  }

  private layerNorm(node: Node, outT: Tensor): void {
    this.lastAxis(node, -1);
    if (node.outputs.slice(1).some((o) => o !== '')) throw unsupported(node, 'the Mean and InvStdDev outputs');
    const shape = outT.shape;
    const D = shape[shape.length - 1]!;
    const src = this.operand(this.value(node.inputs[0]!), shape);
    const param = (name: string | undefined, fill: number): View => {
      if (name) {
        const v = this.value(name);
        if (v.kind === 'view') return v.view;
        if (v.kind === 'scalar') return { buf: this.addBuffer('f16', D, 'const', `${node.name}#${fill}`, new Float32Array(D).fill(v.value)), offset: 0, shape: [D], strides: [1] };
        return this.materialize(v, [D], `${node.name}#param`);
      }
      return { buf: this.addBuffer('f16', D, 'const', `${node.name}#${fill}`, new Float32Array(D).fill(fill)), offset: 0, shape: [D], strides: [1] };
    };
    const gamma = param(node.inputs[1], 1);
    const beta = param(node.inputs[2] || undefined, 0);
    const out: View = { buf: this.addBuffer('f16', product(shape), 'temp', `${node.name}#y`), offset: 0, shape: [...shape], strides: stridesInOrder(shape, this.naturalOrder(src)) };
    this.steps.push({ kind: 'layernorm', out, src, gamma, beta, eps: attrFloat(node, 'epsilon', 1e-5) });
    this.set(outT.name, { kind: 'view', view: out, dtype: 'f16' });
  }

  private softmax(node: Node, outT: Tensor): void {
    this.lastAxis(node, this.graph.opsetVersion >= 13 ? -1 : 1);
    const shape = outT.shape;
    const src = this.operand(this.value(node.inputs[0]!), shape);
    const out: View = { buf: this.addBuffer('f16', product(shape), 'temp', `${node.name}#y`), offset: 0, shape: [...shape], strides: stridesInOrder(shape, this.naturalOrder(src)) };
    this.steps.push({ kind: 'softmax', out, src });
    this.set(outT.name, { kind: 'view', view: out, dtype: 'f16' });
  }

  private gather(node: Node, outT: Tensor): void {
    const table = this.tensor(node.inputs[0]!);
    if (!table.data || table.shape.length !== 2 || attrInt(node, 'axis', 0) !== 0) throw unsupported(node, 'only embedding lookups (a constant 2-D table, axis 0)');
    const ids = this.value(node.inputs[1]!);
    if (ids.kind !== 'view' || ids.dtype !== 'i64') throw unsupported(node, 'the indices must be an int64 input or constant');
    const shape = outT.shape;
    const out: View = { buf: this.addBuffer('f16', product(shape), 'temp', `${node.name}#y`), offset: 0, shape: [...shape], strides: stridesInOrder(shape, featureMajorOrder(shape.length)) };
    this.steps.push({ kind: 'gather', out, table: this.constView(table).view, ids: ids.view });
    this.set(outT.name, { kind: 'view', view: out, dtype: 'f16' });
  }

  /** Graph output: a row-major buffer of its own. */
  output(name: string): { name: string; buf: number; shape: number[] } {
    const t = this.tensor(name);
    const v = this.value(name);
    const buf = this.addBuffer('f16', product(t.shape), 'output', name);
    const out: View = { buf, offset: 0, shape: [...t.shape], strides: rowMajorStrides(t.shape) };
    if (v.kind === 'view' && v.dtype === 'i64') throw new TesaError('UNSUPPORTED', `graph output '${name}' is an integer tensor`, 'the CUDA backend returns float outputs');
    this.steps.push({ kind: 'ew', out, src: this.operand(v, t.shape) });
    return { name, buf, shape: [...t.shape] };
  }
}

export function lowerGraph(graph: Graph): LoweredProgram {
  const L = new Lowerer(graph);
  const inputs = graph.inputs.map((name) => {
    const t = L.tensor(name);
    const dtype: ElemType = FLOAT_TYPES.has(t.dtype) ? 'f16' : t.dtype === 'int64' || t.dtype === 'int32' ? 'i64' : (() => {
      throw new TesaError('UNSUPPORTED', `graph input '${name}' has type ${t.dtype}`, 'the CUDA backend takes float and int64 inputs');
    })();
    const buf = L.addBuffer(dtype, product(t.shape), 'input', name);
    L.set(name, { kind: 'view', view: { buf, offset: 0, shape: [...t.shape], strides: rowMajorStrides(t.shape) }, dtype });
    return { name, buf, dtype, shape: [...t.shape] };
  });
  for (const node of graph.nodes) L.lowerNode(node);
  const outputs = graph.outputs.map((o) => L.output(o));
  return { buffers: L.buffers, steps: L.steps, linears: L.linears, inputs, outputs };
}
