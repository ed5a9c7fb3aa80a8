/**
 * The watch screen's view model: everything the UI draws, as plain data. The screen is a pure
 * function of a WatchState, so panels are tested on fixtures and the store reader
 * (read-store.ts) is the only part that knows the schema.
 */

export type SearchStatus = 'queued' | 'running' | 'paused' | 'stopping' | 'stopped' | 'done' | 'failed';
export type ControlRequest = 'pause' | 'resume' | 'stop' | null;

export interface HeaderView {
  searchId: number;
  model: string;
  target: string;
  /** One short line, e.g. "AMD EPYC 7B13 · avx2 fma · gcc 12.2". */
  fingerprint: string;
  strategy: string;
  /** As the user gave it, e.g. "0.70× dense" or "12ms". */
  budget: string;
  status: SearchStatus;
  control: ControlRequest;
  elapsedMs: number;
  /** Null when nothing allows an estimate yet. */
  etaMs: number | null;
}

export interface ProgressView {
  trialsDone: number;
  maxTrials: number | null;
  timeUsedMs: number;
  timeLimitMs: number | null;
  /** Strategy facts, e.g. { temperature: 42.1 } or { round: 2, rounds: 4 }. */
  strategy: Record<string, number | string>;
  feasibleTrials: number;
  failedTrials: number;
}

export interface BestView {
  trialId: number;
  /** The trial's number in its search (seq + 1), as the trials table shows it. */
  index: number;
  latencyMs: number;
  ciLowMs: number | null;
  ciHighMs: number | null;
  /** Upper CI bound / dense baseline. */
  latencyRatio: number | null;
  quality: number | null;
  feasible: boolean;
}

export interface GroupRow {
  id: string;
  pattern: string;
  ratio: number;
  precision: string;
  /** Sparsity after propagation (fraction of the group's weights pruned), when known. */
  propagatedSparsity: number | null;
}

export interface ScatterPoint {
  latencyRatio: number;
  quality: number;
  feasible: boolean;
}

export interface ScatterView {
  points: ScatterPoint[];
  /** Budget as a ratio of the dense latency: the vertical line. Null for an unknown baseline. */
  budgetRatio: number | null;
  /** Trial index of the best point, drawn distinctly. */
  best: ScatterPoint | null;
}

export type PipelinePhase = 'baseline' | 'building' | 'measuring' | 'evaluating' | 'idle';

export interface PipelineView {
  phase: PipelinePhase;
  /** Kernels being built right now (meaningful while building). */
  kernelsBuilding: number;
  cacheHits: number;
  cacheLookups: number;
  baselineMs: number | null;
}

export interface EventRow {
  at: number;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface TrialRow {
  id: number;
  index: number;
  status: 'running' | 'ok' | 'failed';
  latencyMs: number | null;
  latencyRatio: number | null;
  quality: number | null;
  feasible: boolean;
  /** One short line: mean ratio / patterns, or the failure reason. */
  summary: string;
}

export interface WatchState {
  header: HeaderView;
  progress: ProgressView;
  best: BestView | null;
  groups: GroupRow[];
  scatter: ScatterView;
  pipeline: PipelineView;
  events: EventRow[];
  /** Newest first. */
  trials: TrialRow[];
}

/** A search is over when nothing will change it again without a resume. */
export function isFinished(status: SearchStatus): boolean {
  return status === 'stopped' || status === 'done' || status === 'failed';
}
