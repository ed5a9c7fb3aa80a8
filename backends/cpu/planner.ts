/**
 * From graph to execution plan: fuse element-wise epilogues into the GEMM/Conv/BatchNorm
 * that feeds them, turn reshape-like ops into buffer aliases, and pick one kernel family
 * per remaining op (the registered family with the highest priority that matches).
 */
import { consumers as consumersOf, numel, type Graph, type Node, type Tensor } from '../../src/model/graph.js';
import type { ModelSparsity } from '../../src/plan/sparsity.js';
import { TesaError } from '../../src/errors.js';
import type { OpPlan } from '../backend.js';
import type { CpuFingerprint } from './fingerprint.js';
import { familiesFor, type EpilogueStep, type FusedOp, type KernelFamily, type PlanContext, type TensorRef } from './kernels/family.js';
import './kernels/index.js';

/** Ops that only reinterpret their first input's buffer. */
export const VIEW_OPS = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Dropout']);

const EPILOGUE_ANCHORS = new Set(['MatMul', 'Gemm', 'Conv', 'BatchNormalization']);

export interface PlannedOp {
  plan: OpPlan;
  /** null for views. */
  family: KernelFamily | null;
  inputs: string[];
  outputs: string[];
}

export interface ExecutionPlan {
  ops: PlannedOp[];
  /** Constants the families derived (folded weights, sparse arrays), by name. */
  constants: Map<string, Tensor>;
}

export function planContext(graph: Graph, fingerprint: CpuFingerprint, sparsity: ModelSparsity | undefined, extra: Map<string, Tensor>): PlanContext {
  return {
    graph,
    fingerprint,
    sparsity,
    tensor(name: string): Tensor {
      const t = graph.tensors.get(name) ?? extra.get(name);
      if (!t) throw new TesaError('BAD_MODEL', `tensor '${name}' is used but never defined in graph '${graph.name}'`, 'the model is malformed: re-export it');
      return t;
    },
    isConstant(name: string): boolean {
      return (graph.tensors.get(name) ?? extra.get(name))?.data !== undefined;
    },
  };
}

function scalarOf(ctx: PlanContext, name: string): number | null {
  if (!name || !ctx.isConstant(name)) return null;
  const d = ctx.tensor(name).data as ArrayLike<number | bigint>;
  return d.length === 1 ? Number(d[0]) : null;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Whether `other` may be read inside the anchor's epilogue at the fused output's indices. */
function fusableOperand(anchor: Node, outShape: number[], other: Tensor): boolean {
  if (other.dtype !== 'float32') return false;
  if (other.shape.length > outShape.length) return false;
  for (let i = 0; i < other.shape.length; i++) {
    const d = other.shape[other.shape.length - 1 - i];
    const o = outShape[outShape.length - 1 - i];
    if (d !== o && d !== 1) return false;
  }
  if (anchor.opType === 'BatchNormalization') return sameShape(other.shape, outShape);
  if (anchor.opType === 'Conv') {
    // [N, C, H, W] is read as channel rows × pixel columns: the operand must be full or per channel.
    const n = numel(other.shape);
    const C = outShape[1];
    return sameShape(other.shape, outShape) || n === 1 || (n === C && other.shape[other.shape.length - 3 + 0] === C);
  }
  return true;
}

/** Matches x → Div(√2) → Erf → Add(1) → Mul(x) → Mul(0.5), torch's exported GELU. */
function matchErfGelu(t: string, uses: Map<string, Node[]>, ctx: PlanContext): { nodes: Node[]; out: string } | null {
  const us = uses.get(t) ?? [];
  if (us.length !== 2) return null;
  const div = us.find((n) => (n.opType === 'Div' && n.inputs[0] === t && Math.abs((scalarOf(ctx, n.inputs[1]) ?? 0) - Math.SQRT2) < 1e-4) || (n.opType === 'Mul' && Math.abs((scalarOf(ctx, n.inputs[n.inputs[0] === t ? 1 : 0]) ?? 0) - Math.SQRT1_2) < 1e-4));
  if (!div) return null;
  const one = (name: string): Node | null => {
    const u = uses.get(name) ?? [];
    return u.length === 1 && !ctx.graph.outputs.includes(name) ? u[0] : null;
  };
  const erf = one(div.outputs[0]);
  if (!erf || erf.opType !== 'Erf') return null;
  const add = one(erf.outputs[0]);
  if (!add || add.opType !== 'Add' || scalarOf(ctx, add.inputs[add.inputs[0] === erf.outputs[0] ? 1 : 0]) !== 1) return null;
  const mul = one(add.outputs[0]);
  if (!mul || mul.opType !== 'Mul' || !mul.inputs.includes(t) || !us.includes(mul)) return null;
  const half = one(mul.outputs[0]);
  if (!half || half.opType !== 'Mul' || scalarOf(ctx, half.inputs[half.inputs[0] === mul.outputs[0] ? 1 : 0]) !== 0.5) return null;
  return { nodes: [div, erf, add, mul, half], out: half.outputs[0] };
}

/**
 * Inference BatchNormalization after a Conv becomes two per-channel epilogue steps,
 * v·a[c] + s[c] with a = γ/√(var+ε), s = β − μ·a, computed here as derived constants.
 */
function foldBatchNorm(c: Node, ctx: PlanContext, derived: Map<string, Tensor>): EpilogueStep[] | null {
  if (c.opType !== 'BatchNormalization' || c.outputs.filter(Boolean).length !== 1) return null;
  if (!c.inputs.slice(1, 5).every((n) => n && ctx.isConstant(n) && ctx.tensor(n).dtype === 'float32')) return null;
  const [g, b, mu, v] = c.inputs.slice(1, 5).map((n) => ctx.tensor(n).data as Float32Array);
  const eps = c.attrs.epsilon?.type === 'float' ? c.attrs.epsilon.value : 1e-5;
  const C = g.length;
  const a = new Float32Array(C);
  const s = new Float32Array(C);
  for (let i = 0; i < C; i++) {
    a[i] = g[i] / Math.sqrt(v[i] + eps);
    s[i] = b[i] - mu[i] * a[i];
  }
  const scale = `${c.name}::folded_scale`;
  const shift = `${c.name}::folded_shift`;
  derived.set(scale, { name: scale, dtype: 'float32', shape: [C, 1, 1], data: a });
  derived.set(shift, { name: shift, dtype: 'float32', shape: [C, 1, 1], data: s });
  return [
    { kind: 'mul', input: scale },
    { kind: 'add', input: shift },
  ];
}

/** Groups nodes into fused ops, in an order that is still topological. */
export function fuse(graph: Graph, ctx: PlanContext, derived: Map<string, Tensor> = new Map()): FusedOp[] {
  const uses = consumersOf(graph);
  const position = new Map<Node, number>(graph.nodes.map((n, i) => [n, i]));
  const absorbed = new Set<Node>();
  const result: Array<{ op: FusedOp; at: number }> = [];
  for (const node of graph.nodes) {
    if (absorbed.has(node)) continue;
    const op: FusedOp = { anchor: node, absorbed: [], epilogue: [], outputs: node.outputs.filter(Boolean) };
    if (EPILOGUE_ANCHORS.has(node.opType) && node.outputs.length === 1) {
      let t = node.outputs[0];
      const outShape = ctx.tensor(t).shape;
      let residualUsed = false;
      for (;;) {
        if (graph.outputs.includes(t)) break;
        const gelu = matchErfGelu(t, uses, ctx);
        if (gelu && !gelu.nodes.some((g) => absorbed.has(g))) {
          for (const g of gelu.nodes) absorbed.add(g);
          op.absorbed.push(...gelu.nodes);
          op.epilogue.push({ kind: 'gelu' });
          t = gelu.out;
          continue;
        }
        const us = uses.get(t) ?? [];
        if (us.length !== 1) break;
        const c = us[0];
        if (absorbed.has(c)) break;
        if (c.outputs.length !== 1 || !sameShape(ctx.tensor(c.outputs[0]).shape, outShape)) break;
        let step: EpilogueStep | null = null;
        const bn = node.opType === 'Conv' ? foldBatchNorm(c, ctx, derived) : null;
        if (bn) {
          absorbed.add(c);
          op.absorbed.push(c);
          op.epilogue.push(...bn);
          t = c.outputs[0];
          continue;
        }
        if (c.opType === 'Relu') step = { kind: 'relu' };
        else if (c.opType === 'Sigmoid') step = { kind: 'sigmoid' };
        else if (c.opType === 'Gelu' && (c.attrs.approximate === undefined || (c.attrs.approximate.type === 'string' && c.attrs.approximate.value === 'none'))) step = { kind: 'gelu' };
        else if (c.opType === 'Clip') {
          const lo = c.inputs[1] ? scalarOf(ctx, c.inputs[1]) : c.attrs.min ? Number((c.attrs.min as { value: number }).value) : -Infinity;
          const hi = c.inputs[2] ? scalarOf(ctx, c.inputs[2]) : c.attrs.max ? Number((c.attrs.max as { value: number }).value) : Infinity;
          if (lo !== null && hi !== null) step = { kind: 'clip', min: lo, max: hi };
        } else if ((c.opType === 'Add' || c.opType === 'Mul') && c.inputs.length === 2) {
          const other = c.inputs[0] === t ? c.inputs[1] : c.inputs[0];
          if (c.inputs[0] === c.inputs[1]) break;
          const s = scalarOf(ctx, other);
          if (c.opType === 'Mul' && s !== null) step = { kind: 'scale', value: s };
          else if (fusableOperand(node, outShape, ctx.tensor(other))) {
            if (c.opType === 'Add' && !ctx.isConstant(other)) {
              if (residualUsed) break;
              residualUsed = true;
            }
            step = { kind: c.opType === 'Add' ? 'add' : 'mul', input: other };
          }
        } else if (c.opType === 'Div' && c.inputs[0] === t) {
          const s = scalarOf(ctx, c.inputs[1]);
          if (s !== null && s !== 0) step = { kind: 'scale', value: 1 / s };
        }
        if (!step) break;
        absorbed.add(c);
        op.absorbed.push(c);
        op.epilogue.push(step);
        t = c.outputs[0];
      }
      op.outputs = [t];
    }
    for (const a of op.absorbed) absorbed.add(a);
    const at = Math.max(position.get(node)!, ...op.absorbed.map((a) => position.get(a)!));
    result.push({ op, at });
  }
  return result.sort((a, b) => a.at - b.at).map((r) => r.op);
}

function ref(ctx: PlanContext, name: string): TensorRef {
  const t = ctx.tensor(name);
  return { name, dtype: t.dtype, shape: [...t.shape] };
}

export function planGraph(graph: Graph, fingerprint: CpuFingerprint, sparsity?: ModelSparsity): ExecutionPlan {
  const constants = new Map<string, Tensor>();
  const ctx = planContext(graph, fingerprint, sparsity, constants);
  const ops: PlannedOp[] = [];
  for (const f of fuse(graph, ctx, constants)) {
    const n = f.anchor;
    if (VIEW_OPS.has(n.opType)) {
      const outputs = [n.outputs[0]];
      ops.push({
        plan: { node: n.name, opType: n.opType, kernel: 'view', params: { inputRefs: [ref(ctx, n.inputs[0])], outputRefs: outputs.map((o) => ref(ctx, o)), fused: [] } },
        family: null,
        inputs: [n.inputs[0]],
        outputs,
      });
      continue;
    }
    const fam = familiesFor(f, ctx)[0];
    if (!fam) throw new TesaError('UNSUPPORTED', `op ${n.opType} (node '${n.name}') is not supported by the cpu backend`, 'supported: MatMul, Gemm, Conv, pooling, normalisations, element-wise, data movement');
    const pk = fam.plan(f, ctx);
    for (const c of pk.constants ?? []) constants.set(c.name, c);
    ops.push({
      plan: {
        node: n.name,
        opType: n.opType,
        kernel: fam.name,
        params: { ...pk.params, inputRefs: pk.inputs.map((i) => ref(ctx, i)), outputRefs: pk.outputs.map((o) => ref(ctx, o)), fused: f.absorbed.map((a) => a.name) },
      },
      family: fam,
      inputs: pk.inputs,
      outputs: pk.outputs,
    });
  }
  return { ops, constants };
}
