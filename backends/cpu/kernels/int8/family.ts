/**
 * The int8 GEMM kernel family: MatMul / Gemm whose constant weight has a WeightSparsity entry
 * with precision 'int8'. The backend chooses it directly (priority above the fp32 sparse
 * family): a `block:RxC` pattern with C a multiple of 4 and density below 0.6 runs the int8
 * BSR body, anything else the int8 dense body over the masked weight. `outliers` on the
 * WeightSparsity (fraction of kept elements left in fp32) selects the mixed decomposition,
 * unless choose.ts timed it and found the tensor faster assimilated into fp32.
 *
 * Inputs: [A, packed int8 weights, comp (int32), scales, fp32 outlier values, int8 weight N×K
 * (reference), fp32 outliers N×K (reference, mixed only), ...epilogue operands]; all but A and
 * the epilogue operands are constants derived at plan time. The reference (`tesa_kernel_ref`)
 * repeats the same per-tensor quantization of X and accumulates exactly in int64, so the
 * runner's check verifies the kernel's arithmetic (1e-4) rather than the quantization error,
 * which the quality evaluators account for (src/quant/error.ts).
 */
import type { OpPlan } from '../../../backend.js';
import type { Tensor } from '../../../../src/model/graph.js';
import { parsePattern } from '../../../../src/prune/pattern.js';
import { epilogueStatements, header } from '../c.js';
import { refs, registerKernelFamily, type FusedOp, type LowerContext, type LoweredKernel, type PlanContext, type PlannedKernel, type EpilogueStep } from '../family.js';
import { epilogueSpec, gemmGeometry, type EpilogueOperand, type GemmGeometry } from '../gemm-dense.js';
import { int8IsaFor, int8PlanName, lowerInt8Gemm, type Int8Body, type Int8GemmProblem, type Int8Isa, type Int8Plan } from './emit.js';
import { cachedInt8Decision, int8DecisionKey } from './decisions.js';

export interface Int8GemmParams {
  M: number;
  N: number;
  K: number;
  aOff: number;
  isa: Int8Isa;
  planName: string;
  hasOutliers: boolean;
  /** generated core, entry `tesa_int8_core` */
  core: string;
  epilogue: EpilogueStep[];
  operands: EpilogueOperand[];
}

interface Int8Shape {
  g: GemmGeometry;
  prob: Int8GemmProblem;
  pattern: string;
  outliers: number;
  isa: Int8Isa;
}

/** The op as an int8 GEMM, or null when this family does not serve it. */
export function int8Shape(op: FusedOp, ctx: PlanContext): Int8Shape | null {
  const n = op.anchor;
  if (n.opType !== 'MatMul' && n.opType !== 'Gemm') return null;
  const ws = ctx.sparsity?.get(n.inputs[1]!);
  if (!ws || ws.precision !== 'int8') return null;
  if (!ctx.isConstant(n.inputs[1]!)) return null;
  const isa = int8IsaFor(ctx.fingerprint.cpuFlags, ctx.fingerprint.isa);
  if (isa === null) return null;
  const g = gemmGeometry(n, ctx, true);
  if (g.batch !== 1 || g.im2col || !g.bConst || g.sak !== 1 || g.sam !== g.K) return null;
  const w = ctx.tensor(n.inputs[1]!);
  if (!(w.data instanceof Float32Array) || ws.mask.length !== w.data.length) return null;
  const weight = new Float32Array(g.N * g.K);
  const mask = new Uint8Array(g.N * g.K);
  for (let i = 0; i < g.N; i++) {
    for (let k = 0; k < g.K; k++) {
      const s = g.bOff[0]! + k * g.sbk + i * g.sbn;
      weight[i * g.K + k] = w.data[s]!;
      mask[i * g.K + k] = ws.mask[s]!;
    }
  }
  return { g, prob: { m: g.M, n: g.N, k: g.K, weight, mask }, pattern: ws.pattern, outliers: ws.outliers ?? 0, isa };
}

/** BSR when the pattern is a block 4-byte-group aligned and sparse enough to pay, else dense. */
export function chooseInt8Body(prob: Int8GemmProblem, pattern: string): Int8Body {
  let kept = 0;
  const mask = prob.mask;
  if (mask) for (let i = 0; i < mask.length; i++) kept += mask[i]!;
  const density = mask ? kept / mask.length : 1;
  const p = parsePattern(pattern, `pattern of '${pattern}'`);
  if (p.kind === 'block' && p.cols % 4 === 0 && prob.n % p.rows === 0 && prob.k % p.cols === 0 && density < 0.6 && prob.m <= 384) {
    return { kind: 'bsr', r: p.rows, c: p.cols };
  }
  return { kind: 'dense' };
}

function planInt8(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const s = int8Shape(op, ctx)!;
  const epi = epilogueSpec(op, ctx, s.g)!;
  const plan: Int8Plan = { body: chooseInt8Body(s.prob, s.pattern), outlierFraction: s.outliers, bias: false };
  const lowered = lowerInt8Gemm(s.isa, s.prob, plan, 'tesa_int8_core');
  const n = op.anchor;
  const base = `${n.inputs[1]}::int8::${lowered.hash.slice(0, 12)}`;
  const constants: Tensor[] = [
    { name: `${base}::wq`, dtype: 'int8', shape: [lowered.wq.length], data: lowered.wq },
    { name: `${base}::comp`, dtype: 'int32', shape: [lowered.comp.length], data: lowered.comp },
    { name: `${base}::scale`, dtype: 'float32', shape: [lowered.wscale.length], data: lowered.wscale },
    { name: `${base}::outliers`, dtype: 'float32', shape: [lowered.wout.length], data: lowered.wout },
    { name: `${base}::qref`, dtype: 'int8', shape: [lowered.quant.q.length], data: lowered.quant.q },
  ];
  const hasOutliers = lowered.outliers > 0;
  if (hasOutliers) {
    const oref = new Float32Array(s.prob.n * s.prob.k);
    for (let i = 0; i < oref.length; i++) if (lowered.outlierMask[i]) oref[i] = s.prob.weight[i]!;
    constants.push({ name: `${base}::oref`, dtype: 'float32', shape: [oref.length], data: oref });
  }
  const params: Int8GemmParams = {
    M: s.g.M, N: s.g.N, K: s.g.K, aOff: s.g.aOff[0]!, isa: s.isa, planName: int8PlanName(plan), hasOutliers,
    core: lowered.code, epilogue: epi.steps, operands: epi.operands,
  };
  return { inputs: [n.inputs[0]!, ...constants.map((c) => c.name), ...epi.inputs], outputs: op.outputs, params: params as unknown as Record<string, unknown>, constants };
}

export function lowerInt8(plan: OpPlan, ctx: LowerContext): LoweredKernel {
  const p = plan.params as unknown as Int8GemmParams;
  const first = p.hasOutliers ? 7 : 6;
  const operand = (k: number, i: string, j: string): string => `((const float *)in[${first + k}])[${p.operands[k]!.boff[0]} + ${i} * ${p.operands[k]!.rs} + ${j} * ${p.operands[k]!.cs}]`;
  const epi = epilogueStatements(p.epilogue, (k) => operand(k, 'i', 'j'));
  const epiLoop = p.epilogue.length > 0
    ? `  for (long i = 0; i < ${p.M}; i++) {
    for (long j = 0; j < ${p.N}; j++) {
      float v = C[i * ${p.N} + j];
      ${epi}
      C[i * ${p.N} + j] = v;
    }
  }
`
    : '';
  void ctx;
  const code = `${header('gemm-int8', `${plan.opType} M=${p.M} N=${p.N} K=${p.K}, plan ${p.planName}, ${p.isa}${p.epilogue.length ? ', epilogue ' + p.epilogue.map((e) => e.kind).join('+') : ''}`, refs(plan, 'inputRefs'), refs(plan, 'outputRefs'))}
/* ---- int8 core ---- */
${p.core}
/* ---- op wrapper: core, then the fused epilogue ---- */
void tesa_kernel(tesa_in in, tesa_out out, void *state) {
  (void)state;
  float *C = (float *)out[0];
  tesa_int8_core((const float *)in[0] + ${p.aOff}, (const int8_t *)in[1], (const int32_t *)in[2], (const float *)in[3], (const float *)in[4], NULL, C);
${epiLoop}}

/* reference: the same per-tensor quantization of X, exact int64 accumulation over the int8
   weight, fp32 outliers in double, the same float dequantization */
void tesa_kernel_ref(tesa_in in, tesa_out out) {
  const float *A = (const float *)in[0] + ${p.aOff};
  const int8_t *Q = (const int8_t *)in[5];
  const int32_t *comp = (const int32_t *)in[2];
  const float *ws = (const float *)in[3];
  ${p.hasOutliers ? 'const float *O = (const float *)in[6];' : ''}
  float *C = (float *)out[0];
  float amax = 0.0f;
  for (long t = 0; t < ${p.M * p.K}; t++) amax = fabsf(A[t]) > amax ? fabsf(A[t]) : amax;
  const float inv = amax > 0.0f ? 127.0f / amax : 1.0f, sx = amax > 0.0f ? amax / 127.0f : 1.0f;
  for (long i = 0; i < ${p.M}; i++) {
    for (long j = 0; j < ${p.N}; j++) {
      int64_t acc = 0;
      double o = 0.0;
      for (long k = 0; k < ${p.K}; k++) {
        int q = (int)nearbyintf(A[i * ${p.K} + k] * inv);
        q = (q < -127 ? -127 : q > 127 ? 127 : q) + 128;
        acc += (int64_t)q * Q[j * ${p.K} + k];
        ${p.hasOutliers ? `o += (double)A[i * ${p.K} + k] * O[j * ${p.K} + k];` : ''}
      }
      float v = (float)((double)((float)(acc - comp[j]) * (ws[j] * sx)) + o);
      ${epi}
      C[i * ${p.N} + j] = v;
    }
  }
}
`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({
  name: 'gemm-int8',
  // Above gemm-sparse (10): precision int8 is a decision of the search, not a fallback.
  priority: 20,
  matches: (op, ctx) => {
    const s = int8Shape(op, ctx);
    if (s === null || epilogueSpec(op, ctx, s.g) === null) return false;
    // A mixed weight that choose.ts found faster assimilated into fp32 is left to the fp32 families.
    if (s.outliers > 0 && cachedInt8Decision(int8DecisionKey(s.prob, s.pattern, s.outliers, ctx.fingerprint.id, s.isa))?.plan === 'assimilated') return false;
    return true;
  },
  plan: planInt8,
  lower: lowerInt8,
});
