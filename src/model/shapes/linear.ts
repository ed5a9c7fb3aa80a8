/** Shape rules of the compute ops: matrix products, convolutions, pooling, normalisation. */
import { attrInt, attrInts, attrString, type Node } from '../graph.js';
import { broadcast, fmtShape, hasInput, input, normAxis, shapeError, type OutInfo, type ShapeContext, type ShapeRule } from './common.js';

const matMul: ShapeRule = (node, ctx) => {
  const a = input(ctx, node, 0);
  const b = input(ctx, node, 1);
  if (a.shape.length === 0 || b.shape.length === 0) throw shapeError(ctx, node, `cannot multiply scalars ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const as = a.shape.length === 1 ? [1, a.shape[0]] : a.shape;
  const bs = b.shape.length === 1 ? [b.shape[0], 1] : b.shape;
  const k1 = as[as.length - 1];
  const k2 = bs[bs.length - 2];
  if (k1 !== k2) {
    throw shapeError(ctx, node, `cannot multiply ${fmtShape(a.shape)} by ${fmtShape(b.shape)}: inner dims ${k1} and ${k2} differ`);
  }
  const batch = broadcast(ctx, node, [as.slice(0, -2), bs.slice(0, -2)]);
  const out = [...batch];
  if (a.shape.length > 1) out.push(as[as.length - 2]);
  if (b.shape.length > 1) out.push(bs[bs.length - 1]);
  return [{ dtype: a.dtype, shape: out }];
};

const gemm: ShapeRule = (node, ctx) => {
  const a = input(ctx, node, 0);
  const b = input(ctx, node, 1);
  if (a.shape.length !== 2 || b.shape.length !== 2) throw shapeError(ctx, node, `needs 2-D inputs, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  const [m, ka] = attrInt(node, 'transA', 0) ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = attrInt(node, 'transB', 0) ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (ka !== kb) {
    throw shapeError(ctx, node, `cannot multiply ${fmtShape(a.shape)} by ${fmtShape(b.shape)} (transA=${attrInt(node, 'transA', 0)}, transB=${attrInt(node, 'transB', 0)}): inner dims ${ka} and ${kb} differ`);
  }
  if (hasInput(node, 2)) {
    const c = input(ctx, node, 2);
    const bc = broadcast(ctx, node, [[m, n], c.shape]);
    if (bc[0] !== m || bc[1] !== n) throw shapeError(ctx, node, `bias ${fmtShape(c.shape)} does not broadcast to ${fmtShape([m, n])}`);
  }
  return [{ dtype: a.dtype, shape: [m, n] }];
};

/** Output spatial size of a sliding window (Conv and pooling), with ONNX's auto_pad forms. */
function windowOut(ctx: ShapeContext, node: Node, inSpatial: number[], kernel: number[], ceilMode: boolean): number[] {
  const r = inSpatial.length;
  const strides = attrInts(node, 'strides', new Array(r).fill(1));
  const dilations = attrInts(node, 'dilations', new Array(r).fill(1));
  const pads = attrInts(node, 'pads', new Array(2 * r).fill(0));
  const autoPad = attrString(node, 'auto_pad', 'NOTSET');
  if (kernel.length !== r || strides.length !== r || dilations.length !== r || pads.length !== 2 * r) {
    throw shapeError(ctx, node, `has kernel/strides/dilations/pads of the wrong length for ${r} spatial dims`);
  }
  return inSpatial.map((d, i) => {
    const eff = dilations[i] * (kernel[i] - 1) + 1;
    let o: number;
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') o = Math.ceil(d / strides[i]);
    else if (autoPad === 'VALID') o = Math.ceil((d - eff + 1) / strides[i]);
    else {
      const span = d + pads[i] + pads[i + r] - eff;
      o = (ceilMode ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
      // ONNX (and PyTorch): with ceil_mode the last window must start inside the input or left pad.
      if (ceilMode && (o - 1) * strides[i] >= d + pads[i]) o -= 1;
    }
    if (o <= 0) throw shapeError(ctx, node, `window ${eff} does not fit spatial dim ${d} (pads ${pads[i]}+${pads[i + r]})`);
    return o;
  });
}

const conv: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const w = input(ctx, node, 1);
  if (x.shape.length < 3 || w.shape.length !== x.shape.length) {
    throw shapeError(ctx, node, `needs input [N,C,...] and weight of the same rank, got ${fmtShape(x.shape)} and ${fmtShape(w.shape)}`);
  }
  const group = attrInt(node, 'group', 1);
  const c = x.shape[1];
  const m = w.shape[0];
  if (w.shape[1] * group !== c || m % group !== 0) {
    throw shapeError(ctx, node, `input ${fmtShape(x.shape)} does not fit weight ${fmtShape(w.shape)} with group=${group}: channels ${c} ≠ ${w.shape[1]}×${group}`);
  }
  const kernel = attrInts(node, 'kernel_shape', w.shape.slice(2));
  if (kernel.some((k, i) => k !== w.shape[2 + i])) throw shapeError(ctx, node, `kernel_shape ${fmtShape(kernel)} disagrees with weight ${fmtShape(w.shape)}`);
  if (hasInput(node, 2)) {
    const b = input(ctx, node, 2);
    if (b.shape.length !== 1 || b.shape[0] !== m) throw shapeError(ctx, node, `bias ${fmtShape(b.shape)} does not match ${m} output channels`);
  }
  return [{ dtype: x.dtype, shape: [x.shape[0], m, ...windowOut(ctx, node, x.shape.slice(2), kernel, false)] }];
};

const pool: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  if (x.shape.length < 3) throw shapeError(ctx, node, `needs input [N,C,...], got ${fmtShape(x.shape)}`);
  const kernel = attrInts(node, 'kernel_shape');
  const spatial = windowOut(ctx, node, x.shape.slice(2), kernel, attrInt(node, 'ceil_mode', 0) === 1);
  const shape = [x.shape[0], x.shape[1], ...spatial];
  const out: OutInfo[] = [{ dtype: x.dtype, shape }];
  if (node.outputs.length > 1) out.push({ dtype: 'int64', shape: [...shape] });
  return out;
};

const globalPool: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  if (x.shape.length < 3) throw shapeError(ctx, node, `needs input [N,C,...], got ${fmtShape(x.shape)}`);
  return [{ dtype: x.dtype, shape: [x.shape[0], x.shape[1], ...x.shape.slice(2).map(() => 1)] }];
};

const batchNorm: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  if (x.shape.length < 2) throw shapeError(ctx, node, `needs input [N,C,...], got ${fmtShape(x.shape)}`);
  const c = x.shape[1];
  for (let i = 1; i <= 4; i++) {
    const p = input(ctx, node, i);
    if (p.shape.length !== 1 || p.shape[0] !== c) throw shapeError(ctx, node, `parameter '${p.name}' ${fmtShape(p.shape)} does not match ${c} channels of ${fmtShape(x.shape)}`);
  }
  const out: OutInfo[] = [{ dtype: x.dtype, shape: [...x.shape] }];
  for (let i = 1; i < node.outputs.length; i++) out.push({ dtype: x.dtype, shape: [c] });
  return out;
};

const layerNorm: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const axis = normAxis(ctx, node, attrInt(node, 'axis', -1), x.shape.length);
  const normShape = x.shape.slice(axis);
  const scale = input(ctx, node, 1);
  const bc = broadcast(ctx, node, [normShape, scale.shape]);
  if (bc.length !== normShape.length || bc.some((d, i) => d !== normShape[i])) {
    throw shapeError(ctx, node, `scale ${fmtShape(scale.shape)} does not fit normalised dims ${fmtShape(normShape)} of ${fmtShape(x.shape)}`);
  }
  const stat = x.shape.map((d, i) => (i < axis ? d : 1));
  const out: OutInfo[] = [{ dtype: x.dtype, shape: [...x.shape] }];
  for (let i = 1; i < node.outputs.length; i++) out.push({ dtype: 'float32', shape: [...stat] });
  return out;
};

export const LINEAR_RULES: Record<string, ShapeRule> = {
  MatMul: matMul,
  Gemm: gemm,
  Conv: conv,
  MaxPool: pool,
  AveragePool: pool,
  GlobalAveragePool: globalPool,
  GlobalMaxPool: globalPool,
  BatchNormalization: batchNorm,
  LayerNormalization: layerNorm,
};
