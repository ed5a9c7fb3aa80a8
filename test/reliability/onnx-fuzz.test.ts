/**
 * Bad ONNX input, generated from real fixtures with a seeded generator: byte-level damage
 * (truncation, bit flips) and structural damage (huge/negative/zero dims, cycles, missing
 * initializers, wrong dtypes, raw_data of the wrong length, empty graph, duplicate names).
 * In process, loadModel must return a graph or throw a TesaError — never another exception,
 * never a hang. Through the real CLI (`tesa inspect`), a sample of the same cases must exit
 * 0 or 2 with a single `tesa:` line, no stack, no signal.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelProtoType } from '../../src/model/onnx/schema.js';
import { loadModel } from '../../src/model/load.js';
import { isTesaError } from '../../src/errors.js';
import { packageRoot } from '../../src/util/package-root.js';
import { cases, int, isCrash, pick, recordSummary, rejectionProblem, rng, tempDir, tesa, type Rng } from './helpers.js';

const fixtures = ['mlp_op13.onnx', 'mlp_op17.onnx', 'resnet_bn_op13.onnx', 'bert_op13.onnx'].map((f) => ({
  name: f,
  bytes: new Uint8Array(readFileSync(join(packageRoot(), 'test', 'fixtures', 'onnx', f))),
}));

const tmp = tempDir('tesa-onnx-fuzz-');
afterAll(() => tmp.cleanup());

type Json = Record<string, unknown>;
interface ModelJson {
  graph: { node?: Json[]; initializer?: Json[]; input?: Json[]; output?: Json[]; name?: string };
  [k: string]: unknown;
}

function toJson(bytes: Uint8Array): ModelJson {
  return ModelProtoType.toObject(ModelProtoType.decode(bytes), { longs: Number, bytes: Array, defaults: false }) as ModelJson;
}
function fromJson(m: ModelJson): Uint8Array {
  return ModelProtoType.encode(ModelProtoType.fromObject(m)).finish();
}

/** Each mutation damages a decoded model in one named way. */
const structural: Record<string, (m: ModelJson, r: Rng) => void> = {
  'huge dim': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    t.dims = [2 ** 40, ...((t.dims as number[] | undefined) ?? []).slice(1)];
  },
  'negative dim': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    t.dims = ((t.dims as number[] | undefined) ?? [1]).map((d, i) => (i === 0 ? -d : d));
  },
  'zero dim': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    t.dims = ((t.dims as number[] | undefined) ?? [1]).map(() => 0);
  },
  'huge input dim': (m, r) => {
    const i = pick(r, m.graph.input ?? [{}]) as { type?: { tensorType?: { shape?: { dim?: Json[] } } } };
    const dims = i.type?.tensorType?.shape?.dim;
    if (dims && dims.length) dims[dims.length - 1] = { dimValue: pick(r, [2 ** 33, -7, 0]) };
  },
  cycle: (m) => {
    const nodes = m.graph.node ?? [];
    if (nodes.length >= 2) {
      const first = nodes[0] as { input?: string[] };
      const last = nodes[nodes.length - 1] as { output?: string[] };
      first.input = [...(first.input ?? [])];
      first.input[0] = (last.output ?? ['x'])[0];
    }
  },
  'self loop': (m, r) => {
    const n = pick(r, m.graph.node ?? [{}]) as { input?: string[]; output?: string[] };
    n.input = [(n.output ?? ['y'])[0], ...(n.input ?? []).slice(1)];
  },
  'missing initializer': (m, r) => {
    const inits = m.graph.initializer ?? [];
    if (inits.length) inits.splice(int(r, 0, inits.length - 1), 1);
  },
  'wrong dtype': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    t.dataType = pick(r, [0, 8, 9, 12, 14, 16, 99, -3]);
  },
  'raw_data too short': (m, r) => {
    const withRaw = (m.graph.initializer ?? []).filter((t) => Array.isArray(t.rawData) && (t.rawData as number[]).length > 4);
    if (withRaw.length) {
      const t = pick(r, withRaw);
      t.rawData = (t.rawData as number[]).slice(0, int(r, 0, (t.rawData as number[]).length - 1));
    }
  },
  'raw_data too long': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    t.rawData = [...((t.rawData as number[] | undefined) ?? []), 1, 2, 3];
  },
  'float_data of the wrong count': (m, r) => {
    const t = pick(r, m.graph.initializer ?? [{}]);
    delete t.rawData;
    t.floatData = [1, 2, 3];
  },
  'empty graph': (m) => {
    m.graph = { name: 'empty' };
  },
  'no nodes': (m) => {
    m.graph.node = [];
  },
  'no outputs': (m) => {
    m.graph.output = [];
  },
  'duplicate node names': (m) => {
    for (const n of m.graph.node ?? []) n.name = 'same';
  },
  'duplicate outputs': (m) => {
    const nodes = m.graph.node ?? [];
    if (nodes.length >= 2) (nodes[1] as { output?: string[] }).output = [...((nodes[0] as { output?: string[] }).output ?? [])];
  },
  'duplicate initializer names': (m) => {
    const inits = m.graph.initializer ?? [];
    for (const t of inits) t.name = inits[0]?.name;
  },
  'unknown op': (m, r) => {
    (pick(r, m.graph.node ?? [{}]) as Json).opType = pick(r, ['NoSuchOp', '', 'Loop', 'If']);
  },
  'no opset': (m) => {
    m.opsetImport = [];
  },
  'dangling input': (m, r) => {
    const n = pick(r, m.graph.node ?? [{}]) as { input?: string[] };
    n.input = ['no-such-tensor', ...(n.input ?? []).slice(1)];
  },
  'attribute of the wrong type': (m, r) => {
    const n = pick(r, m.graph.node ?? [{}]) as { attribute?: Json[] };
    n.attribute = [{ name: pick(r, ['axis', 'transB', 'kernel_shape', 'perm', 'alpha']), type: pick(r, [1, 2, 3, 7, 99]), s: [1, 2] }];
  },
};

function byteDamage(bytes: Uint8Array, r: Rng): { kind: string; bytes: Uint8Array } {
  if (r() < 0.4) {
    const n = int(r, 0, bytes.length - 1);
    return { kind: `truncated to ${n} bytes`, bytes: bytes.slice(0, n) };
  }
  const out = bytes.slice();
  const flips = int(r, 1, 8);
  for (let i = 0; i < flips; i++) out[int(r, 0, out.length - 1)] ^= 1 << int(r, 0, 7);
  return { kind: `${flips} bits flipped`, bytes: out };
}

function generate(seed: string, count: number): Array<{ label: string; bytes: Uint8Array }> {
  const r = rng(seed);
  const kinds = Object.keys(structural);
  const out: Array<{ label: string; bytes: Uint8Array }> = [];
  for (let i = 0; i < count; i++) {
    const fx = pick(r, fixtures);
    if (i % 3 === 0) {
      const d = byteDamage(fx.bytes, r);
      out.push({ label: `${fx.name}: ${d.kind}`, bytes: d.bytes });
    } else {
      const kind = kinds[i % kinds.length];
      const m = toJson(fx.bytes);
      structural[kind](m, r);
      out.push({ label: `${fx.name}: ${kind}`, bytes: fromJson(m) });
    }
  }
  return out;
}

describe('ONNX importer under bad input', () => {
  it('in process: a graph or a TesaError, never another exception', async () => {
    const all = generate('onnx-fuzz-in-process', cases(66, 1200));
    const crashes: string[] = [];
    let rejected = 0;
    for (const [i, c] of all.entries()) {
      const file = join(tmp.dir, `case-${i}.onnx`);
      writeFileSync(file, c.bytes);
      try {
        await loadModel(file);
      } catch (e) {
        if (isTesaError(e)) rejected++;
        else crashes.push(`${c.label}: ${(e as Error).stack?.split('\n').slice(0, 3).join(' | ')}`);
      }
    }
    console.log(`onnx fuzz in process: ${all.length} cases, ${rejected} rejected, ${crashes.length} crashes`);
    recordSummary({ suite: 'ONNX importer fuzz, in process', badInputs: all.length, crashes: crashes.length, note: `${rejected} rejected, the rest imported` });
    expect(crashes).toEqual([]);
    // Every kind of structural damage is mostly rejected: a suite that accepts everything tests nothing.
    expect(rejected).toBeGreaterThan(all.length / 3);
  });

  it('through `tesa inspect`: exit 0 or one tesa line and exit 2', async () => {
    const all = generate('onnx-fuzz-cli', cases(5, 120));
    const problems: string[] = [];
    let crashes = 0;
    for (const [i, c] of all.entries()) {
      const file = join(tmp.dir, `cli-${i}.onnx`);
      writeFileSync(file, c.bytes);
      const o = await tesa(['inspect', file]);
      if (isCrash(o)) crashes++;
      if (o.code === 0 && !isCrash(o)) continue;
      const p = rejectionProblem(o);
      if (p) problems.push(`${c.label}: ${p}`);
    }
    console.log(`onnx fuzz through the CLI: ${all.length} cases, ${problems.length} problems`);
    recordSummary({ suite: 'ONNX importer fuzz, through tesa inspect', badInputs: all.length, crashes, note: `${problems.length} wrong answers` });
    expect(problems).toEqual([]);
  });
});
