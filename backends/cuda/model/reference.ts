/**
 * Runs a GPU program (program.ts) on the CPU, in float64 with fp16 rounding wherever the GPU
 * stores fp16. It is the executable meaning of the IR: tests compare it with onnxruntime on
 * the same graph (so lowering, views and fusion are right before any GPU is involved), and
 * the generated CUDA must agree with it.
 */
import { TesaError } from '../../../src/errors.js';
import type { Expr, LinearDecl, Program, View } from './program.js';
import { roundHalf } from '../half.js';
import { product } from './views.js';

function offsetOf(v: View, idx: readonly number[]): number {
  let o = v.offset;
  for (let i = 0; i < idx.length; i++) o += idx[i]! * v.strides[i]!;
  return o;
}

function forEachIndex(shape: readonly number[], f: (idx: number[]) => void): void {
  const n = product(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    f(idx);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

function erf(x: number): number {
  // Abramowitz–Stegun 7.1.26 is too coarse for a reference; use a series / continued fraction.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t;
    let term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      sum += term / (2 * n + 1);
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc continued fraction for large |x|
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
}

export function evalExpr(e: Expr, leaf: (i: number) => number): number {
  switch (e.op) {
    case 'leaf':
      return leaf(e.leaf);
    case 'const':
      return e.value;
    case 'unary': {
      const a = evalExpr(e.a, leaf);
      switch (e.fn) {
        case 'erf':
          return erf(a);
        case 'relu':
          return Math.max(a, 0);
        case 'tanh':
          return Math.tanh(a);
        case 'sigmoid':
          return 1 / (1 + Math.exp(-a));
        case 'exp':
          return Math.exp(a);
        case 'log':
          return Math.log(a);
        case 'sqrt':
          return Math.sqrt(a);
        case 'neg':
          return -a;
        case 'abs':
          return Math.abs(a);
        case 'recip':
          return 1 / a;
      }
      break;
    }
    case 'binary': {
      const a = evalExpr(e.a, leaf);
      const b = evalExpr(e.b, leaf);
      switch (e.fn) {
        case 'add':
          return a + b;
        case 'sub':
          return a - b;
        case 'mul':
          return a * b;
        case 'div':
          return a / b;
        case 'pow':
          return Math.pow(a, b);
        case 'max':
          return Math.max(a, b);
        case 'min':
          return Math.min(a, b);
      }
    }
  }
  throw new TesaError('INTERNAL', 'unknown expression node', 'program.ts and reference.ts disagree');
}

export interface ReferenceInputs {
  /** By graph input name: float inputs as Float32Array, int inputs as BigInt64Array. */
  inputs: Map<string, Float32Array | BigInt64Array>;
  /** Linear layer j's weight in the math view N×K (row-major), masked. */
  weight: (linear: LinearDecl) => Float32Array;
}

/** Executes the program; returns each graph output (row-major, fp16-rounded values). */
export function runReference(p: Program, io: ReferenceInputs): Map<string, Float32Array> {
  const mem: Float64Array[] = p.buffers.map((b) => new Float64Array(b.numel));
  const isHalf = p.buffers.map((b) => b.dtype === 'f16');
  const store = (buf: number, at: number, x: number): void => {
    mem[buf]![at] = isHalf[buf] ? roundHalf(x) : x;
  };
  for (const b of p.buffers) if (b.data) b.data.forEach((x: number | bigint, i: number) => store(b.id, i, Number(x)));
  for (const inp of p.inputs) {
    const data = io.inputs.get(inp.name);
    if (!data) throw new TesaError('BAD_INPUT', `no value for input '${inp.name}'`, 'give every graph input');
    data.forEach((x: number | bigint, i: number) => store(inp.buf, i, Number(x)));
  }
  const load = (v: View, idx: readonly number[]): number => mem[v.buf]![offsetOf(v, idx)]!;
  for (const s of p.steps) {
    switch (s.kind) {
      case 'ew':
        forEachIndex(s.out.shape, (idx) => store(s.out.buf, offsetOf(s.out, idx), evalExpr(s.src.expr, (i) => load(s.src.leaves[i]!, idx))));
        break;
      case 'layernorm':
      case 'softmax': {
        const shape = s.out.shape;
        const D = shape[shape.length - 1]!;
        forEachIndex(shape.slice(0, -1), (row) => {
          const xs = new Float64Array(D);
          const idx = [...row, 0];
          for (let c = 0; c < D; c++) {
            idx[idx.length - 1] = c;
            xs[c] = evalExpr(s.src.expr, (i) => load(s.src.leaves[i]!, idx));
          }
          if (s.kind === 'layernorm') {
            let mean = 0;
            for (const x of xs) mean += x;
            mean /= D;
            let v = 0;
            for (const x of xs) v += (x - mean) ** 2;
            const inv = 1 / Math.sqrt(v / D + s.eps);
            for (let c = 0; c < D; c++) {
              idx[idx.length - 1] = c;
              store(s.out.buf, offsetOf(s.out, idx), (xs[c]! - mean) * inv * load(s.gamma, [c]) + load(s.beta, [c]));
            }
          } else {
            let m = -Infinity;
            for (const x of xs) m = Math.max(m, x);
            let sum = 0;
            for (const x of xs) sum += Math.exp(x - m);
            for (let c = 0; c < D; c++) {
              idx[idx.length - 1] = c;
              store(s.out.buf, offsetOf(s.out, idx), Math.exp(xs[c]! - m) / sum);
            }
          }
        });
        break;
      }
      case 'gather': {
        const D = s.table.shape[1]!;
        forEachIndex(s.ids.shape, (idx) => {
          const id = load(s.ids, idx);
          for (let d = 0; d < D; d++) store(s.out.buf, offsetOf(s.out, [...idx, d]), load(s.table, [id, d]));
        });
        break;
      }
      case 'bmm': {
        const r = s.out.shape.length;
        const [M, N] = [s.out.shape[r - 2]!, s.out.shape[r - 1]!];
        const K = s.a.shape[r - 1]!;
        forEachIndex(s.out.shape.slice(0, -2), (b) => {
          for (let m = 0; m < M; m++)
            for (let n = 0; n < N; n++) {
              let acc = 0;
              for (let k = 0; k < K; k++) acc += load(s.a, [...b, m, k]) * load(s.b, [...b, k, n]);
              store(s.out.buf, offsetOf(s.out, [...b, m, n]), acc);
            }
        });
        break;
      }
      case 'linear': {
        const d = p.linears[s.index]!;
        const w = io.weight(d);
        // x: Xᵀ rows of M tokens starting at x.offset; y likewise.
        const xb = mem[s.x.buf]!;
        const acc = new Float64Array(d.M);
        for (let n = 0; n < d.N; n++) {
          acc.fill(0);
          for (let k = 0; k < d.K; k++) {
            const wk = w[n * d.K + k]!;
            if (wk === 0) continue;
            const row = s.x.offset + k * d.M;
            for (let m = 0; m < d.M; m++) acc[m]! += wk * xb[row + m]!;
          }
          for (let m = 0; m < d.M; m++) store(s.y.buf, s.y.offset + n * d.M + m, acc[m]!);
        }
        break;
      }
    }
  }
  const out = new Map<string, Float32Array>();
  for (const o of p.outputs) out.set(o.name, Float32Array.from(mem[o.buf]!));
  return out;
}
