/**
 * Layer groups, derived from the graph the way propagation would see it: a "slot" is one
 * coupled dimension of a tensor (a list of its axes, major to minor, whose product is the
 * coupled length — two axes after a head split). Slots are followed through element-wise ops,
 * BatchNormalization, pooling, Reshape (by flat strides), Transpose (by the permutation), the
 * contraction of an activation×activation MatMul (attention Q·Kᵀ) and its pass-through operand
 * (P·V), and residual Adds; prunable weights join with the axis that reads or writes the slot.
 * Connected slots form a group. Nothing is matched by name.
 */
import { attrInt, attrInts, type Graph, type Node } from '../model/graph.js';
import type { GroupMember, LayerGroup } from './layer-group.js';
import { prunableWeights, type PrunableWeight } from './weights.js';

interface Slot {
  tensor: string;
  axes: number[];
}

const ELEMENTWISE = new Set([
  'Relu', 'Neg', 'Tanh', 'Erf', 'Sqrt', 'Abs', 'Sin', 'Sign', 'Floor', 'Ceil', 'Round', 'Identity', 'Dropout', 'Cast', 'Gelu', 'HardSwish', 'Elu', 'Selu',
  'Softsign', 'Mish', 'LeakyRelu', 'PRelu', 'Sigmoid', 'Exp', 'Log', 'Reciprocal', 'Softplus', 'HardSigmoid', 'Clip', 'Add', 'Sub', 'Mul', 'Div', 'Pow',
  'Max', 'Min', 'Sum', 'Where', 'Celu', 'ThresholdedRelu', 'Shrink',
]);
const CHANNEL_OPS = new Set(['BatchNormalization', 'MaxPool', 'AveragePool', 'GlobalAveragePool', 'GlobalMaxPool', 'LpPool', 'GlobalLpPool']);
const SAME_ORDER = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze']);

function key(s: Slot): string {
  return `${s.tensor}|${s.axes.join(',')}`;
}

class UnionFind {
  private parent = new Map<string, string>();
  find(a: string): string {
    let p = this.parent.get(a);
    if (p === undefined) {
      this.parent.set(a, a);
      return a;
    }
    if (p === a) return a;
    p = this.find(p);
    this.parent.set(a, p);
    return p;
  }
  union(a: string, b: string): void {
    const ra = this.find(a);
    const rb = this.find(b);
    if (ra !== rb) this.parent.set(ra, rb);
  }
}

interface Link {
  slot?: Slot;
  member?: GroupMember;
  /** The slot crosses something that keeps whole channels from being removed exactly. */
  barrier?: boolean;
  kind?: 'attention-qk' | 'attention-vo' | 'residual';
  /** Heads seen on the way (for the unit). */
  heads?: number;
}

export function findLayerGroups(graph: Graph): LayerGroup[] {
  const shapeOf = (t: string): readonly number[] | undefined => graph.tensors.get(t)?.shape;
  const isConst = (t: string): boolean => graph.tensors.get(t)?.data !== undefined;
  const weights = prunableWeights(graph);
  const weightByNode = new Map<string, PrunableWeight>(weights.map((w) => [w.node, w]));
  const prod = new Map<string, Node>();
  const readers = new Map<string, Node[]>();
  for (const n of graph.nodes) {
    for (const o of n.outputs) if (o) prod.set(o, n);
    for (const i of n.inputs) if (i) (readers.get(i) ?? readers.set(i, []).get(i)!).push(n);
  }
  const outputs = new Set(graph.outputs);

  /** Everything a slot couples with through one node it touches. */
  function linksThrough(node: Node, s: Slot): Link[] {
    const links: Link[] = [];
    const pw = weightByNode.get(node.name);
    const isOut = node.outputs.includes(s.tensor);
    const inSlots = node.inputs.map((t, i) => (t === s.tensor ? i : -1)).filter((i) => i >= 0);
    const op = node.opType;
    const shape = shapeOf(s.tensor)!;
    const rank = shape.length;

    if (pw) {
      // A prunable layer: the data input's feature slot ↔ the weight's input axis; the output's ↔ its output axis.
      const dataSlot = pw.slot === 1 ? 0 : 1;
      const conv = op === 'Conv';
      const featureAxis = conv || op === 'Gemm' ? 1 : rank - 1;
      if (s.axes.length !== 1 || s.axes[0] !== featureAxis) return links;
      const depthwise = conv && pw.shape[1] === 1 && attrInt(node, 'group', 1) > 1;
      if (isOut) {
        links.push({ member: { weight: pw.weight, node: node.name, axis: pw.outAxis } });
        if (depthwise) links.push({ slot: { tensor: node.inputs[0], axes: [1] } });
      } else if (inSlots.includes(dataSlot)) {
        if (depthwise) {
          links.push({ member: { weight: pw.weight, node: node.name, axis: pw.outAxis } });
          links.push({ slot: { tensor: node.outputs[0], axes: [1] } });
        } else if (!conv || attrInt(node, 'group', 1) === 1) {
          links.push({ member: { weight: pw.weight, node: node.name, axis: pw.inAxis } });
        }
      }
      return links;
    }

    if (ELEMENTWISE.has(op)) {
      const out = node.outputs[0];
      const outShape = shapeOf(out);
      if (!outShape) return links;
      const toOut = (inShape: readonly number[], axes: number[]): number[] | null => {
        const off = outShape.length - inShape.length;
        return axes.every((a) => inShape[a] === outShape[a + off]) ? axes.map((a) => a + off) : null;
      };
      const fromOut = (inShape: readonly number[], axes: number[]): number[] | null => {
        const off = outShape.length - inShape.length;
        const mapped = axes.map((a) => a - off);
        return mapped.every((a) => a >= 0 && inShape[a] === outShape[a + off]) ? mapped : null;
      };
      const outAxes = isOut ? s.axes : toOut(shape, s.axes);
      if (!outAxes) return links;
      if (!isOut) links.push({ slot: { tensor: out, axes: outAxes } });
      const live = node.inputs.filter((t) => t && !isConst(t) && shapeOf(t));
      const residual = (op === 'Add' || op === 'Sub' || op === 'Sum' || op === 'Max' || op === 'Min') && live.length >= 2;
      for (const t of live) {
        if (t === s.tensor) continue;
        const axes = fromOut(shapeOf(t)!, outAxes);
        if (axes) links.push({ slot: { tensor: t, axes }, kind: residual ? 'residual' : undefined });
      }
      return links;
    }

    if (CHANNEL_OPS.has(op)) {
      if (s.axes.length !== 1 || s.axes[0] !== 1) return [{ barrier: true }];
      return [{ slot: { tensor: isOut ? node.inputs[0] : node.outputs[0], axes: [1] } }];
    }

    if (op === 'LayerNormalization' || op === 'Softmax' || op === 'LogSoftmax') {
      const axis = attrInt(node, 'axis', -1);
      const a = axis < 0 ? axis + rank : axis;
      const other = isOut ? node.inputs[0] : node.outputs[0];
      const touchesNormalized = s.axes.some((x) => x >= a);
      return [{ slot: { tensor: other, axes: s.axes }, barrier: touchesNormalized }];
    }

    if (op === 'Transpose') {
      const inShape = shapeOf(node.inputs[0])!;
      const perm = attrInts(node, 'perm', inShape.map((_, i) => inShape.length - 1 - i));
      if (isOut) return [{ slot: { tensor: node.inputs[0], axes: s.axes.map((a) => perm[a]) } }];
      return [{ slot: { tensor: node.outputs[0], axes: s.axes.map((a) => perm.indexOf(a)) } }];
    }

    if (SAME_ORDER.has(op)) {
      const other = isOut ? node.inputs[0] : node.outputs[0];
      const mapped = mapByStrides(shape, s.axes, shapeOf(other)!);
      return mapped ? [{ slot: { tensor: other, axes: mapped } }] : [{ barrier: true }];
    }

    if (op === 'MatMul') {
      // Activation × activation (attention): contraction couples A's last axis with B's second last.
      const [aName, bName] = node.inputs;
      const aShape = shapeOf(aName);
      const bShape = shapeOf(bName);
      const yName = node.outputs[0];
      const yShape = shapeOf(yName);
      if (!aShape || !bShape || !yShape || aShape.length < 2 || bShape.length < 2) return [{ barrier: true }];
      const ar = aShape.length;
      const br = bShape.length;
      const yr = yShape.length;
      const batchTo = (axis: number, fromRank: number, toRank: number): number => axis + toRank - fromRank;
      const heads = (axes: number[], sh: readonly number[], minor: number): number => axes.filter((x) => x !== minor).reduce((p, x) => p * sh[x], 1);
      if (!isOut && s.tensor === aName && s.axes.includes(ar - 1) && s.axes.every((x) => x === ar - 1 || x < ar - 2)) {
        const axes = s.axes.map((x) => (x === ar - 1 ? br - 2 : batchTo(x, ar, br)));
        return [{ slot: { tensor: bName, axes }, kind: 'attention-qk', heads: heads(s.axes, aShape, ar - 1) }];
      }
      if (!isOut && s.tensor === bName && s.axes.includes(br - 2) && s.axes.every((x) => x === br - 2 || x < br - 2)) {
        const axes = s.axes.map((x) => (x === br - 2 ? ar - 1 : batchTo(x, br, ar)));
        return [{ slot: { tensor: aName, axes }, kind: 'attention-qk', heads: heads(s.axes, bShape, br - 2) }];
      }
      if (!isOut && s.tensor === bName && s.axes.includes(br - 1) && s.axes.every((x) => x === br - 1 || x < br - 2)) {
        const axes = s.axes.map((x) => (x === br - 1 ? yr - 1 : batchTo(x, br, yr)));
        return [{ slot: { tensor: yName, axes }, kind: 'attention-vo', heads: heads(s.axes, bShape, br - 1) }];
      }
      if (isOut && s.axes.includes(yr - 1) && s.axes.every((x) => x === yr - 1 || x < yr - 2)) {
        const axes = s.axes.map((x) => (x === yr - 1 ? br - 1 : batchTo(x, yr, br)));
        return [{ slot: { tensor: bName, axes }, kind: 'attention-vo', heads: heads(s.axes, yShape, yr - 1) }];
      }
      return [{ barrier: true }];
    }
    // Anything else (Concat, Gather, Reduce…, unknown ops) ends the slot there.
    return [{ barrier: true }];
  }

  const uf = new UnionFind();
  const members = new Map<string, GroupMember>();
  const barrier = new Set<string>();
  const kinds = new Map<string, Set<string>>();
  const headsSeen = new Map<string, number>();
  const visited = new Set<string>();

  const startSlots: { slot: Slot; member: GroupMember }[] = [];
  for (const w of weights) {
    const node = graph.nodes.find((n) => n.name === w.node)!;
    const dataIn = node.inputs[w.slot === 1 ? 0 : 1];
    const inShape = shapeOf(dataIn);
    const outShape = shapeOf(node.outputs[0]);
    if (!inShape || !outShape) continue;
    const featureIn = w.opType === 'MatMul' ? inShape.length - 1 : 1;
    const featureOut = w.opType === 'MatMul' ? outShape.length - 1 : 1;
    const depthwise = w.opType === 'Conv' && w.shape[1] === 1 && attrInt(node, 'group', 1) > 1;
    startSlots.push({ slot: { tensor: node.outputs[0], axes: [featureOut] }, member: { weight: w.weight, node: w.node, axis: w.outAxis } });
    if (!depthwise) startSlots.push({ slot: { tensor: dataIn, axes: [featureIn] }, member: { weight: w.weight, node: w.node, axis: w.inAxis } });
  }

  const memberKey = (m: GroupMember): string => `#member|${m.weight}|${m.axis}`;
  for (const st of startSlots) {
    const mk = memberKey(st.member);
    members.set(mk, st.member);
    uf.union(mk, key(st.slot));
    const stack: Slot[] = [st.slot];
    while (stack.length > 0) {
      const s = stack.pop()!;
      const k = key(s);
      if (visited.has(k)) continue;
      visited.add(k);
      if (outputs.has(s.tensor)) barrier.add(k);
      const touching = [prod.get(s.tensor), ...(readers.get(s.tensor) ?? [])].filter((n): n is Node => n !== undefined);
      for (const node of touching) {
        for (const l of linksThrough(node, s)) {
          if (l.barrier) barrier.add(k);
          if (l.member) {
            const m = memberKey(l.member);
            members.set(m, l.member);
            uf.union(k, m);
          }
          if (l.slot && shapeOf(l.slot.tensor)) {
            const k2 = key(l.slot);
            uf.union(k, k2);
            if (l.kind) (kinds.get(k) ?? kinds.set(k, new Set()).get(k)!).add(l.kind);
            if (l.heads && l.heads > 1) headsSeen.set(k, l.heads);
            stack.push(l.slot);
          }
        }
      }
    }
  }

  // Gather components.
  interface Acc {
    members: GroupMember[];
    barrier: boolean;
    kinds: Set<string>;
    heads: number;
    size: number;
  }
  const comps = new Map<string, Acc>();
  const acc = (root: string): Acc => comps.get(root) ?? comps.set(root, { members: [], barrier: false, kinds: new Set(), heads: 1, size: 0 }).get(root)!;
  for (const [mk, m] of members) acc(uf.find(mk)).members.push(m);
  for (const k of visited) {
    const root = uf.find(k);
    if (!comps.has(root)) continue;
    const a = comps.get(root)!;
    if (barrier.has(k)) a.barrier = true;
    for (const kind of kinds.get(k) ?? []) a.kinds.add(kind);
    const h = headsSeen.get(k);
    if (h) a.heads = Math.max(a.heads, h);
  }

  const nodeOrder = new Map(graph.nodes.map((n, i) => [n.name, i]));
  const groups: (LayerGroup & { order: number })[] = [];
  for (const a of comps.values()) {
    const seen = new Set<string>();
    const list = a.members.filter((m) => {
      const k2 = `${m.weight}|${m.axis}`;
      if (seen.has(k2)) return false;
      seen.add(k2);
      return true;
    });
    list.sort((x, y) => (nodeOrder.get(x.node)! - nodeOrder.get(y.node)!) || x.axis - y.axis);
    const wInfo = new Map(weights.map((w) => [w.weight, w]));
    const sizeOf = (m: GroupMember): number => wInfo.get(m.weight)!.shape[m.axis];
    const size = sizeOf(list[0]);
    const isOutAxis = (m: GroupMember): boolean => wInfo.get(m.weight)!.outAxis === m.axis;
    let kind: string;
    if (a.kinds.has('attention-qk')) kind = 'attention-qk';
    else if (a.kinds.has('attention-vo')) kind = 'attention-vo';
    else if (a.kinds.has('residual')) kind = 'residual';
    else if (list.length === 1) kind = 'single';
    else kind = 'chain';
    groups.push({
      id: '',
      kind,
      members: list,
      size,
      unit: a.heads > 1 && size % a.heads === 0 ? size / a.heads : 1,
      coarsePrunable: !a.barrier,
      owned: [],
      order: Math.min(...list.map((m) => nodeOrder.get(m.node)! * 2 + (isOutAxis(m) ? 0 : 1))),
    });
  }
  groups.sort((x, y) => x.order - y.order);

  // FFN: a chain of two MatMul/Gemm layers whose outer axes meet in one residual group.
  const groupOf = new Map<string, (typeof groups)[number]>();
  for (const g of groups) for (const m of g.members) groupOf.set(`${m.weight}|${m.axis}`, g);
  const wInfo = new Map(weights.map((w) => [w.weight, w]));
  for (const g of groups) {
    if (g.kind !== 'chain' || g.members.length !== 2) continue;
    const [up, down] = g.members;
    const wu = wInfo.get(up.weight)!;
    const wd = wInfo.get(down.weight)!;
    if (wu.opType === 'Conv' || wd.opType === 'Conv' || up.axis !== wu.outAxis || down.axis !== wd.inAxis) continue;
    const outer1 = groupOf.get(`${up.weight}|${wu.inAxis}`);
    const outer2 = groupOf.get(`${down.weight}|${wd.outAxis}`);
    if (outer1 && outer1 === outer2) g.kind = 'ffn';
  }

  // Global: a residual group no channel can leave exactly (BERT's hidden size across LayerNorms).
  const isGlobal = (g: LayerGroup): boolean => g.kind === 'residual' && !g.coarsePrunable && g.members.length > 2;
  for (const w of weights) {
    const cands = groups.filter((g) => g.members.some((m) => m.weight === w.weight));
    const rank = (g: LayerGroup): number => (isGlobal(g) ? 2 : g.kind === 'single' ? 1 : 0);
    cands.sort((x, y) => {
      const r = rank(x) - rank(y);
      if (r !== 0) return r;
      const s = x.members.length - y.members.length;
      if (s !== 0) return s;
      const xo = x.members.some((m) => m.weight === w.weight && m.axis === w.outAxis) ? 0 : 1;
      const yo = y.members.some((m) => m.weight === w.weight && m.axis === w.outAxis) ? 0 : 1;
      return xo - yo;
    });
    cands[0]?.owned.push(w.weight);
  }

  // Readable ids from the first member's node scope.
  const used = new Map<string, number>();
  const result: LayerGroup[] = [];
  for (const g of groups) {
    let base: string;
    if (isGlobal(g)) base = 'hidden';
    else {
      const first = g.members[0];
      const scope = scopeOf(first.node);
      const suffix = g.kind === 'attention-qk' ? 'attn.qk' : g.kind === 'attention-vo' ? 'attn.vo' : g.kind === 'single' ? `${wInfo.get(first.weight)!.outAxis === first.axis ? 'out' : 'in'}` : g.kind;
      base = `${scope}.${suffix}`;
    }
    const n = used.get(base) ?? 0;
    used.set(base, n + 1);
    const { order: _order, ...plain } = g;
    void _order;
    result.push({ ...plain, id: n === 0 ? base : `${base}#${n + 1}` });
  }
  return result;
}

/** 'encoder.layer.3' from '/encoder/layer.3/attention/self/query/MatMul'; the node name otherwise. */
function scopeOf(nodeName: string): string {
  const parts = nodeName.split('/').filter((p) => p !== '');
  if (parts.length <= 1) return nodeName;
  // '/features/features.2/conv/…' names the module twice: keep the indexed one.
  const scope = parts.slice(0, -1).filter((p, i, all) => !(all[i + 1] ?? '').startsWith(`${p}.`));
  // Keep the block-level prefix: up to and including the first part that carries an index.
  const idx = scope.findIndex((p, i) => /\.\d+$/.test(p) || (i > 0 && /^\d+$/.test(p)));
  const keep = idx >= 0 ? scope.slice(0, idx + 1) : scope;
  return keep.join('.');
}

/**
 * Maps a slot through an element-order-preserving reshape: the slot's axes must be contiguous;
 * the target needs a contiguous run of axes with the same product and the same inner stride.
 */
export function mapByStrides(from: readonly number[], axes: number[], to: readonly number[]): number[] | null {
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return null;
  const hi = axes[axes.length - 1];
  let inner = 1;
  for (let d = hi + 1; d < from.length; d++) inner *= from[d];
  const size = axes.reduce((p, a) => p * from[a], 1);
  // Walk the target from the minor end, find the axis range [a..b] with inner stride `inner` and product `size`.
  let acc = 1;
  let b = to.length - 1;
  while (b >= 0 && acc < inner) acc *= to[b--];
  if (acc !== inner) return null;
  // Skip size-1 axes so the slot lands on real dims.
  while (b >= 0 && to[b] === 1 && size !== 1) b--;
  let prod = 1;
  let a = b;
  while (a >= 0 && prod < size) prod *= to[a--];
  if (prod !== size) return null;
  const out: number[] = [];
  for (let d = a + 1; d <= b; d++) out.push(d);
  return out;
}

/** The text `tesa inspect <model> --groups` prints. */
export function renderGroups(model: string, groups: readonly LayerGroup[]): string {
  const lines = [`model   ${model}`, `groups  ${groups.length}`, ''];
  for (const g of groups) {
    const flags = [`size ${g.size}`, g.unit > 1 ? `unit ${g.unit}` : '', g.coarsePrunable ? '' : 'not coarse-prunable'].filter((x) => x).join(', ');
    lines.push(`${g.id}  (${g.kind}; ${flags})`);
    for (const m of g.members) lines.push(`  ${g.owned.includes(m.weight) ? '*' : ' '} ${m.weight}  axis ${m.axis}  (${m.node})`);
  }
  lines.push('', '* owned: the search decides this weight through the group');
  return `${lines.join('\n')}\n`;
}

/** Groups as `tesa inspect --groups --json` prints them: `{groups:[{id,kind,size,unit,coarsePrunable,members,owned}]}`. */
export function groupsJson(groups: readonly LayerGroup[]): { groups: LayerGroup[] } {
  return {
    groups: groups.map((g) => ({ id: g.id, kind: g.kind, size: g.size, unit: g.unit, coarsePrunable: g.coarsePrunable, members: g.members.map((m) => ({ weight: m.weight, node: m.node, axis: m.axis })), owned: [...g.owned] })),
  };
}
