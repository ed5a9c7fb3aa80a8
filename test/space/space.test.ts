import { describe, expect, it } from 'vitest';
import type { Capabilities } from '../../backends/backend.js';
import type { Graph, Tensor } from '../../src/model/graph.js';
import { buildSearchSpace } from '../../src/space/build.js';
import { candidateHash, canonicalJson, normalizeCandidate } from '../../src/space/hash.js';
import { defaultPatterns, parsePatternList } from '../../src/space/patterns.js';
import type { LayerGroup } from '../../src/tesa/layer-group.js';

function weight(name: string, shape: number[], scale: number): Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = scale * (((i * 7919) % 13) - 6) / 6;
  return { name, dtype: 'float32', shape, data };
}

const graph: Graph = {
  name: 'g',
  inputs: [],
  outputs: [],
  nodes: [],
  opsetVersion: 17,
  tensors: new Map([
    ['w1', weight('w1', [64, 128], 1)],
    ['w2', weight('w2', [128, 64], 0.5)],
    ['w3', weight('w3', [64, 32], 2)],
  ]),
};

const groups: LayerGroup[] = [
  { id: 'hidden', kind: 'residual', members: [{ weight: 'w1', node: 'n1', axis: 1 }, { weight: 'w2', node: 'n2', axis: 0 }], size: 128, unit: 1, coarsePrunable: true, owned: ['w1', 'w2'] },
  { id: 'head', kind: 'single', members: [{ weight: 'w3', node: 'n3', axis: 1 }], size: 32, unit: 1, coarsePrunable: false, owned: ['w3'] },
  { id: 'empty', kind: 'chain', members: [], size: 8, unit: 1, coarsePrunable: true, owned: [] },
];

const caps: Capabilities = { patterns: ['fine', 'block', 'row', 'channel'], blockShapes: [[1, 32], [32, 1]], precisions: ['fp32'], channelMultiple: 8 };

describe('search space', () => {
  it('one variable set per group that owns weights; coarse only where the group allows it', () => {
    const space = buildSearchSpace(graph, groups, caps, { patterns: ['block:1x32', 'row', 'fine'], precisions: ['fp32'], groups: 'on' });
    expect(space.groups.map((g) => g.id)).toEqual(['hidden', 'head']);
    expect(space.groups[0]!.patterns).toEqual(['block:1x32', 'row', 'fine']);
    expect(space.groups[1]!.patterns).toEqual(['block:1x32', 'fine']);
    expect(space.groups[0]!.parameters).toBe(64 * 128 * 2);
    const meanImportance = space.groups.reduce((a, g) => a + g.importance, 0) / space.groups.length;
    expect(meanImportance).toBeCloseTo(1, 9);
    expect(space.groups[1]!.importance).toBeGreaterThan(space.groups[0]!.importance);
  });

  it('groups off: one variable per prunable weight, not coupled', () => {
    const space = buildSearchSpace(graph, groups, caps, { patterns: ['fine'], precisions: ['fp32'], groups: 'off' });
    expect(space.groups.map((g) => [g.id, g.coupled])).toEqual([['w1', false], ['w2', false], ['w3', false]]);
  });

  it('drops patterns the backend cannot run, and refuses when none is left', () => {
    const space = buildSearchSpace(graph, groups, caps, { patterns: ['block:4x4', 'fine'], precisions: ['fp32'], groups: 'on' });
    expect(space.groups[0]!.patterns).toEqual(['fine']);
    expect(() => buildSearchSpace(graph, groups, caps, { patterns: ['nm:2:4'], precisions: ['fp32'], groups: 'on' })).toThrow(/no(ne of)? .*kernels on this backend/);
    expect(() => buildSearchSpace(graph, groups, caps, { patterns: ['fine'], precisions: ['int8'], groups: 'on' })).toThrow(/--precisions/);
  });

  it('default patterns: what the CPU accelerates', () => {
    expect(defaultPatterns(caps)).toEqual(['block:1x32', 'fine', 'row', 'channel']);
  });

  it('pattern lists are validated', () => {
    expect(parsePatternList('block:1x32, fine')).toEqual(['block:1x32', 'fine']);
    expect(() => parsePatternList('block:0x3')).toThrow(/--patterns/);
    expect(() => parsePatternList('')).toThrow(/empty/);
    expect(() => parsePatternList('dense')).toThrow(/--patterns/);
  });
});

describe('candidate hash', () => {
  const space = buildSearchSpace(graph, groups, caps, { patterns: ['block:1x32', 'row', 'fine'], precisions: ['fp32'], groups: 'on' });
  it('does not depend on key order and rounds ratios to the step', () => {
    const a = { groups: { hidden: { ratio: 0.5, pattern: 'row', precision: 'fp32' as const }, head: { ratio: 0.3, pattern: 'fine', precision: 'fp32' as const } } };
    const b = { groups: { head: { precision: 'fp32' as const, pattern: 'fine', ratio: 0.30000000000000004 }, hidden: { pattern: 'row', ratio: 0.51, precision: 'fp32' as const } } };
    expect(candidateHash(a, space)).toBe(candidateHash(b, space));
    const c = { groups: { ...a.groups, hidden: { ...a.groups.hidden, ratio: 0.55 } } };
    expect(candidateHash(c, space)).not.toBe(candidateHash(a, space));
  });
  it('a group at ratio 0 in fp32 is the same as an absent one', () => {
    const a = { groups: { hidden: { ratio: 0.5, pattern: 'row', precision: 'fp32' as const } } };
    const b = { groups: { ...a.groups, head: { ratio: 0, pattern: 'fine', precision: 'fp32' as const } } };
    expect(candidateHash(a, space)).toBe(candidateHash(b, space));
    expect(normalizeCandidate(b, space)).toEqual(a);
  });
  it('canonical JSON sorts keys at every level', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[2,{"y":2,"z":1}]},"b":1}');
  });
});
