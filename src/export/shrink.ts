/**
 * Physical channel removal: where every reader of a layer group's channel reads it with
 * all-zero weights, that channel contributes nothing, so it can leave the model — the producer's
 * output channels and bias, everything per-channel on the way (depthwise Conv, BatchNorm,
 * per-channel constants, activations, pooling) and the consumers' input channels, across the
 * whole group at once. Only coarse-prunable groups are tried, and a group whose channel space
 * touches anything this module cannot shrink exactly (a Reshape, a Concat, a graph output, a
 * non-prunable reader) is left as it is, with the reason.
 */
import { attrInt, cloneGraph, consumers, numel, producers, type Graph, type Node, type Tensor, type TensorData } from '../model/graph.js';
import type { LayerGroup } from '../tesa/layer-group.js';
import { prunableOf, type PrunableWeight } from '../tesa/weights.js';

/** Ops that act on each channel separately (given per-channel or scalar constants). */
const ELEMENTWISE = new Set(['Relu', 'Clip', 'Sigmoid', 'Tanh', 'Erf', 'Gelu', 'LeakyRelu', 'HardSigmoid', 'HardSwish', 'Neg', 'Abs', 'Sqrt', 'Exp', 'Identity', 'Dropout', 'Add', 'Sub', 'Mul', 'Div', 'Pow', 'Softplus', 'Elu', 'Selu']);
const SPATIAL = new Set(['GlobalAveragePool', 'GlobalMaxPool', 'MaxPool', 'AveragePool']);

export interface GroupShrink {
  group: string;
  size: number;
  removed: number;
  /** Why nothing was removed, when nothing was. */
  skipped?: string;
}

export interface ShrinkResult {
  graph: Graph;
  groups: GroupShrink[];
  parametersBefore: number;
  parametersAfter: number;
  /**
   * Constants that shrank, by their name in the shrunk graph → their name in the masked graph
   * (the same name unless the constant was also read outside the channel space and had to be
   * copied under a new name).
   */
  shrunkConstants: Map<string, string>;
}

/** Elements of every float constant the graph reads (what `tesa inspect` counts as parameters). */
export function parameterCount(graph: Graph): number {
  const used = new Set<string>();
  for (const n of graph.nodes) for (const i of n.inputs) if (i) used.add(i);
  let p = 0;
  for (const name of used) {
    const t = graph.tensors.get(name);
    if (t?.data !== undefined && (t.dtype === 'float32' || t.dtype === 'float64' || t.dtype === 'float16')) p += numel(t.shape);
  }
  return p;
}

/** The copy of `data` (row-major over `shape`) without the given indices along `axis`. */
export function dropAlong(data: TensorData, shape: readonly number[], axis: number, drop: ReadonlySet<number>): { data: TensorData; shape: number[] } {
  const outer = numel(shape.slice(0, axis));
  const n = shape[axis]!;
  const inner = numel(shape.slice(axis + 1));
  const keep: number[] = [];
  for (let c = 0; c < n; c++) if (!drop.has(c)) keep.push(c);
  const Ctor = data.constructor as new (len: number) => TensorData;
  const out = new Ctor(outer * keep.length * inner);
  let w = 0;
  for (let o = 0; o < outer; o++) {
    for (const c of keep) {
      const from = (o * n + c) * inner;
      (out as unknown as { set(a: ArrayLike<unknown>, at: number): void }).set((data as unknown as { subarray(a: number, b: number): ArrayLike<unknown> }).subarray(from, from + inner), w);
      w += inner;
    }
  }
  const s = [...shape];
  s[axis] = keep.length;
  return { data: out, shape: s };
}

/** Indices c where the slice at c along `axis` is all zero. */
function zeroSlices(data: TensorData, shape: readonly number[], axis: number): Set<number> {
  const outer = numel(shape.slice(0, axis));
  const n = shape[axis]!;
  const inner = numel(shape.slice(axis + 1));
  const zero = new Set<number>();
  for (let c = 0; c < n; c++) {
    let all = true;
    for (let o = 0; o < outer && all; o++) {
      const base = (o * n + c) * inner;
      for (let i = 0; i < inner; i++) {
        if (Number(data[base + i]) !== 0) {
          all = false;
          break;
        }
      }
    }
    if (all) zero.add(c);
  }
  return zero;
}

function isDepthwise(graph: Graph, n: Node): boolean {
  if (n.opType !== 'Conv') return false;
  const w = graph.tensors.get(n.inputs[1] ?? '');
  const x = graph.tensors.get(n.inputs[0] ?? '');
  const g = attrInt(n, 'group', 1);
  return !!w && !!x && g > 1 && g === x.shape[1] && w.shape[0] === g && w.shape[1] === 1;
}

class Unsupported extends Error {}

interface Plan {
  /** Channel tensors → their channel axis. */
  tensors: Map<string, number>;
  /** Per-channel nodes on the way (elementwise, pooling, depthwise, BN, Flatten). */
  through: Set<string>;
  producers: Map<string, PrunableWeight>;
  readers: Map<string, PrunableWeight>;
}

/** The closure of tensors that carry the group's channels, walking both ways from `start`. */
function planChannelSpace(graph: Graph, start: string, startAxis: number, size: number): Plan {
  const prod = producers(graph);
  const cons = consumers(graph);
  const outputs = new Set(graph.outputs);
  const plan: Plan = { tensors: new Map(), through: new Set(), producers: new Map(), readers: new Map() };
  const queue: Array<[string, number]> = [];
  const isConst = (t: string) => graph.tensors.get(t)?.data !== undefined;

  const add = (t: string, axis: number) => {
    const known = plan.tensors.get(t);
    if (known !== undefined) {
      if (known !== axis) throw new Unsupported(`tensor '${t}' carries the channels on two axes`);
      return;
    }
    const shape = graph.tensors.get(t)?.shape;
    if (!shape || shape[axis] !== size) throw new Unsupported(`tensor '${t}' has ${shape?.[axis] ?? '?'} channels where the group has ${size}`);
    plan.tensors.set(t, axis);
    queue.push([t, axis]);
  };

  /** A per-channel node: every non-constant input and output joins the channel space. */
  const through = (n: Node, fromTensor: string, fromAxis: number) => {
    if (plan.through.has(n.name)) return;
    const rankOf = (t: string) => graph.tensors.get(t)!.shape.length;
    if (n.opType === 'Flatten') {
      const x = graph.tensors.get(n.inputs[0]!)!;
      const axis = attrInt(n, 'axis', 1);
      // Flatten(axis = channel axis) over trailing dims of size 1 keeps the channel axis where it was.
      const inAxis = fromAxis;
      if (axis !== inAxis || numel(x.shape.slice(inAxis + 1)) !== 1) throw new Unsupported(`Flatten '${n.name}' mixes channels with other dims`);
      plan.through.add(n.name);
      add(n.inputs[0]!, inAxis);
      add(n.outputs[0]!, inAxis);
      return;
    }
    plan.through.add(n.name);
    const out = n.outputs[0]!;
    const outRank = rankOf(out);
    const outAxis = fromTensor === out ? fromAxis : fromAxis + (outRank - rankOf(fromTensor));
    add(out, outAxis);
    const dataInputs = n.opType === 'Conv' || n.opType === 'BatchNormalization' || SPATIAL.has(n.opType) ? [n.inputs[0]!] : n.inputs.filter((i) => i && !isConst(i));
    for (const i of dataInputs) {
      const a = outAxis - (outRank - rankOf(i));
      if (a < 0 || graph.tensors.get(i)!.shape[a] !== size) throw new Unsupported(`'${n.name}' broadcasts a non-constant input across the channels`);
      add(i, a);
    }
  };

  add(start, startAxis);
  /** Grouped (not depthwise) convolutions tie channels across groups: not shrunk here. */
  const grouped = (n: Node) => n.opType === 'Conv' && attrInt(n, 'group', 1) !== 1 && !isDepthwise(graph, n);
  while (queue.length > 0) {
    const [t, axis] = queue.shift()!;
    if (outputs.has(t)) throw new Unsupported(`the channels reach graph output '${t}'`);
    if (graph.inputs.includes(t)) throw new Unsupported(`the channels come from graph input '${t}'`);
    const p = prod.get(t);
    if (p && !plan.through.has(p.name)) {
      if (grouped(p)) throw new Unsupported(`grouped Conv '${p.name}' produces the channels`);
      const pw = prunableOf(graph, p);
      if (pw && !isDepthwise(graph, p) && p.outputs[0] === t) {
        const featureAxis = p.opType === 'Conv' || p.opType === 'Gemm' ? 1 : graph.tensors.get(t)!.shape.length - 1;
        if (axis !== featureAxis) throw new Unsupported(`'${p.name}' produces the channels on an unexpected axis`);
        plan.producers.set(p.name, pw);
      } else if (ELEMENTWISE.has(p.opType) || SPATIAL.has(p.opType) || p.opType === 'BatchNormalization' || p.opType === 'Flatten' || isDepthwise(graph, p)) {
        through(p, t, axis);
      } else throw new Unsupported(`the channels come out of ${p.opType} '${p.name}'`);
    } else if (!p) throw new Unsupported(`tensor '${t}' has no producer`);
    for (const n of cons.get(t) ?? []) {
      if (plan.through.has(n.name) || plan.readers.has(n.name)) continue;
      if (grouped(n)) throw new Unsupported(`grouped Conv '${n.name}' reads the channels`);
      const pw = prunableOf(graph, n);
      if (pw && !isDepthwise(graph, n) && n.inputs[pw.slot] !== t) {
        const featureAxis = n.opType === 'Conv' || n.opType === 'Gemm' ? 1 : graph.tensors.get(t)!.shape.length - 1;
        if (axis !== featureAxis) throw new Unsupported(`'${n.name}' reads the channels on an unexpected axis`);
        plan.readers.set(n.name, pw);
      } else if (ELEMENTWISE.has(n.opType) || SPATIAL.has(n.opType) || n.opType === 'BatchNormalization' || n.opType === 'Flatten' || isDepthwise(graph, n)) {
        through(n, t, axis);
      } else throw new Unsupported(`the channels are read by ${n.opType} '${n.name}'`);
    }
  }
  if (plan.readers.size === 0) throw new Unsupported('nothing reads the channels through a weight');
  return plan;
}

function setConst(g: Graph, name: string, r: { data: TensorData; shape: number[] }, users: ReadonlyMap<string, Node[]>, inside: ReadonlySet<string>, shrunk: Map<string, string>): string {
  // A constant also read outside the channel space keeps its old value under its old name.
  const shared = (users.get(name) ?? []).some((n) => !inside.has(n.name));
  const t = g.tensors.get(name)!;
  const origin = shrunk.get(name) ?? name;
  if (!shared) {
    g.tensors.set(name, { ...t, data: r.data, shape: r.shape });
    shrunk.set(name, origin);
    return name;
  }
  let fresh = `${name}_shrunk`;
  for (let k = 2; g.tensors.has(fresh); k++) fresh = `${name}_shrunk${k}`;
  g.tensors.set(fresh, { ...t, name: fresh, data: r.data, shape: r.shape });
  shrunk.set(fresh, origin);
  return fresh;
}

/** Removes channels `drop` from the channel space `plan` in graph `g` (mutated). */
function applyPlan(g: Graph, plan: Plan, drop: ReadonlySet<number>, shrunk: Map<string, string>): void {
  const users = consumers(g);
  const nodeByName = new Map(g.nodes.map((n) => [n.name, n]));
  const inside = new Set<string>([...plan.through, ...plan.producers.keys(), ...plan.readers.keys()]);
  const shrinkInput = (n: Node, slot: number, axis: number) => {
    const name = n.inputs[slot];
    if (!name) return;
    const t = g.tensors.get(name)!;
    if (!t.data) return;
    n.inputs[slot] = setConst(g, name, dropAlong(t.data, t.shape, axis, drop), users, inside, shrunk);
  };
  for (const [node, pw] of plan.producers) {
    const n = nodeByName.get(node)!;
    shrinkInput(n, pw.slot, pw.outAxis);
    // Conv B and Gemm C are per output channel (a Gemm C may also be a scalar or a row to broadcast).
    const bias = n.inputs[2];
    const bt = bias ? g.tensors.get(bias) : undefined;
    if (bt?.data && bt.shape.length >= 1 && bt.shape[bt.shape.length - 1] === g.tensors.get(n.outputs[0]!)!.shape[plan.tensors.get(n.outputs[0]!)!]) shrinkInput(n, 2, bt.shape.length - 1);
  }
  for (const [node, pw] of plan.readers) shrinkInput(nodeByName.get(node)!, pw.slot, pw.inAxis);
  for (const name of plan.through) {
    const n = nodeByName.get(name)!;
    if (isDepthwise(g, n)) {
      shrinkInput(n, 1, 0);
      shrinkInput(n, 2, 0);
      n.attrs = { ...n.attrs, group: { type: 'int', value: attrInt(n, 'group', 1) - drop.size } };
    } else if (n.opType === 'BatchNormalization') {
      for (const s of [1, 2, 3, 4]) shrinkInput(n, s, 0);
    } else if (ELEMENTWISE.has(n.opType)) {
      const out = n.outputs[0]!;
      const outShape = g.tensors.get(out)!.shape;
      const outAxis = plan.tensors.get(out)!;
      n.inputs.forEach((i, slot) => {
        const t = i ? g.tensors.get(i) : undefined;
        if (!t?.data) return;
        const a = outAxis - (outShape.length - t.shape.length);
        if (a >= 0 && t.shape[a]! > 1) shrinkInput(n, slot, a);
      });
    }
  }
  for (const [t, axis] of plan.tensors) {
    const tensor = g.tensors.get(t)!;
    const shape = [...tensor.shape];
    shape[axis] = shape[axis]! - drop.size;
    g.tensors.set(t, { ...tensor, shape });
  }
}

/** The channels every reader reads with all-zero weights (never all of them: one stays so shapes remain valid). */
function deadChannels(g: Graph, plan: Plan, size: number): Set<number> {
  let d: Set<number> | undefined;
  for (const pw of plan.readers.values()) {
    const t = g.tensors.get(pw.weight)!;
    const z = zeroSlices(t.data!, t.shape, pw.inAxis);
    const prev: Set<number> | undefined = d;
    d = prev === undefined ? z : new Set<number>([...prev].filter((c) => z.has(c)));
  }
  if (!d) return new Set<number>();
  if (d.size >= size) d.delete(Math.min(...[...d]));
  return d;
}

/** The start of a group's channel space: the output of one of its producing members. */
function startOf(g: Graph, group: LayerGroup): { tensor: string; axis: number } | null {
  const nodeByName = new Map(g.nodes.map((n) => [n.name, n]));
  for (const m of group.members) {
    const n = nodeByName.get(m.node);
    if (!n) continue;
    const pw = prunableOf(g, n);
    if (!pw || isDepthwise(g, n) || m.axis !== pw.outAxis) continue;
    const out = n.outputs[0]!;
    const axis = n.opType === 'Conv' || n.opType === 'Gemm' ? 1 : g.tensors.get(out)!.shape.length - 1;
    return { tensor: out, axis };
  }
  return null;
}

/**
 * Removes the dead channels of every coarse-prunable group from a copy of `masked` (the graph
 * with pruned weights zeroed and propagated constants folded). Exact by construction; the caller
 * still verifies the outputs in onnxruntime.
 */
export function shrinkChannels(masked: Graph, groups: readonly LayerGroup[]): ShrinkResult {
  const g = cloneGraph(masked);
  const out: GroupShrink[] = [];
  const shrunk = new Map<string, string>();
  for (const group of groups) {
    if (!group.coarsePrunable) {
      out.push({ group: group.id, size: group.size, removed: 0, skipped: 'not coarse-prunable' });
      continue;
    }
    const s = startOf(g, group);
    if (!s) {
      out.push({ group: group.id, size: group.size, removed: 0, skipped: 'no member produces the channels' });
      continue;
    }
    const size = g.tensors.get(s.tensor)!.shape[s.axis]!;
    try {
      const plan = planChannelSpace(g, s.tensor, s.axis, size);
      const drop = deadChannels(g, plan, size);
      if (drop.size === 0) {
        out.push({ group: group.id, size, removed: 0, skipped: 'no channel is dead in every reader' });
        continue;
      }
      applyPlan(g, plan, drop, shrunk);
      out.push({ group: group.id, size, removed: drop.size });
    } catch (e) {
      if (!(e instanceof Unsupported)) throw e;
      out.push({ group: group.id, size, removed: 0, skipped: e.message });
    }
  }
  dropUnused(g);
  for (const name of [...shrunk.keys()]) if (!g.tensors.has(name)) shrunk.delete(name);
  return { graph: g, groups: out, parametersBefore: parameterCount(masked), parametersAfter: parameterCount(g), shrunkConstants: shrunk };
}

/** Constants no node reads any more (the old copies of shared constants) leave the graph. */
function dropUnused(g: Graph): void {
  const used = new Set<string>([...g.inputs, ...g.outputs]);
  for (const n of g.nodes) {
    for (const i of n.inputs) if (i) used.add(i);
    for (const o of n.outputs) if (o) used.add(o);
  }
  for (const [name, t] of g.tensors) if (!used.has(name) && (t as Tensor).data !== undefined) g.tensors.delete(name);
}
