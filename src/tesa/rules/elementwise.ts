/**
 * Element-wise ops. Forward only where f(0) = 0 (Relu, Neg, Tanh, Erf, Sqrt…); every element-wise
 * op passes "dead" backward (an input element read only by pruned outputs is dead). Binary ops
 * broadcast: Add/Sub zero where all inputs are zero, Mul where any is, Div where the numerator is.
 */
import { attrFloat, toNumbers } from '../../model/graph.js';
import { broadcastBackward, broadcastForward, reshaped } from './helpers.js';
import { registerRule, type Rule, type RuleContext, type RuleResult } from './registry.js';

/** Unary ops with f(0) = 0. */
const ZERO_PRESERVING = ['Relu', 'Neg', 'Tanh', 'Erf', 'Sqrt', 'Abs', 'Sin', 'Sign', 'Asin', 'Atan', 'Sinh', 'Asinh', 'Tan', 'Atanh', 'Floor', 'Ceil', 'Round', 'Identity', 'Dropout', 'Cast', 'Gelu', 'HardSwish', 'Elu', 'Selu', 'Softsign', 'Mish', 'ThresholdedRelu', 'Shrink', 'Celu', 'LeakyRelu', 'PRelu'];
/** Unary ops that move zero elsewhere (dead still passes backward). */
const NOT_ZERO_PRESERVING = ['Sigmoid', 'Exp', 'Cos', 'Cosh', 'Acos', 'Log', 'Reciprocal', 'Softplus', 'HardSigmoid', 'Not', 'IsNaN', 'IsInf'];

function unary(zeroPreserving: boolean): Rule {
  return (ctx) => {
    const x = ctx.inputs[0];
    const y = ctx.outputs[0];
    const forward = zeroPreserving ? reshaped(x, ctx.outShapes[0]) : undefined;
    const backward = reshaped(y, ctx.inShapes[0]);
    const outputs = [forward];
    const inputs = [backward];
    return { outputs, inputs };
  };
}

/** Clip keeps zero zero when min ≤ 0 ≤ max. */
const clipRule: Rule = (ctx) => {
  let lo = -Infinity;
  let hi = Infinity;
  if (ctx.node.attrs.min) lo = attrFloat(ctx.node, 'min');
  if (ctx.node.attrs.max) hi = attrFloat(ctx.node, 'max');
  const minData = ctx.node.inputs[1] ? ctx.constant(1) : undefined;
  const maxData = ctx.node.inputs[2] ? ctx.constant(2) : undefined;
  const unknownBound = (ctx.node.inputs[1] && !minData) || (ctx.node.inputs[2] && !maxData);
  if (minData) lo = toNumbers(minData)[0];
  if (maxData) hi = toNumbers(maxData)[0];
  const keepsZero = !unknownBound && lo <= 0 && hi >= 0;
  return unary(keepsZero)(ctx);
};

function binary(zeroWhenAll: boolean, onlyFirst = false): Rule {
  return (ctx): RuleResult => {
    const yShape = ctx.outShapes[0];
    const y = ctx.outputs[0];
    if (!yShape || !y) return {};
    const ins: { attr: NonNullable<RuleContext['inputs'][number]>; shape: readonly number[] }[] = [];
    let unknown = false;
    const slots = onlyFirst ? [0] : ctx.node.inputs.map((_, i) => i);
    for (const i of slots) {
      const a = ctx.inputs[i];
      const s = ctx.inShapes[i];
      if (!a || !s) unknown = true;
      else ins.push({ attr: a, shape: s });
    }
    // An input we cannot see is "not zero" for Add and irrelevant for Mul's any-zero.
    const forward = zeroWhenAll && unknown ? undefined : broadcastForward(yShape, ins, zeroWhenAll);
    const inputs = ctx.node.inputs.map((name, i) => (name && ctx.inShapes[i] ? broadcastBackward(y, ctx.inShapes[i]!) : undefined));
    return { outputs: [forward], inputs };
  };
}

for (const op of ZERO_PRESERVING) registerRule(op, unary(true));
for (const op of NOT_ZERO_PRESERVING) registerRule(op, unary(false));
registerRule('Clip', clipRule);
registerRule('Add', binary(true));
registerRule('Sub', binary(true));
registerRule('Sum', binary(true));
registerRule('Max', binary(true));
registerRule('Min', binary(true));
registerRule('Mul', binary(false));
registerRule('Div', binary(false, true));
registerRule('Pow', (ctx) => {
  // x^p keeps zero zero for a constant p > 0.
  const p = ctx.constant(1);
  const positive = p !== undefined && toNumbers(p).every((v) => v > 0);
  const base = binary(false, true)(ctx);
  return positive ? base : { inputs: base.inputs };
});
