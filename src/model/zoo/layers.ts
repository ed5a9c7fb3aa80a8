/** Layer patterns shared by the zoo families, emitted the way torch.onnx.export writes them. */
import { float, int, ints, type GraphBuilder } from '../graph-builder.js';
import { initStd, type WeightGenerator } from './weights.js';

/**
 * nn.Linear as exported on an input of rank ≥ 2: `MatMul(x, W)` then `Add(bias, ·)`, with the
 * weight stored transposed, [in, out], under the state-dict name `<module>.weight`.
 * Call inside the module's scope. `gain` scales the init for the activation that follows.
 */
export function linear(
  b: GraphBuilder,
  w: WeightGenerator,
  x: string,
  module: string,
  inFeatures: number,
  outFeatures: number,
  gain: number,
): string {
  const weightName = `${module}.weight`;
  const biasName = `${module}.bias`;
  const weight = b.initializer(weightName, w.withStd(weightName, [inFeatures, outFeatures], initStd(inFeatures, gain)), [inFeatures, outFeatures]);
  const bias = b.initializer(biasName, w.symmetric(biasName, [outFeatures], 1 / Math.sqrt(inFeatures)), [outFeatures]);
  const mm = b.node('MatMul', [x, weight]);
  return b.node('Add', [bias, mm]);
}

/** `graph.metadata` of a zoo model: where it came from and the full spec it was built from. */
export function zooMetadata(name: string, spec: { seed: number; family: string; description: string }): Record<string, string> {
  return {
    source: `zoo:${name}`,
    seed: String(spec.seed),
    family: spec.family,
    description: spec.description,
    spec: JSON.stringify(spec),
  };
}

/**
 * Runs `body` inside torch's scopes for a module path: a Sequential and its child both name a
 * level, the child as `<parent>.<index>`, so `features.2.conv.0` becomes
 * `/features/features.2/conv/conv.0` and `layer1.0.conv1` becomes `/layer1/layer1.0/conv1`.
 */
export function inModule<T>(b: GraphBuilder, path: string, body: () => T): T {
  const scopes: string[] = [];
  for (const part of path.split('.')) {
    const parent = scopes[scopes.length - 1];
    scopes.push(/^\d+$/.test(part) && parent !== undefined ? `${parent}.${part}` : part);
  }
  const enter = (level: number): T => (level === scopes.length ? body() : b.scope(scopes[level], () => enter(level + 1)));
  return enter(0);
}

export interface ConvOptions {
  kernel: number;
  stride: number;
  groups: number;
  /** A bias input (a conv with BatchNorm folded in has one). */
  bias: boolean;
  /** Init gain for the activation that follows (√2 before ReLU/ReLU6, 1 before none). */
  gain: number;
}

/** A 2-D convolution with `(kernel − 1) / 2` padding, weights `<module>.weight` [out, in/groups, k, k]. */
export function conv2d(b: GraphBuilder, w: WeightGenerator, x: string, module: string, outChannels: number, o: ConvOptions): string {
  const inChannels = b.shape(x)[1];
  const fanIn = (inChannels / o.groups) * o.kernel * o.kernel;
  const shape = [outChannels, inChannels / o.groups, o.kernel, o.kernel];
  const weightName = `${module}.weight`;
  const inputs = [x, b.initializer(weightName, w.withStd(weightName, shape, initStd(fanIn, o.gain)), shape)];
  if (o.bias) {
    const biasName = `${module}.bias`;
    inputs.push(b.initializer(biasName, w.symmetric(biasName, [outChannels], 0.1), [outChannels]));
  }
  const pad = (o.kernel - 1) >> 1;
  return b.node('Conv', inputs, {
    dilations: ints([1, 1]),
    group: int(o.groups),
    kernel_shape: ints([o.kernel, o.kernel]),
    pads: ints([pad, pad, pad, pad]),
    strides: ints([o.stride, o.stride]),
  });
}

/** The classifier head: GlobalAveragePool, Flatten, then nn.Linear exported as Gemm (weight [out, in], transB). */
export function poolAndClassify(b: GraphBuilder, w: WeightGenerator, x: string, poolScope: string | null, module: string, numClasses: number): string {
  const pool = (): string => b.node('GlobalAveragePool', [x]);
  const pooled = poolScope ? b.scope(poolScope, pool) : pool();
  const flat = b.node('Flatten', [pooled], { axis: int(1) });
  const inFeatures = b.shape(flat)[1];
  const weightName = `${module}.weight`;
  const biasName = `${module}.bias`;
  const weight = b.initializer(weightName, w.withStd(weightName, [numClasses, inFeatures], initStd(inFeatures, 1)), [numClasses, inFeatures]);
  const bias = b.initializer(biasName, w.symmetric(biasName, [numClasses], 1 / Math.sqrt(inFeatures)), [numClasses]);
  return inModule(b, module, () => b.node('Gemm', [flat, weight, bias], { alpha: float(1), beta: float(1), transB: int(1) }));
}
