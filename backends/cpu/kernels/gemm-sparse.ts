/**
 * The sparse GEMM kernel family: MatMul / Gemm whose constant weight has a WeightSparsity
 * entry. The execution plan for the op (BSR, CSR, specialised, tile-wise, shrunk, or dense)
 * is the one the plan picker chose for this (shape, mask, fingerprint) by timing: CpuBackend.compile
 * runs `chooseSparsePlans` (src/plan/transform.ts) over every sparse GEMM before planning.
 * Only a plan built without compile (planGraph alone, or compile with pickPlans: false) and no
 * cached decision falls back to the pattern's native kernel when the mask is sparse enough.
 *
 * Inputs: [A, packed values (a derived constant), the masked weight (for the reference only),
 * ...epilogue operands]. The sparse core (structure baked in) is generated at plan time and
 * carried in params, so `lower` stays pure.
 */
import type { OpPlan } from '../../backend.js';
import type { Tensor } from '../../../src/model/graph.js';
import { parsePattern } from '../../../src/prune/pattern.js';
import { cachedPlan, decisionKey } from '../../../src/plan/picker.js';
import { epilogueStatements, header } from './c.js';
import { refs, registerKernelFamily, type FusedOp, type LowerContext, type LoweredKernel, type PlanContext, type PlannedKernel } from './family.js';
import { epilogueSpec, gemmGeometry, type EpilogueOperand, type GemmGeometry } from './gemm-dense.js';
import { lowerSparseGemm, planName, type SparsePlan } from './sparse/families.js';
import { isaInfo, type VectorIsa } from './sparse/isa.js';
import type { SparseGemmProblem } from './sparse/structure.js';
import type { EpilogueStep } from './family.js';

export interface SparseGemmParams {
  M: number;
  N: number;
  K: number;
  aOff: number;
  /** stored weight W(k, n) = w[k*sbk + n*sbn] (for the reference) */
  sbk: number;
  sbn: number;
  planName: string;
  /** generated sparse core, entry `tesa_sparse_core(x, w, y)` */
  core: string;
  /** the core reads its structure from the values input: its length is the mask's, not the code's */
  structureAsData?: boolean;
  epilogue: EpilogueStep[];
  operands: EpilogueOperand[];
}

function vectorIsa(ctx: PlanContext | LowerContext): VectorIsa | null {
  const isa = 'fingerprint' in ctx ? ctx.fingerprint.isa : ctx.isa;
  return isa === 'avx512' || isa === 'avx2' ? isa : null;
}

export interface Shaped {
  g: GemmGeometry;
  prob: SparseGemmProblem;
  pattern: string;
}

/** The op as a sparse GEMM problem, or null when it is not one this family serves. */
export function sparseShape(op: FusedOp, ctx: PlanContext): Shaped | null {
  const n = op.anchor;
  if (n.opType !== 'MatMul' && n.opType !== 'Gemm') return null;
  const ws = ctx.sparsity?.get(n.inputs[1]!);
  if (!ws || ws.pattern === 'dense' || ws.precision !== 'fp32') return null;
  if (!ctx.isConstant(n.inputs[1]!)) return null;
  if (vectorIsa(ctx) === null) return null;
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
  return { g, prob: { m: g.M, n: g.N, k: g.K, weight, mask }, pattern: ws.pattern };
}

/** The picker's decision when there is one; else the pattern's native plan when sparse enough. */
export function choosePlan(s: Shaped, fingerprintId: string, isa: VectorIsa): SparsePlan | null {
  const decided = cachedPlan(decisionKey(s.prob, s.pattern, fingerprintId, isa));
  if (decided) return decided.plan.family === 'dense' ? null : decided.plan;
  let kept = 0;
  for (let i = 0; i < s.prob.mask.length; i++) kept += s.prob.mask[i]!;
  const density = kept / s.prob.mask.length;
  const p = parsePattern(s.pattern, `pattern of '${s.pattern}'`);
  switch (p.kind) {
    case 'block':
      return density < 0.6 && s.prob.n % p.rows === 0 && s.prob.k % p.cols === 0 ? { family: 'bsr', r: p.rows, c: p.cols } : null;
    case 'tile':
      return density < 0.6 ? { family: 'tile', g: p.g, rb: 4 } : null;
    case 'row':
    case 'col':
    case 'channel':
      return density < 0.8 ? { family: 'shrunk' } : null;
    default:
      return density < 0.2 ? { family: 'csr' } : null;
  }
}

function planSparse(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const s = sparseShape(op, ctx)!;
  const isa = vectorIsa(ctx)!;
  const plan = choosePlan(s, ctx.fingerprint.id, isa)!;
  const lowered = lowerSparseGemm(isaInfo(isa), s.prob, plan, 'tesa_sparse_core');
  const epi = epilogueSpec(op, ctx, s.g)!;
  const n = op.anchor;
  const valuesName = `${n.inputs[1]}::sparse_values::${lowered.hash.slice(0, 12)}`;
  const values: Tensor = { name: valuesName, dtype: 'float32', shape: [Math.max(1, lowered.values.length)], data: lowered.values.length ? lowered.values : new Float32Array(1) };
  const params: SparseGemmParams = {
    M: s.g.M, N: s.g.N, K: s.g.K, aOff: s.g.aOff[0]!, sbk: s.g.sbk, sbn: s.g.sbn,
    planName: planName(plan), core: lowered.code, epilogue: epi.steps, operands: epi.operands, structureAsData: lowered.structureAsData,
  };
  return { inputs: [n.inputs[0]!, valuesName, n.inputs[1]!, ...epi.inputs], outputs: op.outputs, params: params as unknown as Record<string, unknown>, constants: [values] };
}

export function lowerSparse(plan: OpPlan, ctx: LowerContext): LoweredKernel {
  const p = plan.params as unknown as SparseGemmParams;
  const operand = (k: number, i: string, j: string): string => `((const float *)in[${3 + k}])[${p.operands[k]!.boff[0]} + ${i} * ${p.operands[k]!.rs} + ${j} * ${p.operands[k]!.cs}]`;
  const epi = p.epilogue.length > 0
    ? `  for (long i = 0; i < ${p.M}; i++) {
    for (long j = 0; j < ${p.N}; j++) {
      float v = C[i * ${p.N} + j];
      ${epilogueStatements(p.epilogue, (k) => operand(k, 'i', 'j'))}
      C[i * ${p.N} + j] = v;
    }
  }
`
    : '';
  const refEpi = epilogueStatements(p.epilogue, (k) => operand(k, 'i', 'j'));
  void ctx;
  // With the structure as data the values' length varies with the mask; the header leaves it
  // out so that every layer of one shape, plan and epilogue shares this kernel.
  const inputs = refs(plan, 'inputRefs').map((r, i) => (i === 1 && p.structureAsData ? { ...r, shape: [] } : r));
  const code = `${header('gemm-sparse', `${plan.opType} M=${p.M} N=${p.N} K=${p.K}, plan ${p.planName}${p.structureAsData ? ' (structure and values as data)' : ''}${p.epilogue.length ? ', epilogue ' + p.epilogue.map((e) => e.kind).join('+') : ''}`, inputs, refs(plan, 'outputRefs'))}
/* ---- sparse core ---- */
${p.core}
#undef M
#undef N
#undef K
#undef MP
/* ---- op wrapper: core, then the fused epilogue ---- */
void tesa_kernel(tesa_in in, tesa_out out, void *state) {
  (void)state;
  const float *A = (const float *)in[0] + ${p.aOff};
  float *C = (float *)out[0];
  tesa_sparse_core(A, (const float *)in[1], C);
${epi}}

/* reference: dense triple loop over the masked weight, accumulating in double */
void tesa_kernel_ref(tesa_in in, tesa_out out) {
  const float *A = (const float *)in[0] + ${p.aOff};
  const float *W = (const float *)in[2];
  float *C = (float *)out[0];
  for (long i = 0; i < ${p.M}; i++) {
    for (long j = 0; j < ${p.N}; j++) {
      double acc = 0.0;
      for (long k = 0; k < ${p.K}; k++) acc += (double)A[i * ${p.K} + k] * (double)W[k * ${p.sbk} + j * ${p.sbn}];
      float v = (float)acc;
      ${refEpi}
      C[i * ${p.N} + j] = v;
    }
  }
}
`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({
  name: 'gemm-sparse',
  priority: 10,
  matches: (op, ctx) => {
    const s = sparseShape(op, ctx);
    if (!s) return false;
    if (epilogueSpec(op, ctx, s.g) === null) return false;
    return choosePlan(s, ctx.fingerprint.id, vectorIsa(ctx)!) !== null;
  },
  plan: planSparse,
  lower: lowerSparse,
});
