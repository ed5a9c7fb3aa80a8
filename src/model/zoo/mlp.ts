/**
 * The SparTA paper's MLP (§5): Linear layers with a ReLU after each hidden one, as
 * `nn.Sequential(Linear, ReLU, …, Linear)` exports: state-dict names `layers.<i>.weight`.
 */
import { GraphBuilder } from '../graph-builder.js';
import type { Graph } from '../graph.js';
import { linear, zooMetadata } from './layers.js';
import type { MlpSpec } from './spec.js';
import { RELU_GAIN, WeightGenerator } from './weights.js';

export function buildMlp(name: string, spec: MlpSpec): Graph {
  const b = new GraphBuilder(name, 17);
  const w = new WeightGenerator(spec.seed);
  const widths = [spec.inputFeatures, ...spec.hidden, spec.outputFeatures];
  let x = b.input('input', 'float32', [spec.batch, spec.inputFeatures]);
  for (let l = 0; l + 1 < widths.length; l++) {
    const last = l + 2 === widths.length;
    // Sequential indices: Linear at 2l, its ReLU at 2l+1.
    const module = `layers.${2 * l}`;
    x = b.scope(module, () => linear(b, w, x, module, widths[l], widths[l + 1], last ? 1 : RELU_GAIN));
    if (!last) x = b.scope(`layers.${2 * l + 1}`, () => b.node('Relu', [x]));
  }
  return b.build([b.rename(x, 'logits')], zooMetadata(name, spec));
}
