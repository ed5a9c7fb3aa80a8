import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TesaError } from '../../src/errors.js';
import { loadModel } from '../../src/model/load.js';
import { createOrtSession, runOrt } from '../../src/model/ort.js';
import { randomInputs } from '../../src/model/inputs.js';
import { inferShapes } from '../../src/model/shape-inference.js';
import { mlp } from './hand-graphs.js';

async function rejection(p: Promise<unknown>): Promise<TesaError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(TesaError);
    return e as TesaError;
  }
  throw new Error('expected a TesaError');
}

describe('loadModel', () => {
  it('loads zoo:NAME through the zoo, folded and with source metadata', async () => {
    const g = await loadModel('zoo:mlp');
    expect(g.metadata?.source).toBe('zoo:mlp');
    expect(g.nodes.every((n) => n.opType !== 'Identity')).toBe(true);
  });

  it('unknown zoo names, --dim on zoo models, directories and missing files are one clear error each', async () => {
    const e1 = await rejection(loadModel('zoo:nope'));
    expect(e1.code).toBe('NOT_FOUND');
    expect(e1.hint).toMatch(/mlp/);
    expect((await rejection(loadModel('zoo:mlp', { dims: { batch: 2 } }))).message).toBe('--dim does not apply to zoo:mlp: zoo models have fixed shapes');
    const dir = mkdtempSync(join(tmpdir(), 'tesa-load-'));
    try {
      expect((await rejection(loadModel(dir))).message).toBe(`${dir} is a directory, not an .onnx file`);
      const missing = await rejection(loadModel(join(dir, 'm.onnx')));
      expect(missing.code).toBe('NOT_FOUND');
      expect(missing.message).toBe(`${join(dir, 'm.onnx')}: no such file`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('onnxruntime runner', () => {
  it('a session runs repeatedly with the same result and fetches intermediate tensors on request', async () => {
    const g = mlp();
    inferShapes(g);
    const feeds = randomInputs(g, 11);
    const session = await createOrtSession(g, { threads: 1 });
    try {
      const a = await session.run(feeds);
      const b = await session.run(feeds);
      expect(a.get('head_out0')!.data).toEqual(b.get('head_out0')!.data);
      expect(session.inputNames).toEqual(['x']);
    } finally {
      await session.release();
    }
    const hidden = g.nodes[1].outputs[0];
    const out = await runOrt(g, feeds, { outputs: [hidden] });
    expect([...out.keys()]).toEqual([hidden]);
    expect(out.get(hidden)!.shape).toEqual([3, 32]);
    expect(Array.from(out.get(hidden)!.data as Float32Array).every((v) => v >= 0)).toBe(true);
  });

  it('names a feed the graph does not have', async () => {
    const g = mlp();
    inferShapes(g);
    const e = await rejection(runOrt(g, { y: new Float32Array(24) }));
    expect(e.message).toBe("graph 'mlp' has no input 'y'");
  });
});
