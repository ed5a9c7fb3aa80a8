/**
 * Small graphs built by hand for the model tests: an MLP with Gemm, a conv net, and an
 * attention block with the mask arithmetic PyTorch exports. Weights are seeded.
 */
import seedrandom from 'seedrandom';
import type { Attr, DType, Graph, Node, Tensor, TensorData } from '../../src/model/graph.js';

export class HandGraph {
  readonly tensors = new Map<string, Tensor>();
  readonly nodes: Node[] = [];
  readonly inputs: string[] = [];
  outputs: string[] = [];
  private readonly rng: () => number;
  private n = 0;

  constructor(
    readonly name: string,
    seed = 1,
  ) {
    this.rng = seedrandom(String(seed));
  }

  input(name: string, dtype: DType, shape: number[]): string {
    this.tensors.set(name, { name, dtype, shape });
    this.inputs.push(name);
    return name;
  }

  weight(name: string, shape: number[], scale = 0.2): string {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) data[i] = (this.rng() * 2 - 1) * scale;
    this.tensors.set(name, { name, dtype: 'float32', shape, data });
    return name;
  }

  const(name: string, dtype: DType, shape: number[], data: TensorData): string {
    this.tensors.set(name, { name, dtype, shape, data });
    return name;
  }

  ints(name: string, values: number[]): string {
    return this.const(name, 'int64', [values.length], BigInt64Array.from(values.map(BigInt)));
  }

  scalar(name: string, v: number): string {
    return this.const(name, 'float32', [], Float32Array.of(v));
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, nOut = 1, name?: string): string[] {
    const nodeName = name ?? `${opType.toLowerCase()}_${this.n++}`;
    const outputs = Array.from({ length: nOut }, (_, i) => `${nodeName}_out${i}`);
    // Shapes are placeholders: importOnnx / simplifyGraph infers them.
    for (const o of outputs) this.tensors.set(o, { name: o, dtype: 'float32', shape: [] });
    this.nodes.push({ name: nodeName, opType, domain: '', inputs, outputs, attrs });
    return outputs;
  }

  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, name?: string): string {
    return this.op(opType, inputs, attrs, 1, name)[0];
  }

  graph(outputs: string[], opset = 17): Graph {
    return { name: this.name, inputs: this.inputs, outputs, tensors: this.tensors, nodes: this.nodes, opsetVersion: opset, metadata: { built: 'by hand' } };
  }
}

export const int = (value: number): Attr => ({ type: 'int', value });
export const ints = (value: number[]): Attr => ({ type: 'ints', value });
export const float = (value: number): Attr => ({ type: 'float', value });

/** 8 → 32 → 16 → 4 MLP with Gemm (transB=1, as torch exports nn.Linear at batch 3). */
export function mlp(): Graph {
  const b = new HandGraph('mlp');
  const x = b.input('x', 'float32', [3, 8]);
  let h = b.op1('Gemm', [x, b.weight('fc1.weight', [32, 8]), b.weight('fc1.bias', [32])], { transB: int(1) });
  h = b.op1('Relu', [h]);
  h = b.op1('Gemm', [h, b.weight('fc2.weight', [16, 32]), b.weight('fc2.bias', [16])], { transB: int(1) });
  h = b.op1('Relu', [h]);
  const y = b.op1('Gemm', [h, b.weight('fc3.weight', [4, 16]), b.weight('fc3.bias', [4])], { transB: int(1) }, 'head');
  return b.graph([y]);
}

function bn(b: HandGraph, x: string, c: number, p: string): string {
  const scale = b.const(`${p}.weight`, 'float32', [c], Float32Array.from({ length: c }, (_, i) => 1 + 0.1 * i));
  const bias = b.const(`${p}.bias`, 'float32', [c], Float32Array.from({ length: c }, (_, i) => 0.05 * i));
  const mean = b.const(`${p}.running_mean`, 'float32', [c], Float32Array.from({ length: c }, (_, i) => 0.01 * i));
  const vr = b.const(`${p}.running_var`, 'float32', [c], Float32Array.from({ length: c }, (_, i) => 1 + 0.02 * i));
  return b.op1('BatchNormalization', [x, scale, bias, mean, vr], { epsilon: float(1e-5) });
}

/** Conv+BN+Relu, a depthwise conv, MaxPool, GlobalAveragePool, Flatten, Gemm. */
export function convNet(): Graph {
  const b = new HandGraph('convnet', 2);
  const x = b.input('image', 'float32', [1, 3, 16, 16]);
  let h = b.op1('Conv', [x, b.weight('conv1.weight', [8, 3, 3, 3])], { pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) });
  h = b.op1('Relu', [bn(b, h, 8, 'bn1')]);
  h = b.op1('Conv', [h, b.weight('dw.weight', [8, 1, 3, 3]), b.weight('dw.bias', [8])], { pads: ints([1, 1, 1, 1]), group: int(8) });
  h = b.op1('Clip', [h, b.scalar('clip_min', 0), b.scalar('clip_max', 6)]);
  h = b.op1('MaxPool', [h], { kernel_shape: ints([2, 2]), strides: ints([2, 2]) });
  h = b.op1('Conv', [h, b.weight('pw.weight', [12, 8, 1, 1])], {});
  h = b.op1('GlobalAveragePool', [h]);
  h = b.op1('Flatten', [h], { axis: int(1) });
  const y = b.op1('Gemm', [h, b.weight('fc.weight', [5, 12]), b.weight('fc.bias', [5])], { transB: int(1) });
  return b.graph([y]);
}

/**
 * One BERT-style attention block at batch 1, seq 8, hidden 16, 2 heads: embeddings via Gather,
 * mask arithmetic Cast/Sub/Mul/Add, MatMul/Transpose/Reshape/Softmax, LayerNormalization and
 * an Erf GELU, plus PyTorch's Shape→Gather→Unsqueeze→Concat→Reshape sub-graph for the heads.
 */
export function attention(): Graph {
  const S = 8;
  const H = 16;
  const NH = 2;
  const D = H / NH;
  const b = new HandGraph('attention', 3);
  const ids = b.input('input_ids', 'int64', [1, S]);
  const mask = b.input('attention_mask', 'int64', [1, S]);
  let x = b.op1('Gather', [b.weight('emb.word', [50, H], 1), ids], {}, 'embed');
  x = b.op1('LayerNormalization', [x, b.const('emb.ln.weight', 'float32', [H], new Float32Array(H).fill(1)), b.weight('emb.ln.bias', [H])], { axis: int(-1), epsilon: float(1e-12) });
  // (1 - mask[:, None, None, :].float()) * -10000
  let m = b.op1('Unsqueeze', [mask, b.ints('axes12', [1, 2])]);
  m = b.op1('Cast', [m], { to: int(1) });
  m = b.op1('Sub', [b.scalar('one', 1), m]);
  m = b.op1('Mul', [m, b.scalar('neg', -10000)]);

  // The heads' shape, as PyTorch computes it from x's runtime shape.
  const shp = b.op1('Shape', [x]);
  const d0 = b.op1('Gather', [shp, b.const('i0', 'int64', [], BigInt64Array.of(0n))], { axis: int(0) });
  const d1 = b.op1('Gather', [shp, b.const('i1', 'int64', [], BigInt64Array.of(1n))], { axis: int(0) });
  const u0 = b.op1('Unsqueeze', [d0, b.ints('ax0a', [0])]);
  const u1 = b.op1('Unsqueeze', [d1, b.ints('ax0b', [0])]);
  const headShape = b.op1('Concat', [u0, u1, b.ints('heads', [NH, D])], { axis: int(0) });

  const proj = (w: string): string => {
    const mm = b.op1('MatMul', [x, b.weight(`${w}.weight`, [H, H])]);
    const add = b.op1('Add', [mm, b.weight(`${w}.bias`, [H])]);
    return b.op1('Reshape', [add, headShape]);
  };
  const q = b.op1('Transpose', [proj('q')], { perm: ints([0, 2, 1, 3]) });
  const k = b.op1('Transpose', [proj('k')], { perm: ints([0, 2, 3, 1]) });
  const v = b.op1('Transpose', [proj('v')], { perm: ints([0, 2, 1, 3]) });
  let s = b.op1('MatMul', [q, k]);
  s = b.op1('Div', [s, b.scalar('sqrt_d', Math.sqrt(D))]);
  s = b.op1('Add', [s, m]);
  s = b.op1('Softmax', [s], { axis: int(-1) });
  let c = b.op1('MatMul', [s, v]);
  c = b.op1('Transpose', [c], { perm: ints([0, 2, 1, 3]) });
  c = b.op1('Reshape', [c, b.ints('flat', [1, S, H])]);
  c = b.op1('Identity', [c]);
  let o = b.op1('Add', [b.op1('MatMul', [c, b.weight('o.weight', [H, H])]), b.weight('o.bias', [H])]);
  o = b.op1('Add', [o, x]);
  // GELU written out: 0.5 * x * (1 + erf(x / sqrt(2)))
  const f = b.op1('Add', [b.op1('MatMul', [o, b.weight('ffn.weight', [H, 32])]), b.weight('ffn.bias', [32])]);
  const e = b.op1('Erf', [b.op1('Div', [f, b.scalar('sqrt2', Math.SQRT2)])]);
  const g = b.op1('Mul', [b.op1('Mul', [f, b.op1('Add', [e, b.scalar('one_b', 1)])]), b.scalar('half', 0.5)]);
  const y = b.op1('LayerNormalization', [b.op1('MatMul', [g, b.weight('ffn2.weight', [32, H])]), b.const('ln.weight', 'float32', [H], new Float32Array(H).fill(1)), b.weight('ln.bias', [H])], {
    axis: int(-1),
    epsilon: float(1e-12),
  });
  const out = b.op1('Identity', [y], {}, 'final_identity');
  return b.graph([out]);
}
