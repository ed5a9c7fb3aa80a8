/**
 * The GPU program a whole graph lowers to (the CUDA backend's model IR): buffers in device
 * memory, strided views into them, and a list of steps. Reshape, Transpose, Unsqueeze and
 * friends cost nothing here: they only change a view's strides. Element-wise chains are not
 * steps of their own but expressions (`Operand`) that the consuming step evaluates while it
 * loads, so bias + GELU, residual + LayerNorm and scale + mask + Softmax each touch memory
 * once. Linear layers read feature-major activations (Xᵀ: a feature is a contiguous row of
 * tokens), the layout the sparse gather kernels are fastest in.
 *
 * Plain data: the glue generator (glue.ts) turns it into CUDA C++, the reference interpreter
 * (reference.ts) into numbers on the CPU for tests.
 */

/** Element types on the device: float tensors are fp16, integer tensors int64. */
export type ElemType = 'f16' | 'i64';

export interface BufferDecl {
  id: number;
  dtype: ElemType;
  numel: number;
  role: 'const' | 'input' | 'output' | 'temp';
  /** Graph tensor (const, input, output) or a description (temp). */
  name: string;
  /** Constants: the values, uploaded once (fp16 rounding happens when written). */
  data?: Float32Array | BigInt64Array;
}

/** Element (i₀, i₁, …) of the view is element offset + Σ iₖ·strides[k] of buffer `buf`. */
export interface View {
  buf: number;
  offset: number;
  shape: number[];
  strides: number[];
}

export type UnaryFn = 'erf' | 'relu' | 'tanh' | 'sigmoid' | 'exp' | 'log' | 'sqrt' | 'neg' | 'abs' | 'recip';
export type BinaryFn = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'max' | 'min';

export type Expr =
  | { op: 'leaf'; leaf: number }
  | { op: 'const'; value: number }
  | { op: 'unary'; fn: UnaryFn; a: Expr }
  | { op: 'binary'; fn: BinaryFn; a: Expr; b: Expr };

/** A value computed on the fly: `expr` over `leaves`, every leaf a view of exactly `shape` (broadcast by zero strides). */
export interface Operand {
  shape: number[];
  leaves: View[];
  /** Element type of each leaf's buffer (int64 leaves are converted to float on load). */
  leafTypes: ElemType[];
  expr: Expr;
}

export type Step =
  /** out = src, element by element. */
  | { kind: 'ew'; out: View; src: Operand }
  /** LayerNormalization over the last axis: out = (x − mean) / sqrt(var + eps) · gamma + beta. */
  | { kind: 'layernorm'; out: View; src: Operand; gamma: View; beta: View; eps: number }
  /** Softmax over the last axis. */
  | { kind: 'softmax'; out: View; src: Operand }
  /** out[i…, d] = table[ids[i…], d]; table is [V, D]. */
  | { kind: 'gather'; out: View; table: View; ids: View }
  /** Batched matrix product of activations: out[b…] = a[b…] · b[b…] ([M,K]·[K,N]; batch dims broadcast). */
  | { kind: 'bmm'; out: View; a: View; b: View }
  /** Linear layer `index` (see LinearDecl): Yᵀ[N,M] = W·Xᵀ[K,M]; x and y start feature-major buffers' rows. */
  | { kind: 'linear'; index: number; x: View; y: View };

export interface LinearDecl {
  index: number;
  /** Graph node and weight tensor it comes from. */
  node: string;
  weight: string;
  M: number;
  N: number;
  K: number;
}

export interface Program {
  buffers: BufferDecl[];
  steps: Step[];
  linears: LinearDecl[];
  inputs: Array<{ name: string; buf: number; dtype: ElemType; shape: number[] }>;
  /** Graph outputs, each a row-major buffer of its own. */
  outputs: Array<{ name: string; buf: number; shape: number[] }>;
}
