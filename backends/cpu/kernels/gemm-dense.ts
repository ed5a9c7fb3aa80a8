/**
 * Dense GEMM of our own for MatMul, Gemm and (im2col) Conv: C[b] = A[b] · B[b] with every
 * shape and stride baked in.
 *
 * B is packed into panels of NR columns (zero-padded), once in `tesa_kernel_init` when it is
 * a constant weight, else per call; A is read in place (like MLAS) with its strides baked in.
 * The register-blocked micro-kernel keeps an MR×NR tile of C in vector registers (AVX-512:
 * 12×32, AVX2/FMA: 6×16; a plain-C 4×16 fallback elsewhere). K is blocked by KC so a B
 * micro-panel stays in L1 and M by MC so the A block stays in L2. Fused epilogue steps
 * (bias, activation, scale, residual) run on each finished tile while it is hot.
 *
 * Other families (sparse GEMMs, shrunk dense) reuse `gemmGeometry` and `epilogueSpec` so that
 * they accept the same fused ops and operand layouts.
 */
import type { OpPlan } from '../../backend.js';
import { attrFloat, attrInt, attrInts, attrString, numel, type Node } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import { broadcastStrides, contiguousStrides, epilogueStatements, header } from './c.js';
import { refs, registerKernelFamily, type EpilogueStep, type FusedOp, type LowerContext, type LoweredKernel, type PlanContext, type PlannedKernel } from './family.js';
import type { Isa } from '../fingerprint.js';

export interface Im2col {
  C: number;
  H: number;
  W: number;
  KH: number;
  KW: number;
  SH: number;
  SW: number;
  PT: number;
  PL: number;
  DH: number;
  DW: number;
  OH: number;
  OW: number;
}

/** How a fused MatMul/Gemm/Conv maps onto batched C[b] (M×N, row-major) = A[b] (M×K) · B[b] (K×N). */
export interface GemmGeometry {
  batch: number;
  M: number;
  N: number;
  K: number;
  /** A(i,k) = A[aOff[b] + i*sam + k*sak] */
  aOff: number[];
  sam: number;
  sak: number;
  /** B(k,n) = B[bOff[b] + k*sbk + n*sbn], or im2col of the input at bOff[b]. */
  bOff: number[];
  sbk: number;
  sbn: number;
  im2col: Im2col | null;
  bConst: boolean;
  /** C element (b,i,j) is at cOff[b] + i*N + j of the output. */
  cOff: number[];
}

/** Where each epilogue add/mul input is read for output element (b,i,j): boff[b] + i*rs + j*cs. */
export interface EpilogueOperand {
  boff: number[];
  rs: number;
  cs: number;
}

export interface GemmParams extends GemmGeometry {
  epilogue: EpilogueStep[];
  operands: EpilogueOperand[];
}

export const GEMM_OPS = new Set(['MatMul', 'Gemm', 'Conv']);

export function isDepthwise(node: Node, ctx: PlanContext): boolean {
  if (node.opType !== 'Conv') return false;
  const group = attrInt(node, 'group', 1);
  const w = ctx.tensor(node.inputs[1]);
  const x = ctx.tensor(node.inputs[0]);
  return group > 1 && group === x.shape[1] && w.shape[0] === group && w.shape[1] === 1;
}

function unravel(f: number, shape: readonly number[]): number[] {
  const idx = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    idx[d] = f % shape[d];
    f = Math.floor(f / shape[d]);
  }
  return idx;
}

/** Reads an epilogue input as a linear function of (i, j) per batch; null when it is not one. */
export function epilogueOperand(g: GemmGeometry, outShape: readonly number[], inShape: readonly number[]): EpilogueOperand | null {
  const st = broadcastStrides(inShape, outShape);
  const off = (f: number): number => unravel(f, outShape).reduce((s, x, d) => s + x * st[d], 0);
  const base = g.cOff.map((c) => off(c));
  const rs = g.M > 1 ? off(g.cOff[0] + g.N) - base[0] : 0;
  const cs = g.N > 1 ? off(g.cOff[0] + 1) - base[0] : 0;
  for (let b = 0; b < Math.min(g.batch, 4); b++) {
    for (let i = 0; i < g.M; i++) if (off(g.cOff[b] + i * g.N) !== base[b] + i * rs) return null;
    for (let j = 0; j < g.N; j++) if (off(g.cOff[b] + j) !== base[b] + j * cs) return null;
  }
  return { boff: base, rs, cs };
}

function matmulGeometry(node: Node, ctx: PlanContext, flatten: boolean): GemmGeometry {
  const a = ctx.tensor(node.inputs[0]);
  const b = ctx.tensor(node.inputs[1]);
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const M = as[as.length - 2];
  const K = as[as.length - 1];
  const N = bs[bs.length - 1];
  if (bs[bs.length - 2] !== K) throw new TesaError('BAD_MODEL', `MatMul '${node.name}': inner dims ${K} and ${bs[bs.length - 2]} differ`, 'the model is malformed');
  const aBatch = as.slice(0, -2);
  const bBatch = bs.slice(0, -2);
  const n = Math.max(aBatch.length, bBatch.length);
  const outBatch: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = aBatch[aBatch.length - n + i] ?? 1;
    const y = bBatch[bBatch.length - n + i] ?? 1;
    outBatch.push(x === 1 ? y : x);
  }
  const batch = numel(outBatch);
  const bConst = ctx.isConstant(node.inputs[1]);
  const bBatchN = numel(bBatch);
  if (flatten && bBatchN === 1) {
    // A's batch dims are contiguous rows: one GEMM of (batch*M) rows shares the packed B.
    return { batch: 1, M: batch * M, N, K, aOff: [0], sam: K, sak: 1, bOff: [0], sbk: N, sbn: 1, im2col: null, bConst, cOff: [0] };
  }
  const aSt = broadcastStrides(aBatch, outBatch).map((s) => s * M * K);
  const bSt = broadcastStrides(bBatch, outBatch).map((s) => s * K * N);
  const aOff: number[] = [];
  const bOff: number[] = [];
  const cOff: number[] = [];
  for (let t = 0; t < batch; t++) {
    const idx = unravel(t, outBatch);
    aOff.push(idx.reduce((s, x, d) => s + x * aSt[d], 0));
    bOff.push(idx.reduce((s, x, d) => s + x * bSt[d], 0));
    cOff.push(t * M * N);
  }
  const sameB = bOff.every((o) => o === bOff[0]);
  return { batch, M, N, K, aOff, sam: K, sak: 1, bOff, sbk: N, sbn: 1, im2col: null, bConst: bConst && sameB, cOff };
}

function gemmGeometryOfGemm(node: Node, ctx: PlanContext): GemmGeometry {
  const a = ctx.tensor(node.inputs[0]);
  const b = ctx.tensor(node.inputs[1]);
  const tA = attrInt(node, 'transA', 0) === 1;
  const tB = attrInt(node, 'transB', 0) === 1;
  const M = tA ? a.shape[1] : a.shape[0];
  const K = tA ? a.shape[0] : a.shape[1];
  const N = tB ? b.shape[0] : b.shape[1];
  return {
    batch: 1, M, N, K, aOff: [0], sam: tA ? 1 : K, sak: tA ? M : 1,
    bOff: [0], sbk: tB ? 1 : N, sbn: tB ? K : 1, im2col: null, bConst: ctx.isConstant(node.inputs[1]), cOff: [0],
  };
}

export function convPads(node: Node, H: number, W: number, KH: number, KW: number, SH: number, SW: number, DH: number, DW: number, OH: number, OW: number): [number, number] {
  const auto = attrString(node, 'auto_pad', 'NOTSET');
  if (auto === 'NOTSET' || auto === 'VALID') {
    const pads = auto === 'VALID' ? [0, 0, 0, 0] : attrInts(node, 'pads', [0, 0, 0, 0]);
    return [pads[0], pads[1]];
  }
  const padH = Math.max(0, (OH - 1) * SH + (KH - 1) * DH + 1 - H);
  const padW = Math.max(0, (OW - 1) * SW + (KW - 1) * DW + 1 - W);
  return auto === 'SAME_UPPER' ? [Math.floor(padH / 2), Math.floor(padW / 2)] : [Math.ceil(padH / 2), Math.ceil(padW / 2)];
}

export interface ConvShape {
  N: number; C: number; H: number; W: number; CO: number; G: number; KH: number; KW: number;
  SH: number; SW: number; DH: number; DW: number; PT: number; PL: number; OH: number; OW: number;
}

export function convShape(node: Node, ctx: PlanContext): ConvShape {
  const x = ctx.tensor(node.inputs[0]);
  const w = ctx.tensor(node.inputs[1]);
  const y = ctx.tensor(node.outputs[0]);
  if (x.shape.length !== 4) throw new TesaError('UNSUPPORTED', `Conv '${node.name}' is not 2-D (input [${x.shape}])`, 'only 2-D convolutions are supported by the cpu backend');
  const [N, C, H, W] = x.shape;
  const [CO, , KH, KW] = w.shape;
  const [SH, SW] = attrInts(node, 'strides', [1, 1]);
  const [DH, DW] = attrInts(node, 'dilations', [1, 1]);
  const [OH, OW] = [y.shape[2], y.shape[3]];
  const [PT, PL] = convPads(node, H, W, KH, KW, SH, SW, DH, DW, OH, OW);
  return { N, C, H, W, CO, G: attrInt(node, 'group', 1), KH, KW, SH, SW, DH, DW, PT, PL, OH, OW };
}

function convGeometry(node: Node, ctx: PlanContext): GemmGeometry {
  const s = convShape(node, ctx);
  const CG = s.C / s.G;
  const MG = s.CO / s.G;
  const K = CG * s.KH * s.KW;
  const aOff: number[] = [];
  const bOff: number[] = [];
  const cOff: number[] = [];
  for (let n = 0; n < s.N; n++) {
    for (let g = 0; g < s.G; g++) {
      aOff.push(g * MG * K);
      bOff.push(n * s.C * s.H * s.W + g * CG * s.H * s.W);
      cOff.push(n * s.CO * s.OH * s.OW + g * MG * s.OH * s.OW);
    }
  }
  const pointwise = s.KH === 1 && s.KW === 1 && s.SH === 1 && s.SW === 1 && s.PT === 0 && s.PL === 0;
  const im2col: Im2col | null = pointwise ? null : { C: CG, H: s.H, W: s.W, KH: s.KH, KW: s.KW, SH: s.SH, SW: s.SW, PT: s.PT, PL: s.PL, DH: s.DH, DW: s.DW, OH: s.OH, OW: s.OW };
  return { batch: s.N * s.G, M: MG, N: s.OH * s.OW, K, aOff, sam: K, sak: 1, bOff, sbk: s.OH * s.OW, sbn: 1, im2col, bConst: false, cOff };
}

/** The operand layout of a GEMM-like node; `flatten` merges A's batch dims into M when B is shared. */
export function gemmGeometry(node: Node, ctx: PlanContext, flatten = true): GemmGeometry {
  if (node.opType === 'MatMul') return matmulGeometry(node, ctx, flatten);
  if (node.opType === 'Gemm') return gemmGeometryOfGemm(node, ctx);
  if (node.opType === 'Conv') return convGeometry(node, ctx);
  throw new TesaError('INTERNAL', `gemmGeometry called on ${node.opType}`);
}

/** The node's own epilogue (Gemm's alpha/C, Conv's bias) followed by the fused steps. */
export function nodeEpilogue(op: FusedOp, ctx: PlanContext): { steps: EpilogueStep[]; inputs: string[] } {
  const n = op.anchor;
  const steps: EpilogueStep[] = [];
  if (n.opType === 'Gemm') {
    const alpha = attrFloat(n, 'alpha', 1);
    const beta = attrFloat(n, 'beta', 1);
    if (alpha !== 1) steps.push({ kind: 'scale', value: alpha });
    if (n.inputs[2]) {
      if (beta !== 1) throw new TesaError('UNSUPPORTED', `Gemm '${n.name}' has beta=${beta}`, 'export Linear layers with beta=1');
      steps.push({ kind: 'add', input: n.inputs[2] });
    }
  }
  if (n.opType === 'Conv' && n.inputs[2]) {
    // Conv bias [CO] broadcasts over the channel axis of [N, CO, OH, OW].
    steps.push({ kind: 'add', input: n.inputs[2] });
  }
  steps.push(...op.epilogue);
  const inputs = steps.flatMap((s) => (s.kind === 'add' || s.kind === 'mul' ? [s.input] : []));
  void ctx;
  return { steps, inputs };
}

function operandShape(n: Node, input: string, ctx: PlanContext, outRank: number): number[] {
  const shape = ctx.tensor(input).shape;
  // Conv bias is [CO]: align it with the channel axis.
  if (n.opType === 'Conv' && input === n.inputs[2]) return [shape[0], 1, 1];
  void outRank;
  return shape;
}

export function epilogueSpec(op: FusedOp, ctx: PlanContext, g: GemmGeometry): { steps: EpilogueStep[]; inputs: string[]; operands: EpilogueOperand[] } | null {
  const { steps, inputs } = nodeEpilogue(op, ctx);
  const outShape = ctx.tensor(op.anchor.outputs[0]).shape;
  const operands: EpilogueOperand[] = [];
  for (const name of inputs) {
    const o = epilogueOperand(g, outShape, operandShape(op.anchor, name, ctx, outShape.length));
    if (!o) return null;
    operands.push(o);
  }
  return { steps, inputs, operands };
}

function plan(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  let g = gemmGeometry(n, ctx, true);
  let epi = epilogueSpec(op, ctx, g);
  if (!epi) {
    g = gemmGeometry(n, ctx, false);
    epi = epilogueSpec(op, ctx, g);
  }
  if (!epi) throw new TesaError('INTERNAL', `fused epilogue of '${n.name}' cannot be indexed linearly`);
  const params: GemmParams = { ...g, epilogue: epi.steps, operands: epi.operands };
  // Conv reads as weight (A, M=CO rows) × im2col(input) (B); MatMul/Gemm as input × weight.
  const [a, b] = n.opType === 'Conv' ? [n.inputs[1], n.inputs[0]] : [n.inputs[0], n.inputs[1]];
  return { inputs: [a, b, ...epi.inputs], outputs: op.outputs, params: params as unknown as Record<string, unknown> };
}

// ---------------------------------------------------------------- code generation

interface IsaSpec {
  MR: number;
  NR: number;
  KC: number;
  MC: number;
  vec: string;
  VW: number;
  load: string;
  loadu: string;
  storeu: string;
  set1: string;
  fmadd: string;
  zero: string;
}

export const ISA_SPECS: Record<Isa, IsaSpec> = {
  avx512: { MR: 12, NR: 32, KC: 256, MC: 240, vec: '__m512', VW: 16, load: '_mm512_load_ps', loadu: '_mm512_loadu_ps', storeu: '_mm512_storeu_ps', set1: '_mm512_set1_ps', fmadd: '_mm512_fmadd_ps', zero: '_mm512_setzero_ps' },
  avx2: { MR: 6, NR: 16, KC: 256, MC: 240, vec: '__m256', VW: 8, load: '_mm256_load_ps', loadu: '_mm256_loadu_ps', storeu: '_mm256_storeu_ps', set1: '_mm256_set1_ps', fmadd: '_mm256_fmadd_ps', zero: '_mm256_setzero_ps' },
  generic: { MR: 4, NR: 16, KC: 256, MC: 240, vec: '', VW: 1, load: '', loadu: '', storeu: '', set1: '', fmadd: '', zero: '' },
};

/** The micro-kernel: c[rows×NR] (+)= a[rows×kc] · b[kc×NR], A read with baked strides. */
export function microKernel(name: string, rows: number, isa: Isa, sam: number, sak: number): string {
  const s = ISA_SPECS[isa];
  const aIdx = (r: number): string => `${r * sam ? `${r * sam} + ` : ''}k${sak === 1 ? '' : ` * ${sak}`}`;
  if (isa === 'generic') {
    return `static inline void ${name}(long kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc, int acc) {
  float t[${rows}][${s.NR}];
  for (int r = 0; r < ${rows}; r++) for (int j = 0; j < ${s.NR}; j++) t[r][j] = acc ? c[r * ldc + j] : 0.0f;
  for (long k = 0; k < kc; k++) {
    for (int r = 0; r < ${rows}; r++) {
      const float av = a[r * ${sam} + k * ${sak}];
      for (int j = 0; j < ${s.NR}; j++) t[r][j] += av * b[k * ${s.NR} + j];
    }
  }
  for (int r = 0; r < ${rows}; r++) for (int j = 0; j < ${s.NR}; j++) c[r * ldc + j] = t[r][j];
}
`;
  }
  const nv = s.NR / s.VW;
  const L: string[] = [];
  L.push(`static inline void ${name}(long kc, const float *restrict a, const float *restrict b, float *restrict c, long ldc, int acc) {`);
  const regs: string[] = [];
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) regs.push(`c${r}_${v}`);
  L.push(`  ${s.vec} ${regs.join(', ')};`);
  L.push('  if (acc) {');
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) L.push(`    c${r}_${v} = ${s.loadu}(c + ${r} * ldc + ${v * s.VW});`);
  L.push('  } else {');
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) L.push(`    c${r}_${v} = ${s.zero}();`);
  L.push('  }');
  L.push('#pragma GCC unroll 4');
  L.push('  for (long k = 0; k < kc; k++) {');
  for (let v = 0; v < nv; v++) L.push(`    const ${s.vec} b${v} = ${s.load}(b + k * ${s.NR} + ${v * s.VW});`);
  for (let r = 0; r < rows; r++) {
    L.push(`    { const ${s.vec} av = ${s.set1}(a[${aIdx(r)}]);${Array.from({ length: nv }, (_, v) => ` c${r}_${v} = ${s.fmadd}(av, b${v}, c${r}_${v});`).join('')} }`);
  }
  L.push('  }');
  for (let r = 0; r < rows; r++) for (let v = 0; v < nv; v++) L.push(`  ${s.storeu}(c + ${r} * ldc + ${v * s.VW}, c${r}_${v});`);
  L.push('}');
  return L.join('\n') + '\n';
}

function longArray(name: string, xs: readonly number[]): string {
  return `static const long ${name}[${xs.length}] = {${xs.join(', ')}};\n`;
}

function packB(p: GemmParams, NR: number, name: string): string {
  const { K, N } = p;
  const NP = Math.ceil(N / NR);
  if (p.im2col) {
    const c = p.im2col;
    return `/* im2col fused into packing: B(k,n) = x[ci][oh*${c.SH}+kh*${c.DH}-${c.PT}][ow*${c.SW}+kw*${c.DW}-${c.PL}] */
static void ${name}(const float *restrict x, float *restrict bp) {
  for (long jp = 0; jp < ${NP}; jp++) {
    float *restrict dst = bp + jp * ${K * NR};
    for (long k = 0; k < ${K}; k++) {
      const long ci = k / ${c.KH * c.KW}, kh = (k / ${c.KW}) % ${c.KH}, kw = k % ${c.KW};
      const float *restrict xc = x + ci * ${c.H * c.W};
      for (long j = 0; j < ${NR}; j++) {
        const long n = jp * ${NR} + j;
        float v = 0.0f;
        if (n < ${N}) {
          const long oh = n / ${c.OW}, ow = n % ${c.OW};
          const long ih = oh * ${c.SH} + kh * ${c.DH} - ${c.PT}, iw = ow * ${c.SW} + kw * ${c.DW} - ${c.PL};
          if (ih >= 0 && ih < ${c.H} && iw >= 0 && iw < ${c.W}) v = xc[ih * ${c.W} + iw];
        }
        dst[k * ${NR} + j] = v;
      }
    }
  }
}
`;
  }
  const full = Math.floor(N / NR);
  const rem = N - full * NR;
  return `/* B(k,n) = b[k*${p.sbk} + n*${p.sbn}] packed as [${NP} panels][${K}][${NR}], zero-padded */
static void ${name}(const float *restrict b, float *restrict bp) {
  for (long jp = 0; jp < ${full}; jp++) {
    float *restrict dst = bp + jp * ${K * NR};
    for (long k = 0; k < ${K}; k++)
#pragma omp simd
      for (long j = 0; j < ${NR}; j++) dst[k * ${NR} + j] = b[k * ${p.sbk} + (jp * ${NR} + j) * ${p.sbn}];
  }
${rem === 0 ? '' : `  {
    float *restrict dst = bp + ${full * K * NR};
    for (long k = 0; k < ${K}; k++)
      for (long j = 0; j < ${NR}; j++) dst[k * ${NR} + j] = j < ${rem} ? b[k * ${p.sbk} + (${full * NR} + j) * ${p.sbn}] : 0.0f;
  }
`}}
`;
}

function epilogueFn(p: GemmParams): string {
  const ops = p.operands;
  const steps = p.epilogue;
  if (steps.length === 0) return '';
  let s = ops.map((o, k) => longArray(`E${k}_BOFF`, o.boff)).join('');
  s += `static inline void epilogue(long bt, long i0, long mr, long j0, long nr, float *restrict cb, tesa_in in) {\n`;
  s += ops.map((o, k) => `  const float *restrict e${k} = (const float *)in[${2 + k}] + E${k}_BOFF[bt] + j0 * ${o.cs};\n`).join('');
  s += `  for (long r = 0; r < mr; r++) {\n    float *restrict cr = cb + (i0 + r) * ${p.N} + j0;\n`;
  s += ops.map((o, k) => `    const float *restrict e${k}r = e${k} + (i0 + r) * ${o.rs};\n`).join('');
  s += `#pragma omp simd\n    for (long c = 0; c < nr; c++) {\n      float v = cr[c];\n      ${epilogueStatements(steps, (k) => `e${k}r[c * ${ops[k].cs}]`)}\n      cr[c] = v;\n    }\n  }\n}\n`;
  return s;
}

function refKernel(p: GemmParams): string {
  const c = p.im2col;
  const bval = c
    ? `({ const long ci = k / ${c.KH * c.KW}, kh = (k / ${c.KW}) % ${c.KH}, kw = k % ${c.KW}, oh = j / ${c.OW}, ow = j % ${c.OW};
            const long ih = oh * ${c.SH} + kh * ${c.DH} - ${c.PT}, iw = ow * ${c.SW} + kw * ${c.DW} - ${c.PL};
            (ih >= 0 && ih < ${c.H} && iw >= 0 && iw < ${c.W}) ? bb[ci * ${c.H * c.W} + ih * ${c.W} + iw] : 0.0f; })`
    : `bb[k * ${p.sbk} + j * ${p.sbn}]`;
  const epi = epilogueStatements(p.epilogue, (k) => `((const float *)in[${2 + k}])[RE${k}_BOFF[bt] + i * ${p.operands[k].rs} + j * ${p.operands[k].cs}]`);
  return `${p.operands.map((o, k) => longArray(`RE${k}_BOFF`, o.boff)).join('')}
/* reference: plain triple loop accumulating in double */
void tesa_kernel_ref(tesa_in in, tesa_out out) {
  const float *A = (const float *)in[0];
  const float *B = (const float *)in[1];
  float *C = (float *)out[0];
  static double acc[${p.N}];
  for (long bt = 0; bt < ${p.batch}; bt++) {
    const float *ab = A + R_AOFF[bt];
    const float *bb = B + R_BOFF[bt];
    float *cb = C + R_COFF[bt];
    for (long i = 0; i < ${p.M}; i++) {
      for (long j = 0; j < ${p.N}; j++) acc[j] = 0.0;
      for (long k = 0; k < ${p.K}; k++) {
        const double a = ab[i * ${p.sam} + k * ${p.sak}];
        for (long j = 0; j < ${p.N}; j++) acc[j] += a * (double)${bval};
      }
      for (long j = 0; j < ${p.N}; j++) {
        float v = (float)acc[j];
        ${epi}
        cb[i * ${p.N} + j] = v;
      }
    }
  }
}
`;
}

export function lowerGemm(plan: OpPlan, ctx: LowerContext): LoweredKernel {
  const p = plan.params as unknown as GemmParams;
  const s = ISA_SPECS[ctx.isa];
  const { MR, NR, KC, MC } = s;
  const NP = Math.ceil(p.N / NR);
  const packedFloats = NP * NR * p.K;
  const mTail = p.M % MR;
  const what = `${plan.opType} ${p.batch > 1 ? `${p.batch}× ` : ''}M=${p.M} N=${p.N} K=${p.K}${p.im2col ? ' (im2col)' : ''}${p.bConst ? ', B packed at init' : ''}${p.epilogue.length ? ', epilogue ' + p.epilogue.map((e) => e.kind).join('+') : ''}, ${ctx.isa} ${MR}x${NR}`;
  const omp = ctx.threads > 1 ? `#pragma omp parallel for schedule(static) num_threads(${ctx.threads})\n` : '';
  const epi = p.epilogue.length > 0;
  let code = header('gemm-dense', what, refs(plan, 'inputRefs'), refs(plan, 'outputRefs'));
  if (ctx.isa !== 'generic') code += '#include <immintrin.h>\n';
  code += longArray('R_AOFF', p.aOff) + longArray('R_BOFF', p.bOff) + longArray('R_COFF', p.cOff);
  code += microKernel('ukr_full', MR, ctx.isa, p.sam, p.sak);
  if (mTail) code += microKernel('ukr_tail', mTail, ctx.isa, p.sam, p.sak);
  code += packB(p, NR, 'pack_b');
  code += epilogueFn(p);
  if (p.bConst) {
    code += `\nvoid tesa_kernel_init(tesa_in in, void *state) {\n  pack_b((const float *)in[1] + ${p.bOff[0]}, (float *)state);\n}\n`;
  }
  code += `
void tesa_kernel(tesa_in in, tesa_out out, void *state) {
  const float *A = (const float *)in[0];
  const float *B = (const float *)in[1];
  float *C = (float *)out[0];
  float *bpack = (float *)state;
  (void)B;
  for (long bt = 0; bt < ${p.batch}; bt++) {
    const float *ab = A + R_AOFF[bt];
    float *cb = C + R_COFF[bt];
${p.bConst ? '' : '    pack_b(B + R_BOFF[bt], bpack);\n'}    for (long ic = 0; ic < ${p.M}; ic += ${MC}) {
      const long mend = ic + ${MC} < ${p.M} ? ic + ${MC} : ${p.M};
${omp}      for (long jp = 0; jp < ${NP}; jp++) {
        /* one NR-wide column panel of C stays in L1 while K is walked in KC steps */
        const long j0 = jp * ${NR};
        const long nr = ${p.N} - j0 < ${NR} ? ${p.N} - j0 : ${NR};
        for (long pc = 0; pc < ${p.K}; pc += ${KC}) {
          const long kc = ${p.K} - pc < ${KC} ? ${p.K} - pc : ${KC};
          const int acc = pc > 0, last = pc + ${KC} >= ${p.K};
          (void)last;
          const float *bp = bpack + jp * ${p.K * NR} + pc * ${NR};
          for (long i0 = ic; i0 < mend; i0 += ${MR}) {
            const long mr = mend - i0 < ${MR} ? mend - i0 : ${MR};
            const float *ap = ab + i0 * ${p.sam} + pc * ${p.sak};
            if (mr == ${MR} && nr == ${NR}) {
              ukr_full(kc, ap, bp, cb + i0 * ${p.N} + j0, ${p.N}, acc);
            } else {
              float tile[${MR * NR}] __attribute__((aligned(64)));
              if (acc) for (long r = 0; r < mr; r++) for (long c = 0; c < nr; c++) tile[r * ${NR} + c] = cb[(i0 + r) * ${p.N} + j0 + c];
              ${mTail ? `if (mr == ${MR}) ukr_full(kc, ap, bp, tile, ${NR}, acc); else ukr_tail(kc, ap, bp, tile, ${NR}, acc);` : `ukr_full(kc, ap, bp, tile, ${NR}, acc);`}
              for (long r = 0; r < mr; r++) for (long c = 0; c < nr; c++) cb[(i0 + r) * ${p.N} + j0 + c] = tile[r * ${NR} + c];
            }
${epi ? '            if (last) epilogue(bt, i0, mr, j0, nr, cb, in);\n' : ''}          }
        }
      }
    }
  }
}
`;
  code += refKernel(p);
  return { code, hasInit: p.bConst, hasRef: true, stateBytes: packedFloats * 4 };
}

registerKernelFamily({
  name: 'gemm-dense',
  matches: (op, ctx) => GEMM_OPS.has(op.anchor.opType) && !isDepthwise(op.anchor, ctx),
  plan,
  lower: lowerGemm,
});

export { contiguousStrides };
