/**
 * The zoo's BERT is the graph torch.onnx.export writes: a tiny BERT (HuggingFace 4.x code,
 * exported by torch; see fixtures/make_bert_tiny.py) and the zoo's builder at the same sizes,
 * both cleaned up as `tesa` loads any model, agree node for node (op, name, shapes, attributes)
 * and, given torch's weights, compute the same outputs in onnxruntime, masked positions included.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { simplifyGraph } from '../../../src/model/fold.js';
import type { Graph, Node } from '../../../src/model/graph.js';
import { randomInputs } from '../../../src/model/inputs.js';
import { importOnnx } from '../../../src/model/onnx/import.js';
import { runOrt } from '../../../src/model/ort.js';
import { buildFromSpec } from '../../../src/model/zoo/index.js';

const FIXTURE = new URL('./fixtures/bert-tiny-torch.onnx', import.meta.url);

function torchGraph(): Graph {
  const g = importOnnx(readFileSync(FIXTURE), { source: 'bert-tiny-torch.onnx' });
  simplifyGraph(g, { source: 'bert-tiny-torch.onnx' });
  return g;
}

function zooGraph(): Graph {
  const g = buildFromSpec('bert-tiny', {
    family: 'bert',
    description: 'the fixture sizes',
    seed: 9,
    batch: 1,
    sequenceLength: 8,
    layers: 2,
    hidden: 32,
    heads: 2,
    intermediate: 64,
    vocabSize: 100,
    maxPositions: 512,
    typeVocabSize: 2,
    layerNormEps: 1e-12,
  });
  simplifyGraph(g, { source: 'zoo:bert-tiny' });
  return g;
}

/** What must agree between the two graphs: everything but the names torch gives its weights. */
function signature(g: Graph, n: Node): unknown {
  return {
    op: n.opType,
    name: n.name,
    inputs: n.inputs.map((i) => g.tensors.get(i)!.shape),
    constInputs: n.inputs.map((i) => g.tensors.get(i)!.data !== undefined),
    output: g.tensors.get(n.outputs[0])!.shape,
    attrs: n.attrs,
  };
}

describe('zoo BERT against torch.onnx.export', () => {
  it('matches the exported graph node for node', () => {
    const torch = torchGraph();
    const zoo = zooGraph();
    expect(zoo.nodes).toHaveLength(torch.nodes.length);
    zoo.nodes.forEach((n, i) => expect(signature(zoo, n), n.name).toEqual(signature(torch, torch.nodes[i])));
    // Small constants (shapes, axes, √d, the mask fill, GELU's constants) are equal too.
    let compared = 0;
    zoo.nodes.forEach((n, i) =>
      n.inputs.forEach((input, j) => {
        const mine = zoo.tensors.get(input)!;
        const theirs = torch.tensors.get(torch.nodes[i].inputs[j])!;
        if (mine.data && mine.name.startsWith('/') && (mine.dtype === 'int64' || mine.shape.length === 0)) {
          expect(mine.data, `${n.name} input ${j}`).toEqual(theirs.data);
          compared++;
        }
      }),
    );
    // 2 mask axes, 1 and -10000; per layer 4 reshape shapes, √d, GELU's √2, 1 and 0.5.
    expect(compared).toBe(4 + 2 * 8);
  });

  it("computes torch's outputs from torch's weights, with part of the sequence masked", async () => {
    const torch = torchGraph();
    const zoo = zooGraph();
    // Give the zoo graph torch's weights, matched by position in the identical node lists.
    zoo.nodes.forEach((n, i) =>
      n.inputs.forEach((input, j) => {
        const mine = zoo.tensors.get(input)!;
        if (mine.data) mine.data = torch.tensors.get(torch.nodes[i].inputs[j])!.data;
      }),
    );
    const feeds = randomInputs(zoo, 3);
    (feeds.attention_mask as BigInt64Array).fill(0n, 5);
    const want = (await runOrt(torch, feeds)).get('last_hidden_state')!.data as Float32Array;
    const got = (await runOrt(zoo, feeds)).get('last_hidden_state')!.data as Float32Array;
    expect(got.length).toBe(8 * 32);
    let maxDiff = 0;
    for (let i = 0; i < want.length; i++) maxDiff = Math.max(maxDiff, Math.abs(want[i] - got[i]));
    expect(maxDiff).toBeLessThan(1e-5);
  });
});
