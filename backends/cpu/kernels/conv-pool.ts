/**
 * Direct depthwise convolution (one filter per channel, MobileNet's 3×3) and pooling
 * (MaxPool, AveragePool, GlobalAveragePool). Window sizes, strides and pads are baked in;
 * the inner loop runs over output columns so it vectorises for stride 1.
 */
import type { OpPlan } from '../../backend.js';
import { attrInt, attrInts, attrString } from '../../../src/model/graph.js';
import { TesaError } from '../../../src/errors.js';
import { cfloat, epilogueStatements, header } from './c.js';
import { convPads, convShape, isDepthwise, nodeEpilogue, type ConvShape } from './gemm-dense.js';
import { refs, registerKernelFamily, type EpilogueStep, type FusedOp, type PlanContext, type PlannedKernel } from './family.js';

// ---- depthwise conv

function planDepthwise(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const s = convShape(op.anchor, ctx);
  const { steps, inputs } = nodeEpilogue(op, ctx);
  const outShape = ctx.tensor(op.anchor.outputs[0]).shape;
  // Each extra input is either per-channel ([C] bias or [C,1,1]) or the full output shape.
  const perChannel = inputs.map((name) => {
    const sh = ctx.tensor(name).shape;
    const full = sh.length === outShape.length && sh.every((d, i) => d === outShape[i]);
    if (full) return false;
    const n = sh.reduce((a, b) => a * b, 1);
    if (n === s.CO) return true;
    throw new TesaError('INTERNAL', `depthwise epilogue input '${name}' [${sh}] is neither per-channel nor full`);
  });
  return { inputs: [op.anchor.inputs[0], op.anchor.inputs[1], ...inputs], outputs: op.outputs, params: { ...s, epilogue: steps, perChannel } };
}

function lowerDepthwise(p: OpPlan) {
  const s = p.params as unknown as ConvShape & { epilogue: EpilogueStep[]; perChannel: boolean[] };
  const OHW = s.OH * s.OW;
  const epi = epilogueStatements(s.epilogue, (k) => (s.perChannel[k] ? `e${k}[ch]` : `e${k}[(n * ${s.CO} + ch) * ${OHW} + oh * ${s.OW} + ow]`));
  const decl = s.epilogue
    .filter((e) => e.kind === 'add' || e.kind === 'mul')
    .map((_, k) => `  const float *e${k} = (const float *)in[${2 + k}];\n`)
    .join('');
  const body = (simd: boolean): string => `  const float *x = (const float *)in[0];
  const float *w = (const float *)in[1];
  float *y = (float *)out[0];
${decl}  for (long n = 0; n < ${s.N}; n++)
    for (long ch = 0; ch < ${s.CO}; ch++) {
      const float *xc = x + (n * ${s.C} + ch) * ${s.H * s.W};
      const float *wc = w + ch * ${s.KH * s.KW};
      float *yc = y + (n * ${s.CO} + ch) * ${OHW};
      for (long oh = 0; oh < ${s.OH}; oh++) {
${simd ? '#pragma omp simd\n' : ''}        for (long ow = 0; ow < ${s.OW}; ow++) {
          float v = 0.0f;
          for (long kh = 0; kh < ${s.KH}; kh++) {
            const long ih = oh * ${s.SH} + kh * ${s.DH} - ${s.PT};
            if (ih < 0 || ih >= ${s.H}) continue;
            for (long kw = 0; kw < ${s.KW}; kw++) {
              const long iw = ow * ${s.SW} + kw * ${s.DW} - ${s.PL};
              v += (iw >= 0 && iw < ${s.W}) ? xc[ih * ${s.W} + iw] * wc[kh * ${s.KW} + kw] : 0.0f;
            }
          }
          ${epi}
          yc[oh * ${s.OW} + ow] = v;
        }
      }
    }
`;
  const code =
    header('conv-depthwise', `${s.KH}x${s.KW} stride ${s.SH}x${s.SW} pad ${s.PT},${s.PL} C=${s.C} ${s.H}x${s.W} -> ${s.OH}x${s.OW}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body(true)}}\n\n/* reference: the same direct loops without vectorisation hints */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({
  name: 'conv-depthwise',
  priority: 1,
  matches: (op, ctx) => op.anchor.opType === 'Conv' && isDepthwise(op.anchor, ctx),
  plan: planDepthwise,
  lower: lowerDepthwise,
});

// ---- pooling

interface PoolParams {
  kind: 'max' | 'avg';
  N: number; C: number; H: number; W: number; KH: number; KW: number; SH: number; SW: number;
  PT: number; PL: number; DH: number; DW: number; OH: number; OW: number; countPad: boolean;
}

function planPool(op: FusedOp, ctx: PlanContext): PlannedKernel {
  const n = op.anchor;
  const x = ctx.tensor(n.inputs[0]);
  const y = ctx.tensor(n.outputs[0]);
  if (x.shape.length !== 4) throw new TesaError('UNSUPPORTED', `${n.opType} '${n.name}' is not 2-D`, 'only 2-D pooling is supported');
  const [N, C, H, W] = x.shape;
  const global = n.opType === 'GlobalAveragePool' || n.opType === 'GlobalMaxPool';
  const [KH, KW] = global ? [H, W] : attrInts(n, 'kernel_shape');
  const [SH, SW] = global ? [1, 1] : attrInts(n, 'strides', [1, 1]);
  const [DH, DW] = global ? [1, 1] : attrInts(n, 'dilations', [1, 1]);
  const [OH, OW] = [y.shape[2], y.shape[3]];
  const [PT, PL] = global ? [0, 0] : convPads(n, H, W, KH, KW, SH, SW, DH, DW, OH, OW);
  if (!global && attrString(n, 'auto_pad', 'NOTSET') === 'NOTSET' && n.outputs.length > 1 && n.outputs[1]) {
    throw new TesaError('UNSUPPORTED', `MaxPool '${n.name}' with an Indices output`, 'export without return_indices');
  }
  const params: PoolParams = {
    kind: n.opType.includes('Max') ? 'max' : 'avg', N, C, H, W, KH, KW, SH, SW, PT, PL, DH, DW, OH, OW,
    countPad: attrInt(n, 'count_include_pad', 0) === 1,
  };
  return { inputs: [n.inputs[0]], outputs: [n.outputs[0]], params: params as unknown as Record<string, unknown> };
}

function lowerPool(p: OpPlan) {
  const s = p.params as unknown as PoolParams;
  const isMax = s.kind === 'max';
  const body = (simd: boolean): string => `  const float *x = (const float *)in[0];
  float *y = (float *)out[0];
  for (long nc = 0; nc < ${s.N * s.C}; nc++) {
    const float *xc = x + nc * ${s.H * s.W};
    float *yc = y + nc * ${s.OH * s.OW};
    for (long oh = 0; oh < ${s.OH}; oh++) {
${simd ? '#pragma omp simd\n' : ''}      for (long ow = 0; ow < ${s.OW}; ow++) {
        float v = ${isMax ? '-INFINITY' : '0.0f'};
        long cnt = 0;
        for (long kh = 0; kh < ${s.KH}; kh++) {
          const long ih = oh * ${s.SH} + kh * ${s.DH} - ${s.PT};
          for (long kw = 0; kw < ${s.KW}; kw++) {
            const long iw = ow * ${s.SW} + kw * ${s.DW} - ${s.PL};
            const int inside = ih >= 0 && ih < ${s.H} && iw >= 0 && iw < ${s.W};
            ${isMax ? 'if (inside) v = tesa_max(v, xc[ih * ' + s.W + ' + iw]);' : `if (inside) { v += xc[ih * ${s.W} + iw]; cnt++; }`}
          }
        }
        ${isMax ? '(void)cnt;' : s.countPad ? `v *= ${cfloat(1 / (s.KH * s.KW))};` : 'v /= (float)(cnt ? cnt : 1);'}
        yc[oh * ${s.OW} + ow] = v;
      }
    }
  }
`;
  const code =
    header(`pool-${s.kind}`, `${s.KH}x${s.KW} stride ${s.SH}x${s.SW} pad ${s.PT},${s.PL} ${s.H}x${s.W} -> ${s.OH}x${s.OW}`, refs(p, 'inputRefs'), refs(p, 'outputRefs')) +
    `void tesa_kernel(tesa_in in, tesa_out out, void *state) {\n  (void)state;\n${body(true)}}\n\n/* reference: the same window loops without vectorisation hints */\nvoid tesa_kernel_ref(tesa_in in, tesa_out out) {\n${body(false)}}\n`;
  return { code, hasInit: false, hasRef: true, stateBytes: 0 };
}

registerKernelFamily({
  name: 'pool',
  matches: (op) => ['MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool'].includes(op.anchor.opType),
  plan: planPool,
  lower: lowerPool,
});
