/**
 * Builds the watch screen's WatchState from the store, reading only. Polling is cheap: the
 * store is read again only when PRAGMA data_version says another connection committed (or
 * after this process's own control request); otherwise only the clocks advance.
 */
import { ownerState, type Budget, type EventRecord, type SearchRecord, type Store, type TrialRecord } from '../../db/store.js';
import { TesaError } from '../errors.js';
import type { ControlAction, WatchSource } from './app.js';
import type { BestView, GroupRow, PipelineView, ScatterPoint, TrialRow, WatchState } from './model.js';
import { isFinished } from './model.js';

const EVENTS_KEPT = 20;

export function budgetLabel(b: Budget): string {
  return 'ratio' in b ? `${b.ratio.toFixed(2)}× dense` : `${b.ms}ms`;
}

/** A one-line fingerprint: the CPU/GPU, its flags, the compiler — whatever the backend recorded. */
export function fingerprintLine(s: SearchRecord): string {
  const d = s.fingerprint?.details;
  if (!d) return s.fingerprintId ? `fingerprint ${s.fingerprintId}` : 'fingerprint pending';
  const preferred = ['cpu', 'model', 'gpu', 'name', 'flags', 'isa', 'compiler', 'cc', 'nvcc', 'driver', 'sm'];
  const keys = [...preferred.filter((k) => d[k] !== undefined), ...Object.keys(d).filter((k) => !preferred.includes(k))];
  return keys
    .slice(0, 4)
    .map((k) => String(d[k]).replace(/\s+/g, ' ').trim())
    .filter(Boolean)
    .join(' · ');
}

function num(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  return null;
}

/** Milliseconds from an option given as a number of ms or a duration string ("30m", "90s", "2h"). */
export function durationMs(v: unknown): number | null {
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  if (typeof v !== 'string') return null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/.exec(v);
  if (!m) return null;
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'h' ? 3_600_000 : 60_000);
}

/**
 * Run time so far. The runner writes elapsed_ms (accumulated across resumes) when it starts
 * and after every trial, each time with updated_at = now; while it runs, the time since that
 * write is added.
 */
export function elapsedOf(s: SearchRecord, now: number): number {
  const live = (s.status === 'running' || s.status === 'stopping') && ownerState(s) === 'live';
  return s.elapsedMs + (live ? Math.max(0, now - s.updatedAt) : 0);
}

function trialSummary(t: TrialRecord): string {
  if (t.status === 'failed') return t.reason ?? 'failed';
  const choices = Object.values(t.candidate.groups ?? {});
  if (choices.length === 0) return 'dense';
  const mean = choices.reduce((a, c) => a + c.ratio, 0) / choices.length;
  const patterns = [...new Set(choices.filter((c) => c.ratio > 0).map((c) => c.pattern))];
  // Lower precisions as a count of groups ("int8 5/12"): how much of the model was quantized.
  const lower = [...new Set(choices.map((c) => c.precision))].filter((p) => p !== 'fp32');
  const counts = lower.map((p) => ` ${p} ${choices.filter((c) => c.precision === p).length}/${choices.length}`).join('');
  return `mean ${Math.round(mean * 100)}% ${patterns.join(',') || 'dense'}${counts}`;
}

function bestTrial(s: SearchRecord, trials: TrialRecord[]): TrialRecord | null {
  if (s.bestTrialId !== null) {
    const t = trials.find((x) => x.id === s.bestTrialId);
    if (t) return t;
  }
  let best: TrialRecord | null = null;
  for (const t of trials) {
    if (t.status !== 'ok' || !t.feasible) continue;
    if (!best || (t.quality ?? -Infinity) > (best.quality ?? -Infinity) || ((t.quality ?? 0) === (best.quality ?? 0) && (t.latencyMs ?? Infinity) < (best.latencyMs ?? Infinity))) best = t;
  }
  return best;
}

/** The strategy's progress facts, from the newest checkpoint or event that carries them. */
export function strategyProgress(checkpointState: unknown, events: EventRecord[]): Record<string, number | string> {
  const pick = (o: unknown): Record<string, number | string> | null => {
    if (!o || typeof o !== 'object') return null;
    const p = (o as { progress?: unknown }).progress;
    if (!p || typeof p !== 'object' || Array.isArray(p)) return null;
    const out: Record<string, number | string> = {};
    for (const [k, v] of Object.entries(p as Record<string, unknown>)) if (typeof v === 'number' || typeof v === 'string') out[k] = v;
    return out;
  };
  for (let i = events.length - 1; i >= 0; i--) {
    const p = pick(events[i]!.data);
    if (p) return p;
  }
  return pick(checkpointState) ?? {};
}

/** What the runner is doing now, from the search, its running trial and its newest events. */
export function pipelineOf(s: SearchRecord, trials: TrialRecord[], events: EventRecord[]): PipelineView {
  let hits = 0;
  let lookups = 0;
  for (const t of trials) {
    hits += t.kernelsCached ?? 0;
    lookups += (t.kernelsCached ?? 0) + (t.kernelsBuilt ?? 0);
  }
  const base: PipelineView = { phase: 'idle', kernelsBuilding: 0, cacheHits: hits, cacheLookups: lookups, baselineMs: s.baseline?.medianMs ?? null };
  if (s.status !== 'running' && s.status !== 'stopping') return base;
  if (s.baseline === null) return { ...base, phase: 'baseline' };
  const running = trials.find((t) => t.status === 'running');
  if (!running) return base;
  const latest = [...events].reverse().find((e) => e.at >= running.startedAt && /build|compil|measur|evaluat|quality/.test(e.kind));
  if (latest && /measur/.test(latest.kind)) return { ...base, phase: 'measuring' };
  if (latest && /evaluat|quality/.test(latest.kind)) return { ...base, phase: 'evaluating' };
  const d = (latest?.data ?? {}) as Record<string, unknown>;
  const total = num(d['total']);
  const k = total !== null ? total - (num(d['cached']) ?? 0) : (num(d['kernels']) ?? 0);
  return { ...base, phase: 'building', kernelsBuilding: k };
}

export function readWatchState(store: Store, searchId: number, now: number = Date.now()): WatchState {
  const s = store.requireSearch(searchId);
  const trials = store.listTrials(searchId);
  const events = store.listEvents(searchId, { tail: EVENTS_KEPT });
  const checkpoint = store.latestCheckpoint(searchId);
  const maxTrials = num(s.options['maxTrials']);
  const timeLimitMs = durationMs(s.options['timeLimitMs'] ?? s.options['timeLimit']);
  const finished = trials.filter((t) => t.status !== 'running');
  const elapsedMs = elapsedOf(s, now);

  let etaMs: number | null = null;
  // No estimate while paused or queued: the clock is not running.
  if ((s.status === 'running' || s.status === 'stopping') && finished.length > 0) {
    const perTrial = elapsedMs / finished.length;
    const byTrials = maxTrials !== null ? Math.max(0, maxTrials - finished.length) * perTrial : null;
    const byTime = timeLimitMs !== null ? Math.max(0, timeLimitMs - elapsedMs) : null;
    etaMs = byTrials !== null && byTime !== null ? Math.min(byTrials, byTime) : byTrials ?? byTime;
  }

  const best = bestTrial(s, trials);
  const bestView: BestView | null = best && best.latencyMs !== null
    ? { trialId: best.id, index: best.seq + 1, latencyMs: best.latencyMs, ciLowMs: best.ciLowMs, ciHighMs: best.ciHighMs, latencyRatio: best.latencyRatio, quality: best.quality, feasible: best.feasible }
    : null;
  const groups: GroupRow[] = best
    ? Object.entries(best.candidate.groups ?? {}).map(([id, c]) => ({
        id,
        pattern: c.ratio > 0 ? c.pattern : 'dense',
        ratio: c.ratio,
        precision: c.precision,
        propagatedSparsity: best.sparsity?.[`group:${id}`]?.after ?? best.sparsity?.[id]?.after ?? null,
      }))
    : [];
  const points: ScatterPoint[] = trials
    .filter((t) => t.status === 'ok' && t.latencyRatio !== null && t.quality !== null)
    .map((t) => ({ latencyRatio: t.latencyRatio!, quality: t.quality!, feasible: t.feasible }));
  const budgetRatio = 'ratio' in s.budget ? s.budget.ratio : s.baseline ? s.budget.ms / s.baseline.medianMs : null;
  const rows: TrialRow[] = trials
    .slice()
    .reverse()
    .map((t) => ({
      id: t.id,
      index: t.seq + 1,
      status: t.status,
      latencyMs: t.latencyMs,
      latencyRatio: t.latencyRatio,
      quality: t.quality,
      feasible: t.feasible,
      summary: trialSummary(t),
    }));

  return {
    header: {
      searchId: s.id,
      model: s.model,
      target: s.target,
      fingerprint: fingerprintLine(s),
      strategy: s.strategy,
      budget: budgetLabel(s.budget),
      status: s.status,
      control: s.control === 'none' ? null : s.control,
      elapsedMs,
      etaMs,
    },
    progress: {
      trialsDone: finished.length,
      maxTrials,
      timeUsedMs: elapsedMs,
      timeLimitMs,
      strategy: strategyProgress(checkpoint?.state, events),
      feasibleTrials: finished.filter((t) => t.status === 'ok' && t.feasible).length,
      failedTrials: finished.filter((t) => t.status === 'failed').length,
    },
    best: bestView,
    groups,
    scatter: {
      points,
      budgetRatio,
      best: best && best.latencyRatio !== null && best.quality !== null ? { latencyRatio: best.latencyRatio, quality: best.quality, feasible: best.feasible } : null,
    },
    pipeline: pipelineOf(s, trials, events),
    events: events.map((e) => ({ at: e.at, level: e.level, message: e.message })),
    trials: rows,
  };
}

/** The search `tesa watch` shows without an id: the newest live one (running, paused, queued). */
export function defaultSearchId(store: Store): number {
  const live = store.listSearches({ status: ['running', 'stopping', 'paused', 'queued'] });
  const s = live.find((x) => x.status === 'running' || x.status === 'stopping') ?? live[0];
  if (!s) throw new TesaError('NOT_FOUND', `no running or queued search in ${store.path}`, "start one with 'tesa optimize', or name one: 'tesa watch <id>' (see 'tesa list')");
  return s.id;
}

/**
 * The store as a WatchSource. `poll()` re-reads only after a commit by another connection or a
 * control request from this one; while the search runs it still returns a fresh state once a
 * second so the clocks move (computed from the last read, no query).
 */
export class StoreWatchSource implements WatchSource {
  private lastVersion = -1;
  private dirty = true;
  private last: WatchState | null = null;
  private lastClockAt = 0;

  constructor(
    private readonly store: Store,
    readonly searchId: number,
    private readonly now: () => number = Date.now,
  ) {}

  poll(): WatchState | null {
    const version = this.store.dataVersion();
    const t = this.now();
    if (this.dirty || version !== this.lastVersion || !this.last) {
      this.dirty = false;
      this.lastVersion = version;
      this.last = readWatchState(this.store, this.searchId, t);
      this.lastClockAt = t;
      return this.last;
    }
    const live = this.last.header.status === 'running' || this.last.header.status === 'stopping';
    if (live && t - this.lastClockAt >= 1000) {
      const step = t - this.lastClockAt;
      this.lastClockAt = t;
      const h = this.last.header;
      this.last = {
        ...this.last,
        header: { ...h, elapsedMs: h.elapsedMs + step, etaMs: h.etaMs === null ? null : Math.max(0, h.etaMs - step) },
        progress: { ...this.last.progress, timeUsedMs: this.last.progress.timeUsedMs + step },
      };
      return this.last;
    }
    return null;
  }

  control(action: ControlAction): void {
    this.store.setControl(this.searchId, action);
    this.dirty = true;
  }
}
