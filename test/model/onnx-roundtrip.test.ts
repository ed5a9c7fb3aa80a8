import { describe, expect, it } from 'vitest';
import type { Attr, Graph, TensorData } from '../../src/model/graph.js';
import { cloneGraph } from '../../src/model/graph.js';
import { exportOnnx } from '../../src/model/onnx/export.js';
import { importOnnx } from '../../src/model/onnx/import.js';
import { inferShapes } from '../../src/model/shape-inference.js';
import { simplifyGraph } from '../../src/model/fold.js';
import { runOrt } from '../../src/model/ort.js';
import { randomInputs } from '../../src/model/inputs.js';
import { attention, convNet, mlp } from './hand-graphs.js';

function structure(g: Graph): unknown {
  return {
    inputs: g.inputs.map((i) => ({ name: i, ...shapeOf(g, i) })),
    outputs: g.outputs.map((o) => ({ name: o, ...shapeOf(g, o) })),
    nodes: g.nodes.map((n) => ({ name: n.name, op: n.opType, inputs: n.inputs, outputs: n.outputs, attrs: float32Attrs(n.attrs) })),
    constants: [...g.tensors.values()].filter((t) => t.data).sort((a, b) => (a.name < b.name ? -1 : 1)).map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: Array.from(t.data as ArrayLike<number | bigint>, String) })),
  };
}

/** ONNX stores float attributes as float32. */
function float32Attrs(attrs: Record<string, Attr>): Record<string, Attr> {
  const out: Record<string, Attr> = {};
  for (const [k, a] of Object.entries(attrs)) {
    out[k] = a.type === 'float' ? { type: 'float', value: Math.fround(a.value) } : a.type === 'floats' ? { type: 'floats', value: a.value.map(Math.fround) } : a;
  }
  return out;
}

function shapeOf(g: Graph, name: string): { dtype: string; shape: number[] } {
  const t = g.tensors.get(name)!;
  return { dtype: t.dtype, shape: t.shape };
}

export function maxRelErr(a: TensorData, b: TensorData): number {
  expect(a.length).toBe(b.length);
  const x = Array.from(a as ArrayLike<number>, Number);
  const y = Array.from(b as ArrayLike<number>, Number);
  const scale = Math.max(1e-6, ...y.map(Math.abs));
  return Math.max(0, ...x.map((v, i) => Math.abs(v - y[i]) / scale));
}

const cases: [string, () => Graph][] = [
  ['MLP with Gemm', mlp],
  ['conv net with BatchNormalization and pools', convNet],
  ['attention block with mask arithmetic and Erf GELU', attention],
];

describe('ONNX export → import round trip', () => {
  for (const [label, make] of cases) {
    it(`${label}: same structure and same onnxruntime outputs`, async () => {
      const original = make();
      inferShapes(original);
      const bytes = exportOnnx(original);
      const imported = importOnnx(bytes, { source: `${original.name}.onnx` });

      const expected = cloneGraph(original);
      simplifyGraph(expected);
      expect(structure(imported)).toEqual(structure(expected));
      expect(imported.opsetVersion).toBe(17);
      expect(imported.metadata?.built).toBe('by hand');

      const feeds = randomInputs(original, 7);
      const before = await runOrt(original, feeds);
      const after = await runOrt(imported, feeds);
      for (const name of original.outputs) {
        expect(after.get(name)!.shape).toEqual(before.get(name)!.shape);
        expect(maxRelErr(after.get(name)!.data, before.get(name)!.data)).toBeLessThanOrEqual(1e-6);
      }
      // A second round trip is a fixed point: export(import(export(g))) has the same bytes.
      const again = importOnnx(exportOnnx(imported), { source: `${original.name}.onnx` });
      expect(Buffer.from(exportOnnx(again)).equals(Buffer.from(exportOnnx(imported)))).toBe(true);
    });
  }
});
