/**
 * A BERT encoder (HuggingFace `BertModel` without the pooler) as torch.onnx.export writes it
 * at opset 17 in eval mode: embedding Gathers, the extended attention mask
 * (Unsqueeze → Cast → 1 − m → × −10000), and per layer Q/K/V projections, head split
 * (Reshape + Transpose, key transposed straight to [B, H, D, S]), scaled scores, Softmax,
 * context, output projection, residual + LayerNorm, FFN with erf-GELU, residual + LayerNorm.
 *
 * Linear weights are stored [in, out] for MatMul under their state-dict names
 * (`encoder.layer.3.intermediate.dense.weight`) where the exporter writes `onnx::MatMul_…`.
 * Node order, names, shapes and attributes match a real export node for node
 * (test/model/zoo/torch-parity.test.ts). One liberty: the token-type Gather of the constant
 * zero ids is kept, so its table stays a named weight; torch's constant folding (and tesa's,
 * for small tables) turns it into a constant.
 */
import { GraphBuilder, ONNX_DTYPE, float, int, ints } from '../graph-builder.js';
import type { Graph } from '../graph.js';
import { linear, zooMetadata } from './layers.js';
import type { BertSpec } from './spec.js';
import { RELU_GAIN, WeightGenerator } from './weights.js';

/** HuggingFace's `initializer_range` for embedding tables. */
const EMBEDDING_STD = 0.02;
/** What `(1 - mask) * -10000.0` adds to the scores of masked positions. */
const MASK_FILL = -10000;

export function buildBert(name: string, spec: BertSpec): Graph {
  const b = new GraphBuilder(name, 17);
  const w = new WeightGenerator(spec.seed);
  const { batch, sequenceLength: seq, hidden, heads } = spec;
  const headDim = hidden / heads;

  const inputIds = b.input('input_ids', 'int64', [batch, seq]);
  const attentionMask = b.input('attention_mask', 'int64', [batch, seq]);

  // BertModel.forward builds the extended mask before the embeddings, so the exporter emits
  // it first: mask[:, None, None, :], to float, (1 - m) * -10000.
  const mask = (() => {
    const m1 = b.node('Unsqueeze', [attentionMask, b.int64s([1])]);
    const m2 = b.node('Unsqueeze', [m1, b.int64s([2])]);
    const mf = b.node('Cast', [m2], { to: int(ONNX_DTYPE.float32) });
    const inverted = b.node('Sub', [b.scalar(1), mf]);
    return b.node('Mul', [inverted, b.scalar(MASK_FILL)]);
  })();

  let h = b.scope('embeddings', () => embeddings(b, w, spec, inputIds));

  b.scope('encoder', () => {
    for (let l = 0; l < spec.layers; l++) {
      const prefix = `encoder.layer.${l}`;
      h = b.scope(`layer.${l}`, () => encoderLayer(b, w, spec, prefix, h, mask, headDim));
    }
  });
  return b.build([b.rename(h, 'last_hidden_state')], zooMetadata(name, spec));
}

function embeddings(b: GraphBuilder, w: WeightGenerator, spec: BertSpec, inputIds: string): string {
  const { batch, sequenceLength: seq, hidden } = spec;
  const table = (module: string, rows: number): string => {
    const n = `embeddings.${module}.weight`;
    return b.initializer(n, w.withStd(n, [rows, hidden], EMBEDDING_STD), [rows, hidden]);
  };
  const word = b.scope('word_embeddings', () => b.node('Gather', [table('word_embeddings', spec.vocabSize), inputIds]));
  // The model's buffers, already sliced to the sequence length as the exporter folds them.
  const tokenTypeIds = b.initializer('embeddings.token_type_ids', new BigInt64Array(batch * seq), [batch, seq]);
  const positionIds = b.initializer(
    'embeddings.position_ids',
    BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq)),
    [batch, seq],
  );
  const tokenType = b.scope('token_type_embeddings', () => b.node('Gather', [table('token_type_embeddings', spec.typeVocabSize), tokenTypeIds]));
  const sum = b.node('Add', [word, tokenType]);
  const position = b.scope('position_embeddings', () => b.node('Gather', [table('position_embeddings', spec.maxPositions), positionIds]));
  const withPositions = b.node('Add', [sum, position]);
  return b.scope('LayerNorm', () => layerNorm(b, w, 'embeddings.LayerNorm', withPositions, spec));
}

function encoderLayer(b: GraphBuilder, w: WeightGenerator, spec: BertSpec, prefix: string, x: string, mask: string, headDim: number): string {
  const { batch, sequenceLength: seq, hidden, heads } = spec;
  const context = b.scope('attention', () =>
    b.scope('self', () => {
      const project = (part: string): string => b.scope(part, () => linear(b, w, x, `${prefix}.attention.self.${part}`, hidden, hidden, 1));
      const heads4d = (t: string): string => b.node('Reshape', [t, b.int64s([batch, seq, heads, headDim])], { allowzero: int(0) });
      const toHeads = (t: string, perm: number[]): string => b.node('Transpose', [t], { perm: ints(perm) });
      const q = toHeads(heads4d(project('query')), [0, 2, 1, 3]);
      const kSplit = heads4d(project('key'));
      const v = toHeads(heads4d(project('value')), [0, 2, 1, 3]);
      // key.permute(0, 2, 1, 3) and the later .transpose(-1, -2) fuse into one Transpose,
      // which the exporter places where the second one was: after the value projection.
      const kT = toHeads(kSplit, [0, 2, 3, 1]);
      const scores = b.node('Div', [b.node('MatMul', [q, kT]), b.scalar(Math.sqrt(headDim))]);
      const probs = b.node('Softmax', [b.node('Add', [scores, mask])], { axis: int(-1) });
      const ctx = b.node('Transpose', [b.node('MatMul', [probs, v])], { perm: ints([0, 2, 1, 3]) });
      return b.node('Reshape', [ctx, b.int64s([batch, seq, hidden])], { allowzero: int(0) });
    }),
  );
  const attended = b.scope('attention', () =>
    b.scope('output', () => {
      const dense = b.scope('dense', () => linear(b, w, context, `${prefix}.attention.output.dense`, hidden, hidden, 1));
      const residual = b.node('Add', [dense, x]);
      return b.scope('LayerNorm', () => layerNorm(b, w, `${prefix}.attention.output.LayerNorm`, residual, spec));
    }),
  );
  const activated = b.scope('intermediate', () => {
    const up = b.scope('dense', () => linear(b, w, attended, `${prefix}.intermediate.dense`, hidden, spec.intermediate, RELU_GAIN));
    return b.scope('intermediate_act_fn', () => erfGelu(b, up));
  });
  return b.scope('output', () => {
    const down = b.scope('dense', () => linear(b, w, activated, `${prefix}.output.dense`, spec.intermediate, hidden, 1));
    const residual = b.node('Add', [down, attended]);
    return b.scope('LayerNorm', () => layerNorm(b, w, `${prefix}.output.LayerNorm`, residual, spec));
  });
}

/** GELU as torch exports it below opset 20: x · (1 + erf(x / √2)) · 0.5. */
function erfGelu(b: GraphBuilder, x: string): string {
  const erf = b.node('Erf', [b.node('Div', [x, b.scalar(Math.SQRT2)])]);
  const onePlus = b.node('Add', [erf, b.scalar(1)]);
  return b.node('Mul', [b.node('Mul', [x, onePlus]), b.scalar(0.5)]);
}

/**
 * LayerNormalization over the last axis. Scale and shift are near 1 and 0 but not exactly,
 * so each LayerNorm has distinct parameters (as a trained model's do).
 */
function layerNorm(b: GraphBuilder, w: WeightGenerator, module: string, x: string, spec: BertSpec): string {
  const gammaName = `${module}.weight`;
  const betaName = `${module}.bias`;
  const gamma = b.initializer(gammaName, w.uniform(gammaName, [spec.hidden], 0.9, 1.1), [spec.hidden]);
  const beta = b.initializer(betaName, w.symmetric(betaName, [spec.hidden], 0.05), [spec.hidden]);
  return b.node('LayerNormalization', [x, gamma, beta], { axis: int(-1), epsilon: float(spec.layerNormEps) });
}
