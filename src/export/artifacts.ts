/**
 * The files that describe one pruned candidate, written the same way for `tesa export` and for
 * every `cmd:` evaluator request: `masks/` (one .npy per weight + index.json), `config.json`
 * (the sparsity config) and the pruned ONNX model.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Graph } from '../model/graph.js';
import { exportOnnx } from '../model/onnx/export.js';
import { maskedFraction, type ModelSparsity, type Pattern, type Precision } from '../plan/sparsity.js';
import type { Candidate, SearchSpace } from '../space/space.js';
import type { SparsitySummary } from '../../db/store.js';
import { writeNpy } from '../util/npy.js';

/** A file name for a weight: readable, filesystem-safe, unique within the folder. */
export function maskFileName(weight: string, taken: Set<string>): string {
  const base = weight.replace(/[^A-Za-z0-9._-]+/g, '_').replace(/^\.+/, '_').slice(0, 120) || 'weight';
  let name = `${base}.npy`;
  for (let k = 2; taken.has(name); k++) name = `${base}_${k}.npy`;
  taken.add(name);
  return name;
}

export interface MaskIndexEntry {
  weight: string;
  file: string;
  shape: number[];
  pattern: Pattern;
  precision: Precision;
  /** Pruned fraction of the final mask. */
  sparsity: number;
}

/** One uint8 .npy per weight (1 = kept, the weight's shape) and index.json mapping weight names to files. */
export function writeMasks(dir: string, sparsity: ModelSparsity): MaskIndexEntry[] {
  mkdirSync(dir, { recursive: true });
  const taken = new Set<string>(['index.json']);
  const index: MaskIndexEntry[] = [];
  for (const [w, s] of [...sparsity].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const file = maskFileName(w, taken);
    writeNpy(join(dir, file), s.mask, s.shape);
    index.push({ weight: w, file, shape: [...s.shape], pattern: s.pattern, precision: s.precision, sparsity: maskedFraction(s.mask) });
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index, null, 2) + '\n');
  return index;
}

export interface GroupConfig {
  group: string;
  kind: string | null;
  weights: string[];
  pattern: Pattern;
  ratio: number;
  precision: Precision;
}

export interface LayerConfig {
  weight: string;
  group: string | null;
  shape: number[];
  /** The ratio the owning group asked for (0 when the group stayed dense or the weight has none). */
  ratio: number;
  pattern: Pattern;
  precision: Precision;
  /** Pruned fraction before propagation (what the group's choice asked; null when not known) and after it. */
  sparsityBefore: number | null;
  sparsityAfter: number;
}

export interface LatencyFigures {
  medianMs: number;
  ciLowMs: number;
  ciHighMs: number;
  ratio: number | null;
}

export interface SparsityConfig {
  format: 'tesa-sparsity-config';
  version: 1;
  model: string;
  target: string;
  fingerprint: { id: string; details: Record<string, string> } | null;
  search: { id: number; strategy: string; budget: unknown; evaluator: string | null } | null;
  trial: { id: number; seq: number; candidateHash: string; quality: number | null; feasible: boolean } | null;
  baseline: LatencyFigures | null;
  latency: (LatencyFigures & { source: 'final' | 'trial' }) | null;
  totals: { prunableParameters: number; prunedBefore: number; prunedAfter: number };
  groups: GroupConfig[];
  layers: LayerConfig[];
  candidate: Candidate;
}

export interface ConfigInput {
  model: string;
  target: string;
  space: SearchSpace;
  candidate: Candidate;
  sparsity: ModelSparsity;
  /** Per-weight before/after propagation; without it, `after` comes from the masks and `before` is null. */
  summary?: SparsitySummary;
  graph: Graph;
  fingerprint?: { id: string; details: Record<string, string> } | null;
  search?: SparsityConfig['search'];
  trial?: SparsityConfig['trial'];
  baseline?: LatencyFigures | null;
  latency?: SparsityConfig['latency'];
}

export function buildConfig(c: ConfigInput): SparsityConfig {
  const groupOf = new Map<string, string>();
  for (const g of c.space.groups) for (const w of g.weights) groupOf.set(w, g.id);
  const groups: GroupConfig[] = c.space.groups.map((g) => {
    const ch = c.candidate.groups[g.id];
    return { group: g.id, kind: g.kind ?? null, weights: [...g.weights], pattern: ch && ch.ratio > 0 ? ch.pattern : 'dense', ratio: ch?.ratio ?? 0, precision: ch?.precision ?? 'fp32' };
  });
  const layers: LayerConfig[] = [];
  let total = 0;
  let before = 0;
  let after = 0;
  const summary: Record<string, { before: number | null; after: number }> = c.summary ?? Object.fromEntries([...c.sparsity].map(([w, s]) => [w, { before: null, after: maskedFraction(s.mask) }]));
  for (const [name, s] of Object.entries(summary)) {
    const t = c.graph.tensors.get(name);
    const shape = t ? [...t.shape] : [];
    const n = shape.reduce((a, b) => a * b, 1);
    const sp = c.sparsity.get(name);
    const g = groupOf.get(name) ?? null;
    const ch = g ? c.candidate.groups[g] : undefined;
    layers.push({ weight: name, group: g, shape, ratio: ch?.ratio ?? 0, pattern: sp?.pattern ?? 'dense', precision: sp?.precision ?? ch?.precision ?? 'fp32', sparsityBefore: s.before, sparsityAfter: s.after });
    total += n;
    before += (s.before ?? s.after) * n;
    after += s.after * n;
  }
  return {
    format: 'tesa-sparsity-config',
    version: 1,
    model: c.model,
    target: c.target,
    fingerprint: c.fingerprint ?? null,
    search: c.search ?? null,
    trial: c.trial ?? null,
    baseline: c.baseline ?? null,
    latency: c.latency ?? null,
    totals: { prunableParameters: total, prunedBefore: total > 0 ? before / total : 0, prunedAfter: total > 0 ? after / total : 0 },
    groups,
    layers,
    candidate: c.candidate,
  };
}

export function writeJson(path: string, value: unknown): void {
  writeFileSync(path, JSON.stringify(value, null, 2) + '\n');
}

export function writeOnnx(path: string, graph: Graph): number {
  const bytes = exportOnnx(graph);
  writeFileSync(path, bytes);
  return bytes.length;
}
