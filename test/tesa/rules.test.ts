/** Hand-written rules on small hand-built graphs: Conv, depthwise, Add, BatchNormalization, LayerNorm. */
import { describe, expect, it } from 'vitest';
import type { Graph, Node, Tensor } from '../../src/model/graph.js';
import { SparsityAttr } from '../../src/tesa/attributes.js';
import { propagate } from '../../src/tesa/propagate.js';
import { registerResolver, unionLowerPrecision } from '../../src/tesa/resolvers.js';

function graphOf(tensors: Tensor[], nodes: Omit<Node, 'domain' | 'attrs'>[] & { attrs?: Node['attrs'] }[], inputs: string[], outputs: string[]): Graph {
  return {
    name: 't',
    inputs,
    outputs,
    tensors: new Map(tensors.map((t) => [t.name, t])),
    nodes: nodes.map((n) => ({ domain: '', attrs: {}, ...n })) as Node[],
    opsetVersion: 17,
  };
}

const f = (name: string, shape: number[], data?: number[] | Float32Array): Tensor => ({ name, dtype: 'float32', shape, data: data ? Float32Array.from(data) : undefined });
const ones = (n: number) => new Float32Array(n).fill(1);

describe('Conv rules', () => {
  // x → conv1 (4→6) → relu → conv2 (6→3)
  const g = graphOf(
    [f('x', [1, 4, 5, 5]), f('w1', [6, 4, 3, 3], ones(216)), f('h', [1, 6, 5, 5]), f('r', [1, 6, 5, 5]), f('w2', [3, 6, 1, 1], ones(18)), f('b2', [3], [1, 1, 1]), f('y', [1, 3, 5, 5])],
    [
      { name: 'c1', opType: 'Conv', inputs: ['x', 'w1'], outputs: ['h'], attrs: { pads: { type: 'ints', value: [1, 1, 1, 1] } } },
      { name: 'relu', opType: 'Relu', inputs: ['h'], outputs: ['r'] },
      { name: 'c2', opType: 'Conv', inputs: ['r', 'w2', 'b2'], outputs: ['y'] },
    ],
    ['x'],
    ['y'],
  );

  it('a pruned output channel of conv1 (no bias) kills the matching input channel of conv2', () => {
    const w1 = new SparsityAttr([6, 4, 3, 3]);
    w1.pruneAlong(0, Uint8Array.from([0, 1, 0, 0, 1, 0]));
    const res = propagate(g, new Map([['w1', w1]]));
    const w2 = res.attributes.get('w2')!;
    expect(Array.from(w2.allPrunedAlong(1))).toEqual([0, 1, 0, 0, 1, 0]);
    expect(Array.from(res.attributes.get('r')!.allPrunedAlong(1))).toEqual([0, 1, 0, 0, 1, 0]);
  });

  it('a pruned input channel of conv2 kills conv1\'s output channel backward', () => {
    const w2 = new SparsityAttr([3, 6, 1, 1]);
    w2.pruneAlong(1, Uint8Array.from([1, 0, 0, 0, 0, 1]));
    const res = propagate(g, new Map([['w2', w2]]));
    expect(Array.from(res.attributes.get('w1')!.allPrunedAlong(0))).toEqual([1, 0, 0, 0, 0, 1]);
  });

  it('a pruned output channel of conv2 does not zero its output when its bias is not zero', () => {
    const w2 = new SparsityAttr([3, 6, 1, 1]);
    w2.pruneAlong(0, Uint8Array.from([0, 1, 0]));
    const res = propagate(g, new Map([['w2', w2]]));
    expect(res.attributes.get('y')!.count()).toBe(0);
  });
});

describe('depthwise, Add, BatchNormalization', () => {
  // x → dw (3 ch) → a; a + x → s → bn → y
  const g = graphOf(
    [
      f('x', [1, 3, 4, 4]), f('wd', [3, 1, 3, 3], ones(27)), f('a', [1, 3, 4, 4]), f('s', [1, 3, 4, 4]),
      f('sc', [3], [1, 1, 1]), f('bb', [3], [0, 0.5, 0]), f('mu', [3], [0, 0, 0]), f('va', [3], [1, 1, 1]), f('y', [1, 3, 4, 4]),
    ],
    [
      { name: 'dw', opType: 'Conv', inputs: ['x', 'wd'], outputs: ['a'], attrs: { group: { type: 'int', value: 3 }, pads: { type: 'ints', value: [1, 1, 1, 1] } } },
      { name: 'add', opType: 'Add', inputs: ['a', 'x'], outputs: ['s'] },
      { name: 'bn', opType: 'BatchNormalization', inputs: ['s', 'sc', 'bb', 'mu', 'va'], outputs: ['y'] },
    ],
    ['x'],
    ['y'],
  );

  it('a zero input channel goes through the depthwise conv and the Add, and BN keeps it only where its shift is zero', () => {
    const x = new SparsityAttr([1, 3, 4, 4]);
    x.pruneAlong(1, Uint8Array.from([1, 1, 0]));
    const res = propagate(g, new Map([['x', x]]));
    expect(Array.from(res.attributes.get('a')!.allPrunedAlong(1))).toEqual([1, 1, 0]);
    expect(Array.from(res.attributes.get('s')!.allPrunedAlong(1))).toEqual([1, 1, 0]);
    expect(Array.from(res.attributes.get('y')!.allPrunedAlong(1))).toEqual([1, 0, 0]);
    expect(Array.from(res.attributes.get('wd')!.allPrunedAlong(0))).toEqual([1, 1, 0]);
  });

  it('an Add input stays live while the other branch of the residual reads it', () => {
    const wd = new SparsityAttr([3, 1, 3, 3]);
    wd.pruneAlong(0, Uint8Array.from([0, 0, 1]));
    const res = propagate(g, new Map([['wd', wd]]));
    expect(res.attributes.get('x')!.count()).toBe(0);
  });
});

describe('LayerNormalization and Softmax are barriers forward', () => {
  const g = graphOf(
    [f('x', [2, 8]), f('gamma', [8], ones(8)), f('beta', [8], [0, 1, 0, 1, 0, 1, 0, 1]), f('n', [2, 8]), f('y', [2, 8])],
    [
      { name: 'ln', opType: 'LayerNormalization', inputs: ['x', 'gamma', 'beta'], outputs: ['n'] },
      { name: 'sm', opType: 'Softmax', inputs: ['n'], outputs: ['y'] },
    ],
    ['x'],
    ['y'],
  );
  it('a zero column does not pass; a whole zero row gives β (zero where β is)', () => {
    const x = new SparsityAttr([2, 8]);
    x.pruneCol(3);
    x.pruneRow(1);
    const res = propagate(g, new Map([['x', x]]));
    const n = res.attributes.get('n')!;
    expect(n.isPruned(3)).toBe(false);
    expect([8, 9, 10, 11, 12, 13, 14, 15].map((i) => n.isPruned(i))).toEqual([true, false, true, false, true, false, true, false]);
    expect(res.attributes.get('y')!.count()).toBe(0);
  });
});

describe('resolvers are pluggable', () => {
  it('a registered resolver replaces union/lower-precision', () => {
    const t = (name: string) => f(name, [2, 2]);
    const g = graphOf([t('a'), t('b'), t('y')], [{ name: 'mm', opType: 'MatMul', inputs: ['a', 'b'], outputs: ['y'] }], ['a', 'b'], ['y']);
    const a = new SparsityAttr([2, 2]);
    a.pruneRow(0);
    const calls: string[] = [];
    const prev = registerResolver({
      name: 'ignore-forward',
      merge(current, incoming, tensor) {
        calls.push(tensor);
        if (tensor === 'y') return false;
        return unionLowerPrecision.merge(current, incoming, tensor);
      },
    });
    try {
      const res = propagate(g, new Map([['a', a]]));
      expect(res.attributes.get('y')!.count()).toBe(0);
      expect(calls).toContain('y');
    } finally {
      registerResolver(prev);
    }
    expect(propagate(g, new Map([['a', a]])).attributes.get('y')!.rowAllPruned(0)).toBe(true);
  });
});
