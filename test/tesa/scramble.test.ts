/** Automatic rules by tensor scrambling, run in onnxruntime-node on one-node models. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { Graph } from '../../src/model/graph.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { propagate } from '../../src/tesa/propagate.js';
import { clearScrambleMemory, prepareScrambleRules, ruleFromRelation, scrambleRelation } from '../../src/tesa/scramble.js';

const dir = mkdtempSync(join(tmpdir(), 'tesa-scramble-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** x [1,2,3,3] → Pad (zeros, one pixel each side) → y [1,2,5,5] → Relu → z. Pad has no hand-written rule. */
function padGraph(): Graph {
  return {
    name: 'pad',
    inputs: ['x'],
    outputs: ['z'],
    tensors: new Map([
      ['x', { name: 'x', dtype: 'float32', shape: [1, 2, 3, 3] }],
      ['pads', { name: 'pads', dtype: 'int64', shape: [8], data: BigInt64Array.from([0n, 0n, 1n, 1n, 0n, 0n, 1n, 1n]) }],
      ['y', { name: 'y', dtype: 'float32', shape: [1, 2, 5, 5] }],
      ['z', { name: 'z', dtype: 'float32', shape: [1, 2, 5, 5] }],
    ]),
    nodes: [
      { name: 'pad', opType: 'Pad', domain: '', inputs: ['x', 'pads'], outputs: ['y'], attrs: {} },
      { name: 'relu', opType: 'Relu', domain: '', inputs: ['y'], outputs: ['z'] , attrs: {} },
    ],
    opsetVersion: 17,
  };
}

describe('tensor scrambling', () => {
  it('derives Pad: zero border always, a pruned channel passes forward, a pruned output kills its input backward', async () => {
    const g = padGraph();
    const cacheFile = join(dir, 'rules.json');
    clearScrambleMemory();
    const rules = await prepareScrambleRules(g, { cacheFile, seed: 1 });
    expect([...rules.keys()]).toEqual(['pad']);
    const x = new SparsityAttr([1, 2, 3, 3]);
    x.pruneAlong(1, Uint8Array.from([0, 1]));
    const res = propagate(g, new Map([['x', x]]), { extraRules: rules });
    const y = res.attributes.get('y')!;
    // channel 1 all zero; channel 0: the 16 border elements of 25.
    expect(Array.from(y.allPrunedAlong(1))).toEqual([0, 1]);
    expect(y.count()).toBe(25 + 16);
    expect(res.unhandled).toEqual([]);

    const z = new SparsityAttr([1, 2, 5, 5]);
    z.prune(6); // y[0,0,1,1] ↔ x[0,0,0,0]
    const back = propagate(g, new Map([['z', z]]), { extraRules: rules });
    expect(back.attributes.get('x')!.isPruned(0)).toBe(true);
    expect(back.attributes.get('x')!.count()).toBe(1);

    // Cached on disk by (op, attributes, shapes, constants): a fresh process finds it without running ORT.
    expect(Object.keys(JSON.parse(readFileSync(cacheFile, 'utf8')))).toHaveLength(1);
    clearScrambleMemory();
    const again = await prepareScrambleRules(g, { cacheFile, seed: 1, maxInputElements: 0 });
    expect(again.has('pad')).toBe(false);
  }, 60_000);

  it('the scrambled relation of a broadcasting Mul is exactly its data flow', async () => {
    const g: Graph = {
      name: 'mul',
      inputs: ['a', 'b'],
      outputs: ['c'],
      tensors: new Map([
        ['a', { name: 'a', dtype: 'float32', shape: [3, 4] }],
        ['b', { name: 'b', dtype: 'float32', shape: [4] }],
        ['c', { name: 'c', dtype: 'float32', shape: [3, 4] }],
      ]),
      nodes: [{ name: 'mul', opType: 'Mul', domain: '', inputs: ['a', 'b'], outputs: ['c'], attrs: {} }],
      opsetVersion: 17,
    };
    const rel = await scrambleRelation(g, g.nodes[0], { seed: 2 });
    // Global input indices: a[0..11], then b[12..15]; c[i,j] reads a[i,j] and b[j].
    for (let o = 0; o < 12; o++) {
      const deps = rel.deps[0].slice(rel.offsets[0][o], rel.offsets[0][o + 1]);
      expect(deps).toEqual([o, 12 + (o % 4)]);
    }
    expect(rel.zeroAtZero[0].every((z) => z === 1)).toBe(true);
    // Used as a rule: a pruned column of c kills that column of a and that element of b.
    const rule = ruleFromRelation(rel);
    const c = new SparsityAttr([3, 4]);
    c.pruneCol(1);
    const out = rule({
      node: g.nodes[0],
      graph: g,
      inputs: [new SparsityAttr([3, 4]), new SparsityAttr([4])],
      outputs: [c],
      inShapes: [[3, 4], [4]],
      outShapes: [[3, 4]],
      constant: () => undefined,
    });
    expect(out.inputs![0]!.prunedCols()).toEqual([1]);
    expect(Array.from(out.inputs![1]!.toMask())).toEqual([1, 0, 1, 1]);
  }, 60_000);
});
