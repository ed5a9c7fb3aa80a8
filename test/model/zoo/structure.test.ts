/**
 * The zoo's models have the architecture they claim: parameter counts that match the
 * reference implementations (HuggingFace BERT, torchvision), the node counts tesa's users
 * are told about, shapes that agree with tesa's own shape inference, and MAC counts that
 * match torchvision's published figures (which pins every conv's stride and padding).
 */
import { describe, expect, it } from 'vitest';
import { TesaError } from '../../../src/errors.js';
import { attrInt, cloneGraph, numel, topoSort, type Graph, type Node } from '../../../src/model/graph.js';
import { inferShapes } from '../../../src/model/shape-inference.js';
import { buildFromSpec, buildZooModel, zooModelNames, zooSpec, type ZooSpec } from '../../../src/model/zoo/index.js';
import { BertSpec, ResNetSpec } from '../../../src/model/zoo/spec.js';

const cache = new Map<string, Graph>();
function model(name: string): Graph {
  let g = cache.get(name);
  if (!g) cache.set(name, (g = buildZooModel(name)));
  return g;
}

function count(g: Graph, opType: string): number {
  return g.nodes.filter((n) => n.opType === opType).length;
}

/** Elements of the float weights: initializers under state-dict names, not `/…/Constant` scalars. */
function params(g: Graph, keep: (name: string) => boolean = () => true): number {
  let n = 0;
  for (const t of g.tensors.values()) if (t.data && t.dtype === 'float32' && !t.name.startsWith('/') && keep(t.name)) n += numel(t.shape);
  return n;
}

function shapeOf(g: Graph, name: string): number[] {
  return g.tensors.get(name)!.shape;
}

/** Multiply-accumulates of MatMul, Gemm and Conv. */
function macs(g: Graph): number {
  let total = 0;
  for (const n of g.nodes) {
    const out = shapeOf(g, n.outputs[0]);
    if (n.opType === 'MatMul') total += numel(out) * shapeOf(g, n.inputs[0]).at(-1)!;
    if (n.opType === 'Gemm') total += numel(out) * shapeOf(g, n.inputs[0])[1];
    if (n.opType === 'Conv') total += numel(out) * numel(shapeOf(g, n.inputs[1]).slice(1));
  }
  return total;
}

function io(g: Graph): Array<[string, string, number[]]> {
  return [...g.inputs, ...g.outputs].map((n) => [n, g.tensors.get(n)!.dtype, shapeOf(g, n)]);
}

describe('zoo registry', () => {
  it('lists the five models', () => {
    expect(zooModelNames()).toEqual(['bert-base', 'bert-base-4k', 'bert-mini', 'mlp', 'mobilenet-v2', 'resnet18']);
  });

  it('an unknown name is NOT_FOUND with the known names as hint', () => {
    let err: unknown;
    try {
      buildZooModel('bert-huge');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TesaError);
    expect((err as TesaError).code).toBe('NOT_FOUND');
    expect((err as TesaError).oneLine()).toBe("unknown zoo model 'bert-huge' (hint: known: bert-base, bert-base-4k, bert-mini, mlp, mobilenet-v2, resnet18)");
  });

  it('specs parse and carry the sizes the models are built from', () => {
    expect(zooSpec('bert-base')).toMatchObject({ family: 'bert', layers: 12, hidden: 768, heads: 12, intermediate: 3072, sequenceLength: 128, vocabSize: 30522 });
    expect(zooSpec('bert-mini')).toMatchObject({ family: 'bert', layers: 4, hidden: 256, heads: 4, intermediate: 1024 });
  });

  it('spec schemas reject sizes that cannot build and keys they do not know', () => {
    const bert = zooSpec('bert-mini');
    expect(BertSpec.safeParse({ ...bert, heads: 3 }).success).toBe(false);
    expect(BertSpec.safeParse({ ...bert, sequenceLength: 1024 }).success).toBe(false);
    expect(BertSpec.safeParse({ ...bert, hidden_size: 256 }).success).toBe(false);
    expect(ResNetSpec.safeParse({ ...zooSpec('resnet18'), blocks: [2, 2, 2] }).success).toBe(false);
    expect(BertSpec.safeParse(bert).success).toBe(true);
  });

  it('builds variants from a spec object', () => {
    const g = buildFromSpec('tiny', { ...zooSpec('mlp'), batch: 2, hidden: [8], inputFeatures: 4, outputFeatures: 3 } as ZooSpec);
    expect(io(g)).toEqual([
      ['input', 'float32', [2, 4]],
      ['logits', 'float32', [2, 3]],
    ]);
    expect(g.metadata?.source).toBe('zoo:tiny');
  });

  it('metadata names the source, the seed and the spec', () => {
    for (const name of ['mlp', 'resnet18']) {
      const g = model(name);
      expect(g.metadata?.source).toBe(`zoo:${name}`);
      expect(g.metadata?.seed).toBe(String(zooSpec(name).seed));
      expect(JSON.parse(g.metadata!.spec)).toEqual(zooSpec(name));
      expect(g.opsetVersion).toBe(17);
    }
  });
});

describe('zoo:mlp', () => {
  it('is four Linear layers with ReLU between, weights stored [in, out]', () => {
    const g = model('mlp');
    expect(g.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Add', 'Relu', 'MatMul', 'Add', 'Relu', 'MatMul', 'Add', 'Relu', 'MatMul', 'Add']);
    const weights = g.nodes.filter((n) => n.opType === 'MatMul').map((n) => [n.inputs[1], shapeOf(g, n.inputs[1])]);
    expect(weights).toEqual([
      ['layers.0.weight', [1024, 2048]],
      ['layers.2.weight', [2048, 2048]],
      ['layers.4.weight', [2048, 2048]],
      ['layers.6.weight', [2048, 1000]],
    ]);
    expect(io(g)).toEqual([
      ['input', 'float32', [64, 1024]],
      ['logits', 'float32', [64, 1000]],
    ]);
    expect(params(g)).toBe(1024 * 2048 + 2048 + 2 * (2048 * 2048 + 2048) + 2048 * 1000 + 1000);
  });
});

describe('zoo:bert-base', () => {
  const LAYER_MATRICES = ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense', 'intermediate.dense', 'output.dense'];

  it('has 72 encoder weight matrices and 85M encoder parameters plus 23.8M of embeddings', () => {
    const g = model('bert-base');
    const matrices = [...g.tensors.values()].filter((t) => t.data && t.name.startsWith('encoder.') && t.shape.length === 2);
    expect(matrices).toHaveLength(72);
    const expected = Array.from({ length: 12 }, (_, l) => LAYER_MATRICES.map((m) => `encoder.layer.${l}.${m}.weight`)).flat();
    expect(matrices.map((t) => t.name).sort()).toEqual(expected.sort());
    for (const t of matrices) {
      const want = t.name.includes('intermediate') ? [768, 3072] : t.name.includes('.output.dense') && !t.name.includes('attention') ? [3072, 768] : [768, 768];
      expect(t.shape, t.name).toEqual(want);
    }
    // HuggingFace BertModel: 109,482,240 with the pooler's 590,592, which this export leaves out.
    expect(params(g, (n) => n.startsWith('encoder.'))).toBe(85_054_464);
    expect(params(g, (n) => n.startsWith('embeddings.'))).toBe(23_837_184);
    expect(params(g)).toBe(109_482_240 - 590_592);
  });

  it('is the exported BERT graph: embeddings, mask arithmetic, 12 attention + FFN layers', () => {
    const g = model('bert-base');
    expect(io(g)).toEqual([
      ['input_ids', 'int64', [1, 128]],
      ['attention_mask', 'int64', [1, 128]],
      ['last_hidden_state', 'float32', [1, 128, 768]],
    ]);
    const ops: Record<string, number> = {};
    for (const n of g.nodes) ops[n.opType] = (ops[n.opType] ?? 0) + 1;
    expect(ops).toEqual({
      Gather: 3,
      Add: 2 + 12 * 10, // embeddings 2; per layer 6 biases, mask, 2 residuals, GELU's +1
      LayerNormalization: 1 + 12 * 2,
      Unsqueeze: 2,
      Cast: 1,
      Sub: 1,
      Mul: 1 + 12 * 2,
      MatMul: 12 * 8,
      Reshape: 12 * 4,
      Transpose: 12 * 4,
      Div: 12 * 2,
      Softmax: 12,
      Erf: 12,
    });
    // Each linear: MatMul(x, W[K, N]) then Add(bias, ·), as torch exports nn.Linear.
    const byOutput = new Map(g.nodes.map((n) => [n.outputs[0], n]));
    const users = (t: string): Node[] => g.nodes.filter((n) => n.inputs.includes(t));
    for (const mm of g.nodes.filter((n) => n.opType === 'MatMul' && g.tensors.get(n.inputs[1])?.data)) {
      const [add] = users(mm.outputs[0]);
      expect(add.opType).toBe('Add');
      expect(add.inputs[0]).toBe(mm.inputs[1].replace(/weight$/, 'bias'));
    }
    // The mask: Unsqueeze → Unsqueeze → Cast → Sub(1, m) → Mul(·, -10000), added to every layer's scores.
    const mask = g.nodes.find((n) => n.opType === 'Mul' && users(n.outputs[0]).some((u) => u.opType === 'Add'))!;
    const chain: string[] = [];
    for (let n: Node | undefined = mask; n; n = byOutput.get(n.inputs.find((i) => byOutput.has(i)) ?? '')) chain.unshift(n.opType);
    expect(chain).toEqual(['Unsqueeze', 'Unsqueeze', 'Cast', 'Sub', 'Mul']);
    expect(Array.from(g.tensors.get(mask.inputs[1])!.data as Float32Array)).toEqual([-10000]);
    expect(users(mask.outputs[0])).toHaveLength(12);
    // Attention shapes of layer 0.
    const layer0 = (suffix: string): number[] => shapeOf(g, `/encoder/layer.0/attention/self/${suffix}_output_0`);
    expect(layer0('Transpose')).toEqual([1, 12, 128, 64]); // query
    expect(layer0('Transpose_1')).toEqual([1, 12, 128, 64]); // value
    expect(layer0('Transpose_2')).toEqual([1, 12, 64, 128]); // key, already transposed for Q·Kᵀ
    expect(layer0('MatMul')).toEqual([1, 12, 128, 128]);
    expect(layer0('Softmax')).toEqual([1, 12, 128, 128]);
    expect(layer0('Reshape_3')).toEqual([1, 128, 768]);
    for (const sm of g.nodes.filter((n) => n.opType === 'Softmax')) expect(attrInt(sm, 'axis')).toBe(-1);
    // GELU as torch exports it: Div(√2) → Erf → Add(1) → Mul(x) → Mul(0.5).
    const gelu = g.nodes.filter((n) => n.name.startsWith('/encoder/layer.0/intermediate/intermediate_act_fn/')).map((n) => n.opType);
    expect(gelu).toEqual(['Div', 'Erf', 'Add', 'Mul', 'Mul']);
  });

  it('has 22.3 GFLOPs of MatMul (2·MACs)', () => {
    const linear = 12 * 128 * (4 * 768 * 768 + 2 * 768 * 3072);
    const attention = 12 * 2 * 12 * 128 * 128 * 64;
    expect(macs(model('bert-base'))).toBe(linear + attention);
    cache.delete('bert-base'); // 436 MB of weights: free them for the rest of the file
  });
});

describe('zoo:bert-mini', () => {
  it('is the same architecture at 4 layers, hidden 256, 4 heads, FFN 1024', () => {
    const g = model('bert-mini');
    const matrices = [...g.tensors.values()].filter((t) => t.data && t.name.startsWith('encoder.') && t.shape.length === 2);
    expect(matrices).toHaveLength(4 * 6);
    expect(params(g, (n) => n.startsWith('encoder.'))).toBe(4 * (4 * (256 * 256 + 256) + 2 * 256 * 1024 + 1024 + 256 + 4 * 256));
    expect(shapeOf(g, '/encoder/layer.0/attention/self/Transpose_output_0')).toEqual([1, 4, 128, 64]);
    expect(io(g)[2]).toEqual(['last_hidden_state', 'float32', [1, 128, 256]]);
  });
});

describe('zoo:mobilenet-v2', () => {
  it('has 52 Convs with BatchNorm folded, 17 depthwise, 10 residual Adds, ReLU6 as Clip(0, 6)', () => {
    const g = model('mobilenet-v2');
    const convs = g.nodes.filter((n) => n.opType === 'Conv');
    expect(convs).toHaveLength(52);
    expect(count(g, 'BatchNormalization')).toBe(0);
    for (const c of convs) expect(g.tensors.get(c.inputs[2])?.data, `${c.name} has a folded bias`).toBeDefined();
    const depthwise = convs.filter((c) => attrInt(c, 'group', 1) > 1);
    expect(depthwise).toHaveLength(17);
    for (const c of depthwise) {
      const [out, perGroup] = shapeOf(g, c.inputs[1]);
      expect([attrInt(c, 'group'), perGroup]).toEqual([out, 1]);
    }
    expect(count(g, 'Add')).toBe(10);
    const clips = g.nodes.filter((n) => n.opType === 'Clip');
    expect(clips).toHaveLength(35);
    for (const c of clips) expect([c.inputs[1], c.inputs[2]].map((i) => (g.tensors.get(i)!.data as Float32Array)[0])).toEqual([0, 6]);
    expect(g.nodes.slice(-3).map((n) => n.opType)).toEqual(['GlobalAveragePool', 'Flatten', 'Gemm']);
    const gemm = g.nodes.at(-1)!;
    expect([shapeOf(g, gemm.inputs[1]), attrInt(gemm, 'transB')]).toEqual([[1000, 1280], 1]);
    expect(shapeOf(g, convs.at(-1)!.outputs[0])).toEqual([1, 1280, 7, 7]);
    expect(io(g)).toEqual([
      ['input', 'float32', [1, 3, 224, 224]],
      ['logits', 'float32', [1, 1000]],
    ]);
  });

  it("matches torchvision's parameter count (with BN unfolded) and 300M MACs", () => {
    const g = model('mobilenet-v2');
    const convWeights = params(g, (n) => n.startsWith('features.') && n.endsWith('.weight'));
    const foldedBiases = params(g, (n) => n.startsWith('features.') && n.endsWith('.bias'));
    // Unfolded, each folded bias channel was a BN weight and a BN bias.
    expect(convWeights + 2 * foldedBiases + params(g, (n) => n.startsWith('classifier.'))).toBe(3_504_872);
    expect(macs(g)).toBe(300_774_272);
  });
});

describe('zoo:resnet18', () => {
  it('has 20 Convs each followed by an explicit BatchNormalization, 8 residual Adds', () => {
    const g = model('resnet18');
    expect([count(g, 'Conv'), count(g, 'BatchNormalization'), count(g, 'Add'), count(g, 'MaxPool'), count(g, 'Relu')]).toEqual([20, 20, 8, 1, 17]);
    const byOutput = new Map(g.nodes.map((n) => [n.outputs[0], n]));
    for (const bn of g.nodes.filter((n) => n.opType === 'BatchNormalization')) {
      expect(byOutput.get(bn.inputs[0])?.opType).toBe('Conv');
      const [scale, shift, mean, variance] = bn.inputs.slice(1).map((i) => g.tensors.get(i)!.data as Float32Array);
      expect(bn.inputs[4]).toMatch(/running_var$/);
      expect(Math.min(...variance)).toBeGreaterThan(0);
      // Non-trivial: not the identity BN that a fresh torch module would export.
      for (const v of [scale, shift, mean, variance]) expect(new Set(v).size).toBeGreaterThan(0.9 * v.length);
      expect(mean.some((m) => m !== 0) && variance.some((v) => v !== 1)).toBe(true);
    }
    expect(g.nodes.filter((n) => n.name.includes('downsample') && n.opType === 'Conv').map((n) => n.inputs[1])).toEqual([
      'layer2.0.downsample.0.weight',
      'layer3.0.downsample.0.weight',
      'layer4.0.downsample.0.weight',
    ]);
    expect(shapeOf(g, '/maxpool/MaxPool_output_0')).toEqual([1, 64, 56, 56]);
    expect(shapeOf(g, '/layer4/layer4.1/relu_1/Relu_output_0')).toEqual([1, 512, 7, 7]);
    expect(io(g)).toEqual([
      ['input', 'float32', [1, 3, 224, 224]],
      ['logits', 'float32', [1, 1000]],
    ]);
  });

  it("matches torchvision's 11,689,512 parameters (+ BN running statistics) and 1.81G MACs", () => {
    const g = model('resnet18');
    const isRunningStat = (n: string): boolean => /running_(mean|var)$/.test(n);
    expect(params(g, (n) => !isRunningStat(n))).toBe(11_689_512);
    expect(params(g, isRunningStat)).toBe(2 * 4800);
    expect(macs(g)).toBe(1_814_073_344);
  });
});

describe('zoo graphs are well formed', () => {
  it.each(['mlp', 'bert-mini', 'mobilenet-v2', 'resnet18'])('%s: every constant is used, every node in topological order', (name) => {
    const g = model(name);
    const used = new Set(g.nodes.flatMap((n) => n.inputs));
    const unused = [...g.tensors.values()].filter((t) => t.data && !used.has(t.name)).map((t) => t.name);
    expect(unused).toEqual([]);
    expect(topoSort(g)).toEqual(g.nodes);
    expect(new Set(g.nodes.map((n) => n.name)).size).toBe(g.nodes.length);
  });

  it.each(['mlp', 'bert-mini', 'mobilenet-v2', 'resnet18'])("%s: the builder's shapes equal tesa's shape inference", (name) => {
    const built = model(name);
    const inferred = cloneGraph(built);
    for (const n of inferred.nodes) for (const o of n.outputs) inferred.tensors.delete(o);
    inferShapes(inferred, `zoo:${name}`);
    for (const n of built.nodes) {
      for (const o of n.outputs) {
        const want = built.tensors.get(o)!;
        expect([o, inferred.tensors.get(o)?.dtype, inferred.tensors.get(o)?.shape]).toEqual([o, want.dtype, want.shape]);
      }
    }
  });
});
