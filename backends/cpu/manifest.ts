/**
 * Lays out a planned model for the runner: constants into one weight blob, activations into
 * one arena whose slots are reused once a tensor is dead (first-fit by liveness), views as
 * aliases of their source buffer, and the line-based manifest the runner reads.
 */
import { writeFileSync } from 'node:fs';
import { dtypeBytes, numel, type Graph, type Tensor } from '../../src/model/graph.js';
import { TesaError } from '../../src/errors.js';
import { manifestDtype } from './kernels/c.js';
import type { ExecutionPlan } from './planner.js';

const ALIGN = 64;
const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;

export interface Location {
  space: 'w' | 'a';
  offset: number;
  bytes: number;
}

export interface Layout {
  locations: Map<string, Location>;
  weightsBytes: number;
  arenaBytes: number;
  /** Constants in blob order. */
  weights: Array<{ tensor: Tensor; offset: number }>;
}

function tensorBytes(t: Tensor): number {
  return numel(t.shape) * dtypeBytes(t.dtype);
}

/** A first-fit allocator over one growing arena. */
class Arena {
  size = 0;
  private free: Array<{ offset: number; bytes: number }> = [];
  alloc(bytes: number): number {
    const b = align(Math.max(bytes, 1));
    const i = this.free.findIndex((f) => f.bytes >= b);
    if (i >= 0) {
      const f = this.free[i];
      const offset = f.offset;
      if (f.bytes === b) this.free.splice(i, 1);
      else this.free[i] = { offset: f.offset + b, bytes: f.bytes - b };
      return offset;
    }
    const offset = this.size;
    this.size += b;
    return offset;
  }
  release(offset: number, bytes: number): void {
    this.free.push({ offset, bytes: align(Math.max(bytes, 1)) });
    this.free.sort((a, b) => a.offset - b.offset);
    const merged: Array<{ offset: number; bytes: number }> = [];
    for (const f of this.free) {
      const last = merged[merged.length - 1];
      if (last && last.offset + last.bytes === f.offset) last.bytes += f.bytes;
      else merged.push({ ...f });
    }
    this.free = merged;
  }
}

export function layoutModel(graph: Graph, plan: ExecutionPlan): Layout {
  const tensorOf = (name: string): Tensor => {
    const t = graph.tensors.get(name) ?? plan.constants.get(name);
    if (!t) throw new TesaError('BAD_MODEL', `tensor '${name}' is used but never defined`, 'the model is malformed');
    return t;
  };
  const locations = new Map<string, Location>();
  const weights: Array<{ tensor: Tensor; offset: number }> = [];
  let weightsBytes = 0;
  const placeConstant = (name: string): void => {
    if (locations.has(name)) return;
    const t = tensorOf(name);
    weights.push({ tensor: t, offset: weightsBytes });
    locations.set(name, { space: 'w', offset: weightsBytes, bytes: tensorBytes(t) });
    weightsBytes += align(tensorBytes(t));
  };
  // Views alias their source: find each tensor's root buffer.
  const rootOf = new Map<string, string>();
  const root = (name: string): string => {
    let r = name;
    while (rootOf.has(r)) r = rootOf.get(r)!;
    return r;
  };
  for (const op of plan.ops) if (op.family === null) rootOf.set(op.outputs[0], op.inputs[0]);

  // Liveness per root buffer: the last op index that reads any alias of it.
  const lastUse = new Map<string, number>();
  plan.ops.forEach((op, i) => {
    for (const name of op.inputs) lastUse.set(root(name), i);
    for (const name of op.outputs) if (!lastUse.has(root(name))) lastUse.set(root(name), i);
  });
  const pinned = new Set<string>([...graph.inputs, ...graph.outputs].map(root));

  const arena = new Arena();
  for (const name of graph.inputs) {
    const t = tensorOf(name);
    locations.set(name, { space: 'a', offset: arena.alloc(tensorBytes(t)), bytes: tensorBytes(t) });
  }
  const frees = new Map<number, string[]>();
  for (const [r, i] of lastUse) {
    if (pinned.has(r)) continue;
    const list = frees.get(i) ?? [];
    list.push(r);
    frees.set(i, list);
  }
  plan.ops.forEach((op, i) => {
    for (const name of op.inputs) {
      const t = tensorOf(name);
      if (t.data !== undefined && root(name) === name) placeConstant(name);
    }
    for (const name of op.outputs) {
      if (op.family === null) continue;
      if (locations.has(name)) continue;
      const bytes = tensorBytes(tensorOf(name));
      locations.set(name, { space: 'a', offset: arena.alloc(bytes), bytes });
    }
    if (op.family === null) {
      const src = locations.get(root(op.inputs[0]));
      if (!src) throw new TesaError('INTERNAL', `view '${op.plan.node}' reads '${op.inputs[0]}' before it has a buffer`);
      locations.set(op.outputs[0], { ...src, bytes: tensorBytes(tensorOf(op.outputs[0])) });
    }
    for (const r of frees.get(i) ?? []) {
      const loc = locations.get(r);
      if (loc && loc.space === 'a') arena.release(loc.offset, loc.bytes);
    }
  });
  for (const name of graph.outputs) {
    if (!locations.has(name)) {
      const t = tensorOf(name);
      if (t.data !== undefined) placeConstant(name);
      else throw new TesaError('BAD_MODEL', `graph output '${name}' is never computed`, 'the model is malformed');
    }
  }
  // Views of views resolved above point at the root's location; re-resolve for safety.
  for (const [name] of rootOf) {
    const src = locations.get(root(name));
    if (src) locations.set(name, { ...src, bytes: tensorBytes(tensorOf(name)) });
  }
  // No kernel may write over what it reads: that would be a planner bug, not a kernel bug.
  for (const op of plan.ops) {
    if (op.family === null) continue;
    for (const o of op.outputs) {
      const lo = locations.get(o)!;
      for (const i of op.inputs) {
        const li = locations.get(i);
        if (li && li.space === 'a' && li.offset < lo.offset + lo.bytes && lo.offset < li.offset + li.bytes) {
          throw new TesaError('INTERNAL', `buffer plan overlaps output '${o}' with input '${i}' of node '${op.plan.node}'`);
        }
      }
    }
  }
  return { locations, weightsBytes, arenaBytes: arena.size, weights };
}

export function writeWeights(path: string, layout: Layout): void {
  const buf = Buffer.alloc(layout.weightsBytes);
  for (const { tensor, offset } of layout.weights) {
    const d = tensor.data!;
    Buffer.from(d.buffer, d.byteOffset, d.byteLength).copy(buf, offset);
  }
  writeFileSync(path, buf);
}

export interface ManifestOp {
  index: number;
  name: string;
  lib: number;
  hasInit: boolean;
  hasRef: boolean;
  stateBytes: number;
  inputs: string[];
  outputs: string[];
}

/** Names in the manifest are single tokens; the runner reports ops by index anyway. */
const token = (s: string): string => s.replace(/\s+/g, '_') || '_';

export function writeManifest(path: string, graph: Graph, plan: ExecutionPlan, layout: Layout, weightsPath: string, libs: string[], ops: ManifestOp[]): void {
  const dt = (name: string): string => manifestDtype((graph.tensors.get(name) ?? plan.constants.get(name))!.dtype);
  const L: string[] = ['tesa-manifest 1', `weights ${weightsPath} ${layout.weightsBytes}`, `arena ${layout.arenaBytes}`];
  for (const name of graph.inputs) {
    const loc = layout.locations.get(name)!;
    L.push(`input ${token(name)} ${loc.offset} ${loc.bytes}`);
  }
  for (const name of graph.outputs) {
    const loc = layout.locations.get(name)!;
    L.push(`output ${token(name)} ${loc.space} ${loc.offset} ${loc.bytes} ${dt(name)}`);
  }
  libs.forEach((lib, i) => L.push(`lib ${i} ${lib}`));
  for (const op of ops) {
    const ins = op.inputs.map((n) => {
      const loc = layout.locations.get(n);
      if (!loc) throw new TesaError('INTERNAL', `op '${op.name}' input '${n}' has no buffer`);
      return `${loc.space} ${loc.offset}`;
    });
    const outs = op.outputs.map((n) => {
      const loc = layout.locations.get(n)!;
      if (loc.space !== 'a') throw new TesaError('INTERNAL', `op '${op.name}' writes a constant '${n}'`);
      return `${loc.offset} ${loc.bytes} ${dt(n)}`;
    });
    L.push(`op ${op.index} ${token(op.name)} ${op.lib} tesa_kernel ${op.hasInit ? 1 : 0} ${op.hasRef ? 1 : 0} ${op.stateBytes} ${ins.length} ${ins.join(' ')} ${outs.length} ${outs.join(' ')}`);
  }
  writeFileSync(path, L.join('\n') + '\n');
}
