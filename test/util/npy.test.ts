/** .npy files: what we write numpy reads with the same dtype, shape and values, and back. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeNpy, encodeNpy, readNpy, writeNpy } from '../../src/util/npy.js';

const dir = mkdtempSync(join(tmpdir(), 'tesa-npy-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const py = (code: string) => execFileSync('python3', ['-c', code], { encoding: 'utf8' }).trim();

describe('npy', () => {
  it('numpy reads uint8, bool, float32, int64 arrays we write, with their shapes', () => {
    const u8 = Uint8Array.from({ length: 24 }, (_, i) => i % 3);
    writeNpy(join(dir, 'u8.npy'), u8, [2, 3, 4]);
    writeNpy(join(dir, 'b.npy'), Uint8Array.from([1, 0, 1]), [3], { bool: true });
    writeNpy(join(dir, 'f.npy'), Float32Array.from([1.5, -2, 3.25, 0]), [2, 2]);
    writeNpy(join(dir, 'i.npy'), BigInt64Array.from([5n, -7n]), [2]);
    writeNpy(join(dir, 's.npy'), Float32Array.from([42]), []);
    const out = JSON.parse(
      py(`import numpy as np, json
d = ${JSON.stringify(dir)}
r = {}
for n in ['u8', 'b', 'f', 'i', 's']:
    a = np.load(d + '/' + n + '.npy')
    r[n] = [str(a.dtype), list(a.shape), a.ravel().tolist()]
print(json.dumps(r))`),
    ) as Record<string, [string, number[], number[]]>;
    expect(out.u8).toEqual(['uint8', [2, 3, 4], [...u8]]);
    expect(out.b).toEqual(['bool', [3], [true, false, true]]);
    expect(out.f).toEqual(['float32', [2, 2], [1.5, -2, 3.25, 0]]);
    expect(out.i).toEqual(['int64', [2], [5, -7]]);
    expect(out.s).toEqual(['float32', [], [42]]);
  });

  it('reads what numpy writes (float64, int32, a long header)', () => {
    py(`import numpy as np; np.save(${JSON.stringify(join(dir, 'np64.npy'))}, np.arange(12, dtype=np.float64).reshape(3, 4)); np.save(${JSON.stringify(join(dir, 'np32.npy'))}, np.arange(5, dtype=np.int32))`);
    const a = readNpy(join(dir, 'np64.npy'));
    expect(a.dtype).toBe('<f8');
    expect(a.shape).toEqual([3, 4]);
    expect([...(a.data as Float64Array)]).toEqual([...Array(12).keys()]);
    const b = readNpy(join(dir, 'np32.npy'));
    expect(b.shape).toEqual([5]);
    expect([...(b.data as Int32Array)]).toEqual([0, 1, 2, 3, 4]);
  });

  it('round-trips and keeps the data 64-byte aligned', () => {
    const buf = encodeNpy(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2]);
    expect((buf.readUInt16LE(8) + 10) % 64).toBe(0);
    const back = decodeNpy(buf);
    expect(back.shape).toEqual([3, 2]);
    expect([...(back.data as Float32Array)]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('refuses a file that is not .npy, Fortran order, big-endian, and a wrong shape', () => {
    writeFileSync(join(dir, 'bad.npy'), 'hello');
    expect(() => readNpy(join(dir, 'bad.npy'))).toThrow(/not a readable .npy/);
    py(`import numpy as np; np.save(${JSON.stringify(join(dir, 'fo.npy'))}, np.asfortranarray(np.ones((2, 3), dtype=np.float32))); np.save(${JSON.stringify(join(dir, 'be.npy'))}, np.ones(3, dtype='>f4'))`);
    expect(() => readNpy(join(dir, 'fo.npy'))).toThrow(/Fortran/);
    expect(() => readNpy(join(dir, 'be.npy'))).toThrow(/dtype >f4/);
    expect(() => encodeNpy(Float32Array.from([1, 2, 3]), [2, 2])).toThrow(/holds 4 elements/);
    expect(() => readNpy(join(dir, 'missing.npy'))).toThrow(/cannot read/);
  });
});
