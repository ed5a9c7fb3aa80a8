/**
 * C emitters for sparse GEMM kernels Y[M×N] = X[M×K]·Wᵀ with W[N×K] sparse.
 *
 * Every kernel works in the transposed layout: X is packed once to xt[K][MP] (MP = M rounded
 * up to the vector width, padding stays zero), each kept weight w[n][k] is broadcast and
 * multiplied into a row of xt with M vectorised, results accumulate in registers for a slice
 * of output rows and land in yt[N][MP], which is transposed into Y at the end. The structure
 * (block pointers, column indices, row lists) is either baked in as static const arrays, or,
 * for large masks, read from the data blob (`Structure`, kind 'data'): then the code depends
 * only on the shape and the plan, so every layer of one shape shares one small kernel and the
 * compiler never parses megabytes of index tables. The values come packed in the order the
 * kernel reads them (argument `w`), except for the specialised kernel which can embed them
 * as immediates.
 *
 * Signature of every entry: void entry(const float *x, const float *w, float *y).
 * Every body function is `static void name(const float *restrict w, const float *restrict blob)`:
 * `w` its values, `blob` the entry's whole `w` (where data-mode structure lives).
 */
import type { IsaInfo } from './isa.js';
import type { Bsr, RowGroups } from './structure.js';

export interface GemmDims {
  m: number;
  n: number;
  k: number;
}

export function paddedM(m: number, width: number): number {
  return Math.ceil(m / width) * width;
}

/** Register blocking: vectors per M-chunk for `rows` accumulator rows, dividing MP/width. */
export function vectorsPerChunk(isa: IsaInfo, mp: number, rows: number, cap = 8): number {
  const mv = mp / isa.width;
  let best = 1;
  for (let nv = 1; nv <= Math.min(cap, mv); nv++) {
    if (mv % nv === 0 && rows * nv + nv + 1 <= isa.registers - 1) best = nv;
  }
  return best;
}

/**
 * Row slice for register blocking: a divisor of r, at most 4 rows (with AVX-512, 4 rows × 4
 * M-vectors need 8 loads per 16 FMAs; 16 rows × 1 vector would need 17).
 */
export function rowSlice(isa: IsaInfo, r: number): number {
  let best = 1;
  const cap = isa.registers >= 32 ? 4 : 2;
  for (let s = 1; s <= Math.min(r, cap); s++) if (r % s === 0) best = s;
  return best;
}

/**
 * Where a kernel's index arrays and counts live. 'baked': static const arrays and literals in
 * the code. 'data': the blob starts with a header of int32 slots; a slot holds a count or the
 * offset (in 4-byte words from the blob start) of an int32 array stored in the blob.
 */
export type Structure = { kind: 'baked' } | { kind: 'data'; slots: DataSlots };

export interface DataSlots {
  /** Stores an int32 array in the blob; returns its header slot. */
  ints(values: ArrayLike<number>): number;
  /** Stores a plain count in a header slot; returns the slot. */
  count(value: number): number;
}

/** Declarations for a body function's index arrays and counts: file scope and function prologue. */
function declareStructure(st: Structure, arrays: Array<[string, ArrayLike<number>]>, counts: Array<[string, number]>): { file: string; local: string } {
  if (st.kind === 'baked') {
    return {
      file: arrays.map(([n, v]) => cArray('int32_t', n, v)).join(''),
      local: ['(void)blob;', ...counts.map(([n, v]) => `const int ${n} = ${v};`)].join('\n'),
    };
  }
  const lines = ['const int32_t *restrict hdr = (const int32_t *)blob;'];
  for (const [n, v] of arrays) lines.push(`const int32_t *restrict ${n} = hdr + hdr[${st.slots.ints(v)}];`);
  for (const [n, v] of counts) lines.push(`const int ${n} = hdr[${st.slots.count(v)}];`);
  return { file: '', local: lines.join('\n') };
}

function cArray(type: string, name: string, values: ArrayLike<number>): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i += 24) {
    parts.push('  ' + Array.prototype.slice.call(values, i, i + 24).join(', '));
  }
  // A zero-length array is not valid C; keep one dummy entry.
  if (values.length === 0) parts.push('  0');
  return `static const ${type} ${name}[${Math.max(1, values.length)}] = {\n${parts.join(',\n')}\n};\n`;
}

/** Exact float32 literal. */
export function cFloat(v: number): string {
  const f = Math.fround(v);
  if (f === 0) return '0.0f';
  if (!Number.isFinite(f)) return f > 0 ? 'INFINITY' : f < 0 ? '-INFINITY' : 'NAN';
  const s = f.toPrecision(9);
  return (s.includes('e') || s.includes('.') ? s : s + '.0') + 'f';
}

/** The shared prologue: scratch buffers and the two transposes. */
export function emitFrame(isa: IsaInfo, d: GemmDims, prefix: string): string {
  const mp = paddedM(d.m, isa.width);
  return `${isa.preamble}#include <stdint.h>
#include <stddef.h>
#include <string.h>
#include <math.h>

#define M ${d.m}
#define N ${d.n}
#define K ${d.k}
#define MP ${mp}

/* xt[K][MP]: X transposed, M padded with zeros (never written past M). yt has one spare row
   for padding slots of row groups. */
static float ${prefix}_xt[(size_t)K * MP] __attribute__((aligned(64)));
static float ${prefix}_yt[(size_t)(N + 1) * MP] __attribute__((aligned(64)));

/* 8x8 in-register transpose (AVX): dst[j][i] = src[i][j]. */
static inline void ${prefix}_t8(const float *restrict src, size_t lds, float *restrict dst, size_t ldd) {
  __m256 r0 = _mm256_loadu_ps(src + 0 * lds), r1 = _mm256_loadu_ps(src + 1 * lds);
  __m256 r2 = _mm256_loadu_ps(src + 2 * lds), r3 = _mm256_loadu_ps(src + 3 * lds);
  __m256 r4 = _mm256_loadu_ps(src + 4 * lds), r5 = _mm256_loadu_ps(src + 5 * lds);
  __m256 r6 = _mm256_loadu_ps(src + 6 * lds), r7 = _mm256_loadu_ps(src + 7 * lds);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 u0 = _mm256_shuffle_ps(t0, t2, 0x44), u1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  __m256 u2 = _mm256_shuffle_ps(t1, t3, 0x44), u3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  __m256 u4 = _mm256_shuffle_ps(t4, t6, 0x44), u5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  __m256 u6 = _mm256_shuffle_ps(t5, t7, 0x44), u7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst + 0 * ldd, _mm256_permute2f128_ps(u0, u4, 0x20));
  _mm256_storeu_ps(dst + 1 * ldd, _mm256_permute2f128_ps(u1, u5, 0x20));
  _mm256_storeu_ps(dst + 2 * ldd, _mm256_permute2f128_ps(u2, u6, 0x20));
  _mm256_storeu_ps(dst + 3 * ldd, _mm256_permute2f128_ps(u3, u7, 0x20));
  _mm256_storeu_ps(dst + 4 * ldd, _mm256_permute2f128_ps(u0, u4, 0x31));
  _mm256_storeu_ps(dst + 5 * ldd, _mm256_permute2f128_ps(u1, u5, 0x31));
  _mm256_storeu_ps(dst + 6 * ldd, _mm256_permute2f128_ps(u2, u6, 0x31));
  _mm256_storeu_ps(dst + 7 * ldd, _mm256_permute2f128_ps(u3, u7, 0x31));
}

/* dst[c][r] = src[r][c] for a rows×cols row-major src; 8x8 tiles, scalar edges. */
static void ${prefix}_transpose(const float *restrict src, int rows, int cols, size_t lds, float *restrict dst, size_t ldd) {
  int r8 = rows & ~7, c8 = cols & ~7;
  for (int r = 0; r < r8; r += 8)
    for (int c = 0; c < c8; c += 8) ${prefix}_t8(src + (size_t)r * lds + c, lds, dst + (size_t)c * ldd + r, ldd);
  for (int r = 0; r < rows; r++)
    for (int c = (r < r8 ? c8 : 0); c < cols; c++) dst[(size_t)c * ldd + r] = src[(size_t)r * lds + c];
}

static void ${prefix}_pack_x(const float *restrict x) { ${prefix}_transpose(x, M, K, K, ${prefix}_xt, MP); }

static void ${prefix}_unpack_y(float *restrict y) { ${prefix}_transpose(${prefix}_yt, N, M, MP, y, N); }
`;
}

function accNames(rows: number, nv: number): string[] {
  const out: string[] = [];
  for (let r = 0; r < rows; r++) for (let j = 0; j < nv; j++) out.push(`a${r}_${j}`);
  return out;
}

function indent(s: string, n: number): string {
  const pad = ' '.repeat(n);
  return s.split('\n').map((l) => (l ? pad + l : l)).join('\n');
}

/** Accumulator init: zero, or the current yt rows when adding a second kernel's result. */
function initAcc(rows: number, nv: number, rowExpr: (r: number) => string, accumulate: boolean, prefix: string): string {
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nv; j++) {
      lines.push(accumulate
        ? `vec a${r}_${j} = VLOAD(${prefix}_yt + (size_t)(${rowExpr(r)}) * MP + m0 + ${j} * VW);`
        : `vec a${r}_${j} = VZERO();`);
    }
  }
  return lines.join('\n');
}

function storeAcc(rows: number, nv: number, rowExpr: (r: number) => string, prefix: string): string {
  const lines: string[] = [];
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < nv; j++) lines.push(`VSTORE(${prefix}_yt + (size_t)(${rowExpr(r)}) * MP + m0 + ${j} * VW, a${r}_${j});`);
  }
  return lines.join('\n');
}

/** One step along K: load nv vectors of xt at `xptr`, broadcast `rows` weights at `wptr`, FMA. */
function fmaStep(rows: number, nv: number, xptr: string, wptr: string): string {
  const lines: string[] = [];
  for (let j = 0; j < nv; j++) lines.push(`vec x${j} = VLOAD(${xptr} + ${j} * VW);`);
  for (let r = 0; r < rows; r++) {
    lines.push(`{ vec b = VBCAST(${wptr} + ${r});${Array.from({ length: nv }, (_, j) => ` a${r}_${j} = VFMA(b, x${j}, a${r}_${j});`).join('')} }`);
  }
  return lines.join('\n');
}

/**
 * BSR R×C: block rows in order; each block is C consecutive input features of R output rows.
 * Values packed [block][c][r]; w is offset by the function's value base.
 */
export function emitBsrBody(isa: IsaInfo, d: GemmDims, b: Bsr, prefix: string, name: string, accumulate: boolean, st: Structure = { kind: 'baked' }): string {
  const mp = paddedM(d.m, isa.width);
  const rs = rowSlice(isa, b.r);
  const nv = vectorsPerChunk(isa, mp, rs);
  const nbr = b.rowPtr.length - 1;
  const rowExpr = (r: number): string => `br * ${b.r} + rs + ${r}`;
  const inner = `const float *xb = ${prefix}_xt + (size_t)${name}_col[q] * (${b.c} * MP) + m0;
const float *wb = w + (size_t)q * ${b.r * b.c} + rs;
#pragma GCC unroll ${Math.min(b.c, 32)}
for (int c = 0; c < ${b.c}; c++) {
${indent(fmaStep(rs, nv, 'xb + (size_t)c * MP', `wb + c * ${b.r}`), 2)}
}`;
  const decl = declareStructure(st, [[`${name}_ptr`, b.rowPtr], [`${name}_col`, b.cols]], []);
  const kept = st.kind === 'baked' ? `${b.cols.length} kept blocks of ${nbr * (d.k / b.c)}` : `kept blocks read from the data`;
  return `/* BSR ${b.r}x${b.c}: ${kept}; rows in slices of ${rs}, M in chunks of ${nv} vectors. */
${decl.file}static void ${name}(const float *restrict w, const float *restrict blob) {
${indent(decl.local, 2)}
  for (int br = 0; br < ${nbr}; br++) {
    for (int rs = 0; rs < ${b.r}; rs += ${rs}) {
      for (int m0 = 0; m0 < MP; m0 += ${nv} * VW) {
${indent(initAcc(rs, nv, rowExpr, accumulate, prefix), 8)}
        for (int q = ${name}_ptr[br]; q < ${name}_ptr[br + 1]; q++) {
${indent(inner, 10)}
        }
${indent(storeAcc(rs, nv, rowExpr, prefix), 8)}
      }
    }
  }
}
`;
}

/**
 * BSR traversed by column units: for each unit of `cu` input features (a whole block column
 * when c ≤ 32, else a 32-wide slice of it) the xt slab (cu × chunk floats) stays in L1 while
 * every block row that has a block there accumulates into yt. Loading xt from L2 once per
 * block instead of once per kept block is what makes 1×32 blocks fast at M = 128.
 * Entries: row (bit 30 set on a block row's first entry, which starts from zero instead of
 * reading yt) and the value offset of the unit (values packed [block][c][r]).
 */
export function emitBsrColumnBody(isa: IsaInfo, d: GemmDims, b: Bsr, prefix: string, name: string, accumulate: boolean, st: Structure = { kind: 'baked' }): { code: string; order: Array<{ br: number; k0: number }>; cu: number } {
  const mp = paddedM(d.m, isa.width);
  const rs = rowSlice(isa, b.r);
  const cu = b.c > 32 && b.c % 32 === 0 ? 32 : b.c;
  const units = d.k / cu;
  const perBlock = b.c / cu;
  // Chunk of M whose slab cu × chunk stays within ~24 KB of L1.
  let nv = vectorsPerChunk(isa, mp, rs);
  while (nv > 1 && cu * nv * isa.width * 4 > 24 * 1024) nv = Math.max(1, Math.floor(nv / 2));
  while ((mp / isa.width) % nv !== 0) nv--;
  const byUnit: Array<Array<{ br: number; q: number }>> = Array.from({ length: units }, () => []);
  for (let br = 0; br + 1 < b.rowPtr.length; br++) {
    for (let q = b.rowPtr[br]!; q < b.rowPtr[br + 1]!; q++) {
      for (let s = 0; s < perBlock; s++) byUnit[b.cols[q]! * perBlock + s]!.push({ br, q: q * perBlock + s });
    }
  }
  const ptr = [0];
  const rows: number[] = [];
  const order: Array<{ br: number; k0: number }> = [];
  const seen = new Uint8Array(b.rowPtr.length);
  for (let u = 0; u < units; u++) {
    for (const e of byUnit[u]!) {
      const first = !accumulate && !seen[e.br];
      seen[e.br] = 1;
      rows.push(e.br * b.r + (first ? 1 << 30 : 0));
      order.push({ br: e.br, k0: u * cu });
    }
    ptr.push(rows.length);
  }
  const rowExpr = (r: number): string => `row + rsl + ${r}`;
  const init: string[] = [];
  for (let r = 0; r < rs; r++) {
    for (let j = 0; j < nv; j++) {
      init.push(`vec a${r}_${j} = first ? VZERO() : VLOAD(${prefix}_yt + (size_t)(${rowExpr(r)}) * MP + m0 + ${j} * VW);`);
    }
  }
  const decl = declareStructure(st, [[`${name}_ptr`, ptr], [`${name}_row`, rows]], []);
  const kept = st.kind === 'baked' ? `${b.cols.length} kept blocks of ${((b.rowPtr.length - 1) * d.k) / b.c}` : 'kept blocks read from the data';
  const code = `/* BSR ${b.r}x${b.c} by column units of ${cu}: ${kept}; rows in slices of ${rs}, M in chunks of ${nv} vectors. */
${decl.file}static void ${name}(const float *restrict w, const float *restrict blob) {
${indent(decl.local, 2)}
  for (int m0 = 0; m0 < MP; m0 += ${nv} * VW) {
    for (int u = 0; u < ${units}; u++) {
      const float *xs = ${prefix}_xt + (size_t)u * (${cu} * MP) + m0;
      for (int e = ${name}_ptr[u]; e < ${name}_ptr[u + 1]; e++) {
        const int first = ${name}_row[e] >> 30;
        const int row = ${name}_row[e] & ((1 << 30) - 1);
        const float *wb = w + (size_t)e * ${b.r * cu};
        for (int rsl = 0; rsl < ${b.r}; rsl += ${rs}) {
${indent(init.join('\n'), 10)}
          #pragma GCC unroll ${Math.min(cu, 32)}
          for (int c = 0; c < ${cu}; c++) {
${indent(fmaStep(rs, nv, 'xs + (size_t)c * MP', `wb + c * ${b.r} + rsl`), 12)}
          }
${indent(storeAcc(rs, nv, rowExpr, prefix), 10)}
        }
      }
    }
  }
}
`;
  return { code, order, cu };
}

/** Row groups: rb rows sharing a gathered input-feature list; values packed [position][rb]. */
export function emitGroupsBody(isa: IsaInfo, d: GemmDims, g: RowGroups, prefix: string, name: string, accumulate: boolean, st: Structure = { kind: 'baked' }): string {
  const mp = paddedM(d.m, isa.width);
  const nv = vectorsPerChunk(isa, mp, g.rb);
  const groups = g.ptr.length - 1;
  const rowExpr = (r: number): string => `${name}_row[gi * ${g.rb} + ${r}]`;
  const decl = declareStructure(st, [[`${name}_row`, g.rows], [`${name}_ptr`, g.ptr], [`${name}_k`, g.kidx]], [['groups', groups]]);
  const what = st.kind === 'baked' ? `${groups} groups, ${g.kidx.length} gathered input features in all` : 'groups and gathered input features read from the data';
  return `/* Row groups of ${g.rb}: ${what}; M in chunks of ${nv} vectors. */
${decl.file}static void ${name}(const float *restrict w, const float *restrict blob) {
${indent(decl.local, 2)}
  for (int gi = 0; gi < groups; gi++) {
    for (int m0 = 0; m0 < MP; m0 += ${nv} * VW) {
${indent(initAcc(g.rb, nv, rowExpr, accumulate, prefix), 6)}
      for (int q = ${name}_ptr[gi]; q < ${name}_ptr[gi + 1]; q++) {
${indent(fmaStep(g.rb, nv, `(${prefix}_xt + (size_t)${name}_k[q] * MP + m0)`, `(w + (size_t)q * ${g.rb})`), 8)}
      }
${indent(storeAcc(g.rb, nv, rowExpr, prefix), 6)}
    }
  }
}
`;
}

/**
 * Fully specialised fine-grained kernel (SparseRT-style): one straight-line FMA per kept
 * element, input-feature offsets as immediates and, with `values`, the weights too.
 */
export function emitSpecializedBody(isa: IsaInfo, d: GemmDims, g: RowGroups, prefix: string, name: string, accumulate: boolean, values: Float32Array | null): string {
  const mp = paddedM(d.m, isa.width);
  const nv = vectorsPerChunk(isa, mp, 1);
  const lines: string[] = [];
  const fmas = Array.from({ length: nv }, (_, j) => `a0_${j} = VFMA(b, VLOAD(xr + ${j} * VW), a0_${j});`).join(' ');
  lines.push(`#define T(koff, wv) { const float *xr = ${prefix}_xt + (size_t)(koff) * MP + m0; vec b = wv; ${fmas} }`);
  // One small function per output row: a single huge straight-line function makes gcc's
  // register allocator take minutes and gigabytes.
  const rowFns: string[] = [];
  for (let gi = 0; gi + 1 < g.ptr.length; gi++) {
    const row = g.rows[gi]!;
    const fn = `${name}_r${row}`;
    rowFns.push(fn);
    lines.push(`static void ${fn}(const float *restrict w) {`);
    lines.push(`  (void)w;`);
    lines.push(`  for (int m0 = 0; m0 < MP; m0 += ${nv} * VW) {`);
    lines.push(indent(initAcc(1, nv, () => String(row), accumulate, prefix), 4));
    for (let q = g.ptr[gi]!; q < g.ptr[gi + 1]!; q++) {
      const wv = values ? `VSET1(${cFloat(values[q]!)})` : `VBCAST(w + ${q})`;
      lines.push(`    T(${g.kidx[q]}, ${wv});`);
    }
    lines.push(indent(storeAcc(1, nv, () => String(row), prefix), 4));
    lines.push('  }');
    lines.push('}');
  }
  lines.push('#undef T');
  lines.push(`static void ${name}(const float *restrict w, const float *restrict blob) {`);
  lines.push('  (void)blob;');
  for (const fn of rowFns) lines.push(`  ${fn}(w);`);
  lines.push('}');
  return lines.join('\n') + '\n';
}

/** Output rows no part of the kernel writes: zeroed so yt never carries stale results. */
export function emitZeroRows(name: string, rows: number[], prefix: string, st: Structure = { kind: 'baked' }): string {
  const decl = declareStructure(st, [[`${name}_rows`, rows]], [['count', rows.length]]);
  return `${decl.file}static void ${name}(const float *restrict blob) {
${indent(decl.local, 2)}
  for (int i = 0; i < count; i++) memset(${prefix}_yt + (size_t)${name}_rows[i] * MP, 0, MP * sizeof(float));
}
`;
}
