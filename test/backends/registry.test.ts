import { describe, expect, it } from 'vitest';
import { getBackend, knownTargets } from '../../backends/registry.js';
import { TesaError } from '../../src/errors.js';
import { tempCache } from './cpu/helpers.js';

describe('backend registry', () => {
  it('finds cpu', async () => {
    const c = tempCache();
    const b = getBackend('cpu', { cacheDir: c.dir });
    expect(b.name).toBe('cpu');
    expect((await b.fingerprint()).target).toBe('cpu');
    expect(b.capabilities().precisions).toContain('fp32');
    await b.close();
    c.cleanup();
  });
  it('an unknown target names --target and the known list', () => {
    expect(knownTargets()).toContain('cpu');
    try {
      getBackend('tpu');
      throw new Error('expected failure');
    } catch (e) {
      expect(e).toBeInstanceOf(TesaError);
      expect((e as TesaError).code).toBe('BAD_INPUT');
      expect((e as TesaError).message).toContain('--target');
      expect((e as TesaError).hint).toContain('cpu');
    }
  });
});
