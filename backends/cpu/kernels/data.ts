/**
 * Data movement and reductions: Transpose, Concat, Split, Slice, Expand, Gather,
 * GatherElements, ReduceMean/ReduceSum/ReduceMax. Copies are loop nests with the source
 * strides baked in (coalesced so contiguous runs become one inner loop). Reshape-like ops
 * never get here: the planner turns them into buffer aliases.
 */
import type { OpPlan } from '../../backend.js';
import { attrInt, attrInts, numel, toNumbers, type Node } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import { broadcastStrides, coalesce, contiguousStrides, ctype, header, loopNest } from './c.js';
import { refs, registerKernelFamily, type FusedOp, type PlanContext, type PlannedKernel, type TensorRef } from './family.js';

/** One strided copy: out[outBase + idx·outStrides] = in[inBase + idx·inStrides] over `shape`. */
interface Copy {
  input: number;
  output: number;
  shape: number[];
  inStrides: number[];
  inBase: number;
  outStrides: number[];
  outBase: number;
}

function normAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

function constInts(ctx: PlanContext, name: string | undefined): number[] | null {
  if (!name) return null;
  const t = ctx.tensor(name);
  if (!t.data) throw new TesaError('UNSUPPORTED', `tensor '${name}' must be a constant for the cpu backend`, 'constant-fold the model (shapes must be static)');
  return toNumbers(t.data);
}

function planCopies(node: Node, ctx: PlanContext): { inputs: string[]; copies: Copy[] } {
  const x = ctx.tensor(node.inputs[0]);
  const outShapes = node.outputs.map((o) => ctx.tensor(o).shape);
  const rank = x.shape.length;
  const xs = contiguousStrides(x.shape);
  switch (node.opType) {
    case 'Transpose': {
      const perm = attrInts(node, 'perm', [...Array(rank).keys()].reverse());
      return { inputs: [node.inputs[0]], copies: [{ input: 0, output: 0, shape: outShapes[0], inStrides: perm.map((p) => xs[p]), inBase: 0, outStrides: contiguousStrides(outShapes[0]), outBase: 0 }] };
    }
    case 'Expand':
      return { inputs: [node.inputs[0]], copies: [{ input: 0, output: 0, shape: outShapes[0], inStrides: broadcastStrides(x.shape, outShapes[0]), inBase: 0, outStrides: contiguousStrides(outShapes[0]), outBase: 0 }] };
    case 'Concat': {
      const inputs = node.inputs.filter(Boolean);
      const out = outShapes[0];
      const axis = normAxis(attrInt(node, 'axis'), out.length);
      const os = contiguousStrides(out);
      let at = 0;
      const copies: Copy[] = inputs.map((name, k) => {
        const sh = ctx.tensor(name).shape;
        const c: Copy = { input: k, output: 0, shape: sh, inStrides: contiguousStrides(sh), inBase: 0, outStrides: os, outBase: at * os[axis] };
        at += sh[axis];
        return c;
      });
      return { inputs, copies };
    }
    case 'Split': {
      const axis = normAxis(attrInt(node, 'axis', 0), rank);
      let at = 0;
      const copies = outShapes.map((sh, k) => {
        const c: Copy = { input: 0, output: k, shape: sh, inStrides: xs, inBase: at * xs[axis], outStrides: contiguousStrides(sh), outBase: 0 };
        at += sh[axis];
        return c;
      });
      return { inputs: [node.inputs[0]], copies };
    }
    case 'Slice': {
      const starts = constInts(ctx, node.inputs[1]) ?? attrInts(node, 'starts');
      const ends = constInts(ctx, node.inputs[2]) ?? attrInts(node, 'ends');
      const axes = constInts(ctx, node.inputs[3]) ?? (node.attrs.axes ? attrInts(node, 'axes') : starts.map((_, i) => i));
      const steps = constInts(ctx, node.inputs[4]) ?? starts.map(() => 1);
      const inStrides = [...xs];
      let inBase = 0;
      axes.forEach((a0, i) => {
        const a = normAxis(a0, rank);
        const dim = x.shape[a];
        const step = steps[i];
        let st = starts[i] < 0 ? starts[i] + dim : starts[i];
        st = step > 0 ? Math.min(Math.max(st, 0), dim) : Math.min(Math.max(st, -1), dim - 1);
        inBase += st * xs[a];
        inStrides[a] = xs[a] * step;
      });
      return { inputs: [node.inputs[0]], copies: [{ input: 0, output: 0, shape: outShapes[0], inStrides, inBase, outStrides: contiguousStrides(outShapes[0]), outBase: 0 }] };
    }
    default:
      throw new TesaError('INTERNAL', `planCopies called on ${node.opType}`);
  }
}

function lowerCopies(p: OpPlan) {
  const ins = refs(p, 'inputRefs');
  const outs = refs(p, 'outputRefs');
  const copies = p.params.copies as Copy[];
  const t = ctype(outs[0].dtype);
  const body = (simd: boolean): string =>
    copies
      .map((c) => {
        if (numel(c.shape) === 0) return '';
        const { shape, strides } = coalesce(c.shape, [c.inStrides, c.outStrides]);
        return `  {\n    const ${t} *restrict x = (const ${t} *)in[${c.input}] + ${c.inBase};\n    ${t} *restrict y = (${t} *)out[${c.output}] + ${c.outBase};\n` +
          loopNest(shape, strides, ([a, b]) => `y[${b}] = x[${a}];`, '    ', simd) + '  }\n';
      })
      .join('');
  const code =
    header('copy', `${String(p.params.what)}: ${copies.length} strided cop${copies.length === 1 ? 'y' : 'ies'}`, ins, outs) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body(true)}}\n\n/* reference: the same copies without vectorisation hints */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

const COPY_OPS = new Set(['Transpose', 'Expand', 'Concat', 'Split', 'Slice']);

registerKernelFamily({
  name: 'copy',
  matches: (op) => COPY_OPS.has(op.anchor.opType),
  plan: (op: FusedOp, ctx: PlanContext): PlannedKernel => {
    const { inputs, copies } = planCopies(op.anchor, ctx);
    return { inputs, outputs: op.anchor.outputs.filter(Boolean), params: { what: op.anchor.opType, copies } };
  },
  lower: lowerCopies,
});

// ---- Gather (axis a): out[outer, idx, inner] = data[outer, indices[idx], inner]

function planGather(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const data = ctx.tensor(n.inputs[0]);
  const idx = ctx.tensor(n.inputs[1]);
  const axis = normAxis(attrInt(n, 'axis', 0), data.shape.length);
  return {
    inputs: [n.inputs[0], n.inputs[1]],
    outputs: [n.outputs[0]],
    params: { outer: numel(data.shape.slice(0, axis)), dim: data.shape[axis], inner: numel(data.shape.slice(axis + 1)), count: numel(idx.shape) },
  };
}

function lowerGather(p: OpPlan) {
  const [dataRef, idxRef] = refs(p, 'inputRefs');
  const { outer, dim, inner, count } = p.params as { outer: number; dim: number; inner: number; count: number };
  const t = ctype(dataRef.dtype);
  const it = ctype(idxRef.dtype);
  const body = (fast: boolean): string => `  const ${t} *x = (const ${t} *)in[0];
  const ${it} *idx = (const ${it} *)in[1];
  ${t} *y = (${t} *)out[0];
  for (long o = 0; o < ${outer}; o++)
    for (long i = 0; i < ${count}; i++) {
      long j = (long)idx[i];
      if (j < 0) j += ${dim};
      if (j < 0 || j >= ${dim}) j = 0; /* out of range: ONNX leaves it undefined; never read outside */
      ${fast ? `memcpy(y + (o * ${count} + i) * ${inner}, x + (o * ${dim} + j) * ${inner}, ${inner} * sizeof(${t}));` : `for (long k = 0; k < ${inner}; k++) y[(o * ${count} + i) * ${inner} + k] = x[(o * ${dim} + j) * ${inner} + k];`}
    }
`;
  const code =
    header('gather', `outer=${outer} dim=${dim} inner=${inner} count=${count}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body(true)}}\n\n/* reference: element loop */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'gather', matches: (op) => op.anchor.opType === 'Gather', plan: planGather, lower: lowerGather });

// ---- GatherElements: out[i] = data[i with index[axis] replaced by indices[i]]

function planGatherElements(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const data = ctx.tensor(n.inputs[0]);
  const out = ctx.tensor(n.outputs[0]);
  const axis = normAxis(attrInt(n, 'axis', 0), data.shape.length);
  return { inputs: [n.inputs[0], n.inputs[1]], outputs: [n.outputs[0]], params: { axis, dataShape: data.shape, outShape: out.shape } };
}

function lowerGatherElements(p: OpPlan) {
  const [dataRef, idxRef] = refs(p, 'inputRefs');
  const axis = Number(p.params.axis);
  const dataShape = p.params.dataShape as number[];
  const outShape = p.params.outShape as number[];
  const ds = contiguousStrides(dataShape);
  const t = ctype(dataRef.dtype);
  const it = ctype(idxRef.dtype);
  const r = outShape.length;
  const decompose = outShape.map((_, d) => `    const long c${d} = (f / ${contiguousStrides(outShape)[d]}) % ${outShape[d]};`).join('\n');
  const offset = outShape.map((_, d) => (d === axis ? `j * ${ds[d]}` : `c${d} * ${ds[d]}`)).join(' + ');
  const body = `  const ${t} *x = (const ${t} *)in[0];
  const ${it} *idx = (const ${it} *)in[1];
  ${t} *y = (${t} *)out[0];
  for (long f = 0; f < ${numel(outShape)}; f++) {
${decompose}
    long j = (long)idx[f];
    if (j < 0) j += ${dataShape[axis]};
    if (j < 0 || j >= ${dataShape[axis]}) j = 0;
    y[f] = x[${offset}];
  }
`;
  void r;
  const code =
    header('gather-elements', `axis=${axis} data [${dataShape}] -> [${outShape}]`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body}}\n\n/* reference: the same element loop */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'gather-elements', matches: (op) => op.anchor.opType === 'GatherElements', plan: planGatherElements, lower: lowerGatherElements });

// ---- reductions over a set of axes (keepdims or not: the output layout is the same)

function planReduce(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const x = ctx.tensor(n.inputs[0]);
  const rank = x.shape.length;
  let axes: number[] | null = n.attrs.axes ? attrInts(n, 'axes') : n.inputs[1] ? constInts(ctx, n.inputs[1]) : null;
  if (!axes || axes.length === 0) axes = attrInt(n, 'noop_with_empty_axes', 0) ? [] : [...Array(rank).keys()];
  const reduced = new Set(axes.map((a) => normAxis(a, rank)));
  const keptShape = x.shape.filter((_, d) => !reduced.has(d));
  const redShape = x.shape.filter((_, d) => reduced.has(d));
  const xs = contiguousStrides(x.shape);
  return {
    inputs: [n.inputs[0]],
    outputs: [n.outputs[0]],
    params: {
      kind: n.opType,
      keptShape: keptShape.length ? keptShape : [1],
      keptStrides: keptShape.length ? xs.filter((_, d) => !reduced.has(d)) : [0],
      redShape: redShape.length ? redShape : [1],
      redStrides: redShape.length ? xs.filter((_, d) => reduced.has(d)) : [0],
    },
  };
}

function lowerReduce(p: OpPlan) {
  const kind = String(p.params.kind);
  const keptShape = p.params.keptShape as number[];
  const keptStrides = p.params.keptStrides as number[];
  const redShape = p.params.redShape as number[];
  const redStrides = p.params.redStrides as number[];
  const count = numel(redShape);
  const init = kind === 'ReduceMax' ? '-INFINITY' : '0.0';
  const acc = kind === 'ReduceMax' ? 'if (x[base + r] > a) a = x[base + r];' : 'a += x[base + r];';
  const fin = kind === 'ReduceMean' ? `a / ${count}` : 'a';
  const inner = loopNest(redShape, [redStrides], ([r]) => `{ const long r = ${r}; ${acc} }`, '      ', false);
  const outer = loopNest(keptShape, [keptStrides, contiguousStrides(keptShape)], ([b, o]) => `{\n      const long base = ${b};\n      double a = ${init};\n${inner}      y[${o}] = (float)(${fin});\n    }`, '  ', false);
  const body = `  const float *x = (const float *)in[0];\n  float *y = (float *)out[0];\n${outer}`;
  const code =
    header('reduce', `${kind} kept [${keptShape}] over [${redShape}]`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body}}\n\n/* reference: the same loops */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'reduce', matches: (op) => ['ReduceMean', 'ReduceSum', 'ReduceMax'].includes(op.anchor.opType), plan: planReduce, lower: lowerReduce });

export type { TensorRef };
