import { describe, expect, it } from 'vitest';
import type { Graph } from '../../src/model/graph.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { propagate } from '../../src/tesa/propagate.js';

/** W3 = W1 · W2, all 4×4, as in the paper's Figure 4. */
function matmulGraph(): Graph {
  const t = (name: string) => ({ name, dtype: 'float32' as const, shape: [4, 4] });
  return {
    name: 'fig4',
    inputs: ['W1', 'W2'],
    outputs: ['W3'],
    tensors: new Map([['W1', t('W1')], ['W2', t('W2')], ['W3', t('W3')]]),
    nodes: [{ name: 'mm', opType: 'MatMul', domain: '', inputs: ['W1', 'W2'], outputs: ['W3'], attrs: {} }],
    opsetVersion: 17,
  };
}

/** Figure 3's view: rows of 0 (pruned) / bit width. */
function grid(a: SparsityAttr): number[][] {
  const w = a.toBitWidths();
  return [0, 1, 2, 3].map((r) => Array.from(w.slice(r * 4, r * 4 + 4)));
}

function attrWith(cells: [number, number][], rows: number[] = [], cols: number[] = []): SparsityAttr {
  const a = new SparsityAttr([4, 4]);
  for (const [r, c] of cells) a.prune(r * 4 + c);
  for (const r of rows) a.pruneRow(r);
  for (const c of cols) a.pruneCol(c);
  return a;
}

const D = 32;

describe('Figure 4: MatMul propagation', () => {
  it('(a) W2 third row and second column pruned: W3 second column and W1 third column follow', () => {
    const res = propagate(matmulGraph(), new Map([['W2', attrWith([], [2], [1])]]));
    expect(grid(res.attributes.get('W3')!)).toEqual([
      [D, 0, D, D],
      [D, 0, D, D],
      [D, 0, D, D],
      [D, 0, D, D],
    ]);
    expect(grid(res.attributes.get('W1')!)).toEqual([
      [D, D, 0, D],
      [D, D, 0, D],
      [D, D, 0, D],
      [D, D, 0, D],
    ]);
    expect(grid(res.attributes.get('W2')!)).toEqual([
      [D, 0, D, D],
      [D, 0, D, D],
      [0, 0, 0, 0],
      [D, 0, D, D],
    ]);
  });

  it('(b) W3 pruned column goes back to W2; a single pruned element [0,0] goes nowhere', () => {
    const res = propagate(matmulGraph(), new Map([['W3', attrWith([[0, 0]], [], [3])]]));
    expect(grid(res.attributes.get('W2')!)).toEqual([
      [D, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
    ]);
    expect(res.attributes.get('W1')!.count()).toBe(0);
    expect(grid(res.attributes.get('W3')!)).toEqual([
      [0, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
    ]);
  });

  it('(c) conflicting initial attributes on W1 and W3 resolve to the union of pruned elements and the lower precision', () => {
    const w1 = attrWith([], [1]);
    w1.setBits(0, 8);
    const w3 = attrWith([], [2], [3]);
    w3.setBits(0, 8);
    // W1 row 1 pruned ⇒ W3 row 1 zero; W3 row 2 pruned ⇒ W1 row 2 dead; W3 column 3 ⇒ W2 column 3.
    const res = propagate(matmulGraph(), new Map([['W1', w1], ['W3', w3]]));
    expect(grid(res.attributes.get('W1')!)).toEqual([
      [8, D, D, D],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [D, D, D, D],
    ]);
    expect(grid(res.attributes.get('W3')!)).toEqual([
      [8, D, D, 0],
      [0, 0, 0, 0],
      [0, 0, 0, 0],
      [D, D, D, 0],
    ]);
    expect(grid(res.attributes.get('W2')!)).toEqual([
      [D, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
      [D, D, D, 0],
    ]);
  });

  it('resolves two initial attributes of one tensor by union and lower precision', () => {
    const a = attrWith([[0, 1]]);
    a.setBits(3, 8);
    const b = attrWith([[2, 2]]);
    b.setBits(3, 4);
    b.setBits(5, 16);
    const res = propagate(matmulGraph(), new Map([['W2', a]]));
    const w2 = res.attributes.get('W2')!;
    w2.unionPruned(b);
    w2.lowerBits(b);
    expect(grid(w2)).toEqual([
      [D, 0, D, 4],
      [D, 16, D, D],
      [D, D, 0, D],
      [D, D, D, D],
    ]);
  });
});
