/**
 * A small typed builder for the graph IR, used by the model zoo and by tests that need a
 * hand-made graph. It names nodes and tensors the way `torch.onnx.export` does
 * (`/encoder/layer.0/attention/self/query/MatMul`, output `…/MatMul_output_0`) so built
 * graphs read like exported ones, and it computes every tensor's concrete shape and dtype as
 * nodes are added: a node whose inputs do not fit is a bug in the caller and fails right there,
 * naming the node.
 */
import { TesaError } from '../errors.js';
import { numel, toNumbers } from './graph.js';
import type { Attr, DType, Graph, Node, Tensor, TensorData } from './graph.js';

// ---- attribute helpers ----

export const int = (value: number): Attr => ({ type: 'int', value });
export const ints = (value: readonly number[]): Attr => ({ type: 'ints', value: [...value] });
/** ONNX float attributes are float32: rounding here makes a built graph equal its own round trip. */
export const float = (value: number): Attr => ({ type: 'float', value: Math.fround(value) });
export const floats = (value: readonly number[]): Attr => ({ type: 'floats', value: value.map((v) => Math.fround(v)) });
export const str = (value: string): Attr => ({ type: 'string', value });

/** ONNX TensorProto.DataType codes, for Cast's `to` attribute. */
export const ONNX_DTYPE: Record<DType, number> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

export interface NodeOptions {
  /** Node name; default `<scope>/<OpType>` made unique with `_1`, `_2`, … as torch does. */
  name?: string;
  /** Output tensor names; default one output `<node name>_output_0`. */
  outputs?: string[];
  domain?: string;
  /** Shape of the (single) output for an op the builder has no shape rule for. */
  outputShape?: number[];
  outputDType?: DType;
}

export class GraphBuilder {
  private readonly tensors = new Map<string, Tensor>();
  private readonly nodes: Node[] = [];
  private readonly inputs: string[] = [];
  private readonly nameCounts = new Map<string, number>();
  private scopePath = '';

  constructor(
    readonly name: string,
    readonly opsetVersion = 17,
  ) {}

  /** A runtime input (no data). */
  input(name: string, dtype: DType, shape: readonly number[]): string {
    this.define({ name, dtype, shape: [...shape] });
    this.inputs.push(name);
    return name;
  }

  /** A constant tensor under a chosen name (a weight, a buffer). */
  initializer(name: string, data: TensorData, shape: readonly number[], dtype: DType = dtypeOf(data)): string {
    if (data.length !== numel(shape)) {
      throw internal(`initializer '${name}' has ${data.length} values but shape [${shape.join(', ')}] needs ${numel(shape)}`);
    }
    this.define({ name, dtype, shape: [...shape], data });
    return name;
  }

  /** A small constant named like torch's folded Constant outputs (`<scope>/Constant_output_0`). */
  constant(values: readonly number[], dtype: 'int64' | 'float32', shape: readonly number[] = [values.length]): string {
    const name = `${this.uniqueNodeName(`${this.scopePath}/Constant`)}_output_0`;
    const data = dtype === 'int64' ? BigInt64Array.from(values, (v) => BigInt(v)) : Float32Array.from(values);
    return this.initializer(name, data, shape, dtype);
  }

  /** A float32 scalar constant (shape []), as torch emits for `x / 8.0`, `1.0 - m`. */
  scalar(value: number): string {
    return this.constant([value], 'float32', []);
  }

  /** A 1-D int64 constant: shapes, axes, perms given as inputs. */
  int64s(values: readonly number[]): string {
    return this.constant(values, 'int64');
  }

  /** Runs `body` with `/<part>` appended to the node-name scope (torch's module path). */
  scope<T>(part: string, body: () => T): T {
    const saved = this.scopePath;
    this.scopePath = `${saved}/${part}`;
    try {
      return body();
    } finally {
      this.scopePath = saved;
    }
  }

  shape(tensor: string): number[] {
    return [...this.tensor(tensor).shape];
  }

  dtype(tensor: string): DType {
    return this.tensor(tensor).dtype;
  }

  /** Adds a node; returns its first output's name. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, Attr> = {}, options: NodeOptions = {}): string {
    const name = options.name ?? this.uniqueNodeName(`${this.scopePath}/${opType}`);
    if (options.name !== undefined) this.claimNodeName(name);
    const outputs = options.outputs ?? [`${name}_output_0`];
    if (outputs.length !== 1) throw internal(`node '${name}' (${opType}): the builder makes single-output nodes only`);
    const node: Node = { name, opType, domain: options.domain ?? '', inputs: [...inputs], outputs, attrs };
    for (const i of inputs) if (i) this.tensor(i, node);
    const outShape = options.outputShape ?? this.inferShape(node);
    const outDType = options.outputDType ?? this.inferDType(node);
    this.define({ name: outputs[0], dtype: outDType, shape: outShape });
    this.nodes.push(node);
    return outputs[0];
  }

  /**
   * Gives a tensor a new name everywhere (e.g. the last node's output becomes the graph
   * output `logits`, as torch names outputs after `output_names`). Returns the new name.
   */
  rename(from: string, to: string): string {
    const t = this.tensor(from);
    if (this.tensors.has(to)) throw internal(`cannot rename '${from}': tensor '${to}' exists`);
    this.tensors.delete(from);
    this.tensors.set(to, { ...t, name: to });
    const swap = (n: string): string => (n === from ? to : n);
    for (const node of this.nodes) {
      node.inputs = node.inputs.map(swap);
      node.outputs = node.outputs.map(swap);
    }
    this.inputs.splice(0, this.inputs.length, ...this.inputs.map(swap));
    return to;
  }

  /** The finished graph, nodes in the order added (which is topological by construction). */
  build(outputs: readonly string[], metadata?: Record<string, string>): Graph {
    for (const o of outputs) this.tensor(o);
    return {
      name: this.name,
      inputs: [...this.inputs],
      outputs: [...outputs],
      tensors: new Map(this.tensors),
      nodes: [...this.nodes],
      opsetVersion: this.opsetVersion,
      metadata: metadata ? { ...metadata } : undefined,
    };
  }

  // ---- internals ----

  private define(t: Tensor): void {
    if (this.tensors.has(t.name)) throw internal(`tensor '${t.name}' is defined twice in graph '${this.name}'`);
    if (t.shape.some((d) => !Number.isInteger(d) || d < 0)) throw internal(`tensor '${t.name}' has a bad shape [${t.shape.join(', ')}]`);
    this.tensors.set(t.name, t);
  }

  private tensor(name: string, user?: Node): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw internal(user ? `node '${user.name}' (${user.opType}) reads undefined tensor '${name}'` : `tensor '${name}' is not defined`);
    return t;
  }

  private uniqueNodeName(base: string): string {
    const n = this.nameCounts.get(base) ?? 0;
    this.nameCounts.set(base, n + 1);
    return n === 0 ? base : `${base}_${n}`;
  }

  private claimNodeName(name: string): void {
    if (this.nameCounts.has(name)) throw internal(`node name '${name}' is used twice`);
    this.nameCounts.set(name, 1);
  }

  private inferDType(node: Node): DType {
    if (node.opType === 'Cast') {
      const to = node.attrs.to;
      const entry = Object.entries(ONNX_DTYPE).find(([, code]) => to?.type === 'int' && code === to.value);
      if (!entry) throw nodeError(node, "Cast needs a 'to' attribute naming a known dtype");
      return entry[0] as DType;
    }
    if (node.opType === 'Shape') return 'int64';
    const first = node.inputs.find((i) => i !== '');
    if (first === undefined) throw nodeError(node, 'has no inputs; give outputDType');
    return this.tensor(first).dtype;
  }

  private inferShape(node: Node): number[] {
    const s = (i: number): number[] => {
      const name = node.inputs[i];
      if (!name) throw nodeError(node, `input ${i} is missing`);
      return this.tensor(name).shape;
    };
    const constInts = (i: number): number[] => {
      const t = this.tensor(node.inputs[i]);
      if (!t.data) throw nodeError(node, `input ${i} ('${t.name}') must be a constant`);
      return toNumbers(t.data);
    };
    const attrInts = (key: string, fallback: number[]): number[] => {
      const a = node.attrs[key];
      return a?.type === 'ints' ? a.value : fallback;
    };
    const attrIntOr = (key: string, fallback: number): number => {
      const a = node.attrs[key];
      return a?.type === 'int' ? a.value : fallback;
    };

    switch (node.opType) {
      case 'Relu':
      case 'Clip':
      case 'Sigmoid':
      case 'Tanh':
      case 'Erf':
      case 'Gelu':
      case 'Sqrt':
      case 'Reciprocal':
      case 'Neg':
      case 'Exp':
      case 'Softmax':
      case 'Identity':
      case 'Cast':
      case 'LayerNormalization':
      case 'BatchNormalization':
        return [...s(0)];
      case 'Add':
      case 'Sub':
      case 'Mul':
      case 'Div':
      case 'Pow':
        return broadcast(node, s(0), s(1));
      case 'MatMul':
        return matmulShape(node, s(0), s(1));
      case 'Gemm': {
        const a = s(0);
        const b = s(1);
        if (a.length !== 2 || b.length !== 2) throw nodeError(node, 'Gemm takes 2-D A and B');
        const [m, ka] = attrIntOr('transA', 0) ? [a[1], a[0]] : [a[0], a[1]];
        const [kb, n] = attrIntOr('transB', 0) ? [b[1], b[0]] : [b[0], b[1]];
        if (ka !== kb) throw nodeError(node, `inner dims differ: ${ka} vs ${kb}`);
        if (node.inputs[2]) broadcast(node, s(2), [m, n]);
        return [m, n];
      }
      case 'Gather': {
        const data = s(0);
        const axis = normAxis(node, attrIntOr('axis', 0), data.length);
        return [...data.slice(0, axis), ...s(1), ...data.slice(axis + 1)];
      }
      case 'Unsqueeze': {
        const axes = this.opsetVersion >= 13 ? constInts(1) : attrInts('axes', []);
        const out = [...s(0)];
        const rank = out.length + axes.length;
        for (const a of axes.map((a) => normAxis(node, a, rank)).sort((x, y) => x - y)) out.splice(a, 0, 1);
        return out;
      }
      case 'Reshape': {
        const inShape = s(0);
        const target = constInts(1).map((d, i) => (d === 0 && attrIntOr('allowzero', 0) === 0 ? inShape[i] : d));
        const known = numel(target.filter((d) => d !== -1));
        const inferred = target.map((d) => (d === -1 ? numel(inShape) / known : d));
        if (numel(inferred) !== numel(inShape) || inferred.some((d) => !Number.isInteger(d))) {
          throw nodeError(node, `cannot reshape [${inShape.join(', ')}] to [${target.join(', ')}]`);
        }
        return inferred;
      }
      case 'Transpose': {
        const inShape = s(0);
        const perm = attrInts('perm', inShape.map((_, i) => inShape.length - 1 - i));
        if (perm.length !== inShape.length) throw nodeError(node, `perm has ${perm.length} entries for rank ${inShape.length}`);
        return perm.map((p) => inShape[p]);
      }
      case 'Flatten': {
        const inShape = s(0);
        const axis = normAxis(node, attrIntOr('axis', 1), inShape.length + 1);
        return [numel(inShape.slice(0, axis)), numel(inShape.slice(axis))];
      }
      case 'GlobalAveragePool':
      case 'GlobalMaxPool': {
        const x = s(0);
        return [x[0], x[1], ...x.slice(2).map(() => 1)];
      }
      case 'Conv': {
        const x = s(0);
        const w = s(1);
        const group = attrIntOr('group', 1);
        if (x.length !== w.length) throw nodeError(node, `input rank ${x.length} and weight rank ${w.length} differ`);
        if (x[1] !== w[1] * group) throw nodeError(node, `input has ${x[1]} channels, weight expects ${w[1]} × group ${group}`);
        if (w[0] % group !== 0) throw nodeError(node, `${w[0]} output channels do not split into ${group} groups`);
        if (node.inputs[2] && numel(s(2)) !== w[0]) throw nodeError(node, `bias has ${numel(s(2))} values for ${w[0]} channels`);
        return [x[0], w[0], ...windowDims(node, x.slice(2), w.slice(2), attrInts, false)];
      }
      case 'MaxPool':
      case 'AveragePool': {
        const x = s(0);
        const kernel = attrInts('kernel_shape', []);
        if (kernel.length !== x.length - 2) throw nodeError(node, 'kernel_shape does not match the input rank');
        return [x[0], x[1], ...windowDims(node, x.slice(2), kernel, attrInts, attrIntOr('ceil_mode', 0) === 1)];
      }
      default:
        throw nodeError(node, 'the graph builder has no shape rule for this op: pass outputShape');
    }
  }
}

/** The dtype a typed array holds by default (Uint8Array means uint8; pass 'bool' explicitly). */
function dtypeOf(data: TensorData): DType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof Uint16Array) return 'float16';
  return 'uint8';
}

function broadcast(node: Node, a: number[], b: number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) throw nodeError(node, `cannot broadcast [${a.join(', ')}] with [${b.join(', ')}]`);
    out.push(da === 1 ? db : da);
  }
  return out;
}

function matmulShape(node: Node, a: number[], b: number[]): number[] {
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  const k1 = a2[a2.length - 1];
  const k2 = b2[b2.length - 2];
  if (k1 !== k2) throw nodeError(node, `inner dims differ: [${a.join(', ')}] × [${b.join(', ')}]`);
  const batch = broadcast(node, a2.slice(0, -2), b2.slice(0, -2));
  const out = [...batch, a2[a2.length - 2], b2[b2.length - 1]];
  if (a.length === 1) out.splice(out.length - 2, 1);
  if (b.length === 1) out.pop();
  return out;
}

function windowDims(
  node: Node,
  spatial: number[],
  kernel: number[],
  attrInts: (key: string, fallback: number[]) => number[],
  ceil: boolean,
): number[] {
  const r = spatial.length;
  const strides = attrInts('strides', new Array<number>(r).fill(1));
  const dilations = attrInts('dilations', new Array<number>(r).fill(1));
  const pads = attrInts('pads', new Array<number>(2 * r).fill(0));
  return spatial.map((size, i) => {
    const span = dilations[i] * (kernel[i] - 1) + 1;
    const room = size + pads[i] + pads[i + r] - span;
    if (room < 0) throw nodeError(node, `window ${span} does not fit spatial size ${size} with pads`);
    return (ceil ? Math.ceil(room / strides[i]) : Math.floor(room / strides[i])) + 1;
  });
}

function normAxis(node: Node, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw nodeError(node, `axis ${axis} is out of range for rank ${rank}`);
  return a;
}

function nodeError(node: Node, what: string): TesaError {
  return internal(`node '${node.name}' (${node.opType}): ${what}`);
}

function internal(message: string): TesaError {
  return new TesaError('INTERNAL', message, 'this is a bug in the code that builds the graph');
}
