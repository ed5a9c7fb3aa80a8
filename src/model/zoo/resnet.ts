/**
 * torchvision's ResNet with BasicBlocks (ResNet-18 for blocks [2, 2, 2, 2]), exported with its
 * BatchNormalization nodes kept (as a training-mode or un-fused export leaves them), so the
 * BN handling downstream is exercised: every BN has its own scale, shift, running mean and
 * running variance. conv7x7/2 + BN + ReLU + MaxPool3x3/2, four stages (the first block of
 * stages 2–4 strides by 2 and has a 1x1 downsample conv + BN on the shortcut), then
 * GlobalAveragePool, Flatten and the fc Gemm.
 */
import { GraphBuilder, float, int, ints } from '../graph-builder.js';
import type { Graph } from '../graph.js';
import { conv2d, inModule, poolAndClassify, zooMetadata } from './layers.js';
import type { ResNetSpec } from './spec.js';
import { WeightGenerator } from './weights.js';

const STAGE_WIDTHS = [64, 128, 256, 512];

export function buildResNet(name: string, spec: ResNetSpec): Graph {
  const b = new GraphBuilder(name, 17);
  const w = new WeightGenerator(spec.seed);
  const conv = (x: string, module: string, out: number, kernel: number, stride: number): string =>
    // Gain 1, not He's √2: the BNs' running statistics are seeded near (0, 1) rather than
    // measured, so they do not undo a conv's gain, and √2 per conv compounds through the
    // residual stages (logits std ≈ 77 instead of ≈ 2).
    inModule(b, module, () => conv2d(b, w, x, module, out, { kernel, stride, groups: 1, bias: false, gain: 1 }));
  const bn = (x: string, module: string): string => inModule(b, module, () => batchNorm(b, w, x, module));
  const relu = (x: string, module: string): string => inModule(b, module, () => b.node('Relu', [x]));

  let x = b.input('input', 'float32', [spec.batch, 3, spec.imageSize, spec.imageSize]);
  x = relu(bn(conv(x, 'conv1', 64, 7, 2), 'bn1'), 'relu');
  x = inModule(b, 'maxpool', () =>
    b.node('MaxPool', [x], { ceil_mode: int(0), dilations: ints([1, 1]), kernel_shape: ints([3, 3]), pads: ints([1, 1, 1, 1]), strides: ints([2, 2]) }),
  );
  spec.blocks.forEach((count, stage) => {
    const width = STAGE_WIDTHS[stage];
    for (let i = 0; i < count; i++) {
      const module = `layer${stage + 1}.${i}`;
      const stride = stage > 0 && i === 0 ? 2 : 1;
      const blockInput = x;
      let y = relu(bn(conv(blockInput, `${module}.conv1`, width, 3, stride), `${module}.bn1`), `${module}.relu`);
      y = bn(conv(y, `${module}.conv2`, width, 3, 1), `${module}.bn2`);
      const shortcut =
        stride !== 1 || b.shape(blockInput)[1] !== width
          ? bn(conv(blockInput, `${module}.downsample.0`, width, 1, stride), `${module}.downsample.1`)
          : blockInput;
      const sum = inModule(b, module, () => b.node('Add', [y, shortcut]));
      // BasicBlock reuses its one ReLU module; the exporter names the second call relu_1.
      x = relu(sum, `${module}.relu_1`);
    }
  });
  const logits = poolAndClassify(b, w, x, 'avgpool', 'fc', spec.numClasses);
  return b.build([b.rename(logits, 'logits')], zooMetadata(name, spec));
}

/**
 * BatchNormalization in inference form with state-dict names. Scale, shift and running
 * statistics are seeded near the identity transform (γ≈1, β≈0, μ≈0, σ²≈1), so activations
 * stay O(1), while every channel is still transformed differently.
 */
function batchNorm(b: GraphBuilder, w: WeightGenerator, x: string, module: string): string {
  const c = [b.shape(x)[1]];
  const param = (suffix: string, low: number, high: number): string => {
    const n = `${module}.${suffix}`;
    return b.initializer(n, w.uniform(n, c, low, high), c);
  };
  return b.node(
    'BatchNormalization',
    [x, param('weight', 0.8, 1.2), param('bias', -0.1, 0.1), param('running_mean', -0.1, 0.1), param('running_var', 0.7, 1.3)],
    { epsilon: float(1e-5), momentum: float(0.9) },
  );
}
