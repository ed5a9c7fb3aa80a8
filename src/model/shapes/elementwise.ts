/** Shape rules of ops that keep or broadcast their inputs' shapes. */
import type { Node } from '../graph.js';
import { broadcast, input, type OutInfo, type ShapeContext, type ShapeRule } from './common.js';

const sameAsInput0: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  return [{ dtype: x.dtype, shape: [...x.shape] }];
};

const broadcastArith: ShapeRule = (node, ctx) => {
  const ins = node.inputs.map((_, i) => input(ctx, node, i));
  return [{ dtype: ins[0].dtype, shape: broadcast(ctx, node, ins.map((t) => t.shape)) }];
};

const broadcastCompare: ShapeRule = (node, ctx) => {
  const ins = node.inputs.map((_, i) => input(ctx, node, i));
  return [{ dtype: 'bool', shape: broadcast(ctx, node, ins.map((t) => t.shape)) }];
};

const where: ShapeRule = (node, ctx) => {
  const c = input(ctx, node, 0);
  const x = input(ctx, node, 1);
  const y = input(ctx, node, 2);
  return [{ dtype: x.dtype, shape: broadcast(ctx, node, [c.shape, x.shape, y.shape]) }];
};

const dropout: ShapeRule = (node, ctx) => {
  const x = input(ctx, node, 0);
  const out: OutInfo[] = [{ dtype: x.dtype, shape: [...x.shape] }];
  if (node.outputs.length > 1) out.push({ dtype: 'bool', shape: [...x.shape] });
  return out;
};

const not: ShapeRule = (node: Node, ctx: ShapeContext) => [{ dtype: 'bool', shape: [...input(ctx, node, 0).shape] }];

export const ELEMENTWISE_RULES: Record<string, ShapeRule> = {
  Identity: sameAsInput0,
  Relu: sameAsInput0,
  LeakyRelu: sameAsInput0,
  Clip: sameAsInput0,
  Sigmoid: sameAsInput0,
  HardSigmoid: sameAsInput0,
  HardSwish: sameAsInput0,
  Tanh: sameAsInput0,
  Erf: sameAsInput0,
  Gelu: sameAsInput0,
  Sqrt: sameAsInput0,
  Reciprocal: sameAsInput0,
  Neg: sameAsInput0,
  Abs: sameAsInput0,
  Exp: sameAsInput0,
  Log: sameAsInput0,
  Floor: sameAsInput0,
  Ceil: sameAsInput0,
  Round: sameAsInput0,
  Softplus: sameAsInput0,
  Softmax: sameAsInput0,
  LogSoftmax: sameAsInput0,
  Not: not,
  Dropout: dropout,
  Add: broadcastArith,
  Sub: broadcastArith,
  Mul: broadcastArith,
  Div: broadcastArith,
  Pow: broadcastArith,
  Mod: broadcastArith,
  Max: broadcastArith,
  Min: broadcastArith,
  Sum: broadcastArith,
  Mean: broadcastArith,
  And: broadcastCompare,
  Or: broadcastCompare,
  Xor: broadcastCompare,
  Equal: broadcastCompare,
  Less: broadcastCompare,
  LessOrEqual: broadcastCompare,
  Greater: broadcastCompare,
  GreaterOrEqual: broadcastCompare,
  Where: where,
};

