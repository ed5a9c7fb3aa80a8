import { describe, expect, it } from 'vitest';
import { chooseIsa, cpuFingerprint, findCompiler, kernelFlags, readCpuInfo } from '../../../backends/cpu/fingerprint.js';
import { TesaError } from '../../../src/errors.js';

const CPUINFO = `processor\t: 0\nmodel name\t: Test CPU 9000\nflags\t\t: fpu sse4_2 avx avx2 fma avx512f avx512_vnni\n`;

describe('fingerprint', () => {
  it('reads the CPU model and its vector flags', () => {
    const info = readCpuInfo(CPUINFO);
    expect(info.model).toBe('Test CPU 9000');
    expect(info.flags).toEqual(['sse4_2', 'avx', 'avx2', 'fma', 'avx512f', 'avx512_vnni']);
  });

  it('chooses AVX-512 when present, AVX2 when asked, refuses what the CPU lacks', () => {
    expect(chooseIsa(['avx2', 'fma', 'avx512f'], undefined)).toBe('avx512');
    expect(chooseIsa(['avx2', 'fma', 'avx512f'], 'avx2')).toBe('avx2');
    expect(chooseIsa(['avx2', 'fma'], '')).toBe('avx2');
    expect(() => chooseIsa(['avx2', 'fma'], 'avx512')).toThrow(TesaError);
    expect(() => chooseIsa(['avx2'], 'sse9')).toThrow(/unknown ISA/);
  });

  it('adds -fopenmp only for more than one thread; the id changes with threads and ISA', () => {
    expect(kernelFlags(1)).not.toContain('-fopenmp');
    expect(kernelFlags(2)).toContain('-fopenmp');
    const a = cpuFingerprint({ threads: 1, isa: 'avx2' });
    const b = cpuFingerprint({ threads: 2, isa: 'avx2' });
    const c = cpuFingerprint({ threads: 1, isa: 'generic' });
    expect(new Set([a.id, b.id, c.id]).size).toBe(3);
    expect(cpuFingerprint({ threads: 1, isa: 'avx2' }).id).toBe(a.id);
    expect(a.details.compilerVersion).toMatch(/\d+\.\d+/);
  });

  it('a missing compiler is a TesaError with an install hint', () => {
    try {
      findCompiler({ CC: '/nonexistent/cc', PATH: '/nonexistent' });
      throw new Error('expected failure');
    } catch (e) {
      expect(e).toBeInstanceOf(TesaError);
      expect((e as TesaError).message).toContain('no C compiler found (tried /nonexistent/cc, cc, gcc)');
      expect((e as TesaError).hint).toContain('apt-get install gcc');
    }
  });
});
