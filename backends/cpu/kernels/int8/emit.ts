/**
 * int8 GEMM kernels as C templates with every shape, structure and register tile baked in:
 * Y[M×N] = X[M×K]·Wᵀ (+ bias), W N×K quantized per output channel (src/quant/weights.ts).
 *
 * X is quantized on the fly, per tensor and dynamically: s_x = max|X|/127, xq = x/s_x + 128
 * as u8 (the unsigned operand of `vpdpbusd` / `vpmaddubsw`). The zero point is removed with
 * the precomputed comp[n] = 128·Σ_k q[n,k], and the dequantization s_x·s_w[n] plus the bias
 * run in the epilogue of the register tile:  y = (acc − comp[n])·s_x·s_w[n] + bias[n].
 *
 * Bodies:
 *  - dense: weights packed [N/NR][K/4][NR][4] so one 4-byte group of X (broadcast) meets NR
 *    output channels in one vector; tile MR×NR (VNNI: 12×32, `_mm512_dpbusd_epi32`; AVX2: 4×16,
 *    `_mm256_maddubs_epi16` + `_mm256_madd_epi16`, weights limited to ±63 so int16 never saturates).
 *  - bsr: r×c blocks (c a multiple of 4, the 4-byte groups of the dot-product instructions);
 *    X is laid out [K/4][M][4] and each kept 4-group of a row is broadcast against M-vectors of
 *    tokens. Row pointers and block columns are baked in as static arrays; values in `wq`.
 * Mixed decomposition (paper Figure 7): a sparse fp32 outlier set (CSR over rows, baked) is
 * added to the int8 body's accumulation, from a float copy of X laid out [K][M].
 *
 * Entry: void <entry>(const float *x, const int8_t *wq, const int32_t *comp, const float *wscale,
 *                     const float *wout, const float *bias, float *y)
 */
import { createHash } from 'node:crypto';
import { TesaError } from '../../../../src/errors.js';
import { quantizeWeightPerChannel, type QuantizedWeight } from '../../../../src/quant/weights.js';
import { splitOutliers } from '../../../../src/quant/outliers.js';

export type Int8Isa = 'vnni' | 'avx2';

export interface Int8GemmProblem {
  m: number;
  n: number;
  k: number;
  /** fp32 weight, N×K row-major */
  weight: Float32Array;
  /** 1 = kept (N×K); absent = dense */
  mask?: Uint8Array;
}

export type Int8Body = { kind: 'dense' } | { kind: 'bsr'; r: number; c: number };

export interface Int8Plan {
  body: Int8Body;
  /** fraction of kept elements that stay fp32 (the largest |w|); 0 = pure int8 */
  outlierFraction: number;
  bias: boolean;
  /** register tile of the dense body (default INT8_TILES[isa]); NR a multiple of the vector width */
  tile?: { MR: number; NR: number };
}

export interface LoweredInt8Gemm {
  plan: Int8Plan;
  isa: Int8Isa;
  entry: string;
  code: string;
  /** packed int8 weights the kernel reads through `wq` */
  wq: Int8Array;
  /** 128·Σq per output channel (padded) */
  comp: Int32Array;
  /** per output channel scale (padded) */
  wscale: Float32Array;
  /** fp32 outlier values in baked CSR order (at least one element) */
  wout: Float32Array;
  /** the quantization (unpacked, N×K) and the masks, for references and error models */
  quant: QuantizedWeight;
  int8Mask: Uint8Array;
  outlierMask: Uint8Array;
  /** int8 multiply-adds per token actually executed */
  int8Macs: number;
  outliers: number;
  hash: string;
}

export function int8PlanName(p: Int8Plan): string {
  const body = p.body.kind === 'dense' ? 'int8' : `int8-bsr:${p.body.r}x${p.body.c}`;
  return p.outlierFraction > 0 ? `${body}+fp32-outliers:${p.outlierFraction}` : body;
}

interface Tile {
  MR: number;
  NR: number;
  /** i32 lanes per vector */
  VL: number;
  qmax: number;
}

export const INT8_TILES: Record<Int8Isa, Tile> = {
  // Measured on Xeon (SPR-class) and Zen 4: 8×32 beat 12×32 and 6×64; AVX2 6×16 fills 16 ymm.
  vnni: { MR: 8, NR: 32, VL: 16, qmax: 127 },
  avx2: { MR: 6, NR: 16, VL: 8, qmax: 63 },
};

const roundUp = (x: number, to: number): number => Math.ceil(x / to) * to;

function intArray(type: string, name: string, xs: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < xs.length; i++) parts.push(String(xs[i]));
  if (parts.length === 0) parts.push('0');
  const lines: string[] = [];
  for (let i = 0; i < parts.length; i += 24) lines.push('  ' + parts.slice(i, i + 24).join(', '));
  return `static const ${type} ${name}[${parts.length}] = {\n${lines.join(',\n')}\n};\n`;
}

/** Quantizes X (per tensor) row by row; `store(m, row)` places one quantized row (KP bytes). */
function quantizeFn(isa: Int8Isa, pre: string, m: number, k: number, kp: number, store: string): string {
  const vec = isa === 'vnni'
    ? `    for (; c + 16 <= ${k}; c += 16) {
      const __m512i v = _mm512_cvtps_epi32(_mm512_mul_ps(_mm512_loadu_ps(xr + c), vinv));
      /* signed saturation to s8, then xor 0x80 = +128 as u8 */
      _mm_storeu_si128((__m128i *)(row + c), _mm_xor_si128(_mm512_cvtsepi32_epi8(v), _mm_set1_epi8((char)0x80)));
    }`
    : `    for (; c + 32 <= ${k}; c += 32) {
      const __m256i a = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + c), vinv));
      const __m256i b = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + c + 8), vinv));
      const __m256i d = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + c + 16), vinv));
      const __m256i e = _mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(xr + c + 24), vinv));
      /* packs interleave 128-bit lanes; the permute restores element order */
      __m256i p = _mm256_packs_epi16(_mm256_packs_epi32(a, b), _mm256_packs_epi32(d, e));
      p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
      _mm256_storeu_si256((__m256i *)(row + c), _mm256_xor_si256(p, _mm256_set1_epi8((char)0x80)));
    }`;
  const vmax = isa === 'vnni'
    ? `  __m512 vm = _mm512_setzero_ps();
  for (; i + 16 <= ${m * k}; i += 16) vm = _mm512_max_ps(vm, _mm512_abs_ps(_mm512_loadu_ps(x + i)));
  float amax = _mm512_reduce_max_ps(vm);`
    : `  __m256 vm = _mm256_setzero_ps();
  const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
  for (; i + 8 <= ${m * k}; i += 8) vm = _mm256_max_ps(vm, _mm256_and_ps(absmask, _mm256_loadu_ps(x + i)));
  float lanes[8];
  _mm256_storeu_ps(lanes, vm);
  float amax = 0.0f;
  for (int l = 0; l < 8; l++) amax = lanes[l] > amax ? lanes[l] : amax;`;
  return `/* per-tensor dynamic quantization: returns s_x; xq = round(x/s_x) + 128 (u8), K padded to ${kp} with 128 */
static float ${pre}_quantize(const float *restrict x) {
  long i = 0;
${vmax}
${(m * k) % (isa === 'vnni' ? 16 : 8) === 0 ? '' : `  for (; i < ${m * k}; i++) { const float a = fabsf(x[i]); amax = a > amax ? a : amax; }\n`}
  const float inv = amax > 0.0f ? 127.0f / amax : 1.0f;
  const ${isa === 'vnni' ? '__m512 vinv = _mm512_set1_ps(inv)' : '__m256 vinv = _mm256_set1_ps(inv)'};
  uint8_t row[${kp}] __attribute__((aligned(64)));
  for (long c = ${k}; c < ${kp}; c++) row[c] = 128;
  for (long mi = 0; mi < ${m}; mi++) {
    const float *restrict xr = x + mi * ${k};
    long c = 0;
${vec}
    for (; c < ${k}; c++) {
      int q = (int)nearbyintf(xr[c] * inv);
      q = q < -127 ? -127 : q > 127 ? 127 : q;
      row[c] = (uint8_t)(q + 128);
    }
${store}
  }
  return amax > 0.0f ? amax / 127.0f : 1.0f;
}
`;
}

/** The dense register tile: rows×NR outputs over the whole K, dequantized in the epilogue. */
function denseTile(isa: Int8Isa, name: string, rows: number, t: Tile, kp: number, bias: boolean): string {
  const nv = t.NR / t.VL;
  const L: string[] = [];
  const V = isa === 'vnni' ? '__m512i' : '__m256i';
  L.push(`static inline void ${name}(const uint8_t *restrict a, const int8_t *restrict b, const int32_t *restrict comp, const float *restrict ws, float sx, const float *restrict bias, float *restrict y, long ldy) {`);
  const regs: string[] = [];
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) regs.push(`c${r}_${v}`);
  L.push(`  ${V} ${regs.map((x) => `${x} = ${isa === 'vnni' ? '_mm512_setzero_si512()' : '_mm256_setzero_si256()'}`).join(', ')};`);
  if (isa === 'avx2') L.push('  const __m256i ones = _mm256_set1_epi16(1);');
  L.push(`  for (long g = 0; g < ${kp / 4}; g++) {`);
  for (let v = 0; v < nv; v++) {
    L.push(isa === 'vnni'
      ? `    const __m512i b${v} = _mm512_loadu_si512((const void *)(b + g * ${t.NR * 4} + ${v * 64}));`
      : `    const __m256i b${v} = _mm256_loadu_si256((const __m256i *)(b + g * ${t.NR * 4} + ${v * 32}));`);
  }
  for (let r = 0; r < rows; r++) {
    const bc = isa === 'vnni' ? `_mm512_set1_epi32(((const i32a *)(a + ${r * kp}))[g])` : `_mm256_set1_epi32(((const i32a *)(a + ${r * kp}))[g])`;
    const ops = Array.from({ length: nv }, (_, v) =>
      isa === 'vnni'
        ? ` c${r}_${v} = _mm512_dpbusd_epi32(c${r}_${v}, av, b${v});`
        : ` c${r}_${v} = _mm256_add_epi32(c${r}_${v}, _mm256_madd_epi16(_mm256_maddubs_epi16(av, b${v}), ones));`,
    ).join('');
    L.push(`    { const ${V} av = ${bc};${ops} }`);
  }
  L.push('  }');
  for (let v = 0; v < nv; v++) {
    if (isa === 'vnni') {
      L.push(`  const __m512i cm${v} = _mm512_loadu_si512((const void *)(comp + ${v * 16}));`);
      L.push(`  const __m512 sc${v} = _mm512_mul_ps(_mm512_loadu_ps(ws + ${v * 16}), _mm512_set1_ps(sx));`);
      if (bias) L.push(`  const __m512 bi${v} = _mm512_loadu_ps(bias + ${v * 16});`);
    } else {
      L.push(`  const __m256i cm${v} = _mm256_loadu_si256((const __m256i *)(comp + ${v * 8}));`);
      L.push(`  const __m256 sc${v} = _mm256_mul_ps(_mm256_loadu_ps(ws + ${v * 8}), _mm256_set1_ps(sx));`);
      if (bias) L.push(`  const __m256 bi${v} = _mm256_loadu_ps(bias + ${v * 8});`);
    }
  }
  for (let r = 0; r < rows; r++) {
    for (let v = 0; v < nv; v++) {
      const f = isa === 'vnni'
        ? `_mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_sub_epi32(c${r}_${v}, cm${v})), sc${v})`
        : `_mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_sub_epi32(c${r}_${v}, cm${v})), sc${v})`;
      const withBias = bias ? (isa === 'vnni' ? `_mm512_add_ps(${f}, bi${v})` : `_mm256_add_ps(${f}, bi${v})`) : f;
      L.push(`  ${isa === 'vnni' ? '_mm512_storeu_ps' : '_mm256_storeu_ps'}(y + ${r} * ldy + ${v * t.VL}, ${withBias});`);
    }
  }
  L.push('}');
  return L.join('\n') + '\n';
}

/** [NP][KP/4][NR][4] packing of the int8 body (zeros where masked out or padded). */
function packDense(q: Int8Array, n: number, k: number, kp: number, nr: number): Int8Array {
  const np = Math.ceil(n / nr);
  const out = new Int8Array(np * kp * nr);
  for (let jp = 0; jp < np; jp++) {
    for (let g = 0; g < kp / 4; g++) {
      for (let j = 0; j < nr; j++) {
        const col = jp * nr + j;
        if (col >= n) continue;
        for (let b = 0; b < 4; b++) {
          const kk = g * 4 + b;
          if (kk < k) out[((jp * (kp / 4) + g) * nr + j) * 4 + b] = q[col * k + kk]!;
        }
      }
    }
  }
  return out;
}

interface BsrStructure {
  /** per output row: index range into cols */
  rowPtr: number[];
  /** first 4-group of each stored block */
  cols: number[];
  groupsPerBlock: number;
}

/** Blocks r×c covering the int8 mask; each row of a kept block stores its c values. */
function bsrStructure(mask: Uint8Array, n: number, k: number, r: number, c: number): BsrStructure {
  const rowPtr: number[] = [0];
  const cols: number[] = [];
  for (let br = 0; br < n / r; br++) {
    const kept: number[] = [];
    for (let bc = 0; bc < k / c; bc++) {
      let any = false;
      for (let i = 0; i < r && !any; i++) for (let j = 0; j < c && !any; j++) any = mask[(br * r + i) * k + bc * c + j] === 1;
      if (any) kept.push((bc * c) / 4);
    }
    for (let i = 0; i < r; i++) {
      cols.push(...kept);
      rowPtr.push(cols.length);
    }
  }
  return { rowPtr, cols, groupsPerBlock: c / 4 };
}

function packBsr(q: Int8Array, k: number, s: BsrStructure, n: number): Int8Array {
  const bw = s.groupsPerBlock * 4;
  const out = new Int8Array(Math.max(64, s.cols.length * bw + 64));
  for (let row = 0; row < n; row++) {
    for (let b = s.rowPtr[row]!; b < s.rowPtr[row + 1]!; b++) {
      const k0 = s.cols[b]! * 4;
      for (let j = 0; j < bw; j++) out[b * bw + j] = q[row * k + k0 + j]!;
    }
  }
  return out;
}

interface OutlierCsr {
  rows: number[];
  rowPtr: number[];
  cols: number[];
  vals: Float32Array;
}

/** CSR of the outliers; `allRows` keeps empty rows too (their accumulators are stored as zeros). */
function outlierCsr(w: Float32Array, mask: Uint8Array, n: number, k: number, allRows = false): OutlierCsr {
  const rows: number[] = [];
  const rowPtr: number[] = [0];
  const cols: number[] = [];
  const vals: number[] = [];
  for (let r = 0; r < n; r++) {
    let any = false;
    for (let c = 0; c < k; c++) {
      if (mask[r * k + c] !== 1) continue;
      cols.push(c);
      vals.push(w[r * k + c]!);
      any = true;
    }
    if (any || allRows) {
      rows.push(r);
      rowPtr.push(cols.length);
    }
  }
  return { rows, rowPtr, cols, vals: new Float32Array(vals.length ? vals : [0]) };
}

/** X[M][K] -> xf[K][MP] in 16×16 tiles, so that both sides touch whole cache lines. */
function transposeFn(pre: string, m: number, k: number, mp: number): string {
  return `static void ${pre}_transpose_x(const float *restrict x) {
  for (long m0 = 0; m0 < ${m}; m0 += 16) {
    const long m1 = m0 + 16 < ${m} ? m0 + 16 : ${m};
    for (long k0 = 0; k0 < ${k}; k0 += 16) {
      const long k1 = k0 + 16 < ${k} ? k0 + 16 : ${k};
      for (long c = k0; c < k1; c++)
        for (long mi = m0; mi < m1; mi++) ${pre}_xf[c * ${mp} + mi] = x[mi * ${k} + c];
    }
  }
}
`;
}

/** The fp32 outlier kernel: rows of Zt[row][MP] += v · Xf[col][MP], vectorized over tokens. */
function outlierFn(isa: Int8Isa, pre: string, o: OutlierCsr, mp: number, vl: number): string {
  const mv = mp / vl;
  const V = isa === 'vnni' ? '__m512' : '__m256';
  const p = isa === 'vnni' ? '_mm512' : '_mm256';
  const accs = Array.from({ length: mv }, (_, v) => `a${v}`);
  return `${intArray('int32_t', `${pre}_OROW`, o.rows)}${intArray('int32_t', `${pre}_OPTR`, o.rowPtr)}${intArray('int32_t', `${pre}_OCOL`, o.cols)}
/* fp32 outliers: for each row with outliers, acc over tokens, then add(row, acc) */
#define ${pre}_OUTLIERS(xf, wout, ADD) \\
  for (long r = 0; r < ${o.rows.length}; r++) { \\
    ${V} ${accs.map((a) => `${a} = ${p}_setzero_ps()`).join(', ')}; \\
    for (long e = ${pre}_OPTR[r]; e < ${pre}_OPTR[r + 1]; e++) { \\
      const ${V} wv = ${p}_set1_ps((wout)[e]); \\
      const float *restrict xc = (xf) + (long)${pre}_OCOL[e] * ${mp}; \\
      ${accs.map((a, v) => `${a} = ${p}_fmadd_ps(wv, ${p}_load_ps(xc + ${v * vl}), ${a});`).join(' ')} \\
    } \\
    const long row = ${pre}_OROW[r]; (void)row; \\
    ADD \\
  }
`;
}

export function lowerInt8Gemm(isa: Int8Isa, prob: Int8GemmProblem, plan: Int8Plan, entry = 'int8_gemm'): LoweredInt8Gemm {
  const { m, n, k } = prob;
  const t = plan.tile ? { ...INT8_TILES[isa], ...plan.tile } : INT8_TILES[isa];
  if (t.NR % t.VL !== 0 || t.MR < 1) throw new TesaError('BAD_INPUT', `int8 tile ${t.MR}x${t.NR} is not a whole number of ${t.VL}-lane vectors`, `use NR a multiple of ${t.VL}`);
  const pre = entry;
  const kp = roundUp(k, 4);
  const fullMask = prob.mask ?? new Uint8Array(n * k).fill(1);
  const split = splitOutliers(prob.weight, plan.outlierFraction, fullMask);
  const int8Mask = split.bodyMask;
  const quant = quantizeWeightPerChannel(prob.weight, n, k, { qmax: t.qmax, mask: int8Mask });
  const hasOut = split.outliers > 0;
  const outl = hasOut ? outlierCsr(prob.weight, split.outlierMask, n, k, plan.body.kind === 'dense') : null;
  const npad = roundUp(n, t.NR);
  const comp = new Int32Array(npad);
  const wscale = new Float32Array(npad).fill(1);
  for (let i = 0; i < n; i++) {
    comp[i] = 128 * quant.rowSum[i]!;
    wscale[i] = quant.scale[i]!;
  }
  const biasArg = plan.bias;
  let wq: Int8Array;
  let int8Macs: number;
  let body: string;
  let intro = '';
  const isaHeader = `#include <immintrin.h>
#include <stdint.h>
#include <math.h>
#include <string.h>
typedef int32_t i32a __attribute__((may_alias, aligned(1)));
`;
  if (plan.body.kind === 'dense') {
    wq = packDense(quant.q, n, k, kp, t.NR);
    int8Macs = n * k;
    const np = npad / t.NR;
    const mTail = m % t.MR;
    intro += `static uint8_t ${pre}_xq[${m * kp}] __attribute__((aligned(64)));\n`;
    if (hasOut) intro += `static float ${pre}_xf[${k} * ${roundUp(m, t.VL)}] __attribute__((aligned(64)));\n`;
    intro += quantizeFn(isa, pre, m, k, kp, `    memcpy(${pre}_xq + mi * ${kp}, row, ${kp});`);
    intro += denseTile(isa, `${pre}_tile`, t.MR, t, kp, biasArg);
    if (mTail) intro += denseTile(isa, `${pre}_tail`, mTail, t, kp, biasArg);
    const mp = roundUp(m, t.VL);
    if (outl) intro += transposeFn(pre, m, k, mp) + outlierFn(isa, pre, outl, mp, t.VL);
    if (outl) intro += `static float ${pre}_zt[${n * mp}] __attribute__((aligned(64)));\n`;
    const addBack = outl
      ? `  ${pre}_transpose_x(x);
#define ${pre}_ADD ${Array.from({ length: mp / t.VL }, (_, v) => `${isa === 'vnni' ? '_mm512' : '_mm256'}_store_ps(${pre}_zt + row * ${mp} + ${v * t.VL}, a${v});`).join(' ')}
  ${pre}_OUTLIERS(${pre}_xf, wout, ${pre}_ADD)
#undef ${pre}_ADD
  /* outlier sums [N][M] added into Y[M][N] in 16×16 tiles */
  for (long i0 = 0; i0 < ${m}; i0 += 16) {
    const long i1 = i0 + 16 < ${m} ? i0 + 16 : ${m};
    for (long j0 = 0; j0 < ${n}; j0 += 16) {
      const long j1 = j0 + 16 < ${n} ? j0 + 16 : ${n};
      for (long i = i0; i < i1; i++)
        for (long j = j0; j < j1; j++) y[i * ${n} + j] += ${pre}_zt[j * ${mp} + i];
    }
  }
`
      : '';
    body = `
void ${entry}(const float *restrict x, const int8_t *restrict wq, const int32_t *restrict comp, const float *restrict wscale, const float *restrict wout, const float *restrict bias, float *restrict y) {
  (void)wout; (void)bias;
  const float sx = ${pre}_quantize(x);
  for (long jp = 0; jp < ${np}; jp++) {
    /* one NR-wide panel of packed weights (${(kp * t.NR) / 1024} KiB) stays in L1/L2 while every row block passes */
    const int8_t *bp = wq + jp * ${kp * t.NR};
    const long j0 = jp * ${t.NR};
    const long nr = ${n} - j0 < ${t.NR} ? ${n} - j0 : ${t.NR};
    const float *bb = ${biasArg ? `bias + j0` : 'NULL'};
    for (long i0 = 0; i0 < ${m}; i0 += ${t.MR}) {
      const uint8_t *ap = ${pre}_xq + i0 * ${kp};
      const long mr = ${m} - i0 < ${t.MR} ? ${m} - i0 : ${t.MR};
      if (nr == ${t.NR}) {
        ${mTail ? `if (mr == ${t.MR}) ${pre}_tile(ap, bp, comp + j0, wscale + j0, sx, bb, y + i0 * ${n} + j0, ${n}); else ${pre}_tail(ap, bp, comp + j0, wscale + j0, sx, bb, y + i0 * ${n} + j0, ${n});` : `${pre}_tile(ap, bp, comp + j0, wscale + j0, sx, bb, y + i0 * ${n} + j0, ${n});`}
      } else {
        float tile[${t.MR * t.NR}] __attribute__((aligned(64)));
        float bpad[${t.NR}] = {0};
        if (bb) for (long c = 0; c < nr; c++) bpad[c] = bb[c];
        ${mTail ? `if (mr == ${t.MR}) ${pre}_tile(ap, bp, comp + j0, wscale + j0, sx, bpad, tile, ${t.NR}); else ${pre}_tail(ap, bp, comp + j0, wscale + j0, sx, bpad, tile, ${t.NR});` : `${pre}_tile(ap, bp, comp + j0, wscale + j0, sx, bpad, tile, ${t.NR});`}
        for (long r = 0; r < mr; r++) for (long c = 0; c < nr; c++) y[(i0 + r) * ${n} + j0 + c] = tile[r * ${t.NR} + c];
      }
    }
  }
${addBack}}
`;
  } else {
    const { r, c } = plan.body;
    if (c % 4 !== 0 || n % r !== 0 || k % c !== 0) {
      throw new TesaError('UNSUPPORTED', `int8 block ${r}x${c} does not tile the ${n}×${k} weight in 4-byte groups`, 'use a block whose width is a multiple of 4 and divides K (e.g. block:1x32)');
    }
    const s = bsrStructure(int8Mask, n, k, r, c);
    wq = packBsr(quant.q, k, s, n);
    int8Macs = s.cols.length * c;
    const mp = roundUp(m, t.VL);
    // Token vectors held as accumulators at once: all 32 zmm minus operands; AVX2 has 16 ymm.
    const chunk = isa === 'vnni' ? 16 : 8;
    const gpb = s.groupsPerBlock;
    const V = isa === 'vnni' ? '__m512i' : '__m256i';
    const VF = isa === 'vnni' ? '__m512' : '__m256';
    const P = isa === 'vnni' ? '_mm512' : '_mm256';
    const SI = isa === 'vnni' ? 'si512' : 'si256';
    intro += `static uint8_t ${pre}_xt[${(kp / 4) * mp * 4}] __attribute__((aligned(64)));\n`;
    intro += `static float ${pre}_yt[16 * ${mp}] __attribute__((aligned(64)));\n`;
    if (outl) {
      intro += `static float ${pre}_xf[${k * mp}] __attribute__((aligned(64)));\n`;
      intro += transposeFn(pre, m, k, mp);
      // Row pointers of the outliers over every output row (rows without outliers are empty).
      const optr = new Array<number>(n + 1).fill(0);
      outl.rows.forEach((row, i) => { optr[row + 1] = outl.rowPtr[i + 1]! - outl.rowPtr[i]!; });
      for (let i = 0; i < n; i++) optr[i + 1]! += optr[i]!;
      intro += intArray('int32_t', `${pre}_OPTR`, optr) + intArray('int32_t', `${pre}_OCOL`, outl.cols);
    }
    intro += intArray('int32_t', `${pre}_RPTR`, s.rowPtr) + intArray('int16_t', `${pre}_BCOL`, s.cols);
    intro += `static void ${pre}_pad_rows(void) {
  /* token rows ${m}..${mp - 1} hold the zero point: their outputs are computed and dropped */
  for (long g = 0; g < ${kp / 4}; g++) for (long mi = ${m}; mi < ${mp}; mi++) ((i32a *)${pre}_xt)[g * ${mp} + mi] = (int32_t)0x80808080u;
}
`;
    intro += quantizeFn(isa, pre, m, k, kp, `    for (long g = 0; g < ${kp / 4}; g++) ((i32a *)${pre}_xt)[g * ${mp} + mi] = ((const i32a *)row)[g];`);
    const chunks: [number, number][] = [];
    for (let v0 = 0; v0 < mp / t.VL; v0 += chunk) chunks.push([v0, Math.min(chunk, mp / t.VL - v0)]);
    const chunkCode = ([v0, nv]: [number, number]): string => {
      const accs = Array.from({ length: nv }, (_, v) => `a${v}`);
      const step = (gi: number): string =>
        `        { const ${V} wv = ${P}_set1_epi32(((const i32a *)wb)[${gi}]); const uint8_t *restrict xg = ${pre}_xt + (long)(g0 + ${gi}) * ${mp * 4} + ${v0 * t.VL * 4};${accs
          .map((acc, v) =>
            isa === 'vnni'
              ? ` ${acc} = _mm512_dpbusd_epi32(${acc}, _mm512_load_si512((const void *)(xg + ${v * 64})), wv);`
              : ` ${acc} = _mm256_add_epi32(${acc}, _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_load_si256((const __m256i *)(xg + ${v * 32})), wv), ones));`,
          )
          .join('')} }`;
      const fl = Array.from({ length: nv }, (_, v) => `f${v}`);
      return `    { /* tokens ${v0 * t.VL}..${(v0 + nv) * t.VL - 1} */
      ${V} ${accs.map((acc) => `${acc} = ${P}_setzero_${SI}()`).join(', ')};
      for (long b = ${pre}_RPTR[row]; b < ${pre}_RPTR[row + 1]; b++) {
        const long g0 = ${pre}_BCOL[b];
        const int8_t *restrict wb = wq + b * ${gpb * 4};
${Array.from({ length: gpb }, (_, gi) => step(gi)).join('\n')}
      }
      ${VF} ${accs.map((acc, v) => `${fl[v]} = ${P}_mul_ps(${P}_cvtepi32_ps(${P}_sub_epi32(${acc}, cm)), sc)`).join(', ')};
${outl ? `      for (long e = ${pre}_OPTR[row]; e < ${pre}_OPTR[row + 1]; e++) {
        const ${VF} ov = ${P}_set1_ps(wout[e]);
        const float *restrict xc = ${pre}_xf + (long)${pre}_OCOL[e] * ${mp} + ${v0 * t.VL};
        ${fl.map((f, v) => `${f} = ${P}_fmadd_ps(ov, ${P}_load_ps(xc + ${v * t.VL}), ${f});`).join(' ')}
      }
` : ''}      ${fl.map((f, v) => `${P}_store_ps(yrow + ${(v0 + v) * t.VL}, ${f});`).join(' ')}
    }`;
    };
    body = `
void ${entry}(const float *restrict x, const int8_t *restrict wq, const int32_t *restrict comp, const float *restrict wscale, const float *restrict wout, const float *restrict bias, float *restrict y) {
  (void)wout; (void)bias;
  static int padded = 0;
  if (!padded) { ${pre}_pad_rows(); padded = 1; }
  const float sx = ${pre}_quantize(x);
${outl ? `  ${pre}_transpose_x(x);\n` : ''}${isa === 'avx2' ? '  const __m256i ones = _mm256_set1_epi16(1);\n' : ''}  for (long n0 = 0; n0 < ${n}; n0 += 16) {
    const long n1 = n0 + 16 < ${n} ? n0 + 16 : ${n};
    for (long row = n0; row < n1; row++) {
    /* one output channel over every token: kept 4-groups broadcast against token vectors */
    float *restrict yrow = ${pre}_yt + (row - n0) * ${mp};
    const ${V} cm = ${P}_set1_epi32(comp[row]);
    const ${VF} sc = ${P}_set1_ps(wscale[row] * sx);
${chunks.map(chunkCode).join('\n')}
    }
    /* 16 finished channels (L1-resident) written into Y[M][N] as 16-float row segments */
    for (long i = 0; i < ${m}; i++)
      for (long j = n0; j < n1; j++) y[i * ${n} + j] = ${pre}_yt[(j - n0) * ${mp} + i]${biasArg ? ' + bias[j]' : ''};
  }
}
`;
  }
  const code = `/* tesa int8 GEMM, plan ${int8PlanName(plan)}, ${isa}: Y[${m}x${n}] = X[${m}x${k}] * W^T${biasArg ? ' + bias' : ''}.
   int8 multiply-adds per token ${int8Macs}; fp32 outliers ${split.outliers}. */
${isaHeader}${intro}${body}`;
  return {
    plan, isa, entry, code, wq, comp, wscale,
    wout: outl ? outl.vals : new Float32Array(1),
    quant, int8Mask, outlierMask: split.outlierMask, int8Macs, outliers: split.outliers,
    hash: createHash('sha256').update(code).digest('hex').slice(0, 32),
  };
}

/** VNNI when the fingerprint's flags have it (and AVX-512), else AVX2. */
export function int8IsaFor(cpuFlags: readonly string[], isa: 'avx512' | 'avx2' | 'generic'): Int8Isa | null {
  if (isa === 'avx512' && cpuFlags.includes('avx512_vnni') && cpuFlags.includes('avx512bw')) return 'vnni';
  if (isa === 'avx512' || isa === 'avx2') return cpuFlags.includes('avx2') ? 'avx2' : null;
  return null;
}
