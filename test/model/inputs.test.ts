import { describe, expect, it } from 'vitest';
import { randomInputs } from '../../src/model/inputs.js';
import { attention, HandGraph, int } from './hand-graphs.js';

describe('randomInputs', () => {
  it('is a pure function of graph and seed', () => {
    const g = attention();
    expect(randomInputs(g, 4)).toEqual(randomInputs(g, 4));
    expect(randomInputs(g, 4).input_ids).not.toEqual(randomInputs(g, 5).input_ids);
  });

  it('draws Gather indices inside the table (also through a Cast), masks all ones, floats standard normal', () => {
    const b = new HandGraph('feeds');
    const ids = b.input('token_ids', 'int64', [1, 4000]);
    const pos = b.input('positions', 'int32', [1, 4000]);
    b.input('attention_mask', 'int64', [1, 4000]);
    b.input('x', 'float32', [20000]);
    b.op1('Gather', [b.weight('vocab', [30, 4]), ids]);
    b.op1('Gather', [b.weight('pos_table', [2, 7]), b.op1('Cast', [pos], { to: int(7) })], { axis: int(1) });
    const f = randomInputs(b.graph([]), 9);
    const idv = Array.from(f.token_ids as BigInt64Array, Number);
    expect(Math.min(...idv)).toBe(0);
    expect(Math.max(...idv)).toBe(29);
    const pv = Array.from(f.positions as Int32Array);
    expect(Math.min(...pv)).toBe(0);
    expect(Math.max(...pv)).toBe(6);
    expect(Array.from(f.attention_mask as BigInt64Array).every((v) => v === 1n)).toBe(true);
    const xs = Array.from(f.x as Float32Array);
    const mean = xs.reduce((a, v) => a + v, 0) / xs.length;
    const sd = Math.sqrt(xs.reduce((a, v) => a + (v - mean) ** 2, 0) / xs.length);
    expect(Math.abs(mean)).toBeLessThan(0.03);
    expect(Math.abs(sd - 1)).toBeLessThan(0.03);
  });
});
