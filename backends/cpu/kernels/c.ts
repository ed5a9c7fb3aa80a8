/**
 * Small helpers every C template shares: the prelude (headers and vectorisable exp/erf),
 * C types of tensor dtypes, strides and broadcasting, and the epilogue statements.
 */
import type { DType } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import type { EpilogueStep, TensorRef } from './family.js';

/**
 * exp and erf written so that gcc vectorises the loops that call them (libm's are scalar
 * calls). exp: Cephes' range reduction and polynomial (rel. error ~1e-7). erf: the rational
 * approximation Eigen uses for float (clamped to ±4, where erf is ±1 in float).
 */
export const PRELUDE = `#include <stdint.h>
#include <string.h>
#include <math.h>

typedef const void *const *tesa_in;
typedef void *const *tesa_out;

/* Plain compares, not fmaxf/fminf: gcc calls libm for those unless NaNs are ruled out. */
static inline float tesa_max(float a, float b) { return a > b ? a : b; }
static inline float tesa_min(float a, float b) { return a < b ? a : b; }

/* Below -87 the result would be denormal (slow on many CPUs): flush it to 0 instead. */
static inline float tesa_expf(float x) {
  const float under = x < -87.0f ? 0.0f : 1.0f;
  x = tesa_min(tesa_max(x, -87.0f), 88.3f);
  float n = floorf(x * 1.44269504088896341f + 0.5f);
  float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  int32_t bits = ((int32_t)n + 127) << 23;
  /* union punning (not memcpy) keeps the loop vectorisable for gcc */
  union { int32_t i; float f; } u = { .i = bits };
  return p * u.f * under;
}

static inline float tesa_erff(float x) {
  x = tesa_min(tesa_max(x, -4.0f), 4.0f);
  float x2 = x * x;
  float p = -2.72614225801306e-10f;
  p = p * x2 + 2.77068142495902e-08f;
  p = p * x2 + -2.10102402082508e-06f;
  p = p * x2 + -5.69250639462346e-05f;
  p = p * x2 + -7.34990630326855e-04f;
  p = p * x2 + -2.95459980854025e-03f;
  p = p * x2 + -1.60960333262415e-02f;
  p = p * x;
  float q = -1.45660718464996e-05f;
  q = q * x2 + -2.13374055278905e-04f;
  q = q * x2 + -1.68282697438203e-03f;
  q = q * x2 + -7.37332916720468e-03f;
  q = q * x2 + -1.42647390514189e-02f;
  return p / q;
}

static inline float tesa_gelu(float x) { return 0.5f * x * (1.0f + tesa_erff(x * 0.70710678118654752f)); }
static inline float tesa_sigmoid(float x) { return 1.0f / (1.0f + tesa_expf(-x)); }
`;

export function ctype(dtype: DType): string {
  switch (dtype) {
    case 'float32':
      return 'float';
    case 'float64':
      return 'double';
    case 'int64':
      return 'int64_t';
    case 'int32':
      return 'int32_t';
    case 'int8':
      return 'int8_t';
    case 'uint8':
    case 'bool':
      return 'uint8_t';
    case 'float16':
      throw new TesaError('UNSUPPORTED', 'float16 tensors are not supported by the cpu backend', 'export the model in float32');
  }
}

/** The runner's dtype code for comparing outputs in check mode. */
export function manifestDtype(dtype: DType): string {
  switch (dtype) {
    case 'float32':
      return 'f32';
    case 'float64':
      return 'f64';
    case 'int64':
      return 'i64';
    case 'int32':
      return 'i32';
    default:
      return 'u8';
  }
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let i = shape.length - 2; i >= 0; i--) s[i] = s[i + 1] * shape[i + 1];
  return s;
}

/** Strides of `inShape` read as if broadcast to `outShape` (0 on broadcast dims), numpy rules. */
export function broadcastStrides(inShape: readonly number[], outShape: readonly number[]): number[] {
  const own = contiguousStrides(inShape);
  const out = new Array<number>(outShape.length).fill(0);
  const off = outShape.length - inShape.length;
  if (off < 0) throw new TesaError('BAD_MODEL', `cannot broadcast [${inShape}] to [${outShape}]`, 'the model is malformed');
  for (let i = 0; i < inShape.length; i++) {
    const d = inShape[i];
    const o = outShape[i + off];
    if (d === o) out[i + off] = d === 1 ? 0 : own[i];
    else if (d === 1) out[i + off] = 0;
    else throw new TesaError('BAD_MODEL', `cannot broadcast [${inShape}] to [${outShape}]`, 'the model is malformed');
  }
  return out;
}

export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : x);
  }
  return out;
}

/**
 * Merges adjacent output dims whose strides are contiguous for every operand, so that a
 * broadcast loop nest is as shallow as possible (a plain bias add becomes two loops).
 */
export function coalesce(shape: number[], strides: number[][]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => d !== 1 || i === shape.length - 1);
  let sh = shape.filter((_, i) => keep[i]);
  let st = strides.map((s) => s.filter((_, i) => keep[i]));
  if (sh.length === 0) return { shape: [1], strides: strides.map(() => [0]) };
  for (let i = sh.length - 2; i >= 0; i--) {
    const ok = st.every((s) => s[i] === s[i + 1] * sh[i + 1]);
    if (ok) {
      sh = [...sh.slice(0, i), sh[i] * sh[i + 1], ...sh.slice(i + 2)];
      st = st.map((s) => [...s.slice(0, i), s[i + 1], ...s.slice(i + 2)]);
    }
  }
  return { shape: sh, strides: st };
}

/** C statements applying epilogue steps to the float `v`; `addIn(k)` is the expression for the k-th extra input's value. */
export function epilogueStatements(steps: readonly EpilogueStep[], extra: (k: number) => string): string {
  let k = 0;
  const lines: string[] = [];
  for (const s of steps) {
    switch (s.kind) {
      case 'add':
        lines.push(`v += ${extra(k++)};`);
        break;
      case 'mul':
        lines.push(`v *= ${extra(k++)};`);
        break;
      case 'scale':
        lines.push(`v *= ${cfloat(s.value)};`);
        break;
      case 'relu':
        lines.push('v = tesa_max(v, 0.0f);');
        break;
      case 'clip':
        lines.push(`v = tesa_min(tesa_max(v, ${cfloat(s.min)}), ${cfloat(s.max)});`);
        break;
      case 'gelu':
        lines.push('v = tesa_gelu(v);');
        break;
      case 'sigmoid':
        lines.push('v = tesa_sigmoid(v);');
        break;
    }
  }
  return lines.join(' ');
}

export function cfloat(x: number): string {
  if (x === Infinity) return 'INFINITY';
  if (x === -Infinity) return '(-INFINITY)';
  if (Number.isNaN(x)) return 'NAN';
  const s = Math.fround(x).toPrecision(9);
  return /[.e]/.test(s) ? `${s}f` : `${s}.0f`;
}

export function describe(refs: readonly TensorRef[]): string {
  return refs.map((r) => `${r.dtype}[${r.shape.join('x')}]`).join(', ');
}

/** The header comment that makes a generated kernel readable on disk (no node names: those would defeat dedupe). */
export function header(family: string, what: string, inputs: readonly TensorRef[], outputs: readonly TensorRef[]): string {
  return `/* tesa kernel: ${family} — ${what}\n * inputs:  ${describe(inputs)}\n * outputs: ${describe(outputs)}\n */\n${PRELUDE}\n`;
}

/** A loop nest over `shape` with one running offset per operand (strides baked in). */
export function loopNest(shape: readonly number[], strides: readonly number[][], body: (offsets: string[]) => string, indent = '  ', simdInner = true): string {
  const r = shape.length;
  const offs = strides.map((_, k) => `o${k}`);
  let code = '';
  const open: string[] = [];
  for (let d = 0; d < r; d++) {
    const iv = `i${d}`;
    const pad = indent + '  '.repeat(d);
    if (d === r - 1 && simdInner) open.push(`${pad}#pragma omp simd\n`);
    open.push(`${pad}for (long ${iv} = 0; ${iv} < ${shape[d]}; ${iv}++) {\n`);
  }
  code += open.join('');
  const pad = indent + '  '.repeat(r);
  const offExpr = strides.map((s) => s.map((st, d) => (st === 0 ? '' : st === 1 ? `i${d}` : `i${d} * ${st}`)).filter(Boolean).join(' + ') || '0');
  code += offs.map((o, k) => `${pad}const long ${o} = ${offExpr[k]};\n`).join('');
  code += `${pad}${body(offs)}\n`;
  for (let d = r - 1; d >= 0; d--) code += `${indent + '  '.repeat(d)}}\n`;
  return code;
}
