/**
 * Physical channel removal on real models with coarse (channel) pruning: the exported graph
 * has fewer parameters (as `tesa inspect` counts them in the written .onnx), computes the same
 * outputs as the masked model in onnxruntime, and leaves groups it cannot shrink exactly alone.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { getBackend } from '../../backends/registry.js';
import { dropAlong, parameterCount, shrinkChannels } from '../../src/export/shrink.js';
import { writeOnnx } from '../../src/export/artifacts.js';
import { loadModel } from '../../src/model/load.js';
import { randomInputs } from '../../src/model/inputs.js';
import { runOrt } from '../../src/model/ort.js';
import { materialize } from '../../src/search/materialize.js';
import { buildSearchSpace } from '../../src/space/build.js';
import type { Candidate } from '../../src/space/space.js';
import { findLayerGroups } from '../../src/tesa/groups.js';
import { packageRoot } from '../../src/util/package-root.js';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'tesa-shrink-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function channelPruned(model: string, ratio: number) {
  const graph = await loadModel(model);
  const groups = findLayerGroups(graph);
  const caps = getBackend('cpu').capabilities();
  const space = buildSearchSpace(graph, groups, { ...caps, patterns: ['dense', 'channel'] }, { patterns: ['channel'], precisions: ['fp32'], groups: 'on' });
  const candidate: Candidate = { groups: Object.fromEntries(space.groups.map((g) => [g.id, { ratio, pattern: 'channel', precision: 'fp32' as const }])) };
  const m = materialize({ graph, space, layerGroups: new Map(groups.map((g) => [g.id, g])), channelMultiple: caps.channelMultiple }, candidate);
  return { graph, groups, m };
}

async function maxDiff(a: Parameters<typeof runOrt>[0], b: Parameters<typeof runOrt>[0], seed: number): Promise<{ diff: number; scale: number }> {
  const feeds = randomInputs(a, seed);
  const ra = await runOrt(a, feeds);
  const rb = await runOrt(b, feeds);
  let diff = 0;
  let scale = 0;
  for (const [k, v] of ra) {
    const w = rb.get(k)!.data;
    for (let i = 0; i < v.data.length; i++) {
      diff = Math.max(diff, Math.abs(Number(v.data[i]) - Number(w[i])));
      scale = Math.max(scale, Math.abs(Number(v.data[i])));
    }
  }
  return { diff, scale };
}

describe('shrinkChannels', () => {
  it('drops slices along an axis', () => {
    const r = dropAlong(Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]), [2, 3, 2], 1, new Set([1]));
    expect(r.shape).toEqual([2, 2, 2]);
    expect([...(r.data as Float32Array)]).toEqual([0, 1, 4, 5, 6, 7, 10, 11]);
  });

  it('mobilenet-v2, channel-pruned: fewer parameters in tesa inspect, same outputs as the masked model', async () => {
    const { m, groups } = await channelPruned('zoo:mobilenet-v2', 0.5);
    const s = shrinkChannels(m.maskedGraph, groups);
    const removed = s.groups.filter((g) => g.removed > 0);
    expect(removed.length).toBeGreaterThan(10);
    expect(s.parametersAfter).toBeLessThan(s.parametersBefore * 0.7);
    const { diff, scale } = await maxDiff(m.maskedGraph, s.graph, 3);
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
    writeOnnx(join(dir, 'masked.onnx'), m.maskedGraph);
    writeOnnx(join(dir, 'shrunk.onnx'), s.graph);
    const a = JSON.parse(runCli(['inspect', join(dir, 'masked.onnx'), '--json']).stdout) as { parameters: number };
    const b = JSON.parse(runCli(['inspect', join(dir, 'shrunk.onnx'), '--json']).stdout) as { parameters: number };
    expect(b.parameters).toBeLessThan(a.parameters);
    expect(b.parameters).toBe(parameterCount(s.graph));
  });

  it('bert-mini: FFN channels go, attention groups (read through Reshape) stay, outputs match', async () => {
    const { m, groups } = await channelPruned('zoo:bert-mini', 0.5);
    const s = shrinkChannels(m.maskedGraph, groups);
    expect(s.groups.filter((g) => g.group.endsWith('.ffn') && g.removed > 0).length).toBeGreaterThan(0);
    for (const g of s.groups.filter((x) => x.group.includes('.attn.'))) expect(g.skipped ?? '').toMatch(/Reshape|not coarse|no channel/);
    const { diff, scale } = await maxDiff(m.maskedGraph, s.graph, 4);
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
    expect(s.parametersAfter).toBeLessThan(s.parametersBefore);
  });

  it('a ResNet with BatchNorm, MaxPool and residual Adds: residual groups shrink too, outputs match', async () => {
    const { m, groups } = await channelPruned(join(packageRoot(), 'test', 'fixtures', 'onnx', 'resnet_bn_op13.onnx'), 0.5);
    expect(m.maskedGraph.nodes.some((n) => n.opType === 'BatchNormalization')).toBe(true);
    const s = shrinkChannels(m.maskedGraph, groups);
    expect(s.groups.find((g) => g.group.endsWith('.residual') && g.removed > 0)).toBeDefined();
    expect(s.parametersAfter).toBeLessThan(s.parametersBefore);
    const { diff, scale } = await maxDiff(m.maskedGraph, s.graph, 5);
    expect(diff).toBeLessThanOrEqual(1e-4 * Math.max(1, scale));
  });

  it('changes nothing where no channel is dead (fine pruning)', async () => {
    const graph = await loadModel('zoo:mobilenet-v2');
    const s = shrinkChannels(graph, findLayerGroups(graph));
    expect(s.parametersAfter).toBe(s.parametersBefore);
    expect(s.groups.every((g) => g.removed === 0)).toBe(true);
  });
});
