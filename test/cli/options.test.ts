import { describe, expect, it } from 'vitest';
import { parseBudget, parseCount, parseDimBindings, parseDims, parseDuration, parseSearchId } from '../../src/cli/options.js';
import { TesaError } from '../../src/errors.js';

function badInput(fn: () => unknown): TesaError {
  try {
    fn();
  } catch (e) {
    if (e instanceof TesaError && e.code === 'BAD_INPUT') return e;
    throw e;
  }
  throw new Error('expected BAD_INPUT');
}

describe('option parsers', () => {
  it('parseDims', () => {
    expect(parseDims('1x3x224x224')).toEqual([1, 3, 224, 224]);
    expect(parseDims('1,128')).toEqual([1, 128]);
    expect(parseDims('7')).toEqual([7]);
    for (const bad of ['', '1x', 'x1', '0x3', '-1x2', '1.5x2', 'axb', '1x99999999999999999']) {
      expect(badInput(() => parseDims(bad, '--shape')).message).toContain(`--shape '${bad}'`);
    }
  });

  it('parseDimBindings', () => {
    expect(parseDimBindings('batch=1,seq=128')).toEqual({ batch: 1, seq: 128 });
    for (const bad of ['batch', 'batch=0', '=3', 'batch=1,', 'a=b']) badInput(() => parseDimBindings(bad));
  });

  it('parseBudget: a ratio in (0, 1] or an absolute time', () => {
    expect(parseBudget('0.7')).toEqual({ ratio: 0.7 });
    expect(parseBudget('1')).toEqual({ ratio: 1 });
    expect(parseBudget('.5')).toEqual({ ratio: 0.5 });
    expect(parseBudget('12ms')).toEqual({ ms: 12 });
    expect(parseBudget('12 ms')).toEqual({ ms: 12 });
    expect(parseBudget('1.5s')).toEqual({ ms: 1500 });
    for (const bad of ['0', '1.2', '-0.5', 'abc', '0ms', '12us', '']) {
      expect(badInput(() => parseBudget(bad)).message).toContain(`--latency-budget '${bad}'`);
    }
  });

  it('parseDuration', () => {
    expect(parseDuration('90s')).toBe(90_000);
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('2h')).toBe(7_200_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('45')).toBe(45_000);
    for (const bad of ['', '0s', 'm', '10x', '1h-5m', 'ten minutes']) badInput(() => parseDuration(bad));
  });

  it('parseCount and parseSearchId', () => {
    expect(parseCount('0', '--seed')).toBe(0);
    expect(parseCount('40', '--max-trials', 1)).toBe(40);
    expect(badInput(() => parseCount('0', '--max-trials', 1)).message).toBe("--max-trials '0': expected an integer ≥ 1");
    for (const bad of ['-1', '1.5', 'x', '']) badInput(() => parseCount(bad, '--seed'));
    expect(parseSearchId('12')).toBe(12);
    for (const bad of ['0', '-3', '1e3', 'abc']) expect(badInput(() => parseSearchId(bad)).message).toBe(`search id '${bad}' is not a positive integer`);
  });
});
