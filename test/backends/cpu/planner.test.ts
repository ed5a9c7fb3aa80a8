/**
 * Planning on hand-built graphs (pure logic): epilogue fusion (bias, exported GELU, residual,
 * Conv+bias+Clip), views as aliases, and the arena plan (reuse without overlap).
 */
import { describe, expect, it } from 'vitest';
import { GraphBuilder } from '../../../src/model/graph-builder.js';
import { planGraph } from '../../../backends/cpu/planner.js';
import { layoutModel } from '../../../backends/cpu/manifest.js';
import { cpuFingerprint } from '../../../backends/cpu/fingerprint.js';
import { buildZooModel } from '../../../src/model/zoo/index.js';
import type { EpilogueStep } from '../../../backends/cpu/kernels/family.js';

const fp = cpuFingerprint();
const rand = (n: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.sin(i));

function linearGelu(): ReturnType<GraphBuilder['build']> {
  const b = new GraphBuilder('ffn');
  const x = b.input('x', 'float32', [1, 8, 16]);
  const w = b.initializer('w', rand(16 * 32), [16, 32]);
  const bias = b.initializer('bias', rand(32), [32]);
  const mm = b.node('MatMul', [x, w]);
  const h = b.node('Add', [bias, mm]);
  const d = b.node('Div', [h, b.scalar(Math.SQRT2)]);
  const e = b.node('Erf', [d]);
  const a = b.node('Add', [e, b.scalar(1)]);
  const m = b.node('Mul', [h, a]);
  const g = b.node('Mul', [m, b.scalar(0.5)]);
  const w2 = b.initializer('w2', rand(32 * 16), [32, 16]);
  const mm2 = b.node('MatMul', [g, w2]);
  const out = b.node('Add', [mm2, x]);
  return b.build([out]);
}

describe('fusion', () => {
  it('absorbs bias, the exported erf-GELU and the residual add into the GEMMs', () => {
    const plan = planGraph(linearGelu(), fp);
    const kernels = plan.ops.filter((o) => o.family);
    expect(kernels.map((o) => o.plan.kernel)).toEqual(['gemm-dense', 'gemm-dense']);
    const steps = (i: number): string[] => (kernels[i].plan.params.epilogue as EpilogueStep[]).map((s) => s.kind);
    expect(steps(0)).toEqual(['add', 'gelu']);
    expect(steps(1)).toEqual(['add']);
    expect((kernels[0].plan.params.fused as string[]).length).toBe(6);
    // The residual is the graph input x, read as a third kernel input.
    expect(kernels[1].inputs).toContain('x');
  });

  it('does not fuse into a tensor that is also a graph output', () => {
    const b = new GraphBuilder('g');
    const x = b.input('x', 'float32', [4, 8]);
    const mm = b.node('MatMul', [x, b.initializer('w', rand(64), [8, 8])]);
    const r = b.node('Relu', [mm]);
    const plan = planGraph(b.build([mm, r]), fp);
    expect(plan.ops.map((o) => o.plan.kernel)).toEqual(['gemm-dense', 'elementwise']);
  });

  it('fuses Conv bias and Clip (ReLU6) and picks the depthwise kernel for depthwise convs', () => {
    const plan = planGraph(buildZooModel('mobilenet-v2'), fp);
    const convs = plan.ops.filter((o) => o.plan.opType === 'Conv');
    expect(convs.some((o) => o.plan.kernel === 'conv-depthwise')).toBe(true);
    expect(plan.ops.some((o) => o.plan.opType === 'Clip')).toBe(false);
    const first = convs[0].plan.params.epilogue as EpilogueStep[];
    expect(first.map((s) => s.kind)).toContain('clip');
  });
});

describe('buffer layout', () => {
  it('views alias their source, buffers are reused, and no kernel output overlaps its inputs', () => {
    const g = buildZooModel('bert-mini');
    const plan = planGraph(g, fp);
    const layout = layoutModel(g, plan);
    for (const op of plan.ops.filter((o) => !o.family)) {
      expect(layout.locations.get(op.outputs[0])!.offset).toBe(layout.locations.get(op.inputs[0])!.offset);
    }
    let total = 0;
    for (const op of plan.ops) if (op.family) for (const o of op.outputs) total += layout.locations.get(o)!.bytes;
    expect(layout.arenaBytes).toBeLessThan(total);
  });
});
