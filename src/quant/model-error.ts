/**
 * Expected quantization error of every int8 weight of a candidate, without data (for the
 * proxy evaluator) or with calibration ranges of the weights' input activations when known.
 * Without ranges the activation is taken as a Gaussian-like tensor whose |x|max is `crest`
 * times its rms (4 is typical of transformer activations after LayerNorm).
 */
import type { Graph } from '../model/graph.js';
import type { ModelSparsity } from '../plan/sparsity.js';
import { prunableWeights } from '../tesa/weights.js';
import { expectedRelativeError } from './error.js';
import { splitOutliers } from './outliers.js';
import { quantizeWeightPerChannel } from './weights.js';
import type { ActivationRange } from './calibrate.js';

export interface ModelQuantError {
  /** weight name → expected relative output error of its layer */
  perWeight: Record<string, number>;
  /** the largest per-layer error (0 when nothing is int8) */
  max: number;
  /** mean over int8 weights */
  mean: number;
}

/** qmax 127 is the VNNI path; the AVX2 kernels use 63 (pass it to match them). */
export function modelQuantError(graph: Graph, sparsity: ModelSparsity, opts: { ranges?: ReadonlyMap<string, ActivationRange>; crest?: number; qmax?: number } = {}): ModelQuantError {
  const perWeight: Record<string, number> = {};
  const crest = opts.crest ?? 4;
  for (const p of prunableWeights(graph)) {
    const ws = sparsity.get(p.weight);
    if (!ws || ws.precision !== 'int8' || p.shape.length !== 2) continue;
    const t = graph.tensors.get(p.weight);
    if (!(t?.data instanceof Float32Array)) continue;
    // N×K view: the output axis first.
    const [n, k] = [p.shape[p.outAxis]!, p.shape[p.inAxis]!];
    const w = new Float32Array(n * k);
    const mask = new Uint8Array(n * k);
    for (let o = 0; o < n; o++) {
      for (let i = 0; i < k; i++) {
        const s = p.outAxis === 0 ? o * k + i : i * n + o;
        mask[o * k + i] = ws.mask[s]!;
        w[o * k + i] = ws.mask[s] ? t.data[s]! : 0;
      }
    }
    const split = splitOutliers(w, ws.outliers ?? 0, mask);
    const qw = quantizeWeightPerChannel(w, n, k, { qmax: opts.qmax ?? 127, mask: split.bodyMask });
    const node = graph.nodes.find((x) => x.name === p.node);
    const range = node ? opts.ranges?.get(node.inputs[p.slot === 1 ? 0 : 1]!) : undefined;
    const act = range ? { rms: range.rms, absMax: range.absMax } : { rms: 1, absMax: crest };
    perWeight[p.weight] = expectedRelativeError({ w, qw, int8Mask: split.bodyMask, act }).relative;
  }
  const vals = Object.values(perWeight);
  return { perWeight, max: vals.length ? Math.max(...vals) : 0, mean: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : 0 };
}
