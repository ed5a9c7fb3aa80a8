/**
 * Row-wise kernels: LayerNormalization and Softmax over the last axis (the layouts BERT
 * uses), and BatchNormalization per channel (inference form). Each row is a few simd loops
 * with the row length baked in; the reference is a scalar two-pass version in double.
 */
import type { OpPlan } from '../../backend.js';
import { attrFloat, attrInt, numel } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import { cfloat, epilogueStatements, header } from './c.js';
import { refs, registerKernelFamily, type EpilogueStep, type FusedOp, type PlanContext, type PlannedKernel } from './family.js';

function extraInputs(op: FusedOp): string[] {
  return op.epilogue.flatMap((s) => (s.kind === 'add' || s.kind === 'mul' ? [s.input] : []));
}

function rowsAndCols(shape: number[], axis: number): { rows: number; cols: number } {
  const a = axis < 0 ? axis + shape.length : axis;
  return { rows: numel(shape.slice(0, a)), cols: numel(shape.slice(a)) };
}

// ---- LayerNormalization

function planLayerNorm(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const x = ctx.tensor(n.inputs[0]);
  const axis = attrInt(n, 'axis', -1);
  const { rows, cols } = rowsAndCols(x.shape, axis);
  const scale = n.inputs[1];
  const bias = n.inputs[2] ?? '';
  if (numel(ctx.tensor(scale).shape) !== cols || (bias && numel(ctx.tensor(bias).shape) !== cols)) {
    throw new TesaError('UNSUPPORTED', `LayerNormalization '${n.name}' with broadcast scale/bias`, 'only per-feature scale and bias are supported');
  }
  const inputs = [n.inputs[0], scale, ...(bias ? [bias] : []), ...extraInputs(op)];
  return { inputs, outputs: [op.outputs[0]], params: { rows, cols, epsilon: attrFloat(n, 'epsilon', 1e-5), hasBias: !!bias, epilogue: op.epilogue } };
}

function lowerLayerNorm(p: OpPlan) {
  const rows = Number(p.params.rows);
  const cols = Number(p.params.cols);
  const eps = Number(p.params.epsilon);
  const hasBias = Boolean(p.params.hasBias);
  const epilogue = p.params.epilogue as EpilogueStep[];
  const first = hasBias ? 3 : 2;
  const epi = epilogueStatements(epilogue, (k) => `((const float *)in[${first + k}])[r * ${cols} + c]`);
  const code =
    header('layernorm', `rows=${rows} cols=${cols} eps=${eps}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {
  (void)state;
  const float *restrict x = (const float *)in[0];
  const float *restrict g = (const float *)in[1];
  ${hasBias ? 'const float *restrict b = (const float *)in[2];' : ''}
  float *restrict y = (float *)out[0];
  for (long r = 0; r < ${rows}; r++) {
    const float *restrict xr = x + r * ${cols};
    float *restrict yr = y + r * ${cols};
    float sum = 0.0f;
#pragma omp simd reduction(+:sum)
    for (long c = 0; c < ${cols}; c++) sum += xr[c];
    const float mean = sum * ${cfloat(1 / cols)};
    float sq = 0.0f;
#pragma omp simd reduction(+:sq)
    for (long c = 0; c < ${cols}; c++) { const float d = xr[c] - mean; sq += d * d; }
    const float inv = 1.0f / sqrtf(sq * ${cfloat(1 / cols)} + ${cfloat(eps)});
#pragma omp simd
    for (long c = 0; c < ${cols}; c++) { float v = (xr[c] - mean) * inv * g[c]${hasBias ? ' + b[c]' : ''}; ${epi} yr[c] = v; }
  }
}

/* reference: two passes in double */
void tesa_kernel_ref(tesa_in in, tesa_out out) {
  const float *x = (const float *)in[0];
  const float *g = (const float *)in[1];
  ${hasBias ? 'const float *b = (const float *)in[2];' : ''}
  float *y = (float *)out[0];
  for (long r = 0; r < ${rows}; r++) {
    double mean = 0, var = 0;
    for (long c = 0; c < ${cols}; c++) mean += x[r * ${cols} + c];
    mean /= ${cols};
    for (long c = 0; c < ${cols}; c++) { double d = x[r * ${cols} + c] - mean; var += d * d; }
    var /= ${cols};
    for (long c = 0; c < ${cols}; c++) { float v = (float)((x[r * ${cols} + c] - mean) / sqrt(var + ${eps}) * g[c]${hasBias ? ' + b[c]' : ''}); ${epi} y[r * ${cols} + c] = v; }
  }
}
`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'layernorm', matches: (op) => op.anchor.opType === 'LayerNormalization', plan: planLayerNorm, lower: lowerLayerNorm });

// ---- Softmax (last axis; opset < 13 coerces to 2-D at `axis`, which is the same for axis = last)

function planSoftmax(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const x = ctx.tensor(n.inputs[0]);
  const axis = attrInt(n, 'axis', ctx.graph.opsetVersion >= 13 ? -1 : 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  if (ctx.graph.opsetVersion >= 13 && a !== x.shape.length - 1) {
    throw new TesaError('UNSUPPORTED', `Softmax '${n.name}' over axis ${axis} of [${x.shape}]`, 'only softmax over the last axis is supported');
  }
  const { rows, cols } = rowsAndCols(x.shape, a);
  return { inputs: [n.inputs[0]], outputs: [n.outputs[0]], params: { rows, cols, log: n.opType === 'LogSoftmax' } };
}

function lowerSoftmax(p: OpPlan) {
  const rows = Number(p.params.rows);
  const cols = Number(p.params.cols);
  const log = Boolean(p.params.log);
  const code =
    header('softmax', `${log ? 'log-' : ''}softmax rows=${rows} cols=${cols}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {
  (void)state;
  const float *restrict x = (const float *)in[0];
  float *restrict y = (float *)out[0];
  for (long r = 0; r < ${rows}; r++) {
    const float *restrict xr = x + r * ${cols};
    float *restrict yr = y + r * ${cols};
    float m = -INFINITY;
#pragma omp simd reduction(max:m)
    for (long c = 0; c < ${cols}; c++) m = tesa_max(m, xr[c]);
    float sum = 0.0f;
#pragma omp simd reduction(+:sum)
    for (long c = 0; c < ${cols}; c++) { const float e = tesa_expf(xr[c] - m); yr[c] = e; sum += e; }
${log ? `    const float ls = logf(sum);
#pragma omp simd
    for (long c = 0; c < ${cols}; c++) yr[c] = xr[c] - m - ls;` : `    const float inv = 1.0f / sum;
#pragma omp simd
    for (long c = 0; c < ${cols}; c++) yr[c] *= inv;`}
  }
}

/* reference: libm exp in double */
void tesa_kernel_ref(tesa_in in, tesa_out out) {
  const float *x = (const float *)in[0];
  float *y = (float *)out[0];
  for (long r = 0; r < ${rows}; r++) {
    double m = -INFINITY, sum = 0;
    for (long c = 0; c < ${cols}; c++) if (x[r * ${cols} + c] > m) m = x[r * ${cols} + c];
    for (long c = 0; c < ${cols}; c++) sum += exp(x[r * ${cols} + c] - m);
    for (long c = 0; c < ${cols}; c++) y[r * ${cols} + c] = (float)(${log ? `x[r * ${cols} + c] - m - log(sum)` : `exp(x[r * ${cols} + c] - m) / sum`});
  }
}
`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'softmax', matches: (op) => op.anchor.opType === 'Softmax' || op.anchor.opType === 'LogSoftmax', plan: planSoftmax, lower: lowerSoftmax });

// ---- BatchNormalization (inference): y = (x - mean) / sqrt(var + eps) * scale + bias, per channel

function planBatchNorm(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const x = ctx.tensor(n.inputs[0]);
  const C = x.shape[1] ?? 1;
  const N = x.shape[0] ?? 1;
  const inner = numel(x.shape.slice(2));
  return {
    inputs: [...n.inputs.slice(0, 5), ...extraInputs(op)],
    outputs: [op.outputs[0]],
    params: { N, C, inner, epsilon: attrFloat(n, 'epsilon', 1e-5), epilogue: op.epilogue },
  };
}

function lowerBatchNorm(p: OpPlan) {
  const { N, C, inner } = p.params as { N: number; C: number; inner: number };
  const eps = Number(p.params.epsilon);
  const epilogue = p.params.epilogue as EpilogueStep[];
  const epi = epilogueStatements(epilogue, (k) => `((const float *)in[${5 + k}])[o]`);
  const body = (simd: boolean): string => `  const float *x = (const float *)in[0], *s = (const float *)in[1], *b = (const float *)in[2], *mu = (const float *)in[3], *var = (const float *)in[4];
  float *y = (float *)out[0];
  for (long n = 0; n < ${N}; n++)
    for (long ch = 0; ch < ${C}; ch++) {
      const float a = s[ch] / sqrtf(var[ch] + ${cfloat(eps)});
      const float sh = b[ch] - mu[ch] * a;
${simd ? '#pragma omp simd\n' : ''}      for (long i = 0; i < ${inner}; i++) { const long o = (n * ${C} + ch) * ${inner} + i; float v = x[o] * a + sh; ${epi} y[o] = v; }
    }
`;
  const code =
    header('batchnorm', `N=${N} C=${C} inner=${inner} eps=${eps}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body(true)}}\n\n/* reference: same formula, no vectorisation hints */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({ name: 'batchnorm', matches: (op) => op.anchor.opType === 'BatchNormalization', plan: planBatchNorm, lower: lowerBatchNorm });
