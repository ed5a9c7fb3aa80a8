/**
 * Builds the search space: one variable set (ratio, pattern, precision) per layer group that
 * owns prunable weights, with the patterns the backend can accelerate and the user allows.
 * With groups off every prunable weight becomes its own variable (the paper's Figure 19
 * "not aware of propagation" mode): masks are then chosen per layer, not per coupled axis.
 */
import { badInput } from '../errors.js';
import type { Capabilities } from '../../backends/backend.js';
import { numel, type Graph } from '../model/graph.js';
import { prunableWeights } from '../tesa/weights.js';
import type { Pattern, Precision } from '../plan/sparsity.js';
import type { LayerGroup } from '../tesa/layer-group.js';
import { backendSupports, isCoarse, parsePatternName } from './patterns.js';
import type { GroupSpace, SearchSpace } from './space.js';

export interface SpaceOptions {
  patterns: Pattern[];
  precisions: Precision[];
  /** 'on': one variable per layer group; 'off': one per prunable weight. */
  groups: 'on' | 'off';
  minRatio?: number;
  maxRatio?: number;
  ratioStep?: number;
  /** See SearchSpace.propagatePrecision. */
  propagatePrecision?: boolean;
  /** See SearchSpace.int8Outliers (a fraction in [0, 0.5]). */
  int8Outliers?: number;
}

export const DEFAULT_RATIO_RANGE: { minRatio: number; maxRatio: number; ratioStep: number } = { minRatio: 0, maxRatio: 0.95, ratioStep: 0.05 };

function meanAbs(graph: Graph, weight: string): { sum: number; count: number } {
  const t = graph.tensors.get(weight);
  if (!t?.data || !(t.data instanceof Float32Array || t.data instanceof Float64Array)) return { sum: 0, count: 0 };
  let sum = 0;
  for (let i = 0; i < t.data.length; i++) sum += Math.abs(t.data[i]!);
  return { sum, count: t.data.length };
}

interface RawGroup {
  id: string;
  weights: string[];
  coarsePrunable: boolean;
  coupled: boolean;
  kind: string;
}

export function buildSearchSpace(graph: Graph, layerGroups: LayerGroup[], caps: Capabilities, options: SpaceOptions): SearchSpace {
  const unsupported = options.patterns.filter((p) => !backendSupports(caps, p));
  if (unsupported.length === options.patterns.length) {
    throw badInput(
      `--patterns: none of ${options.patterns.join(', ')} has kernels on this backend`,
      `this backend supports ${caps.patterns.join(', ')}${caps.blockShapes.length ? ` with blocks ${caps.blockShapes.map(([r, c]) => `${r}x${c}`).join(', ')}` : ''}`,
    );
  }
  const precisions = options.precisions.filter((p) => caps.precisions.includes(p));
  if (precisions.length === 0) throw badInput(`--precisions: none of ${options.precisions.join(', ')} is supported by this backend`, `this backend supports ${caps.precisions.join(', ')}`);
  const patterns = options.patterns.filter((p) => backendSupports(caps, p));
  const range = { ...DEFAULT_RATIO_RANGE, ...definedOnly(options) };

  // N×K of each prunable weight as the pruning module sees it (N = output features).
  const mathDims = new Map<string, [number, number]>();
  for (const p of prunableWeights(graph)) {
    const n = p.shape[p.outAxis] ?? 0;
    mathDims.set(p.weight, [n, n > 0 ? numel(p.shape) / n : 0]);
  }
  const raw: RawGroup[] = [];
  if (options.groups === 'on') {
    for (const g of layerGroups) {
      if (g.owned.length === 0) continue;
      raw.push({ id: g.id, weights: [...g.owned], coarsePrunable: g.coarsePrunable, coupled: true, kind: g.kind });
    }
  } else {
    for (const g of layerGroups) {
      for (const w of g.owned) raw.push({ id: w, weights: [w], coarsePrunable: g.coarsePrunable, coupled: false, kind: 'single' });
    }
  }

  const groups: GroupSpace[] = [];
  const density: number[] = [];
  for (const r of raw) {
    const offered = patterns.filter((p) => (r.coarsePrunable || !isCoarse(p)) && r.weights.every((w) => fitsWeight(p, mathDims.get(w))));
    if (offered.length === 0) continue;
    let sum = 0;
    let count = 0;
    for (const w of r.weights) {
      const m = meanAbs(graph, w);
      sum += m.sum;
      count += m.count;
    }
    if (count === 0) continue;
    density.push(sum / count);
    groups.push({
      id: r.id,
      weights: r.weights,
      parameters: count,
      importance: 0,
      patterns: offered,
      precisions,
      minRatio: range.minRatio,
      maxRatio: range.maxRatio,
      ratioStep: range.ratioStep,
      coupled: r.coupled,
      kind: r.kind,
    });
  }
  const mean = density.reduce((a, b) => a + b, 0) / Math.max(1, density.length);
  groups.forEach((g, i) => (g.importance = mean > 0 ? density[i]! / mean : 1));
  const precisionRules: Pick<SearchSpace, 'propagatePrecision' | 'int8Outliers'> = {};
  if (options.propagatePrecision === true && precisions.includes('int8')) precisionRules.propagatePrecision = true;
  if (options.int8Outliers !== undefined && options.int8Outliers > 0 && precisions.includes('int8')) {
    if (!(options.int8Outliers <= 0.5)) throw badInput(`--int8-outliers ${options.int8Outliers} is outside [0, 0.5]`, 'for example --int8-outliers 0.01 keeps the largest 1% of each int8 weight in fp32');
    precisionRules.int8Outliers = options.int8Outliers;
  }
  return { groups, ...precisionRules };
}

function definedOnly(o: SpaceOptions): Partial<typeof DEFAULT_RATIO_RANGE> {
  const out: { minRatio?: number; maxRatio?: number; ratioStep?: number } = {};
  if (o.minRatio !== undefined) out.minRatio = o.minRatio;
  if (o.maxRatio !== undefined) out.maxRatio = o.maxRatio;
  if (o.ratioStep !== undefined) out.ratioStep = o.ratioStep;
  return out;
}

/** Total prunable parameters of the space (the weight for averaging ratios). */
export function spaceParameters(space: SearchSpace): number {
  return space.groups.reduce((a, g) => a + g.parameters, 0);
}

/** Block and N:M patterns need the weight's N×K view to divide into whole blocks / groups. */
function fitsWeight(pattern: Pattern, dims: [number, number] | undefined): boolean {
  const p = parsePatternName(pattern);
  if (!p || !dims) return true;
  const [n, k] = dims;
  if (p.block) return n % p.block[0] === 0 && k % p.block[1] === 0;
  const nm = /^nm:(\d+):(\d+)$/.exec(pattern);
  if (nm) return k % Number(nm[2]) === 0;
  return true;
}
