/**
 * torchvision's MobileNetV2 as torch.onnx.export writes it in eval mode: every BatchNorm is
 * folded into the conv before it (so each Conv has a bias), ReLU6 is Clip(0, 6), depthwise
 * convs have group = channels, the inverted-residual Add appears where stride is 1 and the
 * block keeps its width, then GlobalAveragePool, Flatten and the classifier Gemm.
 * Width 1.0 gives 52 Conv nodes and torchvision's 3,504,872 parameters less the BN
 * parameters folded away.
 */
import { GraphBuilder } from '../graph-builder.js';
import type { Graph } from '../graph.js';
import { conv2d, inModule, poolAndClassify, zooMetadata } from './layers.js';
import type { MobileNetV2Spec } from './spec.js';
import { RELU_GAIN, WeightGenerator } from './weights.js';

/** torchvision's inverted_residual_setting: expansion t, channels c, repeats n, first stride s. */
const INVERTED_RESIDUAL_SETTING: ReadonlyArray<readonly [number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

/** torchvision's _make_divisible: round to a multiple of 8, never more than 10% down. */
export function makeDivisible(v: number, divisor = 8): number {
  let rounded = Math.max(divisor, Math.floor(v + divisor / 2) - (Math.floor(v + divisor / 2) % divisor));
  if (rounded < 0.9 * v) rounded += divisor;
  return rounded;
}

export function buildMobileNetV2(name: string, spec: MobileNetV2Spec): Graph {
  const b = new GraphBuilder(name, 17);
  const w = new WeightGenerator(spec.seed);
  const relu6 = (x: string): string => b.node('Clip', [x, b.scalar(0), b.scalar(6)]);
  /** Conv2dNormActivation with its BN folded: `<module>.0` is the conv, ReLU6 after. */
  const convBnRelu6 = (x: string, module: string, out: number, kernel: number, stride: number, groups: number): string => {
    const y = inModule(b, `${module}.0`, () => conv2d(b, w, x, `${module}.0`, out, { kernel, stride, groups, bias: true, gain: RELU_GAIN }));
    return inModule(b, `${module}.2`, () => relu6(y));
  };

  let x = b.input('input', 'float32', [spec.batch, 3, spec.imageSize, spec.imageSize]);
  let channels = makeDivisible(32 * spec.widthMult);
  x = convBnRelu6(x, 'features.0', channels, 3, 2, 1);
  let index = 1;
  for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
    const out = makeDivisible(c * spec.widthMult);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      const module = `features.${index++}`;
      const blockInput = x;
      x = (() => {
        let y = blockInput;
        let part = 0;
        const hiddenDim = Math.round(channels * t);
        if (t !== 1) y = convBnRelu6(y, `${module}.conv.${part++}`, hiddenDim, 1, 1, 1);
        y = convBnRelu6(y, `${module}.conv.${part++}`, hiddenDim, 3, stride, hiddenDim);
        const projModule = `${module}.conv.${part}`;
        // The linear bottleneck: no activation after the projection.
        y = inModule(b, projModule, () => conv2d(b, w, y, projModule, out, { kernel: 1, stride: 1, groups: 1, bias: true, gain: 1 }));
        return stride === 1 && channels === out ? inModule(b, module, () => b.node('Add', [blockInput, y])) : y;
      })();
      channels = out;
    }
  }
  const lastChannels = makeDivisible(1280 * Math.max(1, spec.widthMult));
  x = convBnRelu6(x, `features.${index}`, lastChannels, 1, 1, 1);
  // Dropout(0.2) is the identity in eval mode, so only classifier.1 (the Linear) appears.
  const logits = poolAndClassify(b, w, x, null, 'classifier.1', spec.numClasses);
  return b.build([b.rename(logits, 'logits')], zooMetadata(name, spec));
}
