/**
 * Initial masks from `--init "<layer>=<pattern>:<ratio>"` specs. `<layer>` is a weight or node
 * name or a glob over them (`*` matches any run of characters; `*` alone is every prunable
 * weight). Masks are importance-ranked by the prune module (magnitude); with groups on, coarse
 * patterns pick their channels once per layer group (the group of the axis the pattern removes),
 * so every matched member of a group drops the same channels — that is what lets sparsity pass
 * a residual Add or a head split. Only the matched weights are masked; propagation carries the
 * pruning to the other members' axes.
 */
import seedrandom from 'seedrandom';
import { TesaError } from '../errors.js';
import type { Graph } from '../model/graph.js';
import { makeGroupMasks, makeMask, type WeightView } from '../prune/masks.js';
import { parsePattern, parseRatio, type ParsedPattern } from '../prune/pattern.js';
import type { LayerGroup } from './layer-group.js';
import { prunableWeights, type PrunableWeight } from './weights.js';

export interface InitSpec {
  /** Glob over weight and node names. */
  layer: string;
  pattern: ParsedPattern;
  /** Text of the pattern, as given. */
  patternText: string;
  ratio: number;
}

const FORMS = 'give "<layer>=<pattern>:<ratio>", e.g. "*=channel:0.6" or "layers.0.weight=block:32x32:0.5"';

export function parseInitSpec(text: string): InitSpec {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new TesaError('BAD_INPUT', `--init '${text}': missing '<layer>='`, FORMS);
  const layer = text.slice(0, eq).trim();
  const rest = text.slice(eq + 1).trim();
  const colon = rest.lastIndexOf(':');
  if (colon <= 0) throw new TesaError('BAD_INPUT', `--init '${text}': missing ':<ratio>'`, FORMS);
  const patternText = rest.slice(0, colon);
  const pattern = parsePattern(patternText, `--init '${text}'`);
  if (!['fine', 'block', 'row', 'col', 'channel'].includes(pattern.kind)) {
    throw new TesaError('BAD_INPUT', `--init '${text}': pattern '${patternText}' is not one propagate takes`, 'patterns here: fine, block:RxC, row, col, channel');
  }
  const ratio = parseRatio(rest.slice(colon + 1), `--init '${text}'`);
  return { layer, pattern, patternText, ratio };
}

export function globToRegExp(glob: string): RegExp {
  const esc = glob.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${esc}$`);
}

/** The prunable weights a spec names (by weight or node name). */
export function matchWeights(weights: readonly PrunableWeight[], layer: string): PrunableWeight[] {
  const re = globToRegExp(layer);
  return weights.filter((w) => re.test(w.weight) || re.test(w.node));
}

/** Stored axis of the output features, as the prune module counts it. */
export function channelAxisOf(p: PrunableWeight): number {
  return p.outAxis;
}

function viewOf(graph: Graph, name: string): WeightView {
  const t = graph.tensors.get(name)!;
  const d = t.data;
  const data = d instanceof Float32Array ? d : Float32Array.from(d as ArrayLike<number>);
  return { data, shape: t.shape };
}

function andInto(masks: Map<string, Uint8Array>, name: string, m: Uint8Array): void {
  const cur = masks.get(name);
  if (!cur) masks.set(name, m.slice());
  else for (let i = 0; i < cur.length; i++) cur[i] &= m[i];
}

/**
 * Masks (1 = kept) for the specs. A later spec that names a weight again adds its pruning. With
 * `groups`, coarse specs are made per group (for groups that can lose whole channels).
 */
export function makeInitMasks(graph: Graph, specs: readonly InitSpec[], groups?: readonly LayerGroup[]): Map<string, Uint8Array> {
  const weights = prunableWeights(graph);
  const byName = new Map(weights.map((w) => [w.weight, w]));
  const masks = new Map<string, Uint8Array>();
  const views = new Map<string, WeightView>();
  const view = (n: string): WeightView => views.get(n) ?? views.set(n, viewOf(graph, n)).get(n)!;
  const groupMasks = new Map<string, Map<string, Uint8Array>>();
  for (const spec of specs) {
    const matched = matchWeights(weights, spec.layer);
    if (matched.length === 0) {
      throw new TesaError('BAD_INPUT', `--init '${spec.layer}=…' matches no prunable weight of '${graph.name}'`, `prunable weights: ${weights.slice(0, 6).map((w) => w.weight).join(', ')}${weights.length > 6 ? ', …' : ''}`);
    }
    const coarse = spec.pattern.kind === 'row' || spec.pattern.kind === 'col' || spec.pattern.kind === 'channel';
    for (const p of matched) {
      const w = byName.get(p.weight)!;
      // Group-aware: the channels come from the group of the axis the pattern removes, ranked over
      // every member, so all producers feeding one residual Add drop the same channels.
      const axis = spec.pattern.kind === 'col' ? w.inAxis : w.outAxis;
      const g = groups && coarse ? groups.find((x) => x.coarsePrunable && x.members.some((m) => m.weight === p.weight && m.axis === axis)) : undefined;
      if (g) {
        const gkey = `${g.id}|${spec.patternText}|${spec.ratio}`;
        let gm = groupMasks.get(gkey);
        if (!gm) {
          const members = new Map<string, WeightView>();
          for (const m of g.members) members.set(m.weight, view(m.weight));
          gm = makeGroupMasks(g, members, { kind: 'channel' }, spec.ratio);
          groupMasks.set(gkey, gm);
        }
        andInto(masks, p.weight, gm.get(p.weight)!);
        continue;
      }
      const m = makeMask(view(p.weight), spec.pattern, spec.ratio, { axisForChannel: channelAxisOf(w), weightName: p.weight });
      andInto(masks, p.weight, m);
    }
  }
  return masks;
}

/**
 * Random masks, seeded: `ratio` of the output channels (or, for 'fine', elements) of each named
 * weight. Tests use these to check exactness on masks no importance ranking would pick.
 */
export function randomMasks(
  graph: Graph,
  names: readonly string[],
  ratio: number,
  seed: number,
  kind: 'channel' | 'input-channel' | 'fine' | { block: [number, number] } = 'channel',
): Map<string, Uint8Array> {
  const rng = seedrandom(String(seed));
  const weights = new Map(prunableWeights(graph).map((w) => [w.weight, w]));
  const out = new Map<string, Uint8Array>();
  for (const name of names) {
    const p = weights.get(name);
    if (!p) throw new TesaError('BAD_INPUT', `'${name}' is not a prunable weight of '${graph.name}'`, 'name a MatMul/Gemm/Conv weight');
    const size = p.shape.reduce((a, b) => a * b, 1);
    const m = new Uint8Array(size).fill(1);
    if (kind === 'fine') {
      for (let i = 0; i < size; i++) if (rng() < ratio) m[i] = 0;
    } else if (typeof kind === 'object') {
      // R×C blocks of the stored 2-D layout (rows × the rest); edge blocks are partial.
      const [R, C] = kind.block;
      const rows = p.shape[0];
      const cols = size / rows;
      for (let br = 0; br < rows; br += R)
        for (let bc = 0; bc < cols; bc += C) {
          if (rng() >= ratio) continue;
          for (let r = br; r < Math.min(rows, br + R); r++) for (let c = bc; c < Math.min(cols, bc + C); c++) m[r * cols + c] = 0;
        }
    } else {
      const axis = kind === 'channel' ? p.outAxis : p.inAxis;
      const dim = p.shape[axis];
      let inner = 1;
      for (let d = axis + 1; d < p.shape.length; d++) inner *= p.shape[d];
      const drop = new Uint8Array(dim);
      for (let c = 0; c < dim; c++) if (rng() < ratio) drop[c] = 1;
      for (let i = 0; i < size; i++) if (drop[Math.floor(i / inner) % dim]) m[i] = 0;
    }
    out.set(name, m);
  }
  return out;
}
