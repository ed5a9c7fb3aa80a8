import { describe, expect, it } from 'vitest';
import { broadcastView, mergeDims, reshapeView, storageOrder, stridesInOrder, transposeView } from '../../../../backends/cuda/model/views.js';
import type { View } from '../../../../backends/cuda/model/program.js';

const v = (shape: number[], strides: number[], offset = 0): View => ({ buf: 0, offset, shape, strides });

describe('view algebra', () => {
  it('splits a feature-major hidden dim into heads without a copy', () => {
    // [B=2, S=3, 8] stored feature-major: token stride 1, feature stride 6.
    const x = v([2, 3, 8], [3, 1, 6]);
    expect(reshapeView(x, [2, 3, 2, 4])).toEqual(v([2, 3, 2, 4], [3, 1, 24, 6]));
  });

  it('refuses to merge dims that are not contiguous with each other', () => {
    const ctx = transposeView(v([2, 2, 3, 4], [24, 12, 4, 1]), [0, 2, 1, 3]); // [B, S, H, D] from row-major [B, H, S, D]
    expect(reshapeView(ctx, [2, 3, 8])).toBeNull();
    // …but merges them when they are.
    const ok = transposeView(v([2, 2, 3, 4], [24, 4, 8, 1]), [0, 2, 1, 3]);
    expect(reshapeView(ok, [2, 3, 8])).toEqual(v([2, 3, 8], [24, 8, 1]));
  });

  it('keeps broadcast (zero) strides through a reshape and handles size-1 dims', () => {
    const bias = broadcastView(v([8], [1]), [2, 3, 8]);
    expect(bias.strides).toEqual([0, 0, 1]);
    expect(reshapeView(bias, [2, 3, 2, 4])!.strides).toEqual([0, 0, 4, 1]);
    expect(reshapeView(v([1, 6], [6, 1]), [6])).toEqual(v([6], [1]));
    expect(reshapeView(v([6], [1]), [1, 6, 1])!.shape).toEqual([1, 6, 1]);
    expect(reshapeView(v([6], [1]), [4])).toBeNull();
  });

  it('orders dims by stride and packs a layout in that order', () => {
    expect(storageOrder([2, 3, 8], [3, 1, 6])).toEqual([2, 0, 1]);
    expect(stridesInOrder([2, 3, 8], [2, 0, 1])).toEqual([3, 1, 6]);
  });

  it('merges dims that walk memory together in every view', () => {
    // out feature-major [2,3,8], bias broadcast over tokens: the two token dims merge.
    const m = mergeDims([2, 3, 8], [[3, 1, 6], [0, 0, 1]], [2, 0, 1]);
    expect(m).toEqual({ shape: [8, 6], strides: [[6, 1], [1, 0]] });
    const n = mergeDims([2, 3], [[3, 1], [1, 2]], [0, 1]);
    expect(n.shape).toEqual([2, 3]);
  });
});
