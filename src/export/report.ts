/**
 * report.md: what was exported and how it was judged — tables for the search, the trial, the
 * per-group choices and per-layer sparsity, the physical shrink and its verification, and the
 * two SVG plots beside it.
 */
import type { SearchRecord, TrialRecord } from '../../db/store.js';
import type { SparsityConfig } from './artifacts.js';
import type { BundleInfo, BundleRun } from './bundle.js';
import type { ShrinkResult } from './shrink.js';
import { quantizationReport, type QuantizationConfig } from './qdq.js';

export interface ReportInput {
  search: SearchRecord;
  trial: TrialRecord;
  trials: TrialRecord[];
  config: SparsityConfig;
  shrink: ShrinkResult;
  verification: { maxAbsDiff: number; scale: number; inputs: number };
  bundle: BundleInfo;
  bundleRun: BundleRun | null;
  sameMachine: boolean;
  files: { scatter: string; sparsity: string };
  onnxBytes: number;
  /** The quantized ONNX (qdq.ts), when the trial has int8 weights. */
  quantization?: { config: QuantizationConfig; bytes: number };
}

const pct = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)}%`);
const ms = (v: number | null | undefined) => (v === null || v === undefined ? '–' : `${v.toFixed(3)} ms`);
const num = (v: number | null | undefined, d = 4) => (v === null || v === undefined ? '–' : v.toFixed(d));
const cell = (s: string) => s.replace(/\|/g, '\\|');

function budgetText(b: SearchRecord['budget']): string {
  return 'ratio' in b ? `${b.ratio}× dense latency` : `${b.ms} ms`;
}

export function renderReport(r: ReportInput): string {
  const { search, trial, config } = r;
  const L: string[] = [];
  L.push(`# tesa export: search ${search.id}, trial #${trial.seq}`, '');
  L.push(`Model \`${search.model}\` on \`${search.target}\` (fingerprint \`${config.fingerprint?.id ?? search.fingerprintId ?? '?'}\`), strategy \`${search.strategy}\`, budget ${budgetText(search.budget)}, evaluator \`${config.search?.evaluator ?? '?'}\`.`, '');
  if (!r.sameMachine) L.push('**Warning:** this export ran on a different machine than the search; the bundle\'s latency does not compare with the stored one.', '');

  L.push('## Result', '', '| | value |', '|---|---|');
  L.push(`| dense baseline | ${ms(config.baseline?.medianMs)} (95% CI ${ms(config.baseline?.ciLowMs)} – ${ms(config.baseline?.ciHighMs)}) |`);
  L.push(`| this trial (${config.latency?.source ?? '–'} measurement) | ${ms(config.latency?.medianMs)} (95% CI ${ms(config.latency?.ciLowMs)} – ${ms(config.latency?.ciHighMs)}) |`);
  L.push(`| latency ratio | ${num(config.latency?.ratio, 3)}× dense |`);
  L.push(`| bundle/run at export | ${r.bundleRun ? `${ms(r.bundleRun.medianMs)} (median of ${r.bundleRun.samplesMs.length})` : 'not run'} |`);
  L.push(`| quality | ${num(trial.quality)} |`);
  L.push(`| feasible | ${trial.feasible ? 'yes' : 'no'} |`);
  L.push(`| pruned (before → after propagation) | ${pct(config.totals.prunedBefore)} → ${pct(config.totals.prunedAfter)} of ${config.totals.prunableParameters} prunable weights |`);
  L.push(`| parameters (masked → model.onnx) | ${r.shrink.parametersBefore} → ${r.shrink.parametersAfter} (${pct(1 - r.shrink.parametersAfter / Math.max(1, r.shrink.parametersBefore))} removed physically) |`);
  L.push(`| model.onnx vs masked model (onnxruntime) | max abs difference ${r.verification.maxAbsDiff.toExponential(2)} over ${r.verification.inputs} inputs (output scale ${r.verification.scale.toPrecision(3)}) |`);
  L.push('');

  const ok = r.trials.filter((t) => t.status === 'ok');
  L.push('## The search', '', `${r.trials.length} trials, ${ok.length} ok, ${ok.filter((t) => t.feasible).length} feasible, ${r.trials.length - ok.length} failed.`, '');
  L.push(`![latency vs quality](${r.files.scatter})`, '');

  L.push('## Groups (what the search decided)', '', '| group | kind | pattern | ratio | precision | channels removed |', '|---|---|---|---|---|---|');
  const removed = new Map(r.shrink.groups.map((g) => [g.group, g]));
  for (const g of config.groups) {
    const s = removed.get(g.group);
    L.push(`| ${cell(g.group)} | ${g.kind ?? '–'} | ${g.pattern} | ${g.ratio.toFixed(3)} | ${g.precision} | ${s ? (s.removed > 0 ? `${s.removed} of ${s.size}` : '0') : '–'} |`);
  }
  L.push('');
  L.push('## Layers (sparsity before and after propagation)', '', '| weight | shape | pattern | precision | before | after |', '|---|---|---|---|---|---|');
  for (const l of config.layers) L.push(`| ${cell(l.weight)} | ${l.shape.join('×')} | ${l.pattern} | ${l.precision} | ${pct(l.sparsityBefore)} | ${pct(l.sparsityAfter)} |`);
  L.push('', `![per-layer sparsity](${r.files.sparsity})`, '');

  const kept = r.shrink.groups.filter((g) => g.removed === 0 && g.skipped);
  if (kept.length > 0) {
    L.push('## Groups not shrunk physically', '', '| group | why |', '|---|---|');
    for (const g of kept) L.push(`| ${cell(g.group)} | ${cell(g.skipped!)} |`);
    L.push('');
  }

  if (r.quantization) L.push(...quantizationReport(r.quantization.config, r.quantization.bytes));

  L.push('## Files', '');
  L.push('- `config.json` — the sparsity config: per group and per layer pattern, ratio, precision, sparsity before/after propagation; latencies; target fingerprint.');
  L.push('- `masks/` — one uint8 `.npy` per pruned weight (1 = kept, the weight\'s shape); `masks/index.json` maps weight names to files.');
  L.push(`- \`model.onnx\` (${r.onnxBytes} bytes) — the pruned model: pruned weights zeroed, dead channels of coarse-pruned groups removed; verified against the masked model in onnxruntime.`);
  if (r.quantization) L.push(`- \`${r.quantization.config.file}\` — the int8 model as ONNX QuantizeLinear/DequantizeLinear (see Quantization above).`);
  L.push(`- \`bundle/\` — runner, ${r.bundle.kernels} kernel libraries, manifest and weights; \`bundle/run --json\` times the model on this machine (${r.bundle.threads} thread${r.bundle.threads === 1 ? '' : 's'}).`);
  L.push('');
  return L.join('\n');
}
