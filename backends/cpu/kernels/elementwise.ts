/**
 * Element-wise ops (unary, binary with numpy broadcasting, Where, Cast) as one loop nest
 * with the broadcast strides baked in; fused epilogue steps run on the same value.
 */
import type { OpPlan } from '../../backend.js';
import { attrFloat, attrInt, type Node } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import { broadcastStrides, coalesce, ctype, epilogueStatements, header, loopNest, cfloat } from './c.js';
import { refs, registerKernelFamily, type EpilogueStep, type FusedOp, type PlanContext, type PlannedKernel } from './family.js';

const UNARY: Record<string, (a: string, node: OpInfo) => string> = {
  Relu: (a) => `tesa_max(${a}, 0.0f)`,
  Sigmoid: (a) => `tesa_sigmoid(${a})`,
  Tanh: (a) => `tanhf(${a})`,
  Erf: (a) => `tesa_erff(${a})`,
  Gelu: (a, n) => (n.approximate === 'tanh' ? `(0.5f * ${a} * (1.0f + tanhf(0.7978845608f * (${a} + 0.044715f * ${a} * ${a} * ${a}))))` : `tesa_gelu(${a})`),
  Sqrt: (a) => `sqrtf(${a})`,
  Reciprocal: (a) => `(1.0f / ${a})`,
  Neg: (a) => `(-${a})`,
  Abs: (a) => `fabsf(${a})`,
  Exp: (a) => `tesa_expf(${a})`,
  Log: (a) => `logf(${a})`,
  Floor: (a) => `floorf(${a})`,
  Ceil: (a) => `ceilf(${a})`,
  Not: (a) => `(uint8_t)!${a}`,
  Clip: (a, n) => `tesa_min(tesa_max(${a}, ${cfloat(n.min)}), ${cfloat(n.max)})`,
  Cast: (a, n) => `(${n.outType})(${a})`,
  Identity: (a) => a,
};

const BINARY: Record<string, (a: string, b: string, n: OpInfo) => string> = {
  Add: (a, b) => `(${a} + ${b})`,
  Sub: (a, b) => `(${a} - ${b})`,
  Mul: (a, b) => `(${a} * ${b})`,
  Div: (a, b, n) => (n.isInt ? `(${b} != 0 ? ${a} / ${b} : 0)` : `(${a} / ${b})`),
  Pow: (a, b, n) => (n.powConst === 2 ? `(${a} * ${a})` : n.powConst === 0.5 ? `sqrtf(${a})` : n.powConst === 1 ? a : `powf(${a}, ${b})`),
  Max: (a, b, n) => (n.isInt ? `(${a} > ${b} ? ${a} : ${b})` : `tesa_max(${a}, ${b})`),
  Min: (a, b, n) => (n.isInt ? `(${a} < ${b} ? ${a} : ${b})` : `tesa_min(${a}, ${b})`),
  Equal: (a, b) => `(uint8_t)(${a} == ${b})`,
  Less: (a, b) => `(uint8_t)(${a} < ${b})`,
  LessOrEqual: (a, b) => `(uint8_t)(${a} <= ${b})`,
  Greater: (a, b) => `(uint8_t)(${a} > ${b})`,
  GreaterOrEqual: (a, b) => `(uint8_t)(${a} >= ${b})`,
  And: (a, b) => `(uint8_t)(${a} && ${b})`,
  Or: (a, b) => `(uint8_t)(${a} || ${b})`,
  Mod: (a, b, n) => (n.isInt ? `(${b} != 0 ? ${a} % ${b} : 0)` : `fmodf(${a}, ${b})`),
};

interface OpInfo {
  opType: string;
  min: number;
  max: number;
  outType: string;
  isInt: boolean;
  powConst: number | null;
  approximate: string;
}

export const ELEMENTWISE_OPS = new Set([...Object.keys(UNARY), ...Object.keys(BINARY), 'Where']);

function clipBounds(node: Node, ctx: PlanContext): { min: number; max: number } {
  if (node.attrs.min !== undefined || node.attrs.max !== undefined) {
    return { min: attrFloat(node, 'min', -Infinity), max: attrFloat(node, 'max', Infinity) };
  }
  const read = (i: number, fallback: number): number => {
    const name = node.inputs[i];
    if (!name) return fallback;
    const t = ctx.tensor(name);
    if (!t.data) throw new TesaError('UNSUPPORTED', `Clip node '${node.name}' has a runtime bound`, 'export with constant Clip bounds');
    return Number((t.data as ArrayLike<number | bigint>)[0]);
  };
  return { min: read(1, -Infinity), max: read(2, Infinity) };
}

/** Scalar constant value of a tensor, if it is one. */
export function scalarConstant(ctx: PlanContext, name: string): number | null {
  if (!name || !ctx.isConstant(name)) return null;
  const t = ctx.tensor(name);
  const d = t.data as ArrayLike<number | bigint>;
  if (d.length !== 1) return null;
  return Number(d[0]);
}

function plan(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const outT = ctx.tensor(n.outputs[0]);
  const info: Record<string, unknown> = { opType: n.opType };
  let inputs = n.inputs.filter((x) => x !== '');
  if (n.opType === 'Clip') {
    Object.assign(info, clipBounds(n, ctx));
    inputs = [n.inputs[0]];
  }
  if (n.opType === 'Pow') info.powConst = scalarConstant(ctx, n.inputs[1]);
  if (n.opType === 'Gelu') info.approximate = n.attrs.approximate?.type === 'string' ? n.attrs.approximate.value : 'none';
  if (n.opType === 'Cast') info.to = attrInt(n, 'to');
  for (const s of op.epilogue) if (s.kind === 'add' || s.kind === 'mul') inputs.push(s.input);
  void outT;
  return { inputs, outputs: op.outputs, params: { ...info, epilogue: op.epilogue } };
}

function lower(p: OpPlan) {
  const ins = refs(p, 'inputRefs');
  const outs = refs(p, 'outputRefs');
  const opType = String(p.params.opType);
  const epilogue = p.params.epilogue as EpilogueStep[];
  const out = outs[0];
  const nExtra = epilogue.filter((s) => s.kind === 'add' || s.kind === 'mul').length;
  const nMain = ins.length - nExtra;
  const strides = [...ins.map((r) => broadcastStrides(r.shape, out.shape)), broadcastStrides(out.shape, out.shape)];
  const { shape, strides: st } = coalesce(out.shape.length ? out.shape : [1], strides.map((s) => (s.length ? s : [0])));
  const info: OpInfo = {
    opType,
    min: Number(p.params.min ?? -Infinity),
    max: Number(p.params.max ?? Infinity),
    outType: ctype(out.dtype),
    isInt: out.dtype !== 'float32' && out.dtype !== 'float64',
    powConst: p.params.powConst === null || p.params.powConst === undefined ? null : Number(p.params.powConst),
    approximate: String(p.params.approximate ?? 'none'),
  };
  const decl = ins.map((r, k) => `  const ${ctype(r.dtype)} *restrict x${k} = (const ${ctype(r.dtype)} *)in[${k}];\n`).join('') + `  ${ctype(out.dtype)} *restrict y = (${ctype(out.dtype)} *)out[0];\n`;
  const body = (offs: string[]): string => {
    const a = (k: number): string => `x${k}[${offs[k]}]`;
    let expr: string;
    if (opType === 'Where') expr = `(${a(0)} ? ${a(1)} : ${a(2)})`;
    else if (nMain === 1 && UNARY[opType]) expr = UNARY[opType](a(0), info);
    else if (nMain === 2 && BINARY[opType]) expr = BINARY[opType](a(0), a(1), info);
    else throw new TesaError('UNSUPPORTED', `element-wise op ${opType} with ${nMain} inputs`, 'this op is not supported by the cpu backend');
    const epi = epilogueStatements(epilogue, (k) => a(nMain + k));
    const outOff = offs[offs.length - 1];
    return epi ? `${info.outType} v = ${expr}; ${epi} y[${outOff}] = v;` : `y[${outOff}] = ${expr};`;
  };
  const nest = (simd: boolean): string => loopNest(shape, st, body, '  ', simd);
  const code =
    header('elementwise', `${opType}${epilogue.length ? ' + ' + epilogue.map((s) => s.kind).join(' + ') : ''}`, ins, outs) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${decl}${nest(true)}}\n\n` +
    `/* reference: the same loop without vectorisation hints */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${decl}${nest(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({
  name: 'elementwise',
  matches: (op) => ELEMENTWISE_OPS.has(op.anchor.opType),
  plan,
  lower,
});
