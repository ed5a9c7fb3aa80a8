/**
 * `tesa inspect <model>`: what a model is made of, counted after constant folding and Identity
 * removal: ops by type, parameters, FLOPs, inputs and outputs, and every weight's shape.
 */
import type { Command } from 'commander';
import type { Graph } from '../../model/graph.js';
import { loadModel } from '../../model/load.js';
import { findLayerGroups, groupsJson, renderGroups } from '../../tesa/groups.js';
import { summarize, type GraphSummary } from '../../model/summary.js';
import { table } from '../format.js';
import { parseDimBindings, printJson } from '../options.js';
import { badInput } from '../../errors.js';
import type { CudaProgramDescription } from '../../../backends/cuda/model/describe.js';

export interface InspectOptions {
  json?: boolean;
  dim?: Record<string, number>;
  /** List the layer groups (src/tesa/groups.ts) instead of the summary. */
  groups?: boolean;
  /** cuda: show what the model becomes on the GPU (no GPU needed). */
  target?: string;
}

/** `--dim name=value`, repeatable (and `a=1,b=2` in one go); later values win. */
function collectDim(value: string, previous: Record<string, number>): Record<string, number> {
  return { ...previous, ...parseDimBindings(value) };
}

function fmtCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** 1.23 G, 456.7 M, …: FLOPs at a glance. */
export function fmtFlops(n: number): string {
  const units: [number, string][] = [
    [1e12, 'T'],
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [v, u] of units) if (n >= v) return `${(n / v).toFixed(2)} ${u}`;
  return String(n);
}

const shapeText = (s: number[]): string => `[${s.join(', ')}]`;

export function renderSummary(spec: string, s: GraphSummary): string {
  const lines: string[] = [];
  lines.push(`model       ${spec}${s.name && s.name !== spec ? ` (${s.name})` : ''}`);
  lines.push(`parameters  ${fmtCount(s.parameters)}`);
  lines.push(`FLOPs       ${fmtFlops(s.flops)} (${fmtCount(s.flops)})`);
  lines.push('', 'inputs');
  lines.push(table(['name', 'dtype', 'shape'], s.inputs.map((t) => [t.name, t.dtype, shapeText(t.shape)])).replace(/^/gm, '  '));
  lines.push('', 'outputs');
  lines.push(table(['name', 'dtype', 'shape'], s.outputs.map((t) => [t.name, t.dtype, shapeText(t.shape)])).replace(/^/gm, '  '));
  const opRows = Object.entries(s.ops).sort(([a, x], [b, y]) => y - x || (a < b ? -1 : 1));
  lines.push('', `ops (${opRows.reduce((a, [, n]) => a + n, 0)} nodes)`);
  lines.push(table(['op', 'count'], opRows.map(([op, n]) => [op, String(n)])).replace(/^/gm, '  '));
  lines.push('', `weights (${s.weights.length})`);
  lines.push(table(['name', 'shape', 'op', 'node'], s.weights.map((w) => [w.name, shapeText(w.shape), w.op, w.node])).replace(/^/gm, '  '));
  return `${lines.join('\n')}\n`;
}

const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;

export function renderCudaDescription(spec: string, d: CudaProgramDescription): string {
  const lines = [`model       ${spec} on cuda: ${d.nodes} graph nodes → ${Object.values(d.steps).reduce((a, n) => a + n, 0)} GPU steps (${d.fusedOps} element-wise ops fused into them)`];
  lines.push(table(['step', 'count'], Object.entries(d.steps).sort(([, a], [, b]) => b - a).map(([k, n]) => [k, String(n)])).replace(/^/gm, '  '));
  lines.push(`glue        ${d.glueKernels} distinct generated kernels`);
  const shapes = new Map<string, number>();
  for (const l of d.linears) shapes.set(`${l.M}x${l.N}x${l.K}`, (shapes.get(`${l.M}x${l.N}x${l.K}`) ?? 0) + 1);
  lines.push(`linears     ${d.linears.length} (tokens × out × in: ${[...shapes].map(([s, n]) => `${n}× ${s}`).join(', ')})`);
  lines.push(`memory      fp16 constants ${mib(d.memory.constantBytes)}, activations ${mib(d.memory.activationBytes)}, inputs ${mib(d.memory.inputBytes)}, outputs ${mib(d.memory.outputBytes)}`);
  return `${lines.join('\n')}\n`;
}

/** Loads and summarises `spec`; the JSON `tesa inspect --json` prints. */
export async function inspectModel(spec: string, opts: InspectOptions = {}): Promise<{ graph: Graph; summary: GraphSummary }> {
  const graph = await loadModel(spec, { dims: opts.dim });
  return { graph, summary: summarize(graph) };
}

export function register(program: Command): void {
  program
    .command('inspect')
    .description('show a model after constant folding: ops by type, parameters, FLOPs, inputs/outputs and every weight shape')
    .argument('<model>', 'an .onnx file or zoo:NAME')
    .option('--json', 'print the summary as JSON')
    .option('--dim <name=value>', 'value of a symbolic input dim (repeatable)', collectDim, {})
    .option('--groups', 'list the layer groups: the weight axes that must share a mask')
    .option('--target <target>', 'cuda: show the model as the CUDA backend runs it (steps, fused ops, kernels, memory); needs no GPU')
    .action(async (model: string, opts: InspectOptions) => {
      if (opts.target !== undefined) {
        if (opts.target !== 'cuda') throw badInput(`--target '${opts.target}' has nothing to show for inspect`, 'use --target cuda, or leave it out for the model summary');
        const { describeCudaProgram } = await import('../../../backends/cuda/model/describe.js');
        const d = describeCudaProgram(await loadModel(model, { dims: opts.dim }));
        if (opts.json) printJson(d);
        else process.stdout.write(renderCudaDescription(model, d));
        return;
      }
      if (opts.groups) {
        const groups = findLayerGroups(await loadModel(model, { dims: opts.dim }));
        if (opts.json) printJson(groupsJson(groups));
        else process.stdout.write(renderGroups(model, groups));
        return;
      }
      const { summary } = await inspectModel(model, opts);
      if (opts.json) printJson(summary);
      else process.stdout.write(renderSummary(model, summary));
    });
}
